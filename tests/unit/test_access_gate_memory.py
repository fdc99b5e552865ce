"""The gate-side model: it applies the platform's whitelist commands and decides exactly as the platform's model."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from community.access import (
    AccessGroup,
    Credential,
    CredentialKind,
    Door,
    GateSyncState,
    Resident,
    VisitorPass,
    WeeklyWindow,
    credential_hash,
    decide,
    due_retries,
    effective_whitelist,
    issue,
    on_ack,
    on_state,
    plan_sync,
    verify,
)
from community.access import Denied as PlatformDenied
from community.access import Granted as PlatformGranted
from devices.contract import Command, DenialReason
from devices.gate_commands import (
    OPEN,
    CommandArgsError,
    GateCommandError,
    GateStateReport,
    OpenAckResult,
    parse_args,
    presented_credential_hash,
    whitelist_result,
)
from devices.gate_commands import CredentialKind as WireKind
from devices.gate_memory import Denied, GateMemory, Granted, PassAdmitted, PassRefusal, PassRefused

SITE_KEY = b"site-key-for-tests-0123456789abc"
PASS_KEY = b"server-pass-key-for-tests-0123456789"
T0 = datetime(2025, 3, 3, 8, tzinfo=UTC)  # a Monday, 16:00 in Shanghai
WEEKDAY_DAYTIME = WeeklyWindow(frozenset(range(5)), time(6), time(23))
GROUPS = [
    AccessGroup("b1", frozenset({Door("gate-n", 1), Door("gate-n", 2)}), (WEEKDAY_DAYTIME,)),
    AccessGroup("garage", frozenset({Door("gate-n", 4)}), valid_to=T0 + timedelta(days=30)),
]


def card(holder: str, number: str, **kwargs: Any) -> Credential:
    return Credential(f"c-{holder}", CredentialKind.CARD, credential_hash(CredentialKind.CARD, number, SITE_KEY),
                      holder, **kwargs)


def synced(*credentials: Credential, residents: list[Resident] | None = None) -> tuple[GateMemory, GateSyncState]:
    people = residents or [Resident(c.holder_id, frozenset({"b1", "garage"})) for c in credentials]
    whitelist = effective_whitelist("gate-n", credentials, people, GROUPS)
    gate = GateMemory("gate-n", SITE_KEY, PASS_KEY, doors=4)
    step = plan_sync(whitelist, 1, on_state(GateSyncState("gate-n"), True, T0).state, T0)
    state = step.state
    for command in step.commands:
        ack = gate.apply(Command.model_validate(command), T0)
        assert ack.ok, ack.error
        state = on_ack(state, ack.cmd_id, ack.ok, T0).state
    return gate, state


@pytest.mark.parametrize("kind", list(CredentialKind))
def test_the_gate_hashes_a_presented_credential_as_the_platform_does(kind: CredentialKind) -> None:
    assert presented_credential_hash(WireKind(kind.value), "0012345678", SITE_KEY) == credential_hash(
        kind, "0012345678", SITE_KEY
    )


def test_a_full_sync_gives_the_gate_the_platforms_list_and_version() -> None:
    gate, state = synced(card("alice", "0012345678"), card("bob", "0087654321"))
    assert state.acked is not None and state.in_sync
    assert gate.content() == state.acked.whitelist.to_payload()
    assert (gate.version, gate.content_hash) == (1, state.acked.whitelist.content_hash)
    assert GateStateReport.model_validate(gate.state_report()).whitelist_version == 1


def test_a_snapshot_restores_the_list_after_a_restart_and_a_tampered_one_is_refused() -> None:
    gate, _ = synced(card("alice", "0012345678"), card("bob", "0087654321"))
    held = gate.snapshot()
    assert held is not None and held["content"] == gate.content()
    restarted = GateMemory("gate-n", SITE_KEY, PASS_KEY, doors=4)
    assert restarted.snapshot() is None, "a new gate holds no list"
    assert restarted.restore(held, T0).ok
    assert (restarted.version, restarted.content_hash, restarted.content()) == (
        gate.version, gate.content_hash, gate.content())
    tampered = {**held, "content": {**held["content"], "entries": held["content"]["entries"][:1]}}
    refused = GateMemory("gate-n", SITE_KEY, PASS_KEY, doors=4).restore(tampered, T0)
    assert not refused.ok and (refused.error or "").startswith(GateCommandError.CONTENT_HASH_MISMATCH.value)


def test_deltas_bring_the_gate_to_the_new_version_and_the_ack_reports_it() -> None:
    alice, bob, carol = card("alice", "0012345678"), card("bob", "0087654321"), card("carol", "0055555555")
    people = [Resident(name, frozenset({"b1"})) for name in ("alice", "bob", "carol")]
    gate, state = synced(alice, bob, carol, residents=people)
    revoked = Credential(bob.credential_id, bob.kind, bob.value_hash, bob.holder_id, revoked=True)
    desired = effective_whitelist("gate-n", [alice, revoked, carol], people, GROUPS)
    step = plan_sync(desired, 2, state, T0)
    assert [command["op"] for command in step.commands] == ["revoke_credentials"]
    for command in step.commands:
        ack = gate.apply(Command.model_validate(command), T0)
        reported = whitelist_result(ack.result)
        assert ack.ok and reported is not None and reported.version == 2
    assert gate.content() == desired.to_payload()
    assert gate.present(WireKind.CARD, "0087654321", 1, T0) == Denied(DenialReason.BLACKLISTED)


def test_a_delta_from_another_base_version_is_refused_so_the_platform_sends_the_full_list() -> None:
    cards = [card(f"r{i}", f"00{i:08d}") for i in range(5)]
    people = [Resident(f"r{i}", frozenset({"b1"})) for i in range(6)]
    gate, state = synced(*cards, residents=people[:5])
    gate.version = 7  # e.g. restored from an old backup
    bigger = effective_whitelist("gate-n", [*cards, card("r5", "0000000005")], people, GROUPS)
    step = plan_sync(bigger, 2, state, T0)
    assert [command["op"] for command in step.commands] == ["upsert_credentials"]
    ack = gate.apply(Command.model_validate(step.commands[0]), T0)
    assert not ack.ok and ack.error is not None and ack.error.startswith(GateCommandError.BASE_VERSION_MISMATCH)
    state = on_ack(step.state, ack.cmd_id, ack.ok, T0).state
    retry = due_retries(state, T0 + timedelta(minutes=1))
    assert [command["op"] for command in retry.commands] == ["sync_whitelist"]
    assert gate.apply(Command.model_validate(retry.commands[0]), T0).ok
    assert gate.content() == bigger.to_payload()


def test_a_redelivered_command_gets_the_same_ack_and_is_not_applied_twice() -> None:
    gate, _ = synced(card("alice", "0012345678"))
    command = Command(cmd_id="open-1", op=OPEN, args={"door": 2})
    first = gate.apply(command, T0)
    again = gate.apply(command, T0 + timedelta(minutes=1))
    assert first == again and first.ok
    assert OpenAckResult.model_validate(first.result).opened_at == T0


def test_expired_tampered_foreign_and_unknown_commands_are_refused_with_a_reason() -> None:
    gate, state = synced(card("alice", "0012345678"))
    assert state.acked is not None
    payload = state.acked.whitelist.to_payload()
    good = {"version": 2, "content_hash": state.acked.whitelist.content_hash, "whitelist": payload}
    cases = {
        GateCommandError.EXPIRED: Command(cmd_id="a", op="open", args={"door": 1}, expires_at=T0),
        GateCommandError.NO_SUCH_DOOR: Command(cmd_id="b", op="open", args={"door": 5}),
        GateCommandError.UNKNOWN_OP: Command(cmd_id="c", op="self_destruct"),
        GateCommandError.BAD_ARGS: Command(cmd_id="d", op="open", args={"door": "1"}),
        GateCommandError.WRONG_GATE: Command(cmd_id="e", op="sync_whitelist",
                                             args={**good, "whitelist": {**payload, "gate": "gate-s"}}),
        GateCommandError.CONTENT_HASH_MISMATCH: Command(cmd_id="f", op="sync_whitelist",
                                                        args={**good, "whitelist": {**payload, "entries": []}}),
    }
    for error, command in cases.items():
        ack = gate.apply(command, T0)
        assert not ack.ok and ack.error is not None and ack.error.startswith(error.value), (error, ack.error)
    assert gate.version == 1 and gate.content() == payload, "a refused command changes nothing"


def test_parse_args_names_the_bad_field() -> None:
    with pytest.raises(CommandArgsError, match="door"):
        parse_args(Command(cmd_id="x", op="open", args={"door": 0}))


def test_the_gate_decides_reasons_in_the_contracts_order() -> None:
    lapsed = card("dave", "0011111111", valid_to=T0 - timedelta(days=1))
    gate, _ = synced(card("alice", "0012345678"), lapsed,
                     residents=[Resident("alice", frozenset({"b1"})), Resident("dave", frozenset({"b1"}))])
    saturday = T0 + timedelta(days=5)
    assert gate.present(WireKind.CARD, "0012345678", 1, T0) == Granted(("b1",))
    assert gate.present(WireKind.CARD, "0012345678", 4, T0) == Denied(DenialReason.NO_PERMISSION)
    assert gate.present(WireKind.CARD, "0012345678", 1, saturday) == Denied(DenialReason.OUTSIDE_SCHEDULE)
    assert gate.present(WireKind.CARD, "0099999999", 1, T0) == Denied(DenialReason.UNKNOWN_CREDENTIAL)
    assert gate.present(WireKind.PIN, "0012345678", 1, T0) == Denied(DenialReason.UNKNOWN_CREDENTIAL)
    assert gate.present(WireKind.CARD, "0011111111", 1, T0) == Denied(DenialReason.EXPIRED)


# --- the gate and the platform decide alike, whatever the permissions ------------------------------------------

_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 30]))
_windows = st.builds(WeeklyWindow, st.frozensets(st.integers(0, 6), min_size=1), _times, _times)
_moments = st.integers(0, 14 * 24 * 4).map(lambda quarter: T0 + timedelta(minutes=15 * quarter))
_optional_moment = st.none() | _moments


@st.composite
def _groups(draw: st.DrawFn, group_id: str) -> AccessGroup:
    doors = draw(st.frozensets(st.integers(1, 4), min_size=1))
    start, end = draw(_optional_moment), draw(_optional_moment)
    if start is not None and end is not None and end <= start:
        start, end = end - timedelta(hours=1), start + timedelta(hours=1)
    windows = tuple(draw(st.lists(_windows, min_size=1, max_size=3)))
    return AccessGroup(group_id, frozenset(Door("gate-n", d) for d in doors), windows, start, end)


@st.composite
def _sites(draw: st.DrawFn) -> tuple[list[AccessGroup], list[Resident], list[Credential]]:
    groups = [draw(_groups(f"g{i}")) for i in range(draw(st.integers(1, 3)))]
    residents, credentials = [], []
    for index in range(draw(st.integers(1, 4))):
        names = draw(st.frozensets(st.sampled_from([g.group_id for g in groups]), min_size=1))
        residents.append(Resident(f"r{index}", names))
        start, end = draw(_optional_moment), draw(_optional_moment)
        if start is not None and end is not None and end <= start:
            start, end = None, None
        credentials.append(card(f"r{index}", f"{index:010d}", valid_from=start, valid_to=end,
                                revoked=draw(st.booleans())))
    return groups, residents, credentials


@settings(max_examples=200, deadline=None)
@given(_sites(), st.lists(st.tuples(st.integers(0, 4), st.integers(1, 4), _moments), min_size=1, max_size=10))
def test_the_gate_and_the_platform_give_the_same_answer(
    site: tuple[list[AccessGroup], list[Resident], list[Credential]], presentations: list[tuple[int, int, datetime]]
) -> None:
    groups, residents, credentials = site
    whitelist = effective_whitelist("gate-n", credentials, residents, groups)
    gate = GateMemory("gate-n", SITE_KEY)
    (command,) = plan_sync(whitelist, 1, on_state(GateSyncState("gate-n"), True, T0).state, T0).commands
    assert gate.apply(Command.model_validate(command), T0).ok
    for who, door, at in presentations:
        presented = credential_hash(CredentialKind.CARD, f"{who:010d}", SITE_KEY)
        platform = decide(whitelist, presented, door, at)
        on_gate = gate.decide(presented, door, at)
        if isinstance(platform, PlatformGranted):
            assert on_gate == Granted(platform.group_ids)
        else:
            assert isinstance(platform, PlatformDenied) and on_gate == Denied(platform.reason)


# --- visitor passes verified on the gate ------------------------------------------------------------------------

VISIT = VisitorPass("vp-1", "alice", frozenset({Door("gate-n", 1)}), T0, T0 + timedelta(hours=4), max_uses=2)


def test_a_signed_pass_opens_its_door_until_its_uses_are_spent() -> None:
    gate, _ = synced(card("alice", "0012345678"))
    text = issue(VISIT, PASS_KEY)
    assert gate.admit_pass(text, 1, T0) == PassAdmitted("vp-1", 1, 2)
    assert gate.admit_pass(text, 2, T0) == PassRefused(PassRefusal.WRONG_DOOR, "vp-1")
    assert gate.admit_pass(text, 1, T0 + timedelta(minutes=5)) == PassAdmitted("vp-1", 2, 2)
    used_up = gate.admit_pass(text, 1, T0 + timedelta(minutes=6))
    assert used_up == PassRefused(PassRefusal.USED_UP, "vp-1") and used_up.reason is DenialReason.EXPIRED


def test_a_pass_blacklisted_by_the_platform_is_refused_as_revoked() -> None:
    revoked_pass = Credential("pass:vp-1", CredentialKind.QR, credential_hash(CredentialKind.QR, "vp-1", SITE_KEY),
                              "alice", revoked=True)
    gate, _ = synced(card("alice", "0012345678"), revoked_pass,
                     residents=[Resident("alice", frozenset({"b1"}))])
    refused = gate.admit_pass(issue(VISIT, PASS_KEY), 1, T0)
    assert refused == PassRefused(PassRefusal.REVOKED, "vp-1") and refused.reason is DenialReason.BLACKLISTED


def test_a_gate_without_the_pass_key_admits_no_pass() -> None:
    gate = GateMemory("gate-n", SITE_KEY)
    assert gate.admit_pass(issue(VISIT, PASS_KEY), 1, T0) == PassRefused(PassRefusal.BAD_SIGNATURE, None)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200), st.integers(-2 * 3600, 6 * 3600), st.integers(1, 3), st.integers(0, 3), st.booleans())
def test_the_gate_refuses_a_pass_exactly_when_the_platform_would(
    position: int, offset_s: int, door: int, uses: int, tamper: bool
) -> None:
    text = issue(VISIT, PASS_KEY)
    if tamper:
        index = position % len(text)
        text = text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1:]
    at = T0 + timedelta(seconds=offset_s)
    gate = GateMemory("gate-n", SITE_KEY, PASS_KEY)
    for _ in range(uses):
        gate.admit_pass(issue(VISIT, PASS_KEY), 1, T0)
    platform = verify(text, PASS_KEY, Door("gate-n", door), at, min(uses, 2))
    on_gate = gate.admit_pass(text, door, at)
    if isinstance(platform, VisitorPass):
        assert isinstance(on_gate, PassAdmitted) and on_gate.pass_id == platform.pass_id
    else:
        assert isinstance(on_gate, PassRefused) and on_gate.refusal.value == platform.value


def test_an_empty_gate_reports_that_it_holds_nothing() -> None:
    report = GateMemory("gate-n", SITE_KEY, PASS_KEY).state_report()
    assert report == {"whitelist_version": None, "whitelist_hash": None}, "null, not left out: it holds nothing"
    assert GateStateReport.model_validate(report).whitelist_version is None


def test_a_pass_signed_with_the_controllers_key_is_one_the_platform_would_have_issued() -> None:
    gate = GateMemory("gate-n", SITE_KEY, PASS_KEY, doors=2)
    start = T0.replace(microsecond=0)
    text = gate.sign_pass("vp-sim-1", "r1", {("gate-n", 2)}, start, start + timedelta(hours=4), 2)
    assert text is not None
    platform = verify(text, PASS_KEY, Door("gate-n", 2), T0, 0)
    assert isinstance(platform, VisitorPass) and platform.pass_id == "vp-sim-1" and platform.max_uses == 2
    assert text == issue(platform, PASS_KEY), "the same text as the platform's own signing"
    assert gate.admit_pass(text, 2, T0) == PassAdmitted("vp-sim-1", 1, 2)
    assert isinstance(gate.admit_pass(text, 1, T0), PassRefused), "only the doors it names"
    assert GateMemory("gate-n", SITE_KEY).sign_pass("x", "r", {("gate-n", 1)}, start, start + timedelta(hours=1),
                                                    1) is None, "no pass key, no pass"
