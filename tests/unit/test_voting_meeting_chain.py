"""A meeting's hash chain (community/voting/meeting_chain.py): it begins at the meeting's digest, the notice and the
minutes are appended each naming the previous hash, and verification finds an altered entry, a broken link, entries
out of order and a minutes text that is not the one published."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from community.voting import meeting_chain
from community.voting.meeting_chain import ChainProblem, MeetingEntry
from community.voting.meetings import AgendaItem, Meeting, MeetingForm, MeetingKind

STARTS = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
MEETING = Meeting("m-1", "c1", "2026 年第一次业主大会会议", MeetingKind.OWNERS_ASSEMBLY, MeetingForm.MIXED, STARTS,
                  STARTS + timedelta(hours=2), "小区会所")
GENESIS = meeting_chain.meeting_digest(MEETING)
AGENDA = (AgendaItem(1, "p-lifts", "更换电梯", STARTS + timedelta(hours=2)),)
MATERIALS = (("电梯更换方案", "ab" * 32),)
Tamper = Callable[[MeetingEntry, MeetingEntry], tuple[MeetingEntry, MeetingEntry]]
TEXT = "会议纪要：到会业主 2 人，审议更换电梯。"


def chain() -> tuple[MeetingEntry, MeetingEntry]:
    notice = meeting_chain.append((), "notice", meeting_chain.notice_record(
        AGENDA, MATERIALS, STARTS - timedelta(days=29)), GENESIS)
    minutes = meeting_chain.append((notice,), "minutes", meeting_chain.minutes_record(
        TEXT, "wei", "zhou", STARTS + timedelta(hours=2), {"p-lifts": None}), GENESIS)
    return notice, minutes


def test_the_chain_begins_at_the_meeting_digest_and_each_entry_names_the_previous() -> None:
    notice, minutes = chain()

    assert (notice.sequence, notice.kind, notice.previous_hash) == (1, "notice", GENESIS)
    assert (minutes.sequence, minutes.kind, minutes.previous_hash) == (2, "minutes", notice.entry_hash)
    assert meeting_chain.head((notice, minutes), GENESIS) == (2, minutes.entry_hash)
    assert meeting_chain.head((), GENESIS) == (0, GENESIS)
    assert meeting_chain.verify((notice, minutes), GENESIS, TEXT) == []


def test_the_same_terms_give_the_same_hashes_whatever_the_time_zone_they_were_given_in() -> None:
    shanghai = timezone(timedelta(hours=8))
    moved = replace(MEETING, starts_at=MEETING.starts_at.astimezone(shanghai),
                    ends_at=MEETING.ends_at.astimezone(shanghai))

    assert meeting_chain.meeting_digest(moved) == GENESIS
    assert chain() == chain()


@pytest.mark.parametrize("change", [
    {"title": "另一次会议"}, {"place": "别处"}, {"starts_at": STARTS - timedelta(minutes=1)},
    {"form": MeetingForm.ONLINE}, {"kind": MeetingKind.COMMITTEE}, {"community_id": "c2"}])
def test_the_meeting_digest_binds_every_term(change: dict[str, object]) -> None:
    assert meeting_chain.meeting_digest(replace(MEETING, **change)) != GENESIS  # type: ignore[arg-type]


@pytest.mark.parametrize(("tamper", "expected"), [
    (lambda n, m: (replace(n, record={**n.record, "materials": []}), m), [ChainProblem(1, "altered_entry")]),
    (lambda n, m: (n, replace(m, record={**m.record, "approved_by": "wei"})), [ChainProblem(2, "altered_entry")]),
    (lambda n, m: (n, replace(m, kind="notice")), [ChainProblem(2, "altered_entry")]),
    (lambda n, m: (n, replace(m, previous_hash="0" * 64)),
     [ChainProblem(2, "altered_entry"), ChainProblem(2, "broken_link")]),
    (lambda n, m: (m, n), [ChainProblem(2, "out_of_order"), ChainProblem(2, "broken_link"),
                           ChainProblem(1, "out_of_order"), ChainProblem(1, "broken_link")]),
], ids=["notice-materials-dropped", "minutes-approver-changed", "kind-changed", "link-rewritten", "swapped"])
def test_verification_finds_an_altered_entry(tamper: Tamper, expected: list[ChainProblem]) -> None:
    notice, minutes = chain()
    altered = tamper(notice, minutes)

    assert meeting_chain.verify(altered, GENESIS, TEXT) == expected


def test_an_entry_rehashed_after_its_change_still_breaks_the_next_link() -> None:
    notice, minutes = chain()
    record = {**notice.record, "agenda": []}
    forged = replace(notice, record=record, entry_hash=meeting_chain.entry_hash(1, "notice", record, GENESIS))

    assert meeting_chain.verify((forged, minutes), GENESIS, TEXT) == [ChainProblem(2, "broken_link")]
    assert meeting_chain.head((forged, minutes), GENESIS) == meeting_chain.head(chain(), GENESIS)


def test_a_chain_verified_from_another_meetings_digest_does_not_hold() -> None:
    other = meeting_chain.meeting_digest(replace(MEETING, meeting_id="m-2"))

    assert meeting_chain.verify(chain(), other) == [ChainProblem(1, "broken_link")]


@pytest.mark.parametrize(("stored_text", "expected"), [
    (TEXT, []), (None, []), (TEXT + " ", [ChainProblem(2, "minutes_altered")]),
    ("会议纪要：到会业主 3 人。", [ChainProblem(2, "minutes_altered")])])
def test_a_minutes_text_edited_after_publication_no_longer_matches_its_entry(
        stored_text: str | None, expected: list[ChainProblem]) -> None:
    assert meeting_chain.verify(chain(), GENESIS, stored_text) == expected


def test_the_minutes_entry_binds_the_text_the_people_and_each_items_published_head() -> None:
    record = meeting_chain.minutes_record(TEXT, "wei", "zhou", STARTS, {"p-b": (12, "cd" * 32), "p-a": None})

    assert record["minutes_sha256"] == meeting_chain.minutes_digest(TEXT)
    assert (record["drafted_by"], record["approved_by"]) == ("wei", "zhou")
    assert record["results"] == {"p-a": None, "p-b": {"length": 12, "head_hash": "cd" * 32}}
    assert list(record["results"]) == ["p-a", "p-b"]
