"""The hash-chained ballot log: tampering is detected, receipts are found, the log recounts to the published result."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from community.voting import (
    Approvals,
    Ballot,
    BallotBox,
    BallotRefusal,
    Capacity,
    ChainEntry,
    ChainHead,
    ChainProblem,
    ChainProblemKind,
    Choice,
    Delegation,
    DelegationEntry,
    Election,
    LogEntry,
    Matter,
    Proposal,
    ReceiptStatus,
    Tally,
    Unit,
    VoterRoll,
    append_delegation,
    append_entry,
    audit_log,
    chain_head,
    compare_tallies,
    find_receipt,
    receipt_status,
    recount_from_log,
    roll_digest,
    verify_chain,
)
from community.voting.audit import GENESIS_HASH, entry_from_record, entry_to_record

OPENS = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CLOSES = OPENS + timedelta(days=14)
PROPOSAL = Proposal("p1", Matter.USE_OF_COMMON_PARTS, "地下车位出租", OPENS, CLOSES)
ROLL = VoterRoll(
    (
        Unit("a1", "1栋101", Decimal("89.37"), frozenset({"alice"})),
        Unit("a2", "1栋102", Decimal("60.00"), frozenset({"alice"})),
        Unit("bc", "2栋201", Decimal("120.50"), frozenset({"bob", "carol"})),
        Unit("d1", "3栋301", Decimal("75.25"), frozenset({"developer"}), held_by_developer=True),
        Unit("e1", "3栋302", Decimal("75.25"), frozenset({"erin"})),
    ),
    frozen_at=OPENS,
)
DELEGATIONS = (Delegation("pat", "erin", "p1", "e1"),)

HONEST_BALLOTS = [
    Ballot("p1", "a1", "alice", Capacity.OWNER, Choice.AGREE),
    Ballot("p1", "bc", "carol", Capacity.OWNER, Choice.OPPOSE),
    Ballot("p1", "e1", "pat", Capacity.PROXY, Choice.AGREE),
    Ballot("p1", "a2", "alice", Capacity.OWNER, Choice.AGREE),
    Ballot("p1", "bc", "carol", Capacity.OWNER, Choice.AGREE),  # carol changes her mind
    Ballot("p1", "d1", "developer", Capacity.OWNER, Choice.ABSTAIN),
]


def record(ballots: list[Ballot], proposal: Proposal = PROPOSAL) -> tuple[BallotBox, list[LogEntry]]:
    """What the service does: cast each ballot into the box and log the accepted ones, an hour apart."""
    box = BallotBox(proposal, ROLL, DELEGATIONS)
    entries: list[LogEntry] = []
    for hour, ballot in enumerate(ballots, start=1):
        now = OPENS + timedelta(hours=hour)
        if box.cast(ballot, now) is None:
            entries.append(append_entry(entries[-1] if entries else None, ballot, now))
    return box, entries


def kinds(problems: Sequence[ChainProblem]) -> set[ChainProblemKind]:
    return {problem.kind for problem in problems}


def test_entries_are_numbered_from_one_and_linked_from_the_genesis_hash() -> None:
    _, entries = record(HONEST_BALLOTS)

    assert [entry.sequence for entry in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].previous_hash == GENESIS_HASH
    assert all(later.previous_hash == earlier.entry_hash for earlier, later in pairwise(entries))


def test_an_entry_hash_is_sha256_of_the_canonical_json_of_its_fields() -> None:
    entry = append_entry(None, HONEST_BALLOTS[0], datetime(2025, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=8))))

    canonical = (
        '{"capacity":"owner","cast_at":"2025-03-01T09:30:00.000000+00:00","choice":"agree",'
        f'"previous_hash":"{GENESIS_HASH}","proposal_id":"p1","sequence":1,"unit_id":"a1","voter_id":"alice"}}'
    )
    assert entry.entry_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert entry.cast_at == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def test_an_election_choice_is_hashed_as_a_sorted_list_of_approved_candidates() -> None:
    ballot = Ballot("e1", "a1", "alice", Capacity.OWNER, Approvals(frozenset({"wang", "li"})))
    entry = append_entry(None, ballot, OPENS)

    assert entry_to_record(entry)["choice"] == {"approve": ["li", "wang"]}
    assert json.loads(json.dumps(entry_to_record(entry)))["choice"] == {"approve": ["li", "wang"]}


def test_an_intact_log_has_no_problems_with_or_without_the_published_head() -> None:
    _, entries = record(HONEST_BALLOTS)

    assert verify_chain(entries) == []
    assert verify_chain(entries, chain_head(entries)) == []
    assert verify_chain([], chain_head([])) == []


def test_a_changed_choice_is_an_altered_entry() -> None:
    _, entries = record(HONEST_BALLOTS)
    entries[1] = replace(entries[1], choice=Choice.AGREE)

    problems = verify_chain(entries)
    assert [(problem.position, problem.kind) for problem in problems] == [(1, ChainProblemKind.ALTERED_ENTRY)]


def test_a_changed_and_rehashed_entry_breaks_the_link_to_the_next_one() -> None:
    _, entries = record(HONEST_BALLOTS)
    forged = append_entry(entries[0], replace(entries[1].ballot, choice=Choice.AGREE), entries[1].cast_at)
    entries[1] = forged

    problems = verify_chain(entries)
    assert [(problem.position, problem.kind) for problem in problems] == [(2, ChainProblemKind.BROKEN_LINK)]


@pytest.mark.parametrize("position", [0, 2, 5])
def test_a_deleted_entry_is_detected(position: int) -> None:
    _, entries = record(HONEST_BALLOTS)
    head = chain_head(entries)
    del entries[position]

    assert verify_chain(entries, head) != []


def test_a_deleted_middle_entry_leaves_a_sequence_gap_and_a_broken_link() -> None:
    _, entries = record(HONEST_BALLOTS)
    del entries[2]

    assert kinds(verify_chain(entries)) == {ChainProblemKind.OUT_OF_ORDER, ChainProblemKind.BROKEN_LINK}


def test_dropping_the_last_entries_is_seen_only_against_the_published_head() -> None:
    _, entries = record(HONEST_BALLOTS)
    head = chain_head(entries)
    truncated = entries[:-2]

    assert verify_chain(truncated) == []
    assert kinds(verify_chain(truncated, head)) == {ChainProblemKind.HEAD_MISMATCH}


def test_reordered_entries_are_detected() -> None:
    _, entries = record(HONEST_BALLOTS)
    entries[2], entries[3] = entries[3], entries[2]

    assert kinds(verify_chain(entries)) == {ChainProblemKind.OUT_OF_ORDER, ChainProblemKind.BROKEN_LINK}


def test_an_inserted_entry_is_detected() -> None:
    _, entries = record(HONEST_BALLOTS)
    forged = append_entry(entries[2], Ballot("p1", "a2", "alice", Capacity.OWNER, Choice.OPPOSE), OPENS)
    entries.insert(3, forged)

    problems = verify_chain(entries)
    assert ChainProblemKind.DUPLICATE in kinds(problems)  # two entries now claim sequence 4
    assert ChainProblemKind.BROKEN_LINK in kinds(problems)  # the next entry points past it


def test_a_rebuilt_chain_is_caught_by_the_published_head_and_by_voters_receipts() -> None:
    _, entries = record(HONEST_BALLOTS)
    head = chain_head(entries)
    receipts = [entry.receipt for entry in entries]
    # whoever holds the log inserts a ballot and recomputes every hash after it
    rebuilt = entries[:2]
    forged_ballots = [Ballot("p1", "a2", "alice", Capacity.OWNER, Choice.OPPOSE)] + [e.ballot for e in entries[2:]]
    for ballot in forged_ballots:
        rebuilt.append(append_entry(rebuilt[-1], ballot, OPENS + timedelta(hours=3)))

    assert verify_chain(rebuilt) == []  # internally consistent
    assert kinds(verify_chain(rebuilt, head)) == {ChainProblemKind.HEAD_MISMATCH}
    assert [find_receipt(rebuilt, code) is not None for code in receipts] == [True, True, False, False, False, False]


def test_a_repeated_entry_is_a_duplicate() -> None:
    _, entries = record(HONEST_BALLOTS)
    entries.insert(2, entries[1])

    assert ChainProblemKind.DUPLICATE in kinds(verify_chain(entries))


def test_an_entry_of_another_proposal_is_reported() -> None:
    _, entries = record(HONEST_BALLOTS)
    foreign = append_entry(None, Ballot("p9", "a1", "alice", Capacity.OWNER, Choice.AGREE), OPENS)
    entries.append(replace(foreign, sequence=7, previous_hash=entries[-1].entry_hash))

    assert ChainProblemKind.FOREIGN_PROPOSAL in kinds(verify_chain(entries))


def test_append_refuses_a_naive_time_and_a_ballot_of_another_proposal() -> None:
    _, entries = record(HONEST_BALLOTS)

    with pytest.raises(ValueError, match="aware"):
        append_entry(None, HONEST_BALLOTS[0], datetime(2025, 3, 1, 9, 0))
    with pytest.raises(ValueError, match="one proposal"):
        append_entry(entries[-1], Ballot("p9", "a1", "alice", Capacity.OWNER, Choice.AGREE), OPENS)


# --- receipts ------------------------------------------------------------------------------------------------------


def test_a_receipt_is_sixteen_hex_digits_of_the_entry_hash_in_groups_of_four() -> None:
    _, entries = record(HONEST_BALLOTS)
    receipt = entries[0].receipt

    assert len(receipt) == 19
    assert receipt.replace("-", "") == entries[0].entry_hash[:16]
    assert [len(group) for group in receipt.split("-")] == [4, 4, 4, 4]


def test_a_receipt_is_found_however_the_voter_types_it() -> None:
    _, entries = record(HONEST_BALLOTS)
    receipt = entries[2].receipt

    assert find_receipt(entries, receipt) is entries[2]
    assert find_receipt(entries, receipt.upper()) is entries[2]
    assert find_receipt(entries, " " + receipt.replace("-", " ") + " ") is entries[2]


@pytest.mark.parametrize("code", ["0000-0000-0000-0000", "", "xyz", "abcd-ef01-2345", "zzzz-zzzz-zzzz-zzzz"])
def test_an_unknown_or_malformed_receipt_is_not_found(code: str) -> None:
    _, entries = record(HONEST_BALLOTS)

    assert find_receipt(entries, code) is None
    assert receipt_status(entries, code) is ReceiptStatus.NOT_FOUND


def test_a_receipt_tells_whether_its_ballot_was_replaced_by_a_later_one() -> None:
    _, entries = record(HONEST_BALLOTS)
    carols_first, carols_second = entries[1], entries[4]

    assert receipt_status(entries, carols_first.receipt) is ReceiptStatus.SUPERSEDED
    assert receipt_status(entries, carols_second.receipt) is ReceiptStatus.COUNTED


# --- recount from the log -----------------------------------------------------------------------------------------


def test_the_recount_from_the_log_equals_the_ballot_box_tally() -> None:
    box, entries = record(HONEST_BALLOTS)

    recount = recount_from_log(entries, PROPOSAL, ROLL, DELEGATIONS)

    assert recount.refused == ()
    assert recount.result == box.tally()
    assert compare_tallies(box.tally(), recount.result) == []


def test_an_honest_log_audits_clean() -> None:
    box, entries = record(HONEST_BALLOTS)

    report = audit_log(
        entries, head=chain_head(entries), proposal=PROPOSAL, roll=ROLL, delegations=DELEGATIONS, published=box.tally()
    )

    assert report.is_clean


def test_a_published_result_that_differs_from_the_recount_names_the_fields() -> None:
    box, entries = record(HONEST_BALLOTS)
    honest = box.tally()
    assert isinstance(honest, Tally)
    published = replace(
        honest,
        passed=not honest.passed,
        turnout=replace(honest.turnout, participating_area=honest.turnout.participating_area + 1),
    )

    discrepancies = compare_tallies(published, recount_from_log(entries, PROPOSAL, ROLL, DELEGATIONS).result)

    assert {discrepancy.field for discrepancy in discrepancies} == {"passed", "turnout.participating_area"}


def test_a_tampered_choice_changes_the_recount_and_the_chain() -> None:
    box, entries = record(HONEST_BALLOTS)
    entries[4] = replace(entries[4], choice=Choice.OPPOSE)

    report = audit_log(
        entries, head=chain_head(entries), proposal=PROPOSAL, roll=ROLL, delegations=DELEGATIONS, published=box.tally()
    )

    assert kinds(report.chain_problems) == {ChainProblemKind.ALTERED_ENTRY}
    assert {discrepancy.field for discrepancy in report.discrepancies} >= {"in_favour_area", "in_favour_headcount"}


def test_replaying_the_log_refuses_entries_the_rules_would_have_refused() -> None:
    _, entries = record(HONEST_BALLOTS)
    # a well-formed, correctly chained entry the ballot box would never have accepted
    entries.append(append_entry(entries[-1], Ballot("p1", "a1", "mallory", Capacity.OWNER, Choice.OPPOSE), OPENS))
    entries.append(append_entry(entries[-1], Ballot("p1", "e1", "erin", Capacity.OWNER, Choice.OPPOSE), OPENS))
    entries.append(append_entry(entries[-1], Ballot("p1", "a2", "alice", Capacity.OWNER, Choice.OPPOSE), CLOSES))

    recount = recount_from_log(entries, PROPOSAL, ROLL, DELEGATIONS)

    assert verify_chain(entries) == []
    assert [refusal for _, refusal in recount.refused] == [
        BallotRefusal.NOT_AN_OWNER,
        BallotRefusal.DOUBLE_REPRESENTATION,  # pat, erin's proxy, already voted for e1
        BallotRefusal.VOTING_CLOSED,
    ]


def test_an_election_log_recounts_to_the_same_result() -> None:
    proposal = Proposal("e1", Matter.OWNERS_COMMITTEE, "选举", OPENS, CLOSES, Election(("wang", "li", "zhang"), 2))
    ballots = [
        Ballot("e1", "a1", "alice", Capacity.OWNER, Approvals(frozenset({"wang", "li"}))),
        Ballot("e1", "bc", "bob", Capacity.OWNER, Approvals(frozenset({"li"}))),
        Ballot("e1", "d1", "developer", Capacity.OWNER, Approvals()),
        Ballot("e1", "e1", "erin", Capacity.OWNER, Approvals(frozenset({"li", "zhang"}))),
    ]
    box, entries = record(ballots, proposal)

    assert len(entries) == 4
    assert recount_from_log(entries, proposal, ROLL, DELEGATIONS).result == box.tally()


def test_entries_survive_a_round_trip_through_json() -> None:
    _, entries = record(HONEST_BALLOTS)

    published = json.dumps([entry_to_record(entry) for entry in entries], ensure_ascii=False)
    read_back = [entry_from_record(item) for item in json.loads(published)]

    assert read_back == entries
    assert verify_chain(read_back, chain_head(entries)) == []


@pytest.mark.parametrize(
    "change",
    [
        {"sequence": "1"},
        {"sequence": True},
        {"capacity": "landlord"},
        {"choice": "maybe"},
        {"choice": {"approve": "wang"}},
        {"cast_at": "2025-03-01T09:00:00"},
        {"unit_id": None},
    ],
)
def test_a_malformed_record_is_rejected(change: dict[str, object]) -> None:
    _, entries = record(HONEST_BALLOTS)
    malformed = {**entry_to_record(entries[0]), **change}

    with pytest.raises(ValueError):
        entry_from_record(malformed)


def test_a_record_missing_a_field_is_rejected() -> None:
    _, entries = record(HONEST_BALLOTS)
    malformed = entry_to_record(entries[0])
    del malformed["voter_id"]

    with pytest.raises(ValueError, match="malformed"):
        entry_from_record(malformed)


# --- properties ---------------------------------------------------------------------------------------------------

UNIT_OWNERS = {"a1": "alice", "a2": "alice", "bc": "bob", "d1": "developer", "e1": "erin"}
ballot_streams = st.lists(
    st.tuples(st.sampled_from(sorted(UNIT_OWNERS)), st.sampled_from(Choice)), min_size=1, max_size=20
).map(lambda plan: [Ballot("p1", unit_id, UNIT_OWNERS[unit_id], Capacity.OWNER, choice) for unit_id, choice in plan])


@settings(max_examples=100, deadline=None)
@given(ballots=ballot_streams)
def test_any_honest_log_verifies_and_recounts_to_the_box_tally(ballots: list[Ballot]) -> None:
    box, entries = record(ballots)

    assert verify_chain(entries, chain_head(entries)) == []
    assert recount_from_log(entries, PROPOSAL, ROLL, DELEGATIONS).result == box.tally()
    assert all(find_receipt(entries, entry.receipt) is entry for entry in entries)


@settings(max_examples=100, deadline=None)
@given(ballots=ballot_streams, data=st.data())
def test_any_single_edit_to_a_log_is_detected(ballots: list[Ballot], data: st.DataObject) -> None:
    _, entries = record(ballots)
    head = chain_head(entries)
    position = data.draw(st.integers(0, len(entries) - 1))
    edit = data.draw(st.sampled_from(["choice", "voter", "time", "delete", "duplicate", "swap"]))
    tampered = list(entries)
    entry = entries[position]
    if edit == "choice":
        other = data.draw(st.sampled_from([choice for choice in Choice if choice != entry.choice]))
        tampered[position] = replace(entry, choice=other)
    elif edit == "voter":
        tampered[position] = replace(entry, voter_id="mallory")
    elif edit == "time":
        tampered[position] = replace(entry, cast_at=entry.cast_at + timedelta(microseconds=1))
    elif edit == "delete":
        del tampered[position]
    elif edit == "duplicate":
        tampered.insert(position, entry)
    else:
        other_position = data.draw(st.integers(0, len(entries) - 1).filter(lambda index: index != position))
        tampered[position], tampered[other_position] = tampered[other_position], tampered[position]

    assert verify_chain(tampered, head) != []


# --- the log anchored to its roll, and delegations in it ----------------------------------------------------------

PROXY_DELEGATION = Delegation("pat", "erin", "p1", "e1")


def anchored(ballots: list[Ballot], proposal: Proposal = PROPOSAL, roll: VoterRoll = ROLL) -> list[ChainEntry]:
    """What the service writes: the delegation, then the ballots, in one log that begins at the roll digest."""
    genesis = roll_digest(proposal, roll)
    box = BallotBox(proposal, roll)
    entries: list[ChainEntry] = []
    assert box.delegate(PROXY_DELEGATION, OPENS) is None
    entries.append(append_delegation(None, PROXY_DELEGATION, OPENS, genesis=genesis))
    for hour, ballot in enumerate(ballots, start=1):
        now = OPENS + timedelta(hours=hour)
        if box.cast(ballot, now) is None:
            entries.append(append_entry(entries[-1], ballot, now, genesis=genesis))
    return entries


def edited_roll(unit_id: str, **changes: object) -> VoterRoll:
    return VoterRoll(tuple(replace(u, **changes) if u.unit_id == unit_id else u for u in ROLL.units), ROLL.frozen_at)


def test_an_anchored_log_begins_at_the_roll_digest_and_holds_its_delegations() -> None:
    entries = anchored(HONEST_BALLOTS)
    genesis = roll_digest(PROPOSAL, ROLL)

    assert entries[0].previous_hash == genesis != GENESIS_HASH
    assert isinstance(entries[0], DelegationEntry) and entries[0].delegation == PROXY_DELEGATION
    assert verify_chain(entries, chain_head(entries, genesis), genesis=genesis) == []
    assert recount_from_log(entries, PROPOSAL, ROLL).result == record(HONEST_BALLOTS)[0].tally(), \
        "the log's own delegation lets the proxy's ballot count"
    assert chain_head([], genesis) == ChainHead(0, genesis), "an empty anchored log's head is the roll digest"


def test_the_roll_digest_covers_the_roll_and_the_terms_that_decide_the_count() -> None:
    digest = roll_digest(PROPOSAL, ROLL)
    reordered = VoterRoll(tuple(reversed(ROLL.units)), ROLL.frozen_at)
    assert roll_digest(PROPOSAL, reordered) == digest, "the roll's order is not part of it"
    changed = [
        roll_digest(PROPOSAL, edited_roll("a1", area=Decimal("189.37"))),
        roll_digest(PROPOSAL, edited_roll("a1", owner_ids=frozenset({"alice", "mallory"}))),
        roll_digest(PROPOSAL, edited_roll("bc", representative_id="bob")),
        roll_digest(PROPOSAL, edited_roll("e1", held_by_developer=True, owner_ids=frozenset({"developer"}))),
        roll_digest(PROPOSAL, edited_roll("e1", owner_ids=frozenset())),
        roll_digest(PROPOSAL, VoterRoll(ROLL.units[:-1], ROLL.frozen_at)),
        roll_digest(replace(PROPOSAL, matter=Matter.OTHER_MAJOR_MATTER), ROLL),
        roll_digest(replace(PROPOSAL, closes_at=CLOSES + timedelta(days=1)), ROLL),
        roll_digest(replace(PROPOSAL, proposal_id="p2"), ROLL),
    ]
    assert digest not in changed and len(set(changed)) == len(changed)


@pytest.mark.parametrize("edit", [
    {"area": Decimal("189.37")},
    {"owner_ids": frozenset({"alice", "mallory"})},
])
def test_a_roll_edited_after_the_log_began_is_a_roll_mismatch(edit: dict[str, object]) -> None:
    entries = anchored(HONEST_BALLOTS)
    genesis = roll_digest(PROPOSAL, ROLL)
    edited = roll_digest(PROPOSAL, edited_roll("a1", **edit))

    problems = verify_chain(entries, chain_head(entries, genesis), genesis=edited)
    assert [(problem.position, problem.kind) for problem in problems] == [(0, ChainProblemKind.ROLL_MISMATCH)]


def test_a_roll_edited_under_an_empty_published_log_misses_the_published_head() -> None:
    head = chain_head([], roll_digest(PROPOSAL, ROLL))

    assert verify_chain([], head, genesis=roll_digest(PROPOSAL, ROLL)) == []
    edited = roll_digest(PROPOSAL, edited_roll("bc", area=Decimal("1120.50")))
    assert kinds(verify_chain([], head, genesis=edited)) == {ChainProblemKind.HEAD_MISMATCH}


def test_a_delegation_slipped_into_or_taken_out_of_the_log_breaks_it() -> None:
    entries = anchored(HONEST_BALLOTS)
    genesis = roll_digest(PROPOSAL, ROLL)
    head = chain_head(entries, genesis)
    inserted = [*entries[:3], append_delegation(entries[2], Delegation("mallory", "alice", "p1", "a2"), OPENS,
                                                genesis=genesis), *entries[3:]]
    removed = entries[1:]

    assert ChainProblemKind.BROKEN_LINK in kinds(verify_chain(inserted, head, genesis=genesis))
    assert kinds(verify_chain(removed, head, genesis=genesis)) >= {ChainProblemKind.OUT_OF_ORDER,
                                                                   ChainProblemKind.BROKEN_LINK}
    altered = replace(entries[0], delegate_id="mallory")
    assert [p.kind for p in verify_chain([altered, *entries[1:]], genesis=genesis)] == [ChainProblemKind.ALTERED_ENTRY]


def test_replaying_refuses_a_proxy_ballot_without_a_logged_delegation_and_a_late_delegation() -> None:
    entries = anchored(HONEST_BALLOTS)
    genesis = roll_digest(PROPOSAL, ROLL)
    without = anchored(HONEST_BALLOTS)[1:]  # as if the delegation had never been logged
    late = append_delegation(entries[-1], Delegation("quinn", "alice", "p1", "a1"), CLOSES, genesis=genesis)

    assert [refusal for _, refusal in recount_from_log(without, PROPOSAL, ROLL).refused] == [
        BallotRefusal.NO_DELEGATION]
    assert [refusal for _, refusal in recount_from_log([*entries, late], PROPOSAL, ROLL).refused] == [
        BallotRefusal.VOTING_CLOSED]


def test_a_delegation_entry_is_hashed_with_its_kind_and_round_trips_through_json() -> None:
    entry = append_delegation(None, PROXY_DELEGATION, datetime(2025, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=8))))

    canonical = (
        '{"delegate_id":"pat","granted_by":"erin","kind":"delegation",'
        f'"previous_hash":"{GENESIS_HASH}","proposal_id":"p1","recorded_at":"2025-03-01T09:30:00.000000+00:00",'
        '"sequence":1,"unit_id":"e1"}'
    )
    assert entry.entry_hash == hashlib.sha256(canonical.encode()).hexdigest()
    entries = anchored(HONEST_BALLOTS)
    read_back = [entry_from_record(item) for item in json.loads(json.dumps([entry_to_record(e) for e in entries]))]
    assert read_back == entries
    assert find_receipt(entries, entries[0].entry_hash[:16]) is None, "a delegation is no ballot receipt"
    assert receipt_status(entries, entries[1].receipt) is ReceiptStatus.COUNTED


@pytest.mark.parametrize("change", [{"kind": "vote"}, {"kind": "ballot"}, {"recorded_at": "2025-03-01T09:00:00"},
                                    {"delegate_id": 7}])
def test_a_malformed_delegation_record_is_rejected(change: dict[str, object]) -> None:
    malformed = {**entry_to_record(append_delegation(None, PROXY_DELEGATION, OPENS)), **change}

    with pytest.raises(ValueError):
        entry_from_record(malformed)


proxy_streams = st.lists(
    st.tuples(st.sampled_from([*sorted(UNIT_OWNERS), "e1-proxy"]), st.sampled_from(Choice)), min_size=1, max_size=20
).map(lambda plan: [Ballot("p1", "e1", "pat", Capacity.PROXY, choice) if unit_id == "e1-proxy"
                    else Ballot("p1", unit_id, UNIT_OWNERS[unit_id], Capacity.OWNER, choice)
                    for unit_id, choice in plan])


@settings(max_examples=100, deadline=None)
@given(ballots=proxy_streams, data=st.data())
def test_any_single_edit_to_an_anchored_log_or_its_roll_is_detected(ballots: list[Ballot], data: st.DataObject) -> None:
    entries = anchored(ballots)
    genesis = roll_digest(PROPOSAL, ROLL)
    head = chain_head(entries, genesis)
    assert verify_chain(entries, head, genesis=genesis) == []
    assert recount_from_log(entries, PROPOSAL, ROLL).result == record(ballots)[0].tally()

    position = data.draw(st.integers(0, len(entries) - 1))
    edit = data.draw(st.sampled_from(["delete", "duplicate", "time", "roll", "terms"]))
    tampered, checked_against = list(entries), genesis
    if edit == "delete":
        del tampered[position]
    elif edit == "duplicate":
        tampered.insert(position, entries[position])
    elif edit == "time":
        entry = entries[position]
        tampered[position] = (replace(entry, recorded_at=entry.recorded_at + timedelta(seconds=1))
                              if isinstance(entry, DelegationEntry)
                              else replace(entry, cast_at=entry.cast_at + timedelta(seconds=1)))
    elif edit == "roll":
        checked_against = roll_digest(PROPOSAL, edited_roll(data.draw(st.sampled_from(sorted(UNIT_OWNERS))),
                                                            area=Decimal("1.00")))
    else:
        checked_against = roll_digest(replace(PROPOSAL, matter=Matter.OTHER_MAJOR_MATTER), ROLL)

    assert verify_chain(tampered, head, genesis=checked_against) != []
