"""What anyone entitled can check, from the database or from the published record: plain Python, no I/O.

A :class:`VoteRecord` holds everything a recount needs — the proposal's terms, its frozen roll, the log (ballots and
delegations), the delegations on record beside the log, and the result published at close. :func:`verify_record`
checks it: the chain against the roll digest it must begin at and against the published head, the delegations on
record against those in the log, a replay of the log through the rules, and the recount against the published result.

The same record is what entitled people download (:func:`record_document`, served by the API and written by
``smartcity votes export``) and recount on their own machine without database access (:func:`record_from_document`,
``smartcity votes verify --from FILE``): one check, whoever runs it and from wherever the record came.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar

from community.voting.audit import (
    GENESIS_HASH,
    ChainEntry,
    ChainHead,
    ChainProblem,
    Recount,
    ballot_entries,
    chain_head,
    entry_from_record,
    entry_to_record,
    logged_delegations,
    recount_from_log,
    replay,
    roll_digest,
    verify_chain,
)
from community.voting.publication import PublishedResult, differences, result_document
from community.voting.rules import Matter
from community.voting.tally import Ballot, BallotBox, Delegation, Election, Proposal, Unit, VoterRoll

T = TypeVar("T")

RECORD_FORMAT = "smartcity-vote-record/1"


class RecordProblemKind(Enum):
    DELEGATION_NOT_IN_LOG = "delegation_not_in_log"
    """A delegation on record that the log does not hold: recorded beside the log, e.g. inserted into the database."""
    DELEGATION_NOT_ON_RECORD = "delegation_not_on_record"
    """A delegation in the log that is no longer on record: removed beside the log."""


@dataclass(frozen=True)
class RecordProblem:
    kind: RecordProblemKind
    delegation: Delegation

    @property
    def detail(self) -> str:
        d = self.delegation
        where = "on record but not in the log" if self.kind is RecordProblemKind.DELEGATION_NOT_IN_LOG \
            else "in the log but no longer on record"
        return f"delegation of unit {d.unit_id} by {d.granted_by} to {d.delegate_id} is {where}"


@dataclass(frozen=True)
class VoteRecord:
    """Everything a recount of one proposal needs, as stored or as published."""

    proposal: Proposal
    roll: VoterRoll
    chain: tuple[ChainEntry, ...]
    delegations: tuple[Delegation, ...]
    """The delegations on record beside the log (they entitle proxies to see the proposal)."""
    published: PublishedResult | None = None
    log_anchored: bool = True
    """False for a log begun before migration 0006: it starts at 64 zeros, and holds ballots only."""

    @property
    def roll_digest(self) -> str:
        return roll_digest(self.proposal, self.roll)

    @property
    def genesis(self) -> str:
        """What the log's first entry points at."""
        return self.roll_digest if self.log_anchored else GENESIS_HASH

    @property
    def head(self) -> ChainHead:
        return chain_head(self.chain, self.genesis)

    @property
    def published_digest(self) -> str | None:
        """The roll digest the result published at close carries: None for a log begun before anchoring."""
        return self.roll_digest if self.log_anchored else None

    def counted_ballots(self) -> list[Ballot]:
        """The ballot that counts for each unit, replaying the log through the rules (as :meth:`recount`)."""
        box = BallotBox(self.proposal, self.roll, () if self.log_anchored else self.delegations)
        replay(box, self.chain)
        return list(box.counted_ballots.values())

    def recount(self) -> Recount:
        """Replay the log through the rules: an anchored log holds its delegations, an older one takes those on
        record."""
        return recount_from_log(self.chain, self.proposal, self.roll, () if self.log_anchored else self.delegations)


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify_record`."""

    proposal: Proposal
    roll_digest: str
    log_anchored: bool
    entries: int
    """Ballot entries in the log."""
    delegation_entries: int
    chain_problems: tuple[ChainProblem, ...]
    record_problems: tuple[RecordProblem, ...]
    recount: Recount
    published: PublishedResult | None
    discrepancies: tuple[str, ...]
    """Top-level fields of the published result that the recount does not give."""

    @property
    def is_clean(self) -> bool:
        return not (self.chain_problems or self.record_problems or self.recount.refused or self.discrepancies)


def verify_record(record: VoteRecord) -> Verification:
    """Check `record` every way it can be checked; see the module's docstring.

    An anchored log takes its delegations from the log itself, so a delegation recorded only beside it counts for
    nothing and is reported. A log begun before migration 0006 is checked as it was then: ballots only, against the
    delegations on record, with its roll not anchored (`log_anchored` False says so).
    """
    head = record.published.head if record.published is not None else None
    recount = record.recount()
    discrepancies: list[str] = []
    if record.published is not None:
        discrepancies = differences(record.published.result, result_document(recount.result, record.published_digest))
    return Verification(
        proposal=record.proposal,
        roll_digest=record.roll_digest,
        log_anchored=record.log_anchored,
        entries=len(ballot_entries(record.chain)),
        delegation_entries=len(logged_delegations(record.chain)),
        chain_problems=tuple(verify_chain(record.chain, head, genesis=record.genesis)),
        record_problems=_delegation_problems(record) if record.log_anchored else (),
        recount=recount,
        published=record.published,
        discrepancies=tuple(discrepancies),
    )


def _delegation_problems(record: VoteRecord) -> tuple[RecordProblem, ...]:
    logged = set(logged_delegations(record.chain))
    on_record = set(record.delegations)
    return (
        *(RecordProblem(RecordProblemKind.DELEGATION_NOT_IN_LOG, d) for d in sorted(on_record - logged, key=_key)),
        *(RecordProblem(RecordProblemKind.DELEGATION_NOT_ON_RECORD, d) for d in sorted(logged - on_record, key=_key)),
    )


def _key(delegation: Delegation) -> tuple[str, str, str]:
    return delegation.unit_id, delegation.delegate_id, delegation.granted_by


# --- the published record as a JSON document ------------------------------------------------------------------------

def record_document(record: VoteRecord) -> dict[str, Any]:
    """The record as a JSON-ready document: what entitled people download and recount.

    It holds register person ids (the roll's owners, voters, proxies), unit labels and areas — named ballots, as the
    owners' assembly practises them — and no names, phone numbers or other personal data of the registers.
    """
    proposal, roll, published = record.proposal, record.roll, record.published
    election = proposal.election
    head = record.head
    return {
        "format": RECORD_FORMAT,
        "proposal": {
            "proposal_id": proposal.proposal_id,
            "matter": proposal.matter.value,
            "title": proposal.title,
            "opens_at": proposal.opens_at.isoformat(),
            "closes_at": proposal.closes_at.isoformat(),
            "election": None if election is None else {"candidates": list(election.candidates),
                                                       "seats": election.seats},
        },
        "roll": {
            "frozen_at": roll.frozen_at.isoformat(),
            "units": [{"unit_id": u.unit_id, "label": u.label, "area_m2": str(u.area), "owner_ids": sorted(u.owner_ids),
                       "held_by_developer": u.held_by_developer, "representative_id": u.representative_id}
                      for u in roll.units],
        },
        "roll_digest": record.roll_digest,
        "log_anchored": record.log_anchored,
        "delegations": [{"unit_id": d.unit_id, "delegate_id": d.delegate_id, "granted_by": d.granted_by}
                        for d in record.delegations],
        "chain": [entry_to_record(entry) for entry in record.chain],
        "head": {"length": head.length, "head_hash": head.head_hash},
        "published": None if published is None else {
            "closed_at": published.closed_at.isoformat(),
            "chain_length": published.head.length,
            "chain_head": published.head.head_hash,
            "result": published.result,
            "published_by": published.published_by,
        },
    }


def record_from_document(document: object) -> VoteRecord:
    """Read back a :func:`record_document`. Raises ValueError when the document is malformed or inconsistent in
    itself (a roll or proposal the domain refuses); what it says is checked by :func:`verify_record`."""
    try:
        root = _mapping(document, "the document")
        if root.get("format") != RECORD_FORMAT:
            raise ValueError(f"not a vote record (format {root.get('format')!r}, expected {RECORD_FORMAT!r})")
        proposal = _proposal(_mapping(root["proposal"], "proposal"))
        roll = _roll(_mapping(root["roll"], "roll"))
        delegations = tuple(_delegation(_mapping(item, "delegation"), proposal.proposal_id)
                            for item in _expect(root["delegations"], list))
        chain = tuple(entry_from_record(_mapping(item, "log entry")) for item in _expect(root["chain"], list))
        published = None if root["published"] is None else _published(_mapping(root["published"], "published"),
                                                                        proposal.proposal_id)
        return VoteRecord(proposal, roll, chain, delegations, published, _expect(root["log_anchored"], bool))
    except KeyError as missing:
        raise ValueError(f"the vote record lacks {missing}") from None
    except (TypeError, InvalidOperation) as error:
        raise ValueError(f"malformed vote record: {error}") from None


def _proposal(data: Mapping[str, Any]) -> Proposal:
    election = None
    if data["election"] is not None:
        raw = _mapping(data["election"], "election")
        election = Election(tuple(_expect(c, str) for c in _expect(raw["candidates"], list)),
                            _expect(raw["seats"], int))
    return Proposal(_expect(data["proposal_id"], str), Matter(data["matter"]), _expect(data["title"], str),
                    _time(data["opens_at"]), _time(data["closes_at"]), election)


def _roll(data: Mapping[str, Any]) -> VoterRoll:
    units = []
    for item in _expect(data["units"], list):
        unit = _mapping(item, "unit")
        representative = unit["representative_id"]
        units.append(Unit(
            _expect(unit["unit_id"], str), _expect(unit["label"], str), Decimal(_expect(unit["area_m2"], str)),
            frozenset(_expect(owner, str) for owner in _expect(unit["owner_ids"], list)),
            _expect(unit["held_by_developer"], bool),
            None if representative is None else _expect(representative, str)))
    return VoterRoll(tuple(units), _time(data["frozen_at"]))


def _delegation(data: Mapping[str, Any], proposal_id: str) -> Delegation:
    return Delegation(_expect(data["delegate_id"], str), _expect(data["granted_by"], str), proposal_id,
                      _expect(data["unit_id"], str))


def _published(data: Mapping[str, Any], proposal_id: str) -> PublishedResult:
    return PublishedResult(proposal_id, _time(data["closed_at"]),
                           ChainHead(_expect(data["chain_length"], int), _expect(data["chain_head"], str)),
                           dict(_mapping(data["result"], "result")), _expect(data["published_by"], str))


def _time(value: object) -> datetime:
    moment = datetime.fromisoformat(_expect(value, str))
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a JSON object, not {value!r}")
    return value


def _expect(value: object, kind: type[T]) -> T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"expected {kind.__name__}, got {value!r}")
    return value
