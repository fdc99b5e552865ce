"""The record anyone entitled recounts — as stored or as downloaded — and the one check over it: a changed roll, a
delegation slipped in beside the log or taken out of it, a changed ballot and a changed result are all caught; the
record survives a round trip through its JSON document, and a malformed document is refused, never half-read."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from community.voting.audit import (
    GENESIS_HASH,
    ChainEntry,
    ChainProblemKind,
    LogEntry,
    append_delegation,
    append_entry,
    chain_head,
    roll_digest,
)
from community.voting.publication import PublishedResult, result_document
from community.voting.rules import Matter
from community.voting.tally import (
    Ballot,
    BallotBox,
    BallotRefusal,
    Capacity,
    Choice,
    Delegation,
    Election,
    Proposal,
    Unit,
    VoterRoll,
)
from community.voting.verification import (
    RECORD_FORMAT,
    RecordProblemKind,
    VoteRecord,
    record_document,
    record_from_document,
    verify_record,
)

OPENS = datetime(2026, 12, 1, 1, tzinfo=UTC)
CLOSES = OPENS + timedelta(days=7)
PROPOSAL = Proposal("p-lifts", Matter.USE_OF_MAINTENANCE_FUNDS, "更换电梯", OPENS, CLOSES)
ROLL = VoterRoll((
    Unit("1-101", "1栋101", Decimal("89.37"), frozenset({"wang"})),
    Unit("1-102", "1栋102", Decimal("120.05"), frozenset({"li", "zhao"}), representative_id="li"),
    Unit("2-201", "2栋201", Decimal("75.50"), frozenset({"sun"})),
    Unit("2-202", "2栋202", Decimal("60.00"), frozenset()),  # no owner recorded: counted, cannot vote
), OPENS - timedelta(hours=1))
DELEGATION = Delegation("chen", "li", "p-lifts", "1-102")
BALLOTS = [
    Ballot("p-lifts", "1-101", "wang", Capacity.OWNER, Choice.AGREE),
    Ballot("p-lifts", "1-102", "chen", Capacity.PROXY, Choice.AGREE),
    Ballot("p-lifts", "2-201", "sun", Capacity.OWNER, Choice.OPPOSE),
]


def logged(proposal: Proposal = PROPOSAL, roll: VoterRoll = ROLL, ballots: list[Ballot] = BALLOTS) -> list[ChainEntry]:
    genesis = roll_digest(proposal, roll)
    box = BallotBox(proposal, roll)
    assert box.delegate(DELEGATION, OPENS) is None
    chain: list[ChainEntry] = [append_delegation(None, DELEGATION, OPENS, genesis=genesis)]
    for minute, ballot in enumerate(ballots, start=1):
        now = OPENS + timedelta(minutes=minute)
        assert box.cast(ballot, now) is None
        chain.append(append_entry(chain[-1], ballot, now, genesis=genesis))
    return chain


def honest(published: bool = True) -> VoteRecord:
    unpublished = VoteRecord(PROPOSAL, ROLL, tuple(logged()), (DELEGATION,))
    if not published:
        return unpublished
    result = verify_record(unpublished).recount.result
    return replace(unpublished, published=PublishedResult(
        "p-lifts", CLOSES, unpublished.head, result_document(result, unpublished.roll_digest), "pm-zhang"))


def test_an_honest_record_verifies_clean_before_and_after_publication() -> None:
    for record in (honest(published=False), honest()):
        report = verify_record(record)
        assert report.is_clean, report
        assert (report.entries, report.delegation_entries) == (3, 1)
        assert report.roll_digest == roll_digest(PROPOSAL, ROLL) and report.log_anchored
    published = honest().published
    assert published is not None and published.result["roll_digest"] == roll_digest(PROPOSAL, ROLL)
    # 3 of 4 persons, 284.92 of 344.92 m² took part; the unit without an owner weighs on both totals
    assert published.result["turnout"]["total_headcount"] == 4
    assert published.result["turnout"]["participation_headcount_ratio"] == "3/4"


@pytest.mark.parametrize("change", [
    {"area": Decimal("189.37")},
    {"owner_ids": frozenset({"wang", "mallory"})},
    {"owner_ids": frozenset()},
])
def test_a_roll_edited_after_the_log_began_is_caught(change: dict[str, object]) -> None:
    record = honest(published=False)
    edited = VoterRoll(tuple(replace(u, **change) if u.unit_id == "1-101" else u for u in ROLL.units), ROLL.frozen_at)

    report = verify_record(replace(record, roll=edited))
    assert not report.is_clean
    assert [problem.kind for problem in report.chain_problems] == [ChainProblemKind.ROLL_MISMATCH]


def test_terms_edited_after_the_log_began_are_caught() -> None:
    special = replace(PROPOSAL, matter=Matter.RAISING_OF_MAINTENANCE_FUNDS)
    report = verify_record(replace(honest(), proposal=special))

    assert [problem.kind for problem in report.chain_problems] == [ChainProblemKind.ROLL_MISMATCH]
    assert "roll_digest" in report.discrepancies and not report.is_clean


def test_a_roll_edited_under_an_empty_published_log_is_caught() -> None:
    empty = VoteRecord(PROPOSAL, ROLL, (), ())
    result = verify_record(empty).recount.result
    published = replace(empty, published=PublishedResult("p-lifts", CLOSES, empty.head,
                                                         result_document(result, empty.roll_digest), "pm"))
    assert verify_record(published).is_clean
    larger = VoterRoll((*ROLL.units, Unit("9-999", "9栋999", Decimal("500"), frozenset({"mallory"}))), ROLL.frozen_at)

    report = verify_record(replace(published, roll=larger))
    assert [problem.kind for problem in report.chain_problems] == [ChainProblemKind.HEAD_MISMATCH]
    assert {"roll_digest", "turnout"} <= set(report.discrepancies)


def test_a_delegation_inserted_beside_the_log_is_reported_and_counts_for_nothing() -> None:
    record = honest(published=False)
    inserted = Delegation("mallory", "sun", "p-lifts", "2-201")
    genesis = record.genesis
    # mallory then votes as sun's proxy: the service would take the ballot only with the delegation in the log
    forged = append_entry(record.chain[-1], Ballot("p-lifts", "2-201", "mallory", Capacity.PROXY, Choice.AGREE),
                          OPENS + timedelta(hours=1), genesis=genesis)

    report = verify_record(replace(record, delegations=(*record.delegations, inserted),
                                   chain=(*record.chain, forged)))
    assert [(p.kind, p.delegation) for p in report.record_problems] == [
        (RecordProblemKind.DELEGATION_NOT_IN_LOG, inserted)]
    assert [refusal for _, refusal in report.recount.refused] == [BallotRefusal.NO_DELEGATION]
    assert not report.is_clean


def test_a_delegation_removed_from_the_record_is_reported() -> None:
    report = verify_record(replace(honest(), delegations=()))

    assert [(p.kind, p.delegation) for p in report.record_problems] == [
        (RecordProblemKind.DELEGATION_NOT_ON_RECORD, DELEGATION)]
    assert not report.is_clean and "in the log but no longer on record" in report.record_problems[0].detail


def test_a_changed_ballot_and_a_changed_result_are_still_caught() -> None:
    record = honest()
    chain = list(record.chain)
    ballot = chain[2]
    assert isinstance(ballot, LogEntry)
    chain[2] = replace(ballot, choice=Choice.OPPOSE)
    assert [p.kind for p in verify_record(replace(record, chain=tuple(chain))).chain_problems] == [
        ChainProblemKind.ALTERED_ENTRY]
    assert record.published is not None
    assert record.published.result["passed"] is True
    claimed = replace(record.published, result={**record.published.result, "passed": False})
    assert verify_record(replace(record, published=claimed)).discrepancies == ("passed",)


def test_a_log_begun_before_anchoring_is_verified_as_before_and_says_so() -> None:
    box = BallotBox(PROPOSAL, ROLL, [DELEGATION])
    chain: list[ChainEntry] = []
    for ballot in BALLOTS:
        assert box.cast(ballot, OPENS) is None
        chain.append(append_entry(chain[-1] if chain else None, ballot, OPENS))
    legacy = VoteRecord(PROPOSAL, ROLL, tuple(chain), (DELEGATION,), log_anchored=False)

    report = verify_record(legacy)
    assert report.is_clean and not report.log_anchored and legacy.genesis == GENESIS_HASH
    assert chain_head(chain) == legacy.head
    flagged_anchored = verify_record(replace(legacy, log_anchored=True))
    assert ChainProblemKind.ROLL_MISMATCH in {p.kind for p in flagged_anchored.chain_problems}, \
        "a legacy log passed off as anchored (or the other way round) does not verify"


def test_the_record_survives_a_round_trip_through_its_json_document() -> None:
    record = honest()
    document = json.loads(json.dumps(record_document(record), ensure_ascii=False))

    assert document["format"] == RECORD_FORMAT
    assert document["roll_digest"] == record.roll_digest and document["head"]["head_hash"] == record.head.head_hash
    assert document["roll"]["units"][1]["owner_ids"] == ["li", "zhao"]
    read_back = record_from_document(document)
    assert read_back == record
    assert verify_record(read_back).is_clean


def test_an_election_record_round_trips() -> None:
    election = Proposal("e1", Matter.OWNERS_COMMITTEE, "选举", OPENS, CLOSES, Election(("王", "李"), 1))
    record = VoteRecord(election, ROLL, (), (), log_anchored=True)

    assert record_from_document(json.loads(json.dumps(record_document(record)))) == record


def document_with(path: tuple[Any, ...], value: object) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(record_document(honest())))
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(("path", "value", "problem"), [
    (("format",), "something-else", "not a vote record"),
    (("roll",), KeyError, "lacks 'roll'"),
    (("roll", "units", 0, "area_m2"), "lots", "malformed"),
    (("roll", "units", 0, "area_m2"), 89.37, "expected str"),
    (("roll", "units", 0, "area_m2"), "-1", "positive"),
    (("roll", "units", 0, "owner_ids"), "wang", "expected list"),
    (("roll", "frozen_at"), "2026-11-30T00:00:00", "time zone"),
    (("proposal", "matter"), "party", "party"),
    (("proposal", "closes_at"), "2026-11-01T00:00:00+00:00", "close after"),
    (("chain", 1, "choice"), "maybe", "maybe"),
    (("chain", 0, "kind"), "gift", "unknown kind"),
    (("delegations", 0), "chen", "JSON object"),
    (("published", "chain_length"), "3", "expected int"),
    (("log_anchored",), "yes", "expected bool"),
])
def test_a_malformed_document_is_refused(path: tuple[Any, ...], value: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        record_from_document(document_with(path, value))


def test_a_document_that_is_not_an_object_is_refused() -> None:
    for document in ([], "record", None, 3):
        with pytest.raises(ValueError, match="JSON object"):
            record_from_document(document)
