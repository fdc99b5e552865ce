"""Voting use cases: each opens one transaction, loads what the domain needs, lets the domain
decide, and stores the outcome. The rules live in tally.py and audit.py, not here.

A proposal's roll is either given when it is opened, or frozen from a community's ownership
register **when voting opens**: at creation when it opens now or opened already, otherwise by
:meth:`VotingService.tick` (called every couple of seconds) or by the first ballot, whichever comes
first. Either way the roll is the register *as it stood at the opening time* (the register keeps its
history), so it does not depend on how late the tick runs, and two freezes racing write one roll.

Ballots and delegations are both entries of the proposal's hash-chained log, appended under the
proposal's lock after the domain has checked them against the log so far; the log's first entry
points at the roll digest. Verification and the downloadable record are the same pure check
(:mod:`community.voting.verification`) over what is stored.

Every proposal belongs to a community (:attr:`ProposalState.community_id`). Whose scope holds it — who may see it
and act on it — is the web layer's to check (``web.py``, ``pages.py``); the use cases take ids.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from community.ownership.service import CommunityTest, UnknownCommunity, anywhere
from community.ownership.storage import OwnershipRepository
from community.voting.audit import (
    GENESIS_HASH,
    ChainEntry,
    LogEntry,
    PaperEntry,
    ReceiptStatus,
    append_delegation,
    append_entry,
    append_paper,
    ballot_entries,
    receipt_status,
    replay,
    roll_digest,
)
from community.voting.breakdown import Breakdown, breakdown
from community.voting.deliberation import Comment, CommentRefusal, as_seen_by, check_comment
from community.voting.notice import (
    LEGAL_MINIMUM_DAYS,
    CommunityDaysRefused,
    NoticePeriod,
    NoticeTooShort,
    community_days_refusal,
    notice_refusal,
)
from community.voting.paper_entry import PaperReading, TypedEntry, decide
from community.voting.participation import Phase, units_of
from community.voting.publication import PublishedResult, result_document
from community.voting.register_roll import RollProblem, roll_from_register, roll_problems
from community.voting.storage import (
    CommentRepository,
    CommunityNoticeRepository,
    DelegationExists,
    LogConflict,
    PaperRepository,
    RollState,
    StoredNoticeDays,
    StoredPaperEntry,
    VotingRepository,
)
from community.voting.tally import (
    Ballot,
    BallotBox,
    BallotChoice,
    BallotRefusal,
    Delegation,
    Proposal,
    Turnout,
    VoterRoll,
)
from community.voting.verification import Verification, VoteRecord, verify_record
from community.voting.vote_notice_check import VoteNotices
from notifications.outbox import Outbox

log = logging.getLogger(__name__)

ResultHook = Callable[[AsyncConnection, PublishedResult], Awaitable[None]]
"""Work done in the transaction that publishes a result (:meth:`VotingService.after_result`)."""

CAST_ATTEMPTS = 5  # concurrent ballots race for the next log sequence number; the loser re-reads
FREEZES_PER_TICK = 50
"""Rolls frozen by one tick at most; the next tick takes the rest."""
CLOSES_PER_TICK = 20
"""Results counted and published by one tick at most (each recounts its whole log); the next tick takes the rest."""
AUTOMATIC_CLOSE = "system:deadline"
"""`published_by` of a result the tick published at the deadline (a person's id when closed by hand)."""


class UnknownProposal(Exception):
    pass


class RollNotFrozen(Exception):
    """The proposal has no frozen roll: voting has not opened yet, or the register gave no roll (see
    ``state.problem``)."""

    def __init__(self, proposal_id: str, state: RollState) -> None:
        super().__init__(proposal_id)
        self.state = state


class ProposalExists(Exception):
    pass


class StillOpen(Exception):
    """A result is published only once voting has closed."""


class NoticeRefused(Exception):
    """Voting would open sooner after its notice than the notice period allows (nothing was recorded)."""

    def __init__(self, refusal: NoticeTooShort) -> None:
        super().__init__(refusal.message_en)
        self.refusal = refusal


@dataclass(frozen=True)
class CommunityNotice:
    """A community's notice period: the installation's minimum and its own (when it set one), by whom and when."""

    community_id: str
    period: NoticePeriod
    stored: StoredNoticeDays | None = None


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
class PaperOutcome:
    """What became of one entry of a paper ballot: ``pending`` (the first entry: waits for a second member's),
    ``held`` (it disagrees with the unit's other entries on `disagreeing`: held for review), ``confirmed`` (it agrees
    with another member's: `log_entry` is the paper ballot in the log; its ``supersedes`` flags an online ballot it
    replaced) or ``refused`` (`refusal` says why; nothing kept)."""

    status: str
    entry_id: int | None = None
    disagreeing: tuple[str, ...] = ()
    log_entry: PaperEntry | None = None
    refusal: BallotRefusal | None = None


@dataclass(frozen=True)
class ProposalState:
    """A proposal with its roll when frozen; before that, where the roll will come from and — for a roll from the
    register — the roll the register gives now (`preview`: who takes part in the deliberation, and what the
    property office should check before voting opens)."""

    proposal: Proposal
    roll: VoterRoll | None
    roll_state: RollState
    preview: VoterRoll | None = None
    preview_problem: str | None = None
    community_id: str | None = None
    """The community the proposal belongs to (whose accounts may see it); None: an old one only administrators see."""
    notice_published_at: datetime | None = None
    """When its notice was published (None: created before notices were recorded)."""

    @property
    def voters_roll(self) -> VoterRoll | None:
        """The frozen roll, else the register's roll as it stands now."""
        return self.roll if self.roll is not None else self.preview

    def is_owner(self, subject: str) -> bool:
        roll = self.voters_roll
        return roll is not None and any(subject in unit.owner_ids for unit in roll.units)

    @cached_property
    def roll_problems(self) -> tuple[RollProblem, ...]:
        """The frozen roll's units without a recorded owner (and those an old roll left off)."""
        return roll_problems(self.roll, self.roll_state.left_off) if self.roll is not None else self.roll_state.left_off

    @cached_property
    def preview_problems(self) -> tuple[RollProblem, ...]:
        return roll_problems(self.preview) if self.preview is not None else ()

    @cached_property
    def roll_digest(self) -> str | None:
        """Where the proposal's log begins: the digest of its terms and frozen roll (None until frozen)."""
        return roll_digest(self.proposal, self.roll) if self.roll is not None else None


@dataclass(frozen=True)
class _OpenLog:
    """A proposal's log replayed into a ballot box, inside the transaction that will append to it."""

    box: BallotBox
    chain: list[ChainEntry]
    genesis: str
    anchored: bool

    @property
    def tail(self) -> ChainEntry | None:
        return self.chain[-1] if self.chain else None


class VotingService:
    def __init__(self, engine: AsyncEngine, *, notice: timedelta = timedelta(days=LEGAL_MINIMUM_DAYS),
                 outbox: Outbox | None = None) -> None:
        """`notice`: the shortest time between a proposal's notice (its creation) and the opening of its voting —
        SC_VOTING_NOTICE_DAYS, 15 days by law (see :mod:`community.voting.notice`); 0 for test installations.
        `outbox`: where the owners' notifications are recorded (None: nobody is notified)."""
        self._engine = engine
        self.notice = notice
        self.notices = VoteNotices(outbox)
        """The owners' vote and meeting notices (the meetings record theirs through it)."""
        self._result_hooks: list[ResultHook] = []

    def after_result(self, hook: ResultHook) -> None:
        """Have `hook` run in the transaction that publishes a result, after it is written: once per result, as a
        result is published once (the meetings bind it to minutes published before the vote closed)."""
        self._result_hooks.append(hook)

    async def _check_notice(self, connection: AsyncConnection, proposal: Proposal, published_at: datetime,
                            community_id: str | None) -> None:
        period = await self._notice_period(connection, community_id)
        refusal = notice_refusal(published_at, proposal.opens_at, period)
        if refusal is not None:
            raise NoticeRefused(refusal)

    async def _notice_period(self, connection: AsyncConnection, community_id: str | None) -> NoticePeriod:
        stored = None if community_id is None else await CommunityNoticeRepository(connection).get(community_id)
        return NoticePeriod(self.notice, None if stored is None else stored.days)

    async def notice_period(self, community_id: str | None) -> NoticePeriod:
        """The notice `community_id`'s votes and meetings need: the longer of the installation's minimum and the
        community's own period (see :mod:`community.voting.notice`); None: the installation's."""
        async with self._engine.connect() as connection:
            return await self._notice_period(connection, community_id)

    async def community_notice(self, community_id: str, within: CommunityTest = anywhere) -> CommunityNotice:
        """The community's notice period: :class:`UnknownCommunity` when there is no such community or it is not
        `within` the caller's scope (one answer for both)."""
        async with self._engine.connect() as connection:
            if not await self._community_within(connection, community_id, within):
                raise UnknownCommunity(community_id)
            stored = await CommunityNoticeRepository(connection).get(community_id)
        return CommunityNotice(community_id, NoticePeriod(self.notice, None if stored is None else stored.days),
                               stored)

    async def set_community_notice(self, community_id: str, days: int, *, by: str, now: datetime,
                                   within: CommunityTest = anywhere) -> CommunityNotice | CommunityDaysRefused:
        """Set the community's own notice period (its rules of procedure): refused, and nothing changed, below the
        installation's minimum or above the bound (:func:`notice.community_days_refusal`); :class:`UnknownCommunity`
        as for :meth:`community_notice` — checked first, so a refusal tells nothing of another's community."""
        async with self._engine.connect() as connection:
            if not await self._community_within(connection, community_id, within):
                raise UnknownCommunity(community_id)
        refusal = community_days_refusal(days, self.notice)
        if refusal is not None:
            return refusal
        for attempt in range(2):  # two first settings racing: the loser's insert fails, and it updates instead
            try:
                async with self._engine.begin() as connection:
                    await CommunityNoticeRepository(connection).set(community_id, days, by, now)
                break
            except IntegrityError:
                if attempt:
                    raise
        log.info("community notice period set", extra={"community_id": community_id, "notice_days": days, "by": by})
        return await self.community_notice(community_id)

    async def open_proposal(
        self, proposal: Proposal, roll: VoterRoll, *, body: str, created_by: str, now: datetime,
        attachments: list[dict[str, str]] | None = None, community_id: str | None = None,
        within: CommunityTest = anywhere,
    ) -> None:
        """Record a proposal of `community_id` with its voter roll, frozen as it is now, and its notice published at
        `now`: :class:`NoticeRefused` when voting opens sooner than the community's notice period allows (the longer
        of the installation's and the community's own, :meth:`notice_period`),
        :class:`UnknownCommunity` when the access register has no such community, or it is not `within` (the
        caller's scope). The roll's units are taken as given: a roll given by hand may name units the access
        register does not know. Without a community, only administrators see the proposal."""
        try:
            async with self._engine.begin() as connection:
                if community_id is not None and not await self._community_within(connection, community_id, within):
                    raise UnknownCommunity(community_id)
                await self._check_notice(connection, proposal, now, community_id)
                await VotingRepository(connection).add_proposal(proposal, roll, body=body, created_by=created_by,
                                                                attachments=attachments, community_id=community_id,
                                                                notice_published_at=now)
        except IntegrityError:
            raise ProposalExists(proposal.proposal_id) from None

    async def open_proposal_from_register(
        self, proposal: Proposal, community_id: str, *, body: str, created_by: str, now: datetime,
        attachments: list[dict[str, str]] | None = None, within: CommunityTest = anywhere,
    ) -> RollState:
        """Record a proposal of `community_id` whose roll is frozen from its ownership register when voting opens: now,
        when it opens now or opened already (ValueError, and nothing recorded, when the register gives no roll);
        otherwise later, by :meth:`tick`. Its notice is published at `now`: :class:`NoticeRefused` and
        :class:`UnknownCommunity` as for :meth:`open_proposal`."""
        try:
            async with self._engine.begin() as connection:
                if not await self._community_within(connection, community_id, within):
                    raise UnknownCommunity(community_id)
                await self._check_notice(connection, proposal, now, community_id)
                repository = VotingRepository(connection)
                await repository.add_register_proposal(proposal, community_id, body=body, created_by=created_by,
                                                       attachments=attachments, notice_published_at=now)
                state = await self._roll_state(repository, proposal.proposal_id)
                if proposal.opens_at <= now:
                    await self._freeze(connection, proposal.proposal_id, state, now)
                    state = await self._roll_state(repository, proposal.proposal_id)
        except IntegrityError:
            raise ProposalExists(proposal.proposal_id) from None
        return state

    @staticmethod
    async def _community_within(connection: AsyncConnection, community_id: str, within: CommunityTest) -> bool:
        # one answer for a community that does not exist and one outside the caller's scope: nothing is told
        return within(community_id) and await OwnershipRepository(connection).community_exists(community_id)

    async def tick(self, now: datetime) -> None:
        """Periodic work: freeze the rolls of the proposals whose voting has opened by `now`, and count and publish
        the result of those whose voting has closed (with the log's head, as :meth:`close`).

        Both are read from the database each time, so a tick after a restart or an outage finds what is due, and both
        are idempotent under the proposal's lock: a tick racing another tick or a manual close publishes once."""
        async with self._engine.connect() as connection:
            due = await VotingRepository(connection).awaiting_roll(now, FREEZES_PER_TICK)
        for proposal_id in due:
            await self.freeze_roll(proposal_id, now)
        async with self._engine.connect() as connection:  # after freezing: a vote may open and close unseen
            closing = await VotingRepository(connection).awaiting_result(now, CLOSES_PER_TICK)
        for proposal_id in closing:
            published = await self.close(proposal_id, now, AUTOMATIC_CLOSE)
            log.info("voting closed and result published", extra={
                "proposal_id": proposal_id, "chain_length": published.head.length,
                "chain_head": published.head.head_hash, "by": published.published_by})
        await self.notify_phases(now)

    async def notify_phases(self, now: datetime) -> int:
        """Tell the owners of the votes that opened, or close within a day, by `now` (once per vote and phase)."""
        async with self._engine.begin() as connection:
            return await self.notices.due(connection, now)

    async def freeze_roll(self, proposal_id: str, now: datetime) -> RollState:
        """Freeze the proposal's roll from the register if voting has opened by `now` and it has none yet.
        Idempotent; concurrent callers queue on the proposal's lock and the later ones find it frozen."""
        async with self._engine.begin() as connection:
            repository = VotingRepository(connection)
            await repository.lock_proposal(proposal_id)
            proposal = await repository.proposal(proposal_id)
            if proposal is None:
                raise UnknownProposal(proposal_id)
            await self._freeze_if_due(connection, proposal, await self._roll_state(repository, proposal_id), now)
            return await self._roll_state(repository, proposal_id)

    async def _freeze_if_due(self, connection: AsyncConnection, proposal: Proposal, state: RollState,
                             now: datetime) -> None:
        if state.is_frozen or not state.from_register or state.problem is not None or now < proposal.opens_at:
            return
        try:
            await self._freeze(connection, proposal.proposal_id, state, now)
        except ValueError as problem:  # the register as it stood at the opening gives no roll; it never will
            await VotingRepository(connection).record_roll_problem(proposal.proposal_id, str(problem))
            log.warning("voting roll could not be frozen", extra={"proposal_id": proposal.proposal_id,
                                                                   "community_id": state.community_id,
                                                                   "problem": str(problem)})

    @staticmethod
    async def _freeze(connection: AsyncConnection, proposal_id: str, state: RollState, now: datetime) -> None:
        """Write the roll of the register as it stood at ``state.frozen_at`` (the opening), unless one is written
        already. Raises ValueError when the register gives no roll."""
        if state.community_id is None:
            return
        snapshot = await OwnershipRepository(connection).snapshot(state.community_id, state.frozen_at)
        roll = roll_from_register(snapshot, state.frozen_at)
        if await VotingRepository(connection).write_register_roll(proposal_id, roll, now):
            log.info("voting roll frozen", extra={
                "proposal_id": proposal_id, "community_id": state.community_id, "units": len(roll.units),
                "without_owner": len(roll_problems(roll)), "frozen_at": state.frozen_at.isoformat()})

    async def state(self, proposal_id: str, now: datetime) -> ProposalState:
        """The proposal with its roll, or — not frozen yet — where the roll comes from and what the register gives
        at `now`; :class:`UnknownProposal` when there is no such proposal."""
        async with self._engine.connect() as connection:
            repository = VotingRepository(connection)
            proposal = await repository.proposal(proposal_id)
            if proposal is None:
                raise UnknownProposal(proposal_id)
            roll_state = await self._roll_state(repository, proposal_id)
            community_id = await repository.community_of(proposal_id)
            notice = await repository.notice_published_at(proposal_id)
            roll = await repository.roll(proposal_id)
            if roll is not None or roll_state.community_id is None:
                return ProposalState(proposal, roll, roll_state, community_id=community_id,
                                     notice_published_at=notice)
            snapshot = await OwnershipRepository(connection).snapshot(roll_state.community_id, now)
        try:
            return ProposalState(proposal, None, roll_state, roll_from_register(snapshot, now),
                                 community_id=community_id, notice_published_at=notice)
        except ValueError as problem:
            return ProposalState(proposal, None, roll_state, preview_problem=str(problem), community_id=community_id,
                                 notice_published_at=notice)

    async def register_roll(self, community_id: str, at: datetime) -> VoterRoll:
        """The roll `community_id`'s ownership register gives as it stood `at`; ValueError when it gives none."""
        async with self._engine.connect() as connection:
            snapshot = await OwnershipRepository(connection).snapshot(community_id, at)
        return roll_from_register(snapshot, at)

    async def record_delegation(self, delegation: Delegation, now: datetime) -> Refused | None:
        """Check the delegation by the rule the ballots are checked by (:func:`tally.check_delegation`) against the
        log so far; when accepted, append it to the log and put it on record (None), else say why not."""
        for _ in range(CAST_ATTEMPTS):
            try:
                return await self._delegate_once(delegation, now)
            except LogConflict:
                continue
        raise LogConflict(f"{CAST_ATTEMPTS} concurrent writers beat this delegation; try again")

    async def _delegate_once(self, delegation: Delegation, now: datetime) -> Refused | None:
        async with self._engine.begin() as connection:
            repository = VotingRepository(connection)
            opened = await self._open_log(connection, delegation.proposal_id, now)
            if opened is None:
                return Refused(BallotRefusal.ROLL_NOT_FROZEN)
            refusal = opened.box.delegate(delegation, now)
            if refusal is not None:
                return Refused(refusal)
            try:
                await repository.add_delegation(delegation, now)
            except DelegationExists:  # on record beside the log only (see verify): still, not twice
                return Refused(BallotRefusal.DELEGATION_EXISTS)
            if opened.anchored:
                await repository.append(append_delegation(opened.tail, delegation, now, genesis=opened.genesis))
            return None

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
            opened = await self._open_log(connection, ballot.proposal_id, now)
            if opened is None:
                return Refused(BallotRefusal.ROLL_NOT_FROZEN)
            refusal = opened.box.cast(ballot, now)
            if refusal is not None:
                return Refused(refusal)
            entry = append_entry(opened.tail, ballot, now, genesis=opened.genesis)
            await VotingRepository(connection).append(entry)
            return Accepted(entry)

    async def cast_for_all(self, proposal_id: str, voter_id: str, choice: BallotChoice,
                           now: datetime) -> list[Accepted] | Refused | list[tuple[str, BallotRefusal]]:
        """One submission for every unit `voter_id` may vote for on the proposal — their own units and those they
        hold a delegation for (:func:`participation.units_of`), those someone else speaks for left out — each cast
        and logged as a unit ballot of its own, in roll order, in one transaction: all are recorded or none. The
        accepted entries; :class:`Refused` when there is no unit to vote for (or no frozen roll); the units the rules
        refuse with why (nothing recorded)."""
        for _ in range(CAST_ATTEMPTS):
            try:
                return await self._cast_for_all_once(proposal_id, voter_id, choice, now)
            except LogConflict:
                continue
        raise LogConflict(f"{CAST_ATTEMPTS} concurrent writers beat these ballots; try again")

    async def _cast_for_all_once(self, proposal_id: str, voter_id: str, choice: BallotChoice,
                                 now: datetime) -> list[Accepted] | Refused | list[tuple[str, BallotRefusal]]:
        async with self._engine.begin() as connection:
            opened = await self._open_log(connection, proposal_id, now)
            if opened is None:
                return Refused(BallotRefusal.ROLL_NOT_FROZEN)
            mine = [unit for unit in units_of(voter_id, opened.box.roll, opened.box.delegations,
                                              ballot_entries(opened.chain)) if unit.blocked_by is None]
            if not mine:
                return Refused(BallotRefusal.NOT_AN_OWNER)
            refused: list[tuple[str, BallotRefusal]] = []
            ballots = [Ballot(proposal_id, unit.unit.unit_id, voter_id, unit.capacity, choice) for unit in mine]
            for ballot in ballots:
                refusal = opened.box.cast(ballot, now)
                if refusal is not None:
                    refused.append((ballot.unit_id, refusal))
            if refused:
                return refused  # the transaction appends nothing: all or none
            accepted: list[Accepted] = []
            tail = opened.tail
            for ballot in ballots:
                entry = append_entry(tail, ballot, now, genesis=opened.genesis)
                await VotingRepository(connection).append(entry)
                accepted.append(Accepted(entry))
                tail = entry
            return accepted

    async def enter_paper(self, proposal_id: str, reading: PaperReading, clerk: str, now: datetime) -> PaperOutcome:
        """One committee member's entry of a paper ballot (see :mod:`community.voting.paper_entry`): kept whatever
        happens; when it agrees with an entry by another member, the paper ballot is checked by the rules
        (:meth:`tally.BallotBox.cast_paper`) and appended to the log, flagged when it replaces an online ballot."""
        for _ in range(CAST_ATTEMPTS):
            try:
                return await self._enter_paper_once(proposal_id, reading, clerk, now)
            except LogConflict:
                continue
        raise LogConflict(f"{CAST_ATTEMPTS} concurrent writers beat this paper ballot; try again")

    async def _enter_paper_once(self, proposal_id: str, reading: PaperReading, clerk: str,
                                now: datetime) -> PaperOutcome:
        async with self._engine.begin() as connection:
            opened = await self._open_log(connection, proposal_id, now)
            if opened is None:
                return PaperOutcome("refused", refusal=BallotRefusal.ROLL_NOT_FROZEN)
            early = opened.box.paper_refusal(reading.unit_id, reading.choice, reading.received_at, now)
            if early is not None:  # nothing to review: the ballot could never count (and a unit off the roll is
                return PaperOutcome("refused", refusal=early)  # not kept against a roll it is not on)
            papers = PaperRepository(connection)
            stored = await papers.open_for_unit(proposal_id, reading.unit_id)
            typed = [TypedEntry(e.entry_id, PaperReading(e.unit_id, e.choice, e.scan_ref, e.received_at), e.entered_by)
                     for e in stored]
            decision = decide(typed, reading, clerk)
            if decision.same_clerk:
                return PaperOutcome("refused", refusal=BallotRefusal.SAME_CLERK)
            if decision.matched is None:
                status = "held" if decision.held else "pending"
                entry_id = await papers.add(proposal_id, reading.unit_id, reading.choice, reading.scan_ref,
                                            reading.received_at, clerk, now, status)
                if decision.held:
                    await papers.mark([e.entry_id for e in typed], "held")
                return PaperOutcome(status, entry_id=entry_id, disagreeing=decision.disagreeing)
            counted = opened.box.counted_ballots.get(reading.unit_id)
            superseded = next((entry.sequence for entry in reversed(ballot_entries(opened.chain))
                               if counted is not None and entry.unit_id == reading.unit_id), None)
            opened.box.cast_paper(reading.unit_id, reading.choice, reading.received_at, now)
            entry = append_paper(opened.tail, proposal_id, reading.unit_id, reading.choice, scan_ref=reading.scan_ref,
                                 received_at=reading.received_at, entered_by=(decision.matched.entered_by, clerk),
                                 supersedes=superseded, now=now, genesis=opened.genesis)
            await VotingRepository(connection).append(entry)
            entry_id = await papers.add(proposal_id, reading.unit_id, reading.choice, reading.scan_ref,
                                        reading.received_at, clerk, now, "confirmed")
            await papers.mark([entry_id, decision.matched.entry_id], "confirmed", entry.sequence)
            await papers.mark([e.entry_id for e in typed if e is not decision.matched], "refused")
            return PaperOutcome("confirmed", entry_id=entry_id, log_entry=entry)

    async def paper_entries(self, proposal_id: str) -> list[StoredPaperEntry]:
        async with self._engine.connect() as connection:
            return await PaperRepository(connection).for_proposal(proposal_id)

    async def _open_log(self, connection: AsyncConnection, proposal_id: str, now: datetime) -> _OpenLog | None:
        """Lock the proposal and replay its log into a ballot box; None when it has no frozen roll (after freezing
        it, if voting has opened by `now`: the first ballot or delegation need not wait for the tick).

        An anchored log holds its delegations; a log begun before migration 0006 takes them from the record."""
        repository = VotingRepository(connection)
        await repository.lock_proposal(proposal_id)
        proposal = await repository.proposal(proposal_id)
        if proposal is None:
            raise UnknownProposal(proposal_id)
        roll = await repository.roll(proposal_id)
        if roll is None:
            await self._freeze_if_due(connection, proposal, await self._roll_state(repository, proposal_id), now)
            roll = await repository.roll(proposal_id)
        if roll is None:
            return None
        anchored = (await self._roll_state(repository, proposal_id)).log_anchored
        chain = await repository.chain(proposal_id)
        box = BallotBox(proposal, roll, () if anchored else await repository.delegations(proposal_id))
        replay(box, chain)
        return _OpenLog(box, chain, roll_digest(proposal, roll) if anchored else GENESIS_HASH, anchored)

    async def post_comment(
        self, proposal_id: str, author_id: str, body: str, now: datetime
    ) -> Comment | CommentRefusal:
        """Owners on the roll comment until close; before a roll from the register is frozen, the owners the
        register lists now."""
        voters = (await self.state(proposal_id, now)).voters_roll
        async with self._engine.begin() as connection:
            proposal = await VotingRepository(connection).proposal(proposal_id)
            if proposal is None:
                raise UnknownProposal(proposal_id)
            refusal = check_comment(proposal, voters, author_id, body, now)
            if refusal is not None:
                return refusal
            return await CommentRepository(connection).add(proposal_id, author_id, body, now)

    async def comments(self, proposal_id: str, moderator: bool) -> list[Comment]:
        async with self._engine.connect() as connection:
            if await VotingRepository(connection).proposal(proposal_id) is None:
                raise UnknownProposal(proposal_id)
            found = await CommentRepository(connection).for_proposal(proposal_id)
        return [as_seen_by(comment, moderator) for comment in found]

    async def hide_comment(self, proposal_id: str, comment_id: int, by: str, reason: str) -> bool:
        async with self._engine.begin() as connection:
            return await CommentRepository(connection).hide(proposal_id, comment_id, by, reason)

    async def turnout(self, proposal_id: str) -> Turnout:
        """Live participation by area and headcount, while voting is open."""
        async with self._engine.connect() as connection:
            record = await self._record(VotingRepository(connection), proposal_id)
        return record.recount().result.turnout

    async def text(self, proposal_id: str) -> tuple[str, list[dict[str, str]]]:
        async with self._engine.connect() as connection:
            return await VotingRepository(connection).text(proposal_id)

    async def proposal_ids(self, limit: int, communities: Collection[str] | None = None, *, offset: int = 0,
                           community_id: str | None = None, phase: tuple[Phase, datetime] | None = None) -> list[str]:
        """The newest proposals first, ``limit`` of them after ``offset``; only those of `communities` when given
        (None: all, those of no community too — an administrator's view), of `community_id` when given, and in a
        phase at a moment (``(Phase.OPEN, now)``) when given."""
        async with self._engine.connect() as connection:
            return await VotingRepository(connection).proposal_ids(limit, communities, offset=offset,
                                                                   community_id=community_id, phase=phase)

    async def communities(self, within: Collection[str] | None = None) -> list[tuple[str, str]]:
        """(id, name) of the communities proposals may be opened for (those of the access register), by name; only
        those ``within`` when given (a person's scope)."""
        async with self._engine.connect() as connection:
            return await VotingRepository(connection).communities(within)

    async def community_exists(self, community_id: str) -> bool:
        async with self._engine.connect() as connection:
            return await OwnershipRepository(connection).community_exists(community_id)

    async def delegations(self, proposal_id: str) -> list[Delegation]:
        """The delegations on record (who is a proxy, for entitlement and the pages; the count takes the log's)."""
        async with self._engine.connect() as connection:
            return await VotingRepository(connection).delegations(proposal_id)

    async def delegates(self, proposal_id: str) -> set[str]:
        return {delegation.delegate_id for delegation in await self.delegations(proposal_id)}

    async def log(self, proposal_id: str) -> list[LogEntry]:
        """The ballots of the log, in order (:meth:`chain` has the delegations between them too)."""
        async with self._engine.connect() as connection:
            return await VotingRepository(connection).log(proposal_id)

    async def chain(self, proposal_id: str) -> list[ChainEntry]:
        """The whole log, ballots and delegations, in order."""
        async with self._engine.connect() as connection:
            return await VotingRepository(connection).chain(proposal_id)

    async def receipt(self, proposal_id: str, code: str) -> ReceiptStatus:
        async with self._engine.connect() as connection:
            return receipt_status(await VotingRepository(connection).log(proposal_id), code)

    async def close(self, proposal_id: str, now: datetime, by: str) -> PublishedResult:
        """Count the log and publish the result with the log's head (and, for an anchored log, the roll digest it
        begins at); once only (again: the same)."""
        async with self._engine.begin() as connection:
            repository = VotingRepository(connection)
            await repository.lock_proposal(proposal_id)
            record = await self._record(repository, proposal_id)
            if record.published is not None:
                return record.published
            if now < record.proposal.closes_at:
                raise StillOpen(proposal_id)
            document = result_document(record.recount().result, record.published_digest)
            published = PublishedResult(proposal_id, now, record.head, document, by)
            await repository.publish(published)
            await self.notices.published(connection, record.proposal, now)
            for hook in self._result_hooks:
                await hook(connection, published)
            return published

    async def published(self, proposal_id: str) -> PublishedResult | None:
        async with self._engine.connect() as connection:
            repository = VotingRepository(connection)
            if await repository.proposal(proposal_id) is None:
                raise UnknownProposal(proposal_id)
            return await repository.published(proposal_id)

    async def breakdown(self, proposal_id: str) -> Breakdown | None:
        """Agree, oppose, abstain and not voted by area and heads, the criteria with their margins and the split
        owners, recounted from the log (:mod:`community.voting.breakdown`); None for an election.
        :class:`RollNotFrozen` before there is a roll."""
        record = await self.record(proposal_id)
        if record.proposal.election is not None:
            return None
        return breakdown(record.proposal, record.roll, record.counted_ballots())

    async def verify(self, proposal_id: str) -> Verification:
        """The checks anyone entitled can run (see :func:`verification.verify_record`) over what is stored."""
        return verify_record(await self.record(proposal_id))

    async def record(self, proposal_id: str) -> VoteRecord:
        """Everything a recount needs, as stored: what entitled people download and verify themselves.
        :class:`UnknownProposal`, or :class:`RollNotFrozen` before there is anything to recount."""
        async with self._engine.connect() as connection:
            return await self._record(VotingRepository(connection), proposal_id)

    @classmethod
    async def _record(cls, repository: VotingRepository, proposal_id: str) -> VoteRecord:
        proposal, roll = await cls._load(repository, proposal_id)
        return VoteRecord(proposal, roll, tuple(await repository.chain(proposal_id)),
                          tuple(await repository.delegations(proposal_id)), await repository.published(proposal_id),
                          (await cls._roll_state(repository, proposal_id)).log_anchored)

    async def load(self, proposal_id: str) -> tuple[Proposal, VoterRoll]:
        """A proposal and its frozen roll: :class:`UnknownProposal`, or :class:`RollNotFrozen` when it has none
        yet (see :meth:`state`)."""
        async with self._engine.connect() as connection:
            return await self._load(VotingRepository(connection), proposal_id)

    @classmethod
    async def _load(cls, repository: VotingRepository, proposal_id: str) -> tuple[Proposal, VoterRoll]:
        proposal = await repository.proposal(proposal_id)
        if proposal is None:
            raise UnknownProposal(proposal_id)
        roll = await repository.roll(proposal_id)
        if roll is None:
            raise RollNotFrozen(proposal_id, await cls._roll_state(repository, proposal_id))
        return proposal, roll

    @staticmethod
    async def _roll_state(repository: VotingRepository, proposal_id: str) -> RollState:
        state = await repository.roll_state(proposal_id)
        if state is None:
            raise UnknownProposal(proposal_id)
        return state
