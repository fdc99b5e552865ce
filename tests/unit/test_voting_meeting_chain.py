"""A meeting's hash chain (community/voting/meeting_chain.py): it begins at the meeting's digest, the notice and the
minutes are appended each naming the previous hash — and a result entry for a vote closing after the minutes —, and
verification finds an altered entry, a broken link, entries out of order, a minutes text that is not the one
published and a result entry where none is due."""

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


# --- a vote closing after the minutes: its result entry ---------------------------------------------------------

CLOSED = STARTS + timedelta(days=8)
FINAL = (42, "ef" * 32)


def with_result(proposal_id: str = "p-lifts", head: tuple[int, str] = FINAL) -> tuple[MeetingEntry, ...]:
    entries = chain()
    return (*entries, meeting_chain.append(entries, "result", meeting_chain.result_record(proposal_id, head, CLOSED),
                                           GENESIS))


def test_a_vote_closing_after_the_minutes_is_bound_by_a_result_entry_with_its_final_head() -> None:
    entries = with_result()
    result = entries[-1]

    assert (result.sequence, result.kind, result.previous_hash) == (3, "result", entries[1].entry_hash)
    assert result.record == {"proposal_id": "p-lifts", "length": 42, "head_hash": "ef" * 32,
                             "result_published_at": CLOSED.isoformat(timespec="microseconds")}
    assert meeting_chain.verify(entries, GENESIS, TEXT) == []
    assert meeting_chain.head(entries, GENESIS) == (3, result.entry_hash)
    bound = meeting_chain.bound_heads(entries)["p-lifts"]
    assert bound is not None and (bound.length, bound.head_hash, bound.sequence, bound.kind) == (42, "ef" * 32, 3,
                                                                                                 "result")


def test_only_an_item_the_minutes_hold_null_for_awaits_its_result_once() -> None:
    notice, minutes = chain()

    assert not meeting_chain.awaits_result((notice,), "p-lifts"), "no minutes yet: the minutes bind it themselves"
    assert meeting_chain.awaits_result((notice, minutes), "p-lifts")
    assert not meeting_chain.awaits_result(with_result(), "p-lifts"), "bound already: not again"
    assert not meeting_chain.awaits_result((notice, minutes), "p-other"), "not on the agenda"
    closed_before = meeting_chain.append((notice,), "minutes", meeting_chain.minutes_record(
        TEXT, "wei", "zhou", STARTS + timedelta(hours=2), {"p-lifts": (7, "ab" * 32)}), GENESIS)
    assert not meeting_chain.awaits_result((notice, closed_before), "p-lifts"), "the minutes bound it"
    bound = meeting_chain.bound_heads((notice, closed_before))["p-lifts"]
    assert bound is not None and (bound.length, bound.sequence, bound.kind) == (7, 2, "minutes")
    assert meeting_chain.bound_heads((notice,)) == {}


def test_a_result_entry_where_none_is_due_shows() -> None:
    notice = chain()[0]
    early = meeting_chain.append((notice,), "result", meeting_chain.result_record("p-lifts", FINAL, CLOSED), GENESIS)
    twice = with_result()
    again = meeting_chain.append(twice, "result", meeting_chain.result_record("p-lifts", (43, "00" * 32), CLOSED),
                                 GENESIS)

    assert meeting_chain.verify((notice, early), GENESIS) == [ChainProblem(2, "unexpected_result")]
    assert meeting_chain.verify((*twice, again), GENESIS) == [ChainProblem(4, "unexpected_result")]
    assert meeting_chain.verify(with_result("p-other"), GENESIS) == [ChainProblem(3, "unexpected_result")]
    assert meeting_chain.bound_heads((*twice, again))["p-lifts"].length == 42  # type: ignore[union-attr]
