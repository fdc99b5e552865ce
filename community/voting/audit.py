"""An append-only, hash-chained log of accepted ballots and recorded delegations, voter receipts, and an independent
recount.

Each entry's hash is SHA-256 over the canonical JSON of its fields (sorted keys, no spaces, UTF-8, times in UTC with
microseconds) including the previous entry's hash, so changing, deleting, inserting or reordering entries breaks the
chain. The first entry points at the **roll digest** (:func:`roll_digest`: the proposal's counting terms and its
frozen roll), so the log is anchored to the roll it is counted against: a roll edited afterwards no longer matches.
Delegations are entries of the same log, so a delegation slipped in or taken out beside it shows too.

A chain can always be rebuilt from scratch by whoever holds the log; what pins it down is outside the log: the head
(length and last hash) published at close, and the receipts voters keep. Both are checked here.

Nothing here reads a clock: `now` is passed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from community.voting.tally import (
    Approvals,
    Ballot,
    BallotBox,
    BallotChoice,
    BallotRefusal,
    Capacity,
    Choice,
    Delegation,
    ElectionTally,
    Proposal,
    Tally,
    VoterRoll,
)

T = TypeVar("T")

GENESIS_HASH = "0" * 64
"""The `previous_hash` of the first entry of a log that is not anchored to a roll: logs begun before migration 0006
(and logs built without a roll, in tests). An anchored log starts at its :func:`roll_digest` instead."""

RECEIPT_HEX_DIGITS = 16


@dataclass(frozen=True)
class LogEntry:
    """One accepted ballot, in the order it was accepted (sequence 1, 2, …)."""

    sequence: int
    proposal_id: str
    unit_id: str
    voter_id: str
    capacity: Capacity
    choice: BallotChoice
    cast_at: datetime
    previous_hash: str
    entry_hash: str

    @property
    def ballot(self) -> Ballot:
        return Ballot(self.proposal_id, self.unit_id, self.voter_id, self.capacity, self.choice)

    @property
    def receipt(self) -> str:
        return receipt_code(self.entry_hash)


@dataclass(frozen=True)
class DelegationEntry:
    """One recorded delegation, in the log between the ballots, in the order it was recorded."""

    sequence: int
    proposal_id: str
    unit_id: str
    delegate_id: str
    granted_by: str
    recorded_at: datetime
    previous_hash: str
    entry_hash: str

    @property
    def delegation(self) -> Delegation:
        return Delegation(self.delegate_id, self.granted_by, self.proposal_id, self.unit_id)


@dataclass(frozen=True)
class PaperEntry:
    """A paper ballot, entered twice by two committee members who agreed, in the log where it was confirmed.

    `supersedes` is the sequence of the online ballot it replaced for the unit (flagged: the paper ballot counts by
    the rule the notice states), None when the unit had none."""

    sequence: int
    proposal_id: str
    unit_id: str
    choice: BallotChoice
    scan_ref: str
    received_at: datetime
    entered_by: tuple[str, str]
    recorded_at: datetime
    supersedes: int | None
    previous_hash: str
    entry_hash: str


ChainEntry = LogEntry | DelegationEntry | PaperEntry
"""An entry of a proposal's log: a ballot (:class:`LogEntry`), a delegation, or a paper ballot."""


@dataclass(frozen=True)
class ChainHead:
    """What is published when voting closes, so that a log rebuilt afterwards no longer matches."""

    length: int
    head_hash: str


class ChainProblemKind(Enum):
    ALTERED_ENTRY = "altered_entry"
    """The entry's content no longer hashes to its recorded hash."""
    BROKEN_LINK = "broken_link"
    """The entry does not point at the hash of the entry before it."""
    OUT_OF_ORDER = "out_of_order"
    """The sequence does not follow the previous entry's (a gap, or a step back)."""
    DUPLICATE = "duplicate"
    """The entry, or its sequence number, appears earlier in the log."""
    FOREIGN_PROPOSAL = "foreign_proposal"
    """The entry belongs to another proposal than the first entry."""
    HEAD_MISMATCH = "head_mismatch"
    """The log's length or last hash differ from the published head."""
    ROLL_MISMATCH = "roll_mismatch"
    """The log was begun on another roll (or other counting terms) than the one it is checked against."""
    REWRITTEN = "rewritten"
    """An entry of an earlier copy of the log is changed, moved or gone in a later one (see disclosure.py)."""


@dataclass(frozen=True)
class ChainProblem:
    position: int
    """Index in the list handed to verify_chain; for HEAD_MISMATCH, the length of that list."""
    sequence: int | None
    kind: ChainProblemKind
    detail: str


class ReceiptStatus(Enum):
    COUNTED = "counted"
    """The receipt's ballot is the last one for its unit, so it is the one counted."""
    SUPERSEDED = "superseded"
    """A later ballot for the same unit replaced it."""
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class TallyDiscrepancy:
    field: str
    published: object
    recounted: object


@dataclass(frozen=True)
class Recount:
    """The result recomputed by replaying the log through a fresh ballot box, and the entries it refused."""

    result: Tally | ElectionTally
    refused: tuple[tuple[ChainEntry, BallotRefusal], ...]


@dataclass(frozen=True)
class AuditReport:
    chain_problems: tuple[ChainProblem, ...]
    refused_entries: tuple[tuple[ChainEntry, BallotRefusal], ...]
    discrepancies: tuple[TallyDiscrepancy, ...]
    recount: Recount

    @property
    def is_clean(self) -> bool:
        return not (self.chain_problems or self.refused_entries or self.discrepancies)


def append_entry(
    log_tail: ChainEntry | None, ballot: Ballot, now: datetime, *, genesis: str = GENESIS_HASH
) -> LogEntry:
    """The entry that records `ballot`, accepted at `now`, after `log_tail` (None for the first entry, which points
    at `genesis`: the roll digest for an anchored log)."""
    sequence, previous_hash = _next_link(log_tail, ballot.proposal_id, now, genesis)
    unsigned = LogEntry(sequence, ballot.proposal_id, ballot.unit_id, ballot.voter_id, ballot.capacity, ballot.choice,
                        now.astimezone(UTC), previous_hash, entry_hash="")
    return replace(unsigned, entry_hash=compute_entry_hash(unsigned))


def append_delegation(
    log_tail: ChainEntry | None, delegation: Delegation, now: datetime, *, genesis: str = GENESIS_HASH
) -> DelegationEntry:
    """The entry that records `delegation`, accepted at `now`, after `log_tail` (as :func:`append_entry`)."""
    sequence, previous_hash = _next_link(log_tail, delegation.proposal_id, now, genesis)
    unsigned = DelegationEntry(sequence, delegation.proposal_id, delegation.unit_id, delegation.delegate_id,
                               delegation.granted_by, now.astimezone(UTC), previous_hash, entry_hash="")
    return replace(unsigned, entry_hash=compute_entry_hash(unsigned))


def append_paper(
    log_tail: ChainEntry | None, proposal_id: str, unit_id: str, choice: BallotChoice, *, scan_ref: str,
    received_at: datetime, entered_by: tuple[str, str], supersedes: int | None, now: datetime,
    genesis: str = GENESIS_HASH,
) -> PaperEntry:
    """The entry that records a confirmed paper ballot at `now`, after `log_tail` (as :func:`append_entry`)."""
    sequence, previous_hash = _next_link(log_tail, proposal_id, now, genesis)
    unsigned = PaperEntry(sequence, proposal_id, unit_id, choice, scan_ref, received_at.astimezone(UTC), entered_by,
                          now.astimezone(UTC), supersedes, previous_hash, entry_hash="")
    return replace(unsigned, entry_hash=compute_entry_hash(unsigned))


def _next_link(log_tail: ChainEntry | None, proposal_id: str, now: datetime, genesis: str) -> tuple[int, str]:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if log_tail is None:
        return 1, genesis
    if log_tail.proposal_id != proposal_id:
        raise ValueError("one log holds the ballots of one proposal")
    return log_tail.sequence + 1, log_tail.entry_hash


def canonical_record(entry: ChainEntry) -> dict[str, Any]:
    """The entry as JSON-ready values, without its hash: what the hash is computed over.

    A ballot's record has no ``kind`` (ballot entries were the only kind before delegations joined the log, and their
    hashes stay as they were); a delegation's record has ``"kind": "delegation"``.
    """
    if isinstance(entry, PaperEntry):
        return {
            "kind": "paper",
            "sequence": entry.sequence,
            "proposal_id": entry.proposal_id,
            "unit_id": entry.unit_id,
            "choice": _encode_choice(entry.choice),
            "scan_ref": entry.scan_ref,
            "received_at": _utc_text(entry.received_at),
            "entered_by": list(entry.entered_by),
            "recorded_at": _utc_text(entry.recorded_at),
            "supersedes": entry.supersedes,
            "previous_hash": entry.previous_hash,
        }
    if isinstance(entry, DelegationEntry):
        return {
            "kind": "delegation",
            "sequence": entry.sequence,
            "proposal_id": entry.proposal_id,
            "unit_id": entry.unit_id,
            "delegate_id": entry.delegate_id,
            "granted_by": entry.granted_by,
            "recorded_at": _utc_text(entry.recorded_at),
            "previous_hash": entry.previous_hash,
        }
    return {
        "sequence": entry.sequence,
        "proposal_id": entry.proposal_id,
        "unit_id": entry.unit_id,
        "voter_id": entry.voter_id,
        "capacity": entry.capacity.value,
        "choice": _encode_choice(entry.choice),
        "cast_at": _utc_text(entry.cast_at),
        "previous_hash": entry.previous_hash,
    }


def canonical_bytes(entry: ChainEntry) -> bytes:
    return _canonical_json(canonical_record(entry))


def compute_entry_hash(entry: ChainEntry) -> str:
    """SHA-256 (hex) of the entry's canonical JSON; the recorded `entry_hash` itself is not part of it."""
    return hashlib.sha256(canonical_bytes(entry)).hexdigest()


def entry_to_record(entry: ChainEntry) -> dict[str, Any]:
    """The entry for storage or publication: the canonical record plus its hash."""
    return {**canonical_record(entry), "entry_hash": entry.entry_hash}


def entry_from_record(record: Mapping[str, Any]) -> ChainEntry:
    """Read back an entry_to_record() mapping. Raises ValueError when it is malformed (not when it was altered)."""
    if not isinstance(record, Mapping):
        raise ValueError(f"malformed log entry: {record!r}")
    kind = record.get("kind", "ballot")
    if kind == "delegation":
        return _delegation_entry(record)
    if kind == "paper":
        return _paper_entry(record)
    if kind != "ballot" or "kind" in record:  # a ballot's record names no kind (see canonical_record)
        raise ValueError(f"malformed log entry: unknown kind {kind!r}")
    try:
        cast_at = _aware_time(record["cast_at"], "cast_at")
        return LogEntry(
            sequence=_expect(record["sequence"], int),
            proposal_id=_expect(record["proposal_id"], str),
            unit_id=_expect(record["unit_id"], str),
            voter_id=_expect(record["voter_id"], str),
            capacity=Capacity(record["capacity"]),
            choice=_decode_choice(record["choice"]),
            cast_at=cast_at,
            previous_hash=_expect(record["previous_hash"], str),
            entry_hash=_expect(record["entry_hash"], str),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed log entry: {error!r}") from error


def _delegation_entry(record: Mapping[str, Any]) -> DelegationEntry:
    try:
        return DelegationEntry(
            sequence=_expect(record["sequence"], int),
            proposal_id=_expect(record["proposal_id"], str),
            unit_id=_expect(record["unit_id"], str),
            delegate_id=_expect(record["delegate_id"], str),
            granted_by=_expect(record["granted_by"], str),
            recorded_at=_aware_time(record["recorded_at"], "recorded_at"),
            previous_hash=_expect(record["previous_hash"], str),
            entry_hash=_expect(record["entry_hash"], str),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed log entry: {error!r}") from error


def _paper_entry(record: Mapping[str, Any]) -> PaperEntry:
    try:
        clerks = _expect(record["entered_by"], list)
        supersedes = record["supersedes"]
        if len(clerks) != 2:
            raise ValueError("a paper ballot is entered by two clerks")
        return PaperEntry(
            sequence=_expect(record["sequence"], int),
            proposal_id=_expect(record["proposal_id"], str),
            unit_id=_expect(record["unit_id"], str),
            choice=_decode_choice(record["choice"]),
            scan_ref=_expect(record["scan_ref"], str),
            received_at=_aware_time(record["received_at"], "received_at"),
            entered_by=(_expect(clerks[0], str), _expect(clerks[1], str)),
            recorded_at=_aware_time(record["recorded_at"], "recorded_at"),
            supersedes=None if supersedes is None else _expect(supersedes, int),
            previous_hash=_expect(record["previous_hash"], str),
            entry_hash=_expect(record["entry_hash"], str),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed log entry: {error!r}") from error


def _aware_time(value: object, name: str) -> datetime:
    moment = datetime.fromisoformat(_expect(value, str))
    if moment.tzinfo is None:
        raise ValueError(f"{name} has no time zone")
    return moment


def ballot_entries(entries: Iterable[ChainEntry]) -> list[LogEntry]:
    """The ballots of a log, in log order."""
    return [entry for entry in entries if isinstance(entry, LogEntry)]


def paper_entries(entries: Iterable[ChainEntry]) -> list[PaperEntry]:
    """The paper ballots of a log, in log order."""
    return [entry for entry in entries if isinstance(entry, PaperEntry)]


def logged_delegations(entries: Iterable[ChainEntry]) -> list[Delegation]:
    """The delegations of a log, in log order."""
    return [entry.delegation for entry in entries if isinstance(entry, DelegationEntry)]


def roll_record(proposal: Proposal, roll: VoterRoll) -> dict[str, Any]:
    """What the roll digest is computed over: the proposal's counting terms and its frozen roll, as JSON values.

    The terms are in because they decide the count as much as the roll does (a special matter made ordinary, or a
    window moved, changes the result). Units are ordered by id, owner ids sorted; areas are written as on the roll;
    times in UTC with microseconds.
    """
    election = proposal.election
    return {
        "proposal": {
            "proposal_id": proposal.proposal_id,
            "matter": proposal.matter.value,
            "opens_at": _utc_text(proposal.opens_at),
            "closes_at": _utc_text(proposal.closes_at),
            "election": None if election is None else {"candidates": list(election.candidates),
                                                       "seats": election.seats},
        },
        "roll": {
            "frozen_at": _utc_text(roll.frozen_at),
            "units": [
                {
                    "unit_id": unit.unit_id,
                    "label": unit.label,
                    "area_m2": str(unit.area),
                    "owner_ids": sorted(unit.owner_ids),
                    "held_by_developer": unit.held_by_developer,
                    "representative_id": unit.representative_id,
                }
                for unit in sorted(roll.units, key=lambda unit: unit.unit_id)
            ],
        },
    }


def roll_digest(proposal: Proposal, roll: VoterRoll) -> str:
    """SHA-256 (hex) of the canonical JSON of :func:`roll_record`: where an anchored log begins."""
    return hashlib.sha256(_canonical_json(roll_record(proposal, roll))).hexdigest()


def chain_head(entries: Sequence[ChainEntry], genesis: str = GENESIS_HASH) -> ChainHead:
    """The head of `entries`; an empty anchored log's head is its genesis, the roll digest."""
    return ChainHead(len(entries), entries[-1].entry_hash if entries else genesis)


def verify_chain(
    entries: Sequence[ChainEntry], head: ChainHead | None = None, *, genesis: str = GENESIS_HASH
) -> list[ChainProblem]:
    """Every inconsistency in `entries`, in log order; an empty list when the chain is intact.

    `genesis` is what the first entry must point at: the roll digest of the roll the log is checked against (for a
    log not anchored to a roll, 64 zeros). A first entry that points elsewhere is a ROLL_MISMATCH.

    Without `head`, dropping entries from the end, or rebuilding the whole chain, cannot be seen; pass the head
    published at close (and let voters check their receipts) to catch those.
    """
    problems: list[ChainProblem] = []
    expected_previous_hash = genesis
    previous_sequence = 0
    seen_hashes: set[str] = set()
    seen_sequences: set[int] = set()
    proposal_id = entries[0].proposal_id if entries else None

    def report(position: int, entry: ChainEntry, kind: ChainProblemKind, detail: str) -> None:
        problems.append(ChainProblem(position, entry.sequence, kind, detail))

    for position, entry in enumerate(entries):
        if compute_entry_hash(entry) != entry.entry_hash:
            report(position, entry, ChainProblemKind.ALTERED_ENTRY, "content does not match the recorded hash")
        if entry.entry_hash in seen_hashes or entry.sequence in seen_sequences:
            report(position, entry, ChainProblemKind.DUPLICATE, f"sequence {entry.sequence} appears earlier")
        elif entry.sequence != previous_sequence + 1:
            report(
                position,
                entry,
                ChainProblemKind.OUT_OF_ORDER,
                f"sequence {entry.sequence} follows {previous_sequence}",
            )
        if entry.previous_hash != expected_previous_hash:
            if position == 0 and entry.sequence == 1 and genesis != GENESIS_HASH:
                report(position, entry, ChainProblemKind.ROLL_MISMATCH,
                       f"the log was begun on roll digest {entry.previous_hash[:16]}…, not on this roll's "
                       f"{genesis[:16]}…: the frozen roll or the proposal's terms were changed")
            else:
                report(position, entry, ChainProblemKind.BROKEN_LINK, "does not point at the previous entry's hash")
        if entry.proposal_id != proposal_id:
            report(position, entry, ChainProblemKind.FOREIGN_PROPOSAL, f"belongs to {entry.proposal_id!r}")
        seen_hashes.add(entry.entry_hash)
        seen_sequences.add(entry.sequence)
        expected_previous_hash = entry.entry_hash
        previous_sequence = entry.sequence

    if head is not None and chain_head(entries, genesis) != head:
        actual = chain_head(entries, genesis)
        problems.append(
            ChainProblem(
                len(entries),
                entries[-1].sequence if entries else None,
                ChainProblemKind.HEAD_MISMATCH,
                f"log has {actual.length} entries ending {actual.head_hash[:16]}, "
                f"published {head.length} ending {head.head_hash[:16]}",
            )
        )
    return problems


def receipt_code(entry_hash: str) -> str:
    """The first 16 hex digits of the entry hash in groups of four, e.g. '3f2a-9b1c-77de-0a45'."""
    digits = entry_hash[:RECEIPT_HEX_DIGITS]
    return "-".join(digits[start : start + 4] for start in range(0, RECEIPT_HEX_DIGITS, 4))


def find_receipt(entries: Iterable[ChainEntry], code: str) -> LogEntry | None:
    """The ballot entry a voter's receipt code refers to; spaces, dashes and letter case in the code are ignored."""
    digits = "".join(code.split()).replace("-", "").lower()
    if len(digits) != RECEIPT_HEX_DIGITS or any(digit not in "0123456789abcdef" for digit in digits):
        return None
    return next((entry for entry in ballot_entries(entries) if entry.entry_hash[:RECEIPT_HEX_DIGITS] == digits), None)


def receipt_status(entries: Sequence[ChainEntry], code: str) -> ReceiptStatus:
    """Whether the receipt's ballot is in the log and is the one that counts for its unit."""
    entry = find_receipt(entries, code)
    if entry is None:
        return ReceiptStatus.NOT_FOUND
    last = next(candidate for candidate in reversed(ballot_entries(entries)) if candidate.unit_id == entry.unit_id)
    return ReceiptStatus.COUNTED if last is entry else ReceiptStatus.SUPERSEDED


def replay(box: BallotBox, entries: Iterable[ChainEntry]) -> list[tuple[ChainEntry, BallotRefusal]]:
    """Feed every entry, at its recorded time, to `box`: ballots are cast, delegations recorded. The entries the
    box refuses, with why."""
    refused: list[tuple[ChainEntry, BallotRefusal]] = []
    for entry in entries:
        if isinstance(entry, DelegationEntry):
            refusal = box.delegate(entry.delegation, entry.recorded_at)
        elif isinstance(entry, PaperEntry):
            refusal = box.cast_paper(entry.unit_id, entry.choice, entry.received_at, entry.recorded_at)
        else:
            refusal = box.cast(entry.ballot, entry.cast_at)
        if refusal is not None:
            refused.append((entry, refusal))
    return refused


def recount_from_log(
    entries: Iterable[ChainEntry], proposal: Proposal, roll: VoterRoll, delegations: Iterable[Delegation] = ()
) -> Recount:
    """Replay every entry, at its recorded time, through a fresh ballot box and count what it accepts.

    The eligibility rules are applied again, so an entry that should never have been accepted (a non-owner, a
    ballot after close, a second voice for a unit, a delegation by someone who may not give it) shows up in
    `refused` instead of being counted. `delegations` are taken as recorded before the first entry: a log that
    holds its delegations passes none.
    """
    box = BallotBox(proposal, roll, delegations)
    refused = replay(box, entries)
    return Recount(box.tally(), tuple(refused))


def compare_tallies(published: Tally | ElectionTally, recounted: Tally | ElectionTally) -> list[TallyDiscrepancy]:
    """Every field (dotted path) where the published result differs from the recount; empty when they agree."""
    discrepancies: list[TallyDiscrepancy] = []
    _compare("", published, recounted, discrepancies)
    return discrepancies


def audit_log(
    entries: Sequence[ChainEntry],
    *,
    head: ChainHead,
    proposal: Proposal,
    roll: VoterRoll,
    delegations: Iterable[Delegation],
    published: Tally | ElectionTally,
    genesis: str = GENESIS_HASH,
) -> AuditReport:
    """Check the chain against the published head, replay it, and compare the recount with the published result."""
    recount = recount_from_log(entries, proposal, roll, delegations)
    return AuditReport(
        chain_problems=tuple(verify_chain(entries, head, genesis=genesis)),
        refused_entries=recount.refused,
        discrepancies=tuple(compare_tallies(published, recount.result)),
        recount=recount,
    )


def _compare(path: str, published: object, recounted: object, out: list[TallyDiscrepancy]) -> None:
    if type(published) is not type(recounted):
        out.append(TallyDiscrepancy(path or "result", published, recounted))
    elif is_dataclass(published) and not isinstance(published, type):
        for field in fields(published):
            name = f"{path}.{field.name}" if path else field.name
            _compare(name, getattr(published, field.name), getattr(recounted, field.name), out)
    elif isinstance(published, tuple) and isinstance(recounted, tuple) and len(published) == len(recounted):
        for index, (published_item, recounted_item) in enumerate(zip(published, recounted, strict=True)):
            _compare(f"{path}[{index}]", published_item, recounted_item, out)
    elif published != recounted:
        out.append(TallyDiscrepancy(path or "result", published, recounted))


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def encode_choice(choice: BallotChoice) -> str | dict[str, list[str]]:
    """A choice as the log writes it: ``"agree"`` … or ``{"approve": [sorted candidates]}``."""
    return _encode_choice(choice)


def decode_choice(encoded: object) -> BallotChoice:
    """Read back :func:`encode_choice`; ValueError when it is not a choice."""
    return _decode_choice(encoded)


def _encode_choice(choice: BallotChoice) -> str | dict[str, list[str]]:
    if isinstance(choice, Choice):
        return choice.value
    return {"approve": sorted(choice.candidates)}


def _decode_choice(encoded: object) -> BallotChoice:
    if isinstance(encoded, str):
        return Choice(encoded)
    if isinstance(encoded, dict) and set(encoded) == {"approve"} and isinstance(encoded["approve"], list):
        return Approvals(frozenset(_expect(candidate, str) for candidate in encoded["approve"]))
    raise ValueError(f"not a ballot choice: {encoded!r}")


def _expect(value: object, kind: type[T]) -> T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"expected {kind.__name__}, got {value!r}")
    return value
