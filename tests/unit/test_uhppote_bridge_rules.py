"""The UHPPOTE bridge's pure rules: controller events → gate events, event indices, whitelist → cards and profiles."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from bridges.uhppote.cards import ALWAYS, NEVER, card_as_listed, card_hashes, controller_load, weekday_minutes
from bridges.uhppote.event_log import EventCursor, Observation, PushVerdict, judge_push, plan_reads
from bridges.uhppote.events import ControllerEvent, Missing, Notice, Unmapped, translate
from devices.contract import AccessMethod, DenialReason, GateEvent, GateEventKind
from devices.gate_commands import WeeklyWindowArgs, WhitelistEntryArgs

KEY = b"s" * 32
AT = datetime(2026, 11, 23, 8, 30, 0)


def controller_event(event_type: int, reason: int, granted: bool = False, card: int = 0, door: int = 1,
                     index: int = 7) -> ControllerEvent:
    return ControllerEvent(405419896, index, event_type, granted, door, 1, card, AT, reason)


@pytest.mark.parametrize(("event_type", "reason", "granted", "kind", "method", "denial"), [
    (1, 1, True, GateEventKind.GRANTED, AccessMethod.CARD, None),
    (1, 6, False, GateEventKind.DENIED, AccessMethod.CARD, DenialReason.NO_PERMISSION),
    (1, 15, False, GateEventKind.DENIED, AccessMethod.CARD, DenialReason.OUTSIDE_SCHEDULE),
    (1, 13, False, GateEventKind.DENIED, AccessMethod.CARD, DenialReason.EXPIRED),
    (2, 20, True, GateEventKind.GRANTED, AccessMethod.BUTTON, None),
    (2, 23, True, GateEventKind.DOOR_OPEN, None, None),
    (2, 24, True, GateEventKind.DOOR_CLOSED, None, None),
    (2, 44, True, GateEventKind.GRANTED, AccessMethod.REMOTE, None),
    (3, 37, False, GateEventKind.HELD_OPEN, None, None),
    (3, 38, False, GateEventKind.FORCED, None, None),
    (3, 41, False, GateEventKind.TAMPER, None, None),
])
def test_controller_events_map_to_contract_kinds(event_type: int, reason: int, granted: bool, kind: GateEventKind,
                                                 method: AccessMethod | None, denial: DenialReason | None) -> None:
    event = translate(controller_event(event_type, reason, granted, card=12345678), epoch=2)
    assert isinstance(event, GateEvent)
    assert (event.kind, event.method, event.reason) == (kind, method, denial)
    assert event.event_id == "u405419896-2-7"
    assert event.ts == datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # the controller's clock is Shanghai time


def test_a_denied_card_takes_the_whitelists_reason_and_only_cards_carry_the_number() -> None:
    event = translate(controller_event(1, 6, card=12345678), 0, whitelist_reason=DenialReason.BLACKLISTED)
    assert isinstance(event, GateEvent) and event.reason is DenialReason.BLACKLISTED
    assert event.credential == "12345678"
    remote = translate(controller_event(2, 44, True, card=12345678), 0)
    assert isinstance(remote, GateEvent) and remote.credential is None


def test_a_card_is_reported_as_the_whitelist_spells_it() -> None:
    as_reported, ten_digits = card_hashes(12345678, KEY)
    assert card_as_listed(12345678, {ten_digits}, KEY) == "0012345678"  # enrolled as printed on the card
    assert card_as_listed(12345678, {as_reported}, KEY) == "12345678"  # enrolled as the controller reports it
    assert card_as_listed(12345678, {as_reported, ten_digits}, KEY) == "12345678"  # both: the reported spelling
    assert card_as_listed(12345678, set(), KEY) == "12345678"  # not listed: as reported
    assert card_as_listed(4012345678, {card_hashes(4012345678, KEY)[1]}, KEY) == "4012345678"
    event = translate(controller_event(1, 1, True, card=12345678), 0, card_text="0012345678")
    assert isinstance(event, GateEvent) and event.credential == "0012345678"


def test_unknown_codes_are_unmapped_with_their_code_and_empty_slots_are_missing() -> None:
    assert translate(controller_event(3, 99), 0) == Unmapped(3, 99, "no mapping for type 3 reason 99")
    assert isinstance(translate(controller_event(7, 1), 0), Unmapped)
    assert isinstance(translate(controller_event(3, 39), 0), Unmapped)  # fire: no kind in the contract
    assert translate(controller_event(0xFF, 0), 0) == Missing(overwritten=True)
    assert translate(controller_event(3, 28), 0) is Notice.POWER_ON
    assert isinstance(translate(controller_event(1, 1, True, door=9), 0), Unmapped)


def test_event_indices_first_contact_catch_up_and_reset() -> None:
    first = plan_reads(EventCursor(), 120)
    assert first.observation is Observation.FIRST_CONTACT and list(first.indices) == []
    assert first.cursor == EventCursor(0, 120)
    behind = plan_reads(EventCursor(0, 120), 123)
    assert behind.observation is Observation.BEHIND and list(behind.indices) == [121, 122, 123]
    assert plan_reads(EventCursor(0, 123), 123).observation is Observation.IN_STEP
    reset = plan_reads(EventCursor(0, 123), 2)
    assert reset.observation is Observation.RESET and reset.cursor == EventCursor(1, 0)
    assert list(reset.indices) == [1, 2]
    same_index = plan_reads(EventCursor(1, 5), 5, last_still_there=False)
    assert same_index.observation is Observation.RESET and list(same_index.indices) == [1, 2, 3, 4, 5]


def test_a_pushed_index_is_next_a_gap_or_stale() -> None:
    assert judge_push(EventCursor(0, 9), 10) is PushVerdict.NEXT
    assert judge_push(EventCursor(0, 9), 12) is PushVerdict.GAP
    assert judge_push(EventCursor(0, 9), 9) is PushVerdict.STALE
    assert judge_push(EventCursor(), 1) is PushVerdict.STALE


def window(days: list[int], start: str, end: str) -> WeeklyWindowArgs:
    return WeeklyWindowArgs.model_validate({"days": days, "start": start, "end": end})


def test_windows_become_minutes_rounded_towards_less_access_and_split_at_midnight() -> None:
    assert weekday_minutes([window([0], "08:00:00", "18:00:00")]) == {0: [(480, 1079)]}
    assert weekday_minutes([window([0], "08:00:30", "18:00:30")]) == {0: [(481, 1079)]}
    assert weekday_minutes([window([6], "22:00:00", "06:00:00")]) == {6: [(1320, 1439)], 0: [(0, 359)]}
    merged = weekday_minutes([window([1], "08:00:00", "12:00:00"), window([1], "12:00:00", "14:00:00")])
    assert merged == {1: [(480, 839)]}


def entry(card: int, windows: list[dict[str, object]], doors: list[int], **validity: str) -> WhitelistEntryArgs:
    return WhitelistEntryArgs.model_validate({
        "hash": card_hashes(card, KEY)[0], "kind": "card", **validity,
        "grants": [{"group": "g", "doors": doors, "windows": windows}]})


def test_the_whitelist_becomes_cards_with_always_or_a_profile_per_door() -> None:
    always = entry(1001, [{"days": list(range(7)), "start": "00:00:00", "end": "00:00:00"}], [1, 2])
    office = entry(1002, [{"days": [0, 1, 2, 3, 4], "start": "08:00:00", "end": "18:00:00"},
                          {"days": [5], "start": "09:00:00", "end": "12:00:00"}], [2],
                   valid_from="2026-01-01T12:00:00+08:00", valid_to="2026-07-01T00:00:00+08:00")
    unknown = entry(1003, [{"days": [0], "start": "08:00:00", "end": "09:00:00"}], [1])
    face = WhitelistEntryArgs.model_validate({**always.model_dump(mode="json"), "kind": "face",
                                              "hash": "f" * 64})
    numbers = {card_hashes(1001, KEY)[0]: 1001, card_hashes(1002, KEY)[0]: 1002}
    load = controller_load([always, office, unknown, face], numbers, doors=2)
    assert load.cards[1001].doors == (ALWAYS, ALWAYS, NEVER, NEVER)
    assert load.cards[1002].start == date(2026, 1, 2) and load.cards[1002].end == date(2026, 6, 30)
    first = load.cards[1002].doors[1]
    assert load.cards[1002].doors[0] == NEVER and first >= 2
    chain = [load.profiles[first]]
    while chain[-1].linked:
        chain.append(load.profiles[chain[-1].linked])
    shapes = {(profile.shape.weekdays, profile.shape.segments) for profile in chain}
    assert shapes == {((True,) * 5 + (False,) * 2, ((time(8, 0), time(17, 59)),)),
                      ((False,) * 5 + (True, False), ((time(9, 0), time(11, 59)),))}
    assert (load.unknown_numbers, load.not_cards) == (1, 1)


def test_profiles_beyond_the_controllers_253_refuse_the_door_instead_of_opening_it() -> None:
    entries = [entry(2000 + n, [{"days": [n % 7], "start": f"{n % 24:02d}:00:00", "end": f"{n % 24:02d}:30:00"},
                                {"days": [(n + 1) % 7], "start": "01:00:00", "end": "02:00:00"}], [1])
               for n in range(200)]
    numbers = {card_hashes(2000 + n, KEY)[0]: 2000 + n for n in range(200)}
    load = controller_load(entries, numbers, doors=1)
    assert len(load.profiles) <= 253 and load.over_profile_limit > 0
    assert all(card.doors[0] == NEVER or card.doors[0] in load.profiles for card in load.cards.values())


@pytest.mark.parametrize("listen", ["0.0.0.0:99999", "0.0.0.0:0", "999.1.1.1:60001", "0.0.0.0", "host:60001",
                                    "0.0.0.0:６０００1", ":60001"])
def test_a_listen_address_that_cannot_be_bound_is_refused_naming_the_field(tmp_path: Path, listen: str) -> None:
    from bridges.config_files import BridgeConfigError
    from bridges.uhppote.config import load_config

    config = tmp_path / "uhppote.toml"
    config.write_text(f'listen = "{listen}"\nadvertise = "127.0.0.1"\nstate_dir = "/tmp/x"\n[[controllers]]\n'
                      'serial = 405419896\naddress = "10.0.0.5"\nsite = "s"\ngate = "g1"\n', encoding="utf-8")
    with pytest.raises(BridgeConfigError, match=r"listen: Value error, .*(IPv4|port)"):
        load_config(config)
    config.write_text(config.read_text(encoding="utf-8").replace(listen, "10.0.0.2:60001"), encoding="utf-8")
    loaded = load_config(config)
    assert (loaded.listen_host, loaded.listen_port) == ("10.0.0.2", 60001)
    config.write_text(config.read_text(encoding="utf-8").replace('"127.0.0.1"', '"127.0.0.300"'), encoding="utf-8")
    with pytest.raises(BridgeConfigError, match=r"advertise: Value error, '127.0.0.300' is not an IPv4 address"):
        load_config(config)
    for nobody in ("0.0.0.0", "255.255.255.255", "224.0.0.1"):  # the controllers would send their events nowhere
        config.write_text(config.read_text(encoding="utf-8").replace('"127.0.0.300"', f'"{nobody}"'), encoding="utf-8")
        with pytest.raises(BridgeConfigError, match=r"advertise: .* is no one host's address"):
            load_config(config)
        config.write_text(config.read_text(encoding="utf-8").replace(f'"{nobody}"', '"127.0.0.300"'), encoding="utf-8")
