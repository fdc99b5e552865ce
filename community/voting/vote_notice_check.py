"""The vote notices recorded in the outbox (issue 14): "opened" and "closing in 24 h" by the voting tick, once per
vote and phase (the outbox's once-keys: a restart repeats nothing), "published" in the transaction that publishes
the result, and a meeting's notice in the transaction that publishes it. Only votes of a community (an old proposal
without one has no owners to tell). Without an outbox (tests of the voting alone) nothing is recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.storage.tables import communities
from community.voting.meetings import Meeting
from community.voting.storage import proposals
from community.voting.tally import Proposal
from community.voting.vote_notices import (
    VotePhase,
    due_phases,
    meeting_notice_event,
    meeting_once_key,
    once_key,
    vote_event,
)
from notifications.outbox import Outbox

OPEN_VOTES_PER_TICK: Final = 200
"""Open votes looked at per tick, those closing first first; the next tick takes the rest."""


class VoteNotices:
    def __init__(self, outbox: Outbox | None) -> None:
        self._outbox = outbox

    async def due(self, connection: AsyncConnection, now: datetime) -> int:
        """Record the opened/closing notices due at ``now`` not recorded before; how many."""
        if self._outbox is None:
            return 0
        rows = (await connection.execute(
            select(proposals.c.proposal_id, proposals.c.title, proposals.c.opens_at, proposals.c.closes_at,
                   proposals.c.community_id, communities.c.name)
            .join(communities, communities.c.community_id == proposals.c.community_id)
            .where(proposals.c.opens_at <= now, proposals.c.closes_at > now, proposals.c.roll_built_at.is_not(None))
            .order_by(proposals.c.closes_at, proposals.c.proposal_id).limit(OPEN_VOTES_PER_TICK))).all()
        wanted = {once_key(row.proposal_id, phase): (row, phase) for row in rows
                  for phase in due_phases(row.opens_at, row.closes_at, now)}
        if not wanted:
            return 0
        done = await self._outbox.recorded_once(connection, wanted)
        told = 0
        for key, (row, phase) in wanted.items():
            if key in done:
                continue
            event = vote_event(phase, row.proposal_id, row.title, row.community_id, row.name, row.closes_at, now)
            told += await self._outbox.add_once(connection, key, event) is not None
        return told

    async def published(self, connection: AsyncConnection, proposal: Proposal, now: datetime) -> None:
        """In the transaction that publishes ``proposal``'s result."""
        if self._outbox is None:
            return
        found = (await connection.execute(
            select(proposals.c.community_id, communities.c.name)
            .join(communities, communities.c.community_id == proposals.c.community_id)
            .where(proposals.c.proposal_id == proposal.proposal_id))).first()
        if found is None:
            return
        event = vote_event(VotePhase.PUBLISHED, proposal.proposal_id, proposal.title, found.community_id, found.name,
                           proposal.closes_at, now)
        await self._outbox.add_once(connection, once_key(proposal.proposal_id, VotePhase.PUBLISHED), event)

    async def meeting_notice(self, connection: AsyncConnection, meeting: Meeting, now: datetime) -> None:
        """In the transaction that publishes ``meeting``'s notice: its community's owners are told, once."""
        if self._outbox is None:
            return
        name = (await connection.execute(select(communities.c.name).where(
            communities.c.community_id == meeting.community_id))).scalar_one_or_none() or meeting.community_id
        event = meeting_notice_event(meeting.meeting_id, meeting.title, meeting.kind.label_zh, meeting.community_id,
                                     name, meeting.starts_at, meeting.place, now)
        await self._outbox.add_once(connection, meeting_once_key(meeting.meeting_id), event)
