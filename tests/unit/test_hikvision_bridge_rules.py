"""The Hikvision bridge's pure rules: notification → gate event (on the published payload shapes in
tests/data/hikvision), whitelist → persons and schedules, and the picture store's bounds."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from bridges.hikvision.bridge import card_as_listed, credential_hashes
from bridges.hikvision.events import (
    EVENT_TABLE,
    Notice,
    OtherEvent,
    Rejected,
    RejectReason,
    TerminalEvent,
    Unmapped,
    event_id,
    looked_up_keys,
    parse_notification,
    remembered_keys,
    translate,
)
from bridges.hikvision.persons import (
    ALWAYS_TEMPLATE,
    SECONDS_PER_DAY,
    card_employee_no,
    terminal_load,
    week_of,
    week_plan_body,
)
from bridges.hikvision.pictures import PictureStore
from devices.contract import DenialReason, GateEvent
from devices.gate_commands import GrantArgs, WeeklyWindowArgs, WhitelistEntryArgs
from tests.hikvision_emulator import fixture

FACE_HASH, CARD_HASH = "a" * 64, "b" * 64


def parsed(name: str, **changes: object) -> TerminalEvent:
    event = parse_notification(json.dumps(fixture(name, **changes)))
    assert isinstance(event, TerminalEvent)
    return event


def test_a_face_notification_is_a_granted_face_event_naming_the_person() -> None:
    event = translate(parsed("face_granted"), doors=1)
    assert isinstance(event, GateEvent)
    assert (event.kind.value, event.method, event.credential, event.door) == ("granted", "face", "FT0000A1B2C3D4", 1)
    assert event.ts == datetime(2026, 11, 23, 0, 30, 12, tzinfo=UTC)


def test_a_repush_has_the_same_event_id_and_a_reset_terminal_another() -> None:
    first, again = parsed("face_granted"), parsed("face_granted")
    after_reset = parsed("face_granted", dateTime="2026-12-01T10:00:00+08:00")
    assert event_id(first) == event_id(again) != event_id(after_reset)


def test_a_record_without_its_serial_number_is_found_as_the_event_forwarded_with_it_and_back() -> None:
    with_serial = parsed("card_granted")
    without = dataclasses.replace(with_serial, serial_no=None)
    assert set(looked_up_keys(without)) & set(remembered_keys(with_serial))
    assert set(looked_up_keys(with_serial)) & set(remembered_keys(without))
    same_second = dataclasses.replace(with_serial, serial_no=(with_serial.serial_no or 0) + 1)
    assert not set(looked_up_keys(same_second)) & set(remembered_keys(with_serial)), \
        "two events with serial numbers are told apart by them, however close"
    other_door = dataclasses.replace(without, door=without.door + 1)
    assert not set(looked_up_keys(other_door)) & set(remembered_keys(with_serial))


@pytest.mark.parametrize(("name", "kind", "method", "reason"), [
    ("card_granted", "granted", "card", None),
    ("card_invalid", "denied", "card", "unknown_credential"),
    ("door_forced", "forced", None, None),
])
def test_the_published_samples_map_to_their_kinds(name: str, kind: str, method: str | None,
                                                  reason: str | None) -> None:
    event = translate(parsed(name), doors=1)
    assert isinstance(event, GateEvent)
    assert (event.kind.value, event.method, event.reason) == (kind, method, reason)


def test_a_no_such_card_denial_takes_the_whitelists_verdict() -> None:
    event = translate(parsed("card_invalid"), doors=1, whitelist_reason=DenialReason.BLACKLISTED)
    assert isinstance(event, GateEvent) and event.reason is DenialReason.BLACKLISTED


def test_an_unknown_code_or_door_is_unmapped_with_the_code() -> None:
    doorbell = translate(parsed("doorbell"), doors=1)
    assert isinstance(doorbell, Unmapped) and doorbell.event.code == "0x5/0x25"
    other_door = translate(parsed("face_granted", doorNo=3), doors=2)
    assert isinstance(other_door, Unmapped) and "door 3" in other_door.detail


def test_lock_and_button_release_codes_are_notices() -> None:
    assert translate(parsed("door_forced", subEventType=0x15), doors=1) is Notice.LOCK_OPENED


@pytest.mark.parametrize(("text", "reason"), [
    (b"{not json", RejectReason.INVALID_JSON),
    (b"\xff\xfe", RejectReason.INVALID_JSON),
    (b"[1, 2]", RejectReason.NOT_AN_OBJECT),
    (b'{"eventType": "AccessControllerEvent"}', RejectReason.MISSING_FIELD),
    (json.dumps(fixture("face_granted", subEventType=-1)).encode(), RejectReason.BAD_FIELD),
    (json.dumps(fixture("face_granted", cardNo="x" * 40)).encode(), RejectReason.BAD_FIELD),
    (json.dumps(fixture("face_granted", dateTime="yesterday")).encode(), RejectReason.BAD_FIELD),
    (b" " * (70 * 1024), RejectReason.TOO_LARGE),
])
def test_bad_notifications_are_values_with_a_reason(text: bytes, reason: RejectReason) -> None:
    result = parse_notification(text)
    assert isinstance(result, Rejected) and result.reason is reason


def test_a_heartbeat_is_not_an_access_event() -> None:
    assert parse_notification(json.dumps(fixture("heartbeat"))) == OtherEvent("heartBeat")


def test_a_wrapped_notification_and_a_time_without_offset_are_read() -> None:
    body = {"EventNotificationAlert": fixture("door_forced", dateTime="2026-11-23T02:14:09")}
    event = parse_notification(json.dumps(body))
    assert isinstance(event, TerminalEvent) and event.ts == datetime(2026, 11, 22, 18, 14, 9, tzinfo=UTC)


def test_every_mapped_code_makes_a_valid_contract_event() -> None:
    base = parsed("card_granted")
    for (major, minor), mapped in EVENT_TABLE.items():
        event = TerminalEvent(major, minor, 7, base.ts, 1, "123", "FT1", None, None)
        translated = translate(event, doors=1)
        assert isinstance(translated, GateEvent) and translated.kind is mapped.kind


def test_the_docs_table_lists_every_mapped_code() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "devices.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Hikvision"):]
    for major, minor in EVENT_TABLE:
        assert f"| {major} / {minor:#x} " in section, (major, minor)


# -- whitelist → persons --------------------------------------------------------------------------------------------


def window(days: list[int], start: str, end: str) -> WeeklyWindowArgs:
    return WeeklyWindowArgs(days=days, start=time.fromisoformat(start), end=time.fromisoformat(end))


def entry(key: str, kind: str, grants: list[GrantArgs], **validity: datetime) -> WhitelistEntryArgs:
    return WhitelistEntryArgs(hash=key, kind=kind, grants=grants, **validity)  # type: ignore[arg-type]


def grant(doors: list[int], windows: list[WeeklyWindowArgs], **validity: datetime) -> GrantArgs:
    return GrantArgs(group="g", doors=doors, windows=windows, **validity)  # type: ignore[arg-type]


ALL_WEEK = window(list(range(7)), "00:00:00", "00:00:00")


def test_an_always_face_person_gets_template_1_and_a_card_person_its_own_schedule() -> None:
    load = terminal_load([entry(FACE_HASH, "face", [grant([1, 2], [ALL_WEEK])]),
                          entry(CARD_HASH, "card", [grant([2], [window([0, 1, 2, 3, 4], "08:00:00", "18:00:00")])])],
                         {FACE_HASH: "FT1", CARD_HASH: "10058400"}, doors=2)
    face, card = load.persons["FT1"], load.persons[card_employee_no(CARD_HASH)]
    assert face.doors == ((1, ALWAYS_TEMPLATE), (2, ALWAYS_TEMPLATE)) and face.card_no is None
    assert card.card_no == "10058400" and card.doors[0][0] == 2 and card.doors[0][1] != ALWAYS_TEMPLATE
    week = load.templates[card.doors[0][1]]
    assert week[0] == ((8 * 3600, 18 * 3600 - 1),) and week[5] == ()
    assert face.user_info()["RightPlan"] == [{"doorNo": 1, "planTemplateNo": "1"},
                                             {"doorNo": 2, "planTemplateNo": "1"}]


def test_a_window_across_midnight_is_split_and_rounded_towards_less_access() -> None:
    week, dropped = week_of([window([4], "22:00:00.5", "06:00:00")])
    assert week[4] == ((22 * 3600 + 1, SECONDS_PER_DAY - 1),) and week[5] == ((0, 6 * 3600 - 1),)
    assert dropped == 0


def test_more_than_eight_segments_a_day_keep_the_first_eight() -> None:
    windows = [window([0], f"{hour:02d}:00:00", f"{hour:02d}:30:00") for hour in range(10)]
    week, dropped = week_of(windows)
    assert len(week[0]) == 8 and dropped == 2
    rows = week_plan_body(week)["UserRightWeekPlanCfg"]["WeekPlanCfg"]
    assert len(rows) == 56 and sum(row["enable"] for row in rows) == 8


def test_validity_is_narrowed_to_the_grants_and_a_shorter_grant_is_left_out() -> None:
    start, lease_end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
    load = terminal_load([entry(CARD_HASH, "card", [
        grant([1], [ALL_WEEK], valid_from=start, valid_to=lease_end),
        grant([2], [ALL_WEEK], valid_from=start, valid_to=datetime(2026, 2, 1, tzinfo=UTC)),
    ])], {CARD_HASH: "1"}, doors=2)
    person = load.persons[card_employee_no(CARD_HASH)]
    assert person.doors == ((1, ALWAYS_TEMPLATE),) and load.narrowed_grants == 1
    assert person.user_info()["Valid"] == {"enable": True, "beginTime": "2026-01-01T08:00:00",
                                           "endTime": "2026-07-01T07:59:59", "timeType": "local"}


def test_unknown_unsupported_and_over_the_template_limit_are_counted_never_widened() -> None:
    entries = [entry(FACE_HASH, "face", [grant([1], [window([0], "08:00:00", "09:00:00")])]),
               entry(CARD_HASH, "card", [grant([1], [window([1], "08:00:00", "09:00:00")])]),
               entry("c" * 64, "card", [grant([1], [ALL_WEEK])]),
               entry("d" * 64, "pin", [grant([1], [ALL_WEEK])])]
    load = terminal_load(entries, {FACE_HASH: "FT1", CARD_HASH: "2"}, doors=1, max_templates=2)
    assert (load.unknown, load.unsupported, load.over_template_limit) == (1, 1, 1)
    assert len(load.persons) == 1 and set(load.templates) == {1, 2}


def test_a_known_face_not_on_the_list_is_held_disabled() -> None:
    load = terminal_load([], {}, doors=1, face_refs=["FT9"])
    person = load.persons["FT9"]
    assert person.enabled is False and person.user_info()["doorRight"] == ""


# -- pictures -------------------------------------------------------------------------------------------------------


def test_pictures_are_capped_each_and_in_total_oldest_first(tmp_path: Path) -> None:
    store = PictureStore(tmp_path, max_bytes=1000, max_total_bytes=2500)
    with pytest.raises(ValueError, match="over 1000"):
        store.save("gate-1", "h1-1", "image/jpeg", b"x" * 1001)
    for index in range(4):
        store.save("gate-1", f"h{index}-1", "image/jpeg", b"x" * 900)
    kept = sorted(path.name for path in (tmp_path / "gate-1").iterdir())
    assert kept == ["h2-1.jpg", "h3-1.jpg"]
    assert store.total == 1800, "what the directory holds, the first picture counted once"
    with pytest.raises(ValueError, match="file name"):
        store.save("../etc", "h5-1", "image/jpeg", b"x")


# -- configuration ----------------------------------------------------------------------------------------------


def test_a_bad_configuration_is_refused_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner  # only this test drives the command

    from smartcity.cli import main

    config = tmp_path / "hikvision.toml"
    config.write_text('state_dir = "/tmp/x"\n[[terminals]]\ngate = "g1"\nsite = "s"\nurl = "ftp://x"\n'
                      'username = "admin"\npassword = "p"\n', encoding="utf-8")
    monkeypatch.setenv("SC_MQTT_URL", "mqtt://127.0.0.1:1")
    monkeypatch.setenv("SC_CREDENTIAL_HASH_KEY", "k" * 32)
    result = CliRunner().invoke(main, ["bridge", "hikvision", "--config", str(config)])
    assert result.exit_code != 0 and "terminals.0.url" in result.output


def test_the_credentials_file_takes_cards_and_faces_only(tmp_path: Path) -> None:
    from bridges.config_files import BridgeConfigError
    from bridges.hikvision.config import read_credentials

    good = tmp_path / "good.txt"
    good.write_text("# issued at the site\ncard 10058400\nface FT0000A1B2C3D4  # enrolled\n\n", encoding="utf-8")
    assert read_credentials(good) == [("card", "10058400"), ("face", "FT0000A1B2C3D4")]
    bad = tmp_path / "bad.txt"
    bad.write_text("pin 1234\n", encoding="utf-8")
    with pytest.raises(BridgeConfigError, match=r"bad\.txt:1"):
        read_credentials(bad)


def test_push_addresses_come_from_push_from_or_the_urls_address() -> None:
    from pydantic import ValidationError

    from bridges.hikvision.config import TerminalConfig

    base = {"gate": "g1", "site": "s", "username": "admin", "password": "p"}
    assert TerminalConfig(url="http://192.168.1.64", **base).push_addresses() == frozenset({"192.168.1.64"})
    assert TerminalConfig(url="http://[::ffff:10.0.0.5]:8080", **base).push_addresses() == frozenset({"10.0.0.5"})
    assert TerminalConfig(url="http://door-1.lan", **base).push_addresses() is None  # resolved at start
    assert TerminalConfig(url="http://door-1.lan", push_from=["10.0.0.9", "fe80::1"],
                          **base).push_addresses() == frozenset({"10.0.0.9", "fe80::1"})
    with pytest.raises(ValidationError, match="push_from"):
        TerminalConfig(url="http://door-1.lan", push_from=["door-1.lan"], **base)
    with pytest.raises(ValidationError, match="push_token"):
        TerminalConfig(url="http://192.168.1.64", push_token="short", **base)


def test_a_push_is_taken_from_the_gates_addresses_with_its_token_only() -> None:
    from bridges.hikvision.push_admission import Refusal, refusal

    allowed = frozenset({"192.168.1.64"})
    assert refusal("192.168.1.64", allowed, None, None) is None
    assert refusal("192.168.1.65", allowed, None, None) is Refusal.ADDRESS
    assert refusal(None, allowed, None, None) is Refusal.ADDRESS
    assert refusal("192.168.1.64", allowed, None, "anything") is Refusal.TOKEN
    assert refusal("192.168.1.64", allowed, "t" * 16, None) is Refusal.TOKEN
    assert refusal("192.168.1.64", allowed, "t" * 16, "t" * 15 + "u") is Refusal.TOKEN
    assert refusal("192.168.1.64", allowed, "t" * 16, "t" * 16) is None
    assert refusal("192.168.1.65", allowed, "t" * 16, "t" * 16) is Refusal.ADDRESS  # the token alone is not enough


def test_a_card_is_reported_as_the_whitelist_spells_it() -> None:
    key = b"k" * 32
    as_reported, ten_digits = credential_hashes("card", "12345678", key)
    assert card_as_listed("12345678", {ten_digits}, key) == "0012345678"  # enrolled as printed on the card
    assert card_as_listed("12345678", {as_reported}, key) == "12345678"
    assert card_as_listed("12345678", {as_reported, ten_digits}, key) == "12345678"
    assert card_as_listed("12345678", set(), key) == "12345678"  # not listed: as reported
    assert card_as_listed("0012345678", {ten_digits}, key) == "0012345678"
    assert card_as_listed("A1B2", set(), key) == "A1B2"


def test_pictures_past_their_age_are_deleted_and_younger_ones_kept(tmp_path: Path) -> None:
    day = 86_400.0
    store = PictureStore(tmp_path, max_bytes=1000, max_total_bytes=10_000, max_age_s=180 * day)
    old = store.save("gate-1", "h1-1", "image/jpeg", b"x" * 100)
    young = store.save("gate-1", "h2-1", "image/png", b"y" * 100)
    now = old.stat().st_mtime
    os.utime(old, (now - 181 * day, now - 181 * day))
    os.utime(young, (now - 179 * day, now - 179 * day))
    assert store.expire(now) == 1
    assert sorted(path.name for path in (tmp_path / "gate-1").iterdir()) == ["h2-1.png"]
    assert store.expire(now) == 0
    store.save("gate-1", "h3-1", "image/jpeg", b"z" * 100)  # the total is measured afresh, without the deleted one
    assert store.total == 200
    assert PictureStore(tmp_path, max_bytes=1000, max_total_bytes=10_000).expire(now + 999 * day) == 0, \
        "without an age, pictures are kept until the total"
