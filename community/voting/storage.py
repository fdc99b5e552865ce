"""Storage of the voting context (SQLAlchemy Core, async): proposals with their frozen roll,
delegations, the append-only ballot log, comments. Tables mirror community/migrations; the
domain stays plain dataclasses and is converted here, at the edge.

A proposal's roll is either given when it is opened (written at once) or frozen from a community's
ownership register when voting opens (``roll_community_id`` set; written by the first freeze, see
:meth:`VotingRepository.write_register_roll`). ``roll_frozen_at`` is the moment the roll stands for
— for a register roll, the opening time, fixed when the proposal is created; ``roll_built_at`` is
when the roll was written, NULL while it is not frozen yet.

``community_id`` is the community a proposal belongs to (who may see it and act on it: the accounts' scope). A
register roll's community; for a given roll, the community it was opened for. NULL only for proposals created
before migration 0008 whose community could not be told: administrators alone see those.

``voting_ballot_log`` is a proposal's whole log: ballots and (since migration 0006) delegations, told
apart by ``kind``; ``voting_delegations`` keeps the delegations on record beside it, for quick look-up
of who is a proxy. ``log_anchored`` is false for the proposals whose log was begun before 0006: it
starts at 64 zeros rather than at the roll digest, and holds no delegations.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from community.access.storage.tables import communities as access_communities
from community.voting.audit import (
    ChainEntry,
    ChainHead,
    DelegationEntry,
    LogEntry,
    PaperEntry,
    ballot_entries,
    decode_choice,
    encode_choice,
    entry_from_record,
    entry_to_record,
)
from community.voting.deliberation import Comment
from community.voting.participation import Phase
from community.voting.publication import PublishedResult
from community.voting.register_roll import RollProblem, RollProblemKind
from community.voting.rules import Matter
from community.voting.tally import BallotChoice, Delegation, Election, Proposal, Unit, VoterRoll
from relational.database import UtcDateTime

metadata = MetaData()

proposals = Table(
    "voting_proposals", metadata,
    Column("proposal_id", String(64), primary_key=True),
    Column("matter", String(40), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text(), nullable=False, server_default=""),
    Column("opens_at", UtcDateTime(), nullable=False),
    Column("closes_at", UtcDateTime(), nullable=False),
    Column("election_candidates", JSON(), nullable=True),
    Column("election_seats", Integer(), nullable=True),
    Column("roll_frozen_at", UtcDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("attachments", JSON(), nullable=False, server_default="[]"),
    Column("roll_community_id", String(64), nullable=True),
    Column("roll_built_at", UtcDateTime(), nullable=True),
    Column("roll_left_off", JSON(), nullable=True),
    Column("roll_problem", String(500), nullable=True),
    Column("log_anchored", Boolean(), nullable=False, server_default=true()),
    Column("community_id", String(64), nullable=True),
    Column("notice_published_at", UtcDateTime(), nullable=True),
    Index("voting_proposals_by_community", "community_id"),
)

roll_units = Table(
    "voting_roll_units", metadata,
    Column("proposal_id", String(64), ForeignKey("voting_proposals.proposal_id"), primary_key=True),
    Column("unit_id", String(64), primary_key=True),
    Column("label", String(100), nullable=False),
    Column("area_m2", String(24), nullable=False),
    Column("owner_ids", JSON(), nullable=False),
    Column("held_by_developer", Boolean(), nullable=False),
    Column("representative_id", String(64), nullable=True),
)

delegations = Table(
    "voting_delegations", metadata,
    Column("proposal_id", String(64), ForeignKey("voting_proposals.proposal_id"), primary_key=True),
    Column("unit_id", String(64), primary_key=True),
    Column("delegate_id", String(64), primary_key=True),
    Column("granted_by", String(64), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

ballot_log = Table(
    "voting_ballot_log", metadata,
    Column("proposal_id", String(64), ForeignKey("voting_proposals.proposal_id"), primary_key=True),
    Column("sequence", Integer(), primary_key=True, autoincrement=False),
    Column("unit_id", String(64), nullable=False),
    Column("voter_id", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False, unique=True),
    Column("record", JSON(), nullable=False),
    Column("kind", String(16), nullable=False, server_default="ballot"),
    Index("voting_ballot_log_by_voter", "proposal_id", "voter_id"),
)

comments = Table(
    "voting_comments", metadata,
    Column("comment_id", Integer(), primary_key=True, autoincrement=True),
    Column("proposal_id", String(64), ForeignKey("voting_proposals.proposal_id"), nullable=False),
    Column("author_id", String(64), nullable=False),
    Column("body", Text(), nullable=False),
    Column("posted_at", UtcDateTime(), nullable=False),
    Column("hidden_by", String(64), nullable=True),
    Column("hidden_reason", String(200), nullable=True),
    Index("voting_comments_by_proposal", "proposal_id", "posted_at"),
)


results = Table(
    "voting_results", metadata,
    Column("proposal_id", String(64), ForeignKey("voting_proposals.proposal_id"), primary_key=True),
    Column("closed_at", UtcDateTime(), nullable=False),
    Column("chain_length", Integer(), nullable=False),
    Column("chain_head", String(64), nullable=False),
    Column("result", JSON(), nullable=False),
    Column("published_by", String(64), nullable=False),
)


paper_entries = Table(
    "voting_paper_entries", metadata,
    Column("entry_id", Integer(), primary_key=True, autoincrement=True),
    Column("proposal_id", String(64), ForeignKey("voting_proposals.proposal_id"), nullable=False),
    Column("unit_id", String(64), nullable=False),
    Column("choice", JSON(), nullable=False),
    Column("scan_ref", String(1000), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("entered_by", String(64), nullable=False),
    Column("entered_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("log_sequence", Integer(), nullable=True),
    Index("voting_paper_entries_by_unit", "proposal_id", "unit_id"),
)
"""Every entry of a paper ballot as typed by a committee member, kept whatever became of it: ``pending`` (waiting
for the second entry), ``held`` (entries of the unit disagree: held for review), ``confirmed`` (two entries agreed;
``log_sequence`` is the paper ballot's place in the log), ``refused`` (matched, but the rules refused the ballot)."""

community_notice = Table(
    "voting_community_notice", metadata,
    Column("community_id", String(64), primary_key=True),
    Column("notice_days", Integer(), nullable=False),
    Column("set_by", String(64), nullable=False),
    Column("set_at", UtcDateTime(), nullable=False),
)
"""A community's own notice period (days), as its rules of procedure require; a community without a row has the
installation's minimum (SC_VOTING_NOTICE_DAYS)."""


@dataclass(frozen=True)
class StoredNoticeDays:
    """A community's notice period as set, by whom and when."""

    days: int
    set_by: str
    set_at: datetime


class CommunityNoticeRepository:
    """The communities' own notice periods on one transaction's ``connection``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, community_id: str) -> StoredNoticeDays | None:
        row = (await self._connection.execute(
            select(community_notice).where(community_notice.c.community_id == community_id))).mappings().first()
        return None if row is None else StoredNoticeDays(int(row["notice_days"]), str(row["set_by"]), row["set_at"])

    async def set(self, community_id: str, days: int, set_by: str, set_at: datetime) -> None:
        """Set (or change) the community's period. Two setting it at the same instant: the caller retries once."""
        changed = await self._connection.execute(
            update(community_notice).where(community_notice.c.community_id == community_id)
            .values(notice_days=days, set_by=set_by, set_at=set_at))
        if changed.rowcount == 0:
            await self._connection.execute(community_notice.insert().values(
                community_id=community_id, notice_days=days, set_by=set_by, set_at=set_at))


@dataclass(frozen=True)
class StoredPaperEntry:
    entry_id: int
    proposal_id: str
    unit_id: str
    choice: BallotChoice
    scan_ref: str
    received_at: datetime
    entered_by: str
    entered_at: datetime
    status: str
    log_sequence: int | None


@dataclass(frozen=True)
class RollState:
    """Where a proposal's roll comes from and whether it is frozen yet."""

    frozen_at: datetime
    """The moment the roll stands for: when it was given, or — from the register — when voting opens."""
    built_at: datetime | None
    """When the roll was written; None while it is not frozen yet."""
    community_id: str | None
    """The community whose ownership register the roll is frozen from; None when the roll was given."""
    left_off: tuple[RollProblem, ...] = ()
    """Units a roll frozen before migration 0006 left off (they had no recorded owner); newer rolls hold every unit."""
    problem: str | None = None
    """Why the roll could not be frozen from the register (then the proposal cannot be voted on)."""
    log_anchored: bool = True
    """False when the proposal's log was begun before migration 0006 (see the module's docstring)."""

    @property
    def is_frozen(self) -> bool:
        return self.built_at is not None

    @property
    def from_register(self) -> bool:
        return self.community_id is not None


class LogConflict(Exception):
    """Another ballot took this sequence number first: read the new tail and try again."""


class DelegationExists(Exception):
    """The delegations on record hold one for this proxy, unit and proposal already."""


class VotingRepository:
    """Reads and writes one transaction's worth of voting data on ``connection``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add_proposal(
        self, proposal: Proposal, roll: VoterRoll, *, body: str, created_by: str,
        attachments: list[dict[str, str]] | None = None, community_id: str | None = None,
        notice_published_at: datetime | None = None,
    ) -> None:
        election = proposal.election
        await self._connection.execute(proposals.insert().values(
            proposal_id=proposal.proposal_id, matter=proposal.matter.value, title=proposal.title, body=body,
            opens_at=proposal.opens_at, closes_at=proposal.closes_at,
            election_candidates=list(election.candidates) if election else None,
            election_seats=election.seats if election else None,
            roll_frozen_at=roll.frozen_at, created_by=created_by, attachments=attachments or [],
            roll_built_at=roll.frozen_at, community_id=community_id, notice_published_at=notice_published_at,
        ))
        await self._add_roll_units(proposal.proposal_id, roll)

    async def add_register_proposal(
        self, proposal: Proposal, community_id: str, *, body: str, created_by: str,
        attachments: list[dict[str, str]] | None = None, notice_published_at: datetime | None = None,
    ) -> None:
        """A proposal whose roll is frozen from `community_id`'s register as it stands when voting opens."""
        election = proposal.election
        await self._connection.execute(proposals.insert().values(
            proposal_id=proposal.proposal_id, matter=proposal.matter.value, title=proposal.title, body=body,
            opens_at=proposal.opens_at, closes_at=proposal.closes_at,
            election_candidates=list(election.candidates) if election else None,
            election_seats=election.seats if election else None,
            roll_frozen_at=proposal.opens_at, created_by=created_by, attachments=attachments or [],
            roll_community_id=community_id, community_id=community_id, notice_published_at=notice_published_at,
        ))

    async def write_register_roll(self, proposal_id: str, roll: VoterRoll, built_at: datetime) -> bool:
        """Write the roll frozen from the register, once: False (and nothing written) when the proposal has one
        already. The conditional update and the roll's primary key keep a second writer out even unlocked."""
        claimed = await self._connection.execute(
            update(proposals).where(proposals.c.proposal_id == proposal_id, proposals.c.roll_built_at.is_(None))
            .values(roll_built_at=built_at, roll_problem=None))
        if not claimed.rowcount:
            return False
        await self._add_roll_units(proposal_id, roll)
        return True

    async def record_roll_problem(self, proposal_id: str, problem: str) -> None:
        await self._connection.execute(
            update(proposals).where(proposals.c.proposal_id == proposal_id, proposals.c.roll_built_at.is_(None))
            .values(roll_problem=problem[:500]))

    async def roll_state(self, proposal_id: str) -> RollState | None:
        row = (await self._connection.execute(
            select(proposals.c.roll_frozen_at, proposals.c.roll_built_at, proposals.c.roll_community_id,
                   proposals.c.roll_left_off, proposals.c.roll_problem, proposals.c.log_anchored)
            .where(proposals.c.proposal_id == proposal_id))).mappings().first()
        if row is None:
            return None
        return RollState(row["roll_frozen_at"], row["roll_built_at"], row["roll_community_id"],
                         tuple(_left_off(record) for record in row["roll_left_off"] or ()), row["roll_problem"],
                         bool(row["log_anchored"]))

    async def awaiting_roll(self, now: datetime, limit: int) -> list[str]:
        """Proposals whose voting has opened by `now` and whose register roll is not frozen (nor failed) yet."""
        rows = await self._connection.execute(
            select(proposals.c.proposal_id)
            .where(proposals.c.roll_built_at.is_(None), proposals.c.roll_problem.is_(None),
                   proposals.c.roll_community_id.is_not(None), proposals.c.opens_at <= now)
            .order_by(proposals.c.opens_at, proposals.c.proposal_id).limit(limit))
        return [str(row[0]) for row in rows]

    async def awaiting_result(self, now: datetime, limit: int) -> list[str]:
        """Proposals whose voting closed by `now`, with a frozen roll, and no result published yet."""
        rows = await self._connection.execute(
            select(proposals.c.proposal_id)
            .where(proposals.c.closes_at <= now, proposals.c.roll_built_at.is_not(None),
                   ~select(results.c.proposal_id).where(results.c.proposal_id == proposals.c.proposal_id).exists())
            .order_by(proposals.c.closes_at, proposals.c.proposal_id).limit(limit))
        return [str(row[0]) for row in rows]

    async def _add_roll_units(self, proposal_id: str, roll: VoterRoll) -> None:
        await self._connection.execute(roll_units.insert(), [
            {"proposal_id": proposal_id, "unit_id": unit.unit_id, "label": unit.label,
             "area_m2": str(unit.area), "owner_ids": sorted(unit.owner_ids),
             "held_by_developer": unit.held_by_developer, "representative_id": unit.representative_id}
            for unit in roll.units
        ])

    async def lock_proposal(self, proposal_id: str) -> None:
        """Serialise writers of one proposal's log until this transaction ends (PostgreSQL row
        lock; SQLite admits one writer at a time anyway)."""
        await self._connection.execute(
            select(proposals.c.proposal_id).where(proposals.c.proposal_id == proposal_id).with_for_update())

    async def proposal(self, proposal_id: str) -> Proposal | None:
        row = (await self._connection.execute(
            select(proposals).where(proposals.c.proposal_id == proposal_id))).mappings().first()
        return None if row is None else _proposal(row)

    async def text(self, proposal_id: str) -> tuple[str, list[dict[str, str]]]:
        """The proposal's text and its attachments (by reference), as owners read them."""
        row = (await self._connection.execute(
            select(proposals.c.body, proposals.c.attachments).where(proposals.c.proposal_id == proposal_id))).first()
        return ("", []) if row is None else (row[0], list(row[1]))

    async def roll(self, proposal_id: str) -> VoterRoll | None:
        """The proposal's frozen roll; None when there is no such proposal or its roll is not frozen yet."""
        row = (await self._connection.execute(
            select(proposals.c.roll_frozen_at, proposals.c.roll_built_at)
            .where(proposals.c.proposal_id == proposal_id))).first()
        if row is None or row[1] is None:
            return None
        frozen_at = row[0]
        rows = (await self._connection.execute(
            select(roll_units).where(roll_units.c.proposal_id == proposal_id).order_by(roll_units.c.unit_id)
        )).mappings().all()
        return VoterRoll(tuple(_unit(row) for row in rows), frozen_at)

    async def add_delegation(self, delegation: Delegation, recorded_at: datetime) -> None:
        """Put a delegation on record; raises :class:`DelegationExists` (and writes nothing) when this proxy holds
        one for the unit already."""
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(delegations.insert().values(
                    proposal_id=delegation.proposal_id, unit_id=delegation.unit_id,
                    delegate_id=delegation.delegate_id, granted_by=delegation.granted_by, recorded_at=recorded_at,
                ))
        except IntegrityError as error:
            raise DelegationExists(f"{delegation.delegate_id} for {delegation.unit_id}") from error

    async def notice_published_at(self, proposal_id: str) -> datetime | None:
        return (await self._connection.execute(
            select(proposals.c.notice_published_at).where(proposals.c.proposal_id == proposal_id))).scalar()

    async def community_of(self, proposal_id: str) -> str | None:
        """The community the proposal belongs to; None when it has none (or there is no such proposal)."""
        return (await self._connection.execute(
            select(proposals.c.community_id).where(proposals.c.proposal_id == proposal_id))).scalar()

    async def proposal_ids(self, limit: int, communities: Collection[str] | None = None, *, offset: int = 0,
                           community_id: str | None = None, phase: tuple[Phase, datetime] | None = None) -> list[str]:
        """The newest proposals first (by closing time, then id), ``limit`` of them after ``offset``: only those of
        ``communities`` when given, of ``community_id`` when given, and in ``phase`` at a moment when given — told
        as :func:`participation.phase_of` tells it (open only with a frozen roll; past its opening without one, a
        proposal is still upcoming)."""
        query = select(proposals.c.proposal_id)
        if communities is not None:
            query = query.where(proposals.c.community_id.in_(sorted(communities)))
        if community_id is not None:
            query = query.where(proposals.c.community_id == community_id)
        if phase is not None:
            query = query.where(_in_phase(*phase))
        rows = await self._connection.execute(
            query.order_by(proposals.c.closes_at.desc(), proposals.c.proposal_id).limit(limit).offset(offset))
        return [str(row[0]) for row in rows]

    async def communities(self, within: Collection[str] | None = None) -> list[tuple[str, str]]:
        """(id, name) of the communities of the access register, by name: only those ``within`` when given."""
        table = access_communities
        query = select(table.c.community_id, table.c.name)
        if within is not None:
            query = query.where(table.c.community_id.in_(sorted(within)))
        rows = await self._connection.execute(query.order_by(table.c.name, table.c.community_id))
        return [(str(row[0]), str(row[1])) for row in rows]

    async def delegations(self, proposal_id: str) -> list[Delegation]:
        rows = (await self._connection.execute(
            select(delegations).where(delegations.c.proposal_id == proposal_id)
            .order_by(delegations.c.unit_id, delegations.c.delegate_id))).mappings().all()
        return [Delegation(row["delegate_id"], row["granted_by"], row["proposal_id"], row["unit_id"]) for row in rows]

    async def append(self, entry: ChainEntry) -> None:
        """Add the next log entry; raises :class:`LogConflict` if its sequence number is taken."""
        # voter_id: who made the entry — the voter, the owner who granted the delegation, the paper's second clerk
        if isinstance(entry, DelegationEntry):
            kind, made_by = "delegation", entry.granted_by
        elif isinstance(entry, PaperEntry):
            kind, made_by = "paper", entry.entered_by[1]
        else:
            kind, made_by = "ballot", entry.voter_id
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(ballot_log.insert().values(
                    proposal_id=entry.proposal_id, sequence=entry.sequence, unit_id=entry.unit_id, voter_id=made_by,
                    entry_hash=entry.entry_hash, record=entry_to_record(entry), kind=kind,
                ))
        except IntegrityError as error:
            raise LogConflict(f"sequence {entry.sequence} of {entry.proposal_id!r} is taken") from error

    async def chain(self, proposal_id: str) -> list[ChainEntry]:
        """The proposal's whole log, ballots and delegations, in order."""
        rows = (await self._connection.execute(
            select(ballot_log.c.record).where(ballot_log.c.proposal_id == proposal_id)
            .order_by(ballot_log.c.sequence))).scalars().all()
        return [entry_from_record(record) for record in rows]

    async def log(self, proposal_id: str) -> list[LogEntry]:
        """The ballots of the proposal's log, in order."""
        return ballot_entries(await self.chain(proposal_id))

    async def publish(self, published: PublishedResult) -> None:
        await self._connection.execute(results.insert().values(
            proposal_id=published.proposal_id, closed_at=published.closed_at,
            chain_length=published.head.length, chain_head=published.head.head_hash,
            result=published.result, published_by=published.published_by,
        ))

    async def published(self, proposal_id: str) -> PublishedResult | None:
        row = (await self._connection.execute(
            select(results).where(results.c.proposal_id == proposal_id))).mappings().first()
        if row is None:
            return None
        return PublishedResult(row["proposal_id"], row["closed_at"], ChainHead(row["chain_length"], row["chain_head"]),
                               row["result"], row["published_by"])

    async def log_tail(self, proposal_id: str) -> ChainEntry | None:
        last = (await self._connection.execute(
            select(func.max(ballot_log.c.sequence)).where(ballot_log.c.proposal_id == proposal_id))).scalar()
        if last is None:
            return None
        record = (await self._connection.execute(
            select(ballot_log.c.record).where(ballot_log.c.proposal_id == proposal_id,
                                              ballot_log.c.sequence == last))).scalar_one()
        return entry_from_record(record)


class PaperRepository:
    """The entries of paper ballots, as typed (see :data:`paper_entries`)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, proposal_id: str, unit_id: str, choice: BallotChoice, scan_ref: str, received_at: datetime,
                  entered_by: str, entered_at: datetime, status: str) -> int:
        result = await self._connection.execute(paper_entries.insert().values(
            proposal_id=proposal_id, unit_id=unit_id, choice=encode_choice(choice), scan_ref=scan_ref,
            received_at=received_at, entered_by=entered_by, entered_at=entered_at, status=status))
        key = result.inserted_primary_key
        if key is None:
            raise RuntimeError("the database returned no id for the paper entry")
        return int(key[0])

    async def open_for_unit(self, proposal_id: str, unit_id: str) -> list[StoredPaperEntry]:
        """The unit's entries not yet confirmed or refused (pending or held), oldest first."""
        return await self._select(paper_entries.c.proposal_id == proposal_id, paper_entries.c.unit_id == unit_id,
                                  paper_entries.c.status.in_(("pending", "held")))

    async def for_proposal(self, proposal_id: str) -> list[StoredPaperEntry]:
        return await self._select(paper_entries.c.proposal_id == proposal_id)

    async def mark(self, entry_ids: Collection[int], status: str, log_sequence: int | None = None) -> None:
        await self._connection.execute(update(paper_entries).where(paper_entries.c.entry_id.in_(sorted(entry_ids)))
                                       .values(status=status, log_sequence=log_sequence))

    async def _select(self, *where: ColumnElement[bool]) -> list[StoredPaperEntry]:
        rows = (await self._connection.execute(
            select(paper_entries).where(*where).order_by(paper_entries.c.entry_id))).mappings().all()
        return [StoredPaperEntry(row["entry_id"], row["proposal_id"], row["unit_id"], decode_choice(row["choice"]),
                                 row["scan_ref"], row["received_at"], row["entered_by"], row["entered_at"],
                                 row["status"], row["log_sequence"]) for row in rows]


class CommentRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, proposal_id: str, author_id: str, body: str, now: datetime) -> Comment:
        result = await self._connection.execute(comments.insert().values(
            proposal_id=proposal_id, author_id=author_id, body=body, posted_at=now))
        key = result.inserted_primary_key
        if key is None:
            raise RuntimeError("the database returned no id for the new comment")
        return Comment(int(key[0]), proposal_id, author_id, body, now)

    async def for_proposal(self, proposal_id: str) -> list[Comment]:
        rows = (await self._connection.execute(
            select(comments).where(comments.c.proposal_id == proposal_id)
            .order_by(comments.c.posted_at, comments.c.comment_id))).mappings().all()
        return [Comment(row["comment_id"], row["proposal_id"], row["author_id"], row["body"], row["posted_at"],
                        row["hidden_by"], row["hidden_reason"]) for row in rows]

    async def hide(self, proposal_id: str, comment_id: int, by: str, reason: str) -> bool:
        result = await self._connection.execute(
            update(comments).where(comments.c.proposal_id == proposal_id, comments.c.comment_id == comment_id)
            .values(hidden_by=by, hidden_reason=reason))
        return bool(result.rowcount)


def _in_phase(phase: Phase, now: datetime) -> ColumnElement[bool]:
    closed, frozen = proposals.c.closes_at <= now, proposals.c.roll_built_at.is_not(None)
    if phase is Phase.CLOSED:
        return closed
    if phase is Phase.OPEN:
        return and_(~closed, proposals.c.opens_at <= now, frozen)
    return and_(~closed, or_(proposals.c.opens_at > now, ~frozen))


def _proposal(row: Any) -> Proposal:
    candidates = row["election_candidates"]
    election = Election(tuple(candidates), int(row["election_seats"])) if candidates is not None else None
    return Proposal(row["proposal_id"], Matter(row["matter"]), row["title"], row["opens_at"], row["closes_at"],
                    election)


def _left_off(record: dict[str, str]) -> RollProblem:
    # written by rolls frozen before migration 0006, always with the reason "no_owner_recorded"
    return RollProblem(record["unit_id"], record["label"], Decimal(record["area_m2"]), RollProblemKind.LEFT_OFF)


def _unit(row: Any) -> Unit:
    return Unit(row["unit_id"], row["label"], Decimal(row["area_m2"]), frozenset(row["owner_ids"]),
                row["held_by_developer"], row["representative_id"])
