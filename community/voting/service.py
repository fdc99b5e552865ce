"""Voting use cases: each opens one transaction, loads what the domain needs, lets the domain
decide, and stores the outcome. The rules live in tally.py and audit.py, not here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from community.voting.audit import (
    ChainProblem,
    LogEntry,
    ReceiptStatus,
    Recount,
    append_entry,
    chain_head,
    receipt_status,
    recount_from_log,
    verify_chain,
)
from community.voting.deliberation import Comment, CommentRefusal, as_seen_by, check_comment
from community.voting.publication import differences, result_document
from community.voting.storage import CommentRepository, LogConflict, PublishedResult, VotingRepository
from community.voting.tally import (
    Ballot,
    BallotBox,
    BallotRefusal,
    Delegation,
    Proposal,
    Turnout,
    VoterRoll,
)

CAST_ATTEMPTS = 5  # concurrent ballots race for the next log sequence number; the loser re-reads


class UnknownProposal(Exception):
    pass


class ProposalExists(Exception):
    pass


class StillOpen(Exception):
    """A result is published only once voting has closed."""


@dataclass(frozen=True)
class Accepted:
    entry: LogEntry

    @property
    def receipt(self) -> str:
        return self.entry.receipt


@dataclass(frozen=True)
class Refused:
    refusal: BallotRefusal


@dataclass(frozen=True)
class Verification:
    """What anyone entitled can check from the stored log: the chain (against the head published
    at close, once there is one), a recount, and whether the published result matches it."""

    proposal: Proposal
    entries: int
    chain_problems: tuple[ChainProblem, ...]
    recount: Recount
    published: PublishedResult | None
    discrepancies: tuple[str, ...]

    @property
    def is_clean(self) -> bool:
        return not (self.chain_problems or self.recount.refused or self.discrepancies)


class VotingService:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open_proposal(
        self, proposal: Proposal, roll: VoterRoll, *, body: str, created_by: str,
        attachments: list[dict[str, str]] | None = None,
    ) -> None:
        """Record a proposal with its voter roll, frozen as it is now."""
        try:
            async with self._engine.begin() as connection:
                await VotingRepository(connection).add_proposal(proposal, roll, body=body, created_by=created_by,
                                                                attachments=attachments)
        except IntegrityError:
            raise ProposalExists(proposal.proposal_id) from None

    async def record_delegation(self, delegation: Delegation, now: datetime) -> None:
        async with self._engine.begin() as connection:
            await VotingRepository(connection).add_delegation(delegation, now)

    async def cast(self, ballot: Ballot, now: datetime) -> Accepted | Refused:
        """Check the ballot against the roll, the delegations and the ballots so far; append it to
        the log when accepted. A ballot for a unit that already voted replaces the earlier one."""
        for _ in range(CAST_ATTEMPTS):
            try:
                return await self._cast_once(ballot, now)
            except LogConflict:
                continue
        raise LogConflict(f"{CAST_ATTEMPTS} concurrent writers beat this ballot; try again")

    async def _cast_once(self, ballot: Ballot, now: datetime) -> Accepted | Refused:
        async with self._engine.begin() as connection:
            repository = VotingRepository(connection)
            await repository.lock_proposal(ballot.proposal_id)
            proposal, roll = await self._load(repository, ballot.proposal_id)
            entries = await repository.log(ballot.proposal_id)
            box = BallotBox(proposal, roll, await repository.delegations(ballot.proposal_id))
            for entry in entries:
                box.cast(entry.ballot, entry.cast_at)
            refusal = box.cast(ballot, now)
            if refusal is not None:
                return Refused(refusal)
            entry = append_entry(entries[-1] if entries else None, ballot, now)
            await repository.append(entry)
            return Accepted(entry)

    async def post_comment(
        self, proposal_id: str, author_id: str, body: str, now: datetime
    ) -> Comment | CommentRefusal:
        async with self._engine.begin() as connection:
            proposal, roll = await self._load(VotingRepository(connection), proposal_id)
            refusal = check_comment(proposal, roll, author_id, body, now)
            if refusal is not None:
                return refusal
            return await CommentRepository(connection).add(proposal_id, author_id, body, now)

    async def comments(self, proposal_id: str, moderator: bool) -> list[Comment]:
        async with self._engine.connect() as connection:
            await self._load(VotingRepository(connection), proposal_id)
            found = await CommentRepository(connection).for_proposal(proposal_id)
        return [as_seen_by(comment, moderator) for comment in found]

    async def hide_comment(self, proposal_id: str, comment_id: int, by: str, reason: str) -> bool:
        async with self._engine.begin() as connection:
            return await CommentRepository(connection).hide(proposal_id, comment_id, by, reason)

    async def turnout(self, proposal_id: str) -> Turnout:
        """Live participation by area and headcount, while voting is open."""
        async with self._engine.connect() as connection:
            repository = VotingRepository(connection)
            proposal, roll = await self._load(repository, proposal_id)
            recount = recount_from_log(await repository.log(proposal_id), proposal, roll,
                                       await repository.delegations(proposal_id))
        return recount.result.turnout

    async def text(self, proposal_id: str) -> tuple[str, list[dict[str, str]]]:
        async with self._engine.connect() as connection:
            return await VotingRepository(connection).text(proposal_id)

    async def proposal_ids(self, limit: int) -> list[str]:
        async with self._engine.connect() as connection:
            return await VotingRepository(connection).proposal_ids(limit)

    async def delegations(self, proposal_id: str) -> list[Delegation]:
        async with self._engine.connect() as connection:
            return await VotingRepository(connection).delegations(proposal_id)

    async def delegates(self, proposal_id: str) -> set[str]:
        return {delegation.delegate_id for delegation in await self.delegations(proposal_id)}

    async def log(self, proposal_id: str) -> list[LogEntry]:
        """The ballot log as published to those entitled: every entry, in order."""
        async with self._engine.connect() as connection:
            return await VotingRepository(connection).log(proposal_id)

    async def receipt(self, proposal_id: str, code: str) -> ReceiptStatus:
        async with self._engine.connect() as connection:
            return receipt_status(await VotingRepository(connection).log(proposal_id), code)

    async def close(self, proposal_id: str, now: datetime, by: str) -> PublishedResult:
        """Count the log and publish the result with the log's head; once only (again: the same)."""
        async with self._engine.begin() as connection:
            repository = VotingRepository(connection)
            await repository.lock_proposal(proposal_id)
            proposal, roll = await self._load(repository, proposal_id)
            existing = await repository.published(proposal_id)
            if existing is not None:
                return existing
            if now < proposal.closes_at:
                raise StillOpen(proposal_id)
            entries = await repository.log(proposal_id)
            recount = recount_from_log(entries, proposal, roll, await repository.delegations(proposal_id))
            published = PublishedResult(proposal_id, now, chain_head(entries), result_document(recount.result), by)
            await repository.publish(published)
            return published

    async def published(self, proposal_id: str) -> PublishedResult | None:
        async with self._engine.connect() as connection:
            repository = VotingRepository(connection)
            await self._load(repository, proposal_id)
            return await repository.published(proposal_id)

    async def verify(self, proposal_id: str) -> Verification:
        async with self._engine.connect() as connection:
            repository = VotingRepository(connection)
            proposal, roll = await self._load(repository, proposal_id)
            entries = await repository.log(proposal_id)
            delegations = await repository.delegations(proposal_id)
            published = await repository.published(proposal_id)
        recount = recount_from_log(entries, proposal, roll, delegations)
        head = published.head if published else None
        discrepancies = differences(published.result, result_document(recount.result)) if published else []
        return Verification(proposal, len(entries), tuple(verify_chain(entries, head)), recount, published,
                            tuple(discrepancies))

    async def load(self, proposal_id: str) -> tuple[Proposal, VoterRoll]:
        """A proposal and its frozen roll, or :class:`UnknownProposal`."""
        async with self._engine.connect() as connection:
            return await self._load(VotingRepository(connection), proposal_id)

    @staticmethod
    async def _load(repository: VotingRepository, proposal_id: str) -> tuple[Proposal, VoterRoll]:
        proposal = await repository.proposal(proposal_id)
        roll = await repository.roll(proposal_id)
        if proposal is None or roll is None:
            raise UnknownProposal(proposal_id)
        return proposal, roll

