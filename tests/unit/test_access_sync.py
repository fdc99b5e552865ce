"""Versioned whitelist sync per gate: full list or delta, acks, retries, reconnects, and convergence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from community.access import (
    HOLDS_NOTHING,
    REVOKE_CREDENTIALS,
    SYNC_WHITELIST,
    UPSERT_CREDENTIALS,
    AccessGroup,
    Credential,
    CredentialKind,
    Door,
    GateSyncState,
    Resident,
    SyncStep,
    Whitelist,
    WhitelistVersion,
    credential_hash,
    due_retries,
    effective_whitelist,
    on_ack,
    on_state,
    plan_sync,
)
from devices.contract import Command

KEY = b"site-key-for-tests-0123456789abc"
T0 = datetime(2025, 3, 3, 8, tzinfo=UTC)
GROUPS = [
    AccessGroup("north", frozenset({Door("gate-n", 1), Door("gate-n", 2)})),
    AccessGroup("south", frozenset({Door("gate-s", 1)})),
    AccessGroup("gym", frozenset({Door("gate-n", 3)})),
]
NAMES = [f"r{i}" for i in range(8)]


def card(resident: str) -> Credential:
    return Credential(
        f"c-{resident}", CredentialKind.CARD, credential_hash(CredentialKind.CARD, resident, KEY), resident
    )


def residents(*names: str, groups: frozenset[str] = frozenset({"north", "south"})) -> list[Resident]:
    return [Resident(name, groups) for name in names]


def whitelist(gate: str, people: list[Resident], revoked: Iterable[str] = ()) -> Whitelist:
    credentials = [card(p.resident_id) for p in people]
    credentials = [
        Credential(c.credential_id, c.kind, c.value_hash, c.holder_id, revoked=c.holder_id in set(revoked))
        for c in credentials
    ]
    return effective_whitelist(gate, credentials, people, GROUPS)


@dataclass
class FakeGate:
    """A gate controller applying commands the way the module docstring says."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    blacklist: set[str] = field(default_factory=set)
    version: int | None = None

    def apply(self, command: dict[str, Any]) -> None:
        args = command["args"]
        if command["op"] == SYNC_WHITELIST:
            self.entries = {e["hash"]: e for e in args["whitelist"]["entries"]}
            self.blacklist = set(args["whitelist"]["blacklist"])
        elif command["op"] == UPSERT_CREDENTIALS:
            for entry in args["entries"]:
                self.entries[entry["hash"]] = entry
                self.blacklist.discard(entry["hash"])
        elif command["op"] == REVOKE_CREDENTIALS:
            for key in args["credential_hashes"]:
                self.entries.pop(key, None)
            self.blacklist |= set(args["blacklist"])
        self.version = args["version"]

    def holds(self, expected: Whitelist) -> bool:
        payload = expected.to_payload()
        return self.entries == {e["hash"]: e for e in payload["entries"]} and self.blacklist == set(
            payload["blacklist"]
        )


def online(gate: str) -> GateSyncState:
    return on_state(GateSyncState(gate), True, T0).state


def ack_all(step: SyncStep, now: datetime = T0) -> GateSyncState:
    state = step.state
    for command in step.commands:
        state = on_ack(state, command["cmd_id"], True, now).state
    return state


FIVE = residents("r0", "r1", "r2", "r3", "r4")


def test_first_sync_of_a_gate_is_the_full_list() -> None:
    wl = whitelist("gate-n", FIVE)
    step = plan_sync(wl, 1, online("gate-n"), T0)
    (command,) = step.commands
    assert command["op"] == SYNC_WHITELIST
    assert command["args"]["version"] == 1
    assert command["args"]["content_hash"] == wl.content_hash
    assert len(command["args"]["whitelist"]["entries"]) == 5


def test_commands_validate_against_the_device_contract() -> None:
    step = plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0)
    for command in step.commands:
        assert Command.model_validate(command).cmd_id == command["cmd_id"]


def test_acked_version_advances_only_on_ok() -> None:
    step = plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0)
    cmd_id = step.commands[0]["cmd_id"]
    failed = on_ack(step.state, cmd_id, False, T0).state
    assert failed.acked is None and not failed.in_sync
    done = on_ack(step.state, cmd_id, True, T0).state
    assert done.acked is not None and done.acked.version == WhitelistVersion(1, whitelist("gate-n", FIVE).content_hash)
    assert done.in_sync and done.pending is None


def test_small_change_is_sent_as_a_delta_from_the_acked_whitelist() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    step = plan_sync(whitelist("gate-n", [*FIVE[1:], *residents("r5")]), 2, state, T0)
    ops = {command["op"]: command["args"] for command in step.commands}
    assert set(ops) == {UPSERT_CREDENTIALS, REVOKE_CREDENTIALS}
    assert [e["hash"] for e in ops[UPSERT_CREDENTIALS]["entries"]] == [card("r5").value_hash]
    assert ops[REVOKE_CREDENTIALS]["credential_hashes"] == [card("r0").value_hash]
    assert ops[REVOKE_CREDENTIALS]["base_version"] == 1


def test_large_change_is_sent_as_the_full_list() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    step = plan_sync(whitelist("gate-n", residents("r5", "r6", "r7")), 2, state, T0)
    assert [command["op"] for command in step.commands] == [SYNC_WHITELIST]


def test_version_is_acked_only_when_every_command_of_the_plan_is() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    step = plan_sync(whitelist("gate-n", [*FIVE[1:], *residents("r5")]), 2, state, T0)
    half = on_ack(step.state, step.commands[0]["cmd_id"], True, T0).state
    assert half.acked is not None and half.acked.version.number == 1
    done = ack_all(step).acked
    assert done is not None and done.version.number == 2


def test_revoking_a_resident_revokes_on_every_gate_they_could_open() -> None:
    people = residents("r0", "r1", "r2", "r3") + residents("r4", groups=frozenset({"gym"}))
    states = {gate: ack_all(plan_sync(whitelist(gate, people), 1, online(gate), T0)) for gate in ("gate-n", "gate-s")}
    revoked_hash = card("r1").value_hash
    for gate, state in states.items():
        step = plan_sync(whitelist(gate, people, revoked=["r1"]), 2, state, T0)
        (command,) = step.commands
        assert command["op"] == REVOKE_CREDENTIALS, gate
        assert command["args"]["credential_hashes"] == [revoked_hash]
        assert command["args"]["blacklist"] == [revoked_hash]


def test_resident_moving_out_is_removed_without_blacklisting() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    (command,) = plan_sync(whitelist("gate-n", FIVE[1:]), 2, state, T0).commands
    assert command["op"] == REVOKE_CREDENTIALS
    assert command["args"]["blacklist"] == []


def test_command_ids_are_deterministic_so_retries_are_idempotent() -> None:
    wl = whitelist("gate-n", FIVE)
    first = plan_sync(wl, 1, online("gate-n"), T0)
    again = plan_sync(wl, 1, online("gate-n"), T0 + timedelta(hours=1))
    assert first.commands[0]["cmd_id"] == again.commands[0]["cmd_id"]
    assert plan_sync(wl, 2, online("gate-n"), T0).commands[0]["cmd_id"] != first.commands[0]["cmd_id"]
    retried = due_retries(first.state, T0 + timedelta(seconds=30))
    assert retried.commands == first.commands


def test_retries_wait_for_the_timeout_and_back_off() -> None:
    step = plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0)
    assert due_retries(step.state, T0 + timedelta(seconds=29)).commands == ()
    first = due_retries(step.state, T0 + timedelta(seconds=30))
    assert len(first.commands) == 1
    assert due_retries(first.state, T0 + timedelta(seconds=89)).commands == ()
    assert len(due_retries(first.state, T0 + timedelta(seconds=90)).commands) == 1


def test_retry_resends_only_the_unacked_commands_of_a_delta() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    step = plan_sync(whitelist("gate-n", [*FIVE[1:], *residents("r5")]), 2, state, T0)
    half = on_ack(step.state, step.commands[0]["cmd_id"], True, T0).state
    assert due_retries(half, T0 + timedelta(minutes=1)).commands == step.commands[1:]


def test_failed_delta_is_retried_as_the_full_list() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    step = plan_sync(whitelist("gate-n", FIVE[1:]), 2, state, T0)
    failed = on_ack(step.state, step.commands[0]["cmd_id"], False, T0)
    assert failed.commands == ()
    retry = due_retries(failed.state, T0 + timedelta(seconds=30))
    assert [command["op"] for command in retry.commands] == [SYNC_WHITELIST]
    assert ack_all(retry).in_sync


def test_offline_gate_gets_nothing_until_it_comes_back_at_the_current_version() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    state = on_state(state, False, T0).state
    step = plan_sync(whitelist("gate-n", FIVE[1:]), 2, state, T0)
    assert step.commands == ()
    step = plan_sync(whitelist("gate-n", FIVE[:4]), 3, step.state, T0)
    assert due_retries(step.state, T0 + timedelta(hours=1)).commands == ()
    back = on_state(step.state, True, T0 + timedelta(hours=1))
    (command,) = back.commands  # the delta from the acked version 1 straight to 3
    assert command["op"] == REVOKE_CREDENTIALS and command["args"]["version"] == 3
    assert command["args"]["credential_hashes"] == [card("r4").value_hash]


def test_gate_reporting_an_unexpected_version_gets_the_full_list() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    state = on_state(state, False, T0).state
    state = plan_sync(whitelist("gate-n", FIVE[1:]), 2, state, T0).state
    back = on_state(state, True, T0, reported=WhitelistVersion(7, "0" * 64))
    assert [command["op"] for command in back.commands] == [SYNC_WHITELIST]


def test_gate_reporting_the_planned_version_counts_as_acked() -> None:
    step = plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0)
    offline = on_state(step.state, False, T0).state
    planned = WhitelistVersion(1, whitelist("gate-n", FIVE).content_hash)
    back = on_state(offline, True, T0, reported=planned)
    assert back.commands == () and back.state.in_sync


def test_late_or_unknown_acks_are_ignored() -> None:
    step = plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0)
    assert on_ack(step.state, "nonsense", True, T0).state == step.state
    newer = plan_sync(whitelist("gate-n", FIVE[1:]), 2, step.state, T0)
    assert on_ack(newer.state, step.commands[0]["cmd_id"], True, T0).state == newer.state


def test_superseding_a_sent_plan_sends_the_full_list() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    sent = plan_sync(whitelist("gate-n", FIVE[1:]), 2, state, T0)
    newer = plan_sync(whitelist("gate-n", FIVE), 3, sent.state, T0)
    assert [command["op"] for command in newer.commands] == [SYNC_WHITELIST]


def test_versions_only_go_up() -> None:
    step = plan_sync(whitelist("gate-n", FIVE), 2, online("gate-n"), T0)
    with pytest.raises(ValueError, match="older"):
        plan_sync(whitelist("gate-n", FIVE), 1, step.state, T0)
    with pytest.raises(ValueError, match="different content"):
        plan_sync(whitelist("gate-n", FIVE[1:]), 2, step.state, T0)
    assert plan_sync(whitelist("gate-n", FIVE), 2, step.state, T0) == SyncStep(step.state)
    with pytest.raises(ValueError, match="gate"):
        plan_sync(whitelist("gate-s", FIVE), 3, step.state, T0)


# --- convergence: whatever happens on the way, ok acks bring the gate to the desired content -------------------

people_sets = st.lists(st.sampled_from(NAMES), unique=True, max_size=8)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("plan"), people_sets, st.lists(st.sampled_from(NAMES), max_size=2)),
        st.tuples(st.just("deliver"), st.booleans(), st.booleans()),  # applied by the gate?, ack ok?
        st.tuples(st.just("online"), st.booleans()),
        st.tuples(st.just("tick"), st.integers(0, 600)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(actions)
def test_any_history_converges_to_the_desired_whitelist_once_acks_are_ok(history: list[tuple[Any, ...]]) -> None:
    gate = FakeGate()
    state = GateSyncState("gate-n")
    in_flight: list[dict[str, Any]] = []
    now, version = T0, 0
    desired = whitelist("gate-n", [])
    state = plan_sync(desired, (version := version + 1), state, now).state
    for action in history:
        if action[0] == "plan":
            desired = whitelist("gate-n", residents(*action[1]), revoked=action[2])
            step = plan_sync(desired, (version := version + 1), state, now)
        elif action[0] == "deliver" and in_flight:
            command = in_flight.pop(0)
            if action[1]:
                gate.apply(command)
            step = on_ack(state, command["cmd_id"], action[1] and action[2], now)
        elif action[0] == "online":
            step = on_state(state, action[1], now)
        else:
            now += timedelta(seconds=action[1])
            step = due_retries(state, now)
        state = step.state
        in_flight.extend(step.commands)

    # from here on the network is good: the gate is online, applies everything and acks ok
    step = on_state(state, True, now)
    state, in_flight = step.state, list(step.commands)
    for _ in range(20):
        while in_flight:
            command = in_flight.pop(0)
            gate.apply(command)
            state = on_ack(state, command["cmd_id"], True, now).state
        if state.in_sync:
            break
        now += timedelta(hours=1)
        step = due_retries(state, now)
        state, in_flight = step.state, list(step.commands)
    assert state.in_sync
    assert state.acked is not None and state.acked.version.number == version
    assert gate.holds(desired)


def test_a_gate_never_seen_offline_that_reports_another_version_gets_the_full_list_at_once() -> None:
    first = plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0)
    state = ack_all(first)
    assert state.online and state.in_sync
    rebooted = on_state(state, True, T0 + timedelta(minutes=1), reported=HOLDS_NOTHING)  # no offline state between
    assert [command["op"] for command in rebooted.commands] == [SYNC_WHITELIST]
    assert rebooted.commands[0]["cmd_id"] != first.commands[0]["cmd_id"], (
        "a new id: a gate that remembers the old one must apply the list, not repeat its old ack")
    assert not rebooted.state.in_sync and rebooted.state.acked is None
    other = on_state(state, True, T0 + timedelta(minutes=1), reported=WhitelistVersion(9, "0" * 64))
    assert [command["op"] for command in other.commands] == [SYNC_WHITELIST]
    assert ack_all(rebooted, T0 + timedelta(minutes=1)).in_sync


def test_a_gate_reporting_what_it_acked_on_every_state_gets_nothing() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    assert state.acked is not None
    again = on_state(state, True, T0 + timedelta(minutes=1), reported=state.acked.version)
    assert again.commands == () and again.state.in_sync
    silent = on_state(state, True, T0 + timedelta(minutes=1))  # firmware that does not report: nothing assumed
    assert silent.commands == () and silent.state.in_sync


def test_an_offline_gate_reporting_is_not_sent_anything() -> None:
    state = ack_all(plan_sync(whitelist("gate-n", FIVE), 1, online("gate-n"), T0))
    gone = on_state(state, False, T0, reported=HOLDS_NOTHING)
    assert gone.commands == ()
