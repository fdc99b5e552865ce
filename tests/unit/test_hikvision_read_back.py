"""The Hikvision bridge's read-back of stored events, pure: the AcsEvent search it asks, the pages it reads (the
published InfoList shape, made from the notification fixtures), and which events it skips as forwarded already."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridges.hikvision.events import Rejected, RejectReason, TerminalEvent, event_id, parse_notification, parse_record
from bridges.hikvision.read_back import (
    FORWARDED_KEPT,
    SEARCH_OVERLAP,
    ForwardedLog,
    SearchPage,
    read_page,
    search_condition,
)
from bridges.hikvision.store import TerminalStore
from tests.hikvision_emulator import fixture, stored_record

NOON = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 at the terminal


def test_a_stored_record_is_the_same_event_with_the_same_id_as_its_push() -> None:
    notification = fixture("face_granted")
    pushed, stored = parse_notification(json.dumps(notification)), parse_record(stored_record(notification))
    assert isinstance(pushed, TerminalEvent) and isinstance(stored, TerminalEvent)
    assert stored == pushed and event_id(stored) == event_id(pushed)


def test_a_record_without_a_time_or_with_a_bad_code_is_rejected_with_the_reason() -> None:
    record = stored_record(fixture("card_granted"))
    assert parse_record({**record, "time": None}) == Rejected(RejectReason.MISSING_FIELD, "dateTime")
    bad = parse_record({**record, "major": "five"})
    assert isinstance(bad, Rejected) and bad.reason is RejectReason.BAD_FIELD
    assert isinstance(parse_record(["not", "a", "record"]), Rejected)


def test_the_search_asks_for_every_type_in_the_terminals_time() -> None:
    condition = search_condition("s-1", 60, 30, (NOON, NOON + timedelta(days=1)))["AcsEventCond"]
    assert condition == {"searchID": "s-1", "searchResultPosition": 60, "maxResults": 30, "major": 0, "minor": 0,
                         "startTime": "2026-11-23T12:00:00+08:00", "endTime": "2026-11-24T12:00:00+08:00"}


def test_a_page_says_whether_more_follow_and_sorts_its_events_oldest_first() -> None:
    later, earlier = (stored_record(fixture("card_granted", dateTime=t, serialNo=n))
                      for t, n in (("2026-11-23T12:00:05+08:00", 8), ("2026-11-23T12:00:01+08:00", 7)))
    page = read_page({"AcsEvent": {"searchID": "s", "responseStatusStrg": "MORE", "numOfMatches": 3,
                                   "totalMatches": 9, "InfoList": [later, earlier, {"major": 5}]}})
    assert isinstance(page, SearchPage) and page.more and page.matches == 3
    assert [event.serial_no for event in page.events] == [7, 8]
    assert len(page.unreadable) == 1 and page.unreadable[0][0].startswith("hbad-")
    done = read_page({"AcsEvent": {"searchID": "s", "responseStatusStrg": "NO MATCH", "numOfMatches": 0}})
    assert isinstance(done, SearchPage) and not done.more and done.events == []


def test_an_answer_that_is_not_a_search_page_is_rejected() -> None:
    assert isinstance(read_page({"UserInfoCount": {}}), Rejected)
    assert isinstance(read_page({"AcsEvent": {"responseStatusStrg": "OK", "InfoList": {}}}), Rejected)
    assert isinstance(read_page({"AcsEvent": {"responseStatusStrg": "OK", "numOfMatches": 5, "InfoList": []}}),
                      Rejected)


def test_the_forwarded_log_starts_at_first_contact_and_keeps_the_ids_of_the_overlap() -> None:
    log = ForwardedLog()
    assert log.search_window(NOON) is None
    log.begin(NOON)
    assert log.search_window(NOON) == (NOON - SEARCH_OVERLAP, NOON + timedelta(days=1))
    log.add("old", NOON - timedelta(hours=1))  # a late re-push: kept while within the overlap only
    log.add("a", NOON + timedelta(minutes=1))
    assert log.watermark == NOON + timedelta(minutes=1) and "a" in log and "old" not in log
    log.add("b", NOON + timedelta(minutes=5))
    assert "a" in log  # within the overlap of b
    log.add("c", NOON + timedelta(minutes=30))
    assert "a" not in log and "b" not in log and "c" in log
    for n in range(FORWARDED_KEPT + 10):
        log.add(f"burst-{n}", NOON + timedelta(minutes=30, microseconds=n))
    assert len(log.ids) == FORWARDED_KEPT and "burst-9" not in log and f"burst-{FORWARDED_KEPT + 9}" in log


def test_the_forwarded_log_survives_a_restart(tmp_path: Path) -> None:
    store = TerminalStore(tmp_path, "north-gate-02")
    memo = store.load()
    memo.forwarded.add("h1-1", NOON)
    store.save(memo)
    assert store.load().forwarded == memo.forwarded
    store.path.write_text('{"whitelist": null}', encoding="utf-8")  # a file from before the read-back
    assert store.load().forwarded == ForwardedLog()
