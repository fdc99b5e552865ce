"""The access log (gate events, stored once by gate and event id) and presence (each person's last
movement in or out), with the paged, filtered queries people read them through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from community.access.access_log import AccessLogEntry, LogPage, LogQuery, Movement, Presence, encode_cursor
from community.access.directory import ResidentStatus
from community.access.storage.tables import events, presence, residents, visitor_passes
from devices.contract import AccessMethod, DenialReason, Direction, GateEventKind


class AccessLogRepository:
    """The access log (idempotent by gate and event id) and presence."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, entries: Sequence[AccessLogEntry]) -> list[AccessLogEntry]:
        """Store the entries not stored yet; returns those (a redelivered event is stored once)."""
        fresh: dict[tuple[str, str], AccessLogEntry] = {}
        for entry in entries:
            fresh.setdefault((entry.gate_id, entry.event_id), entry)
        by_gate: dict[str, list[str]] = {}
        for gate_id, event_id in fresh:
            by_gate.setdefault(gate_id, []).append(event_id)
        for gate_id, event_ids in by_gate.items():
            known = await self._connection.execute(select(events.c.event_id).where(
                events.c.gate_id == gate_id, events.c.event_id.in_(event_ids)))
            for (event_id,) in known:
                del fresh[(gate_id, event_id)]
        if fresh:
            await self._connection.execute(events.insert(), [_event_row(entry) for entry in fresh.values()])
        return list(fresh.values())

    async def query(self, query: LogQuery) -> LogPage:
        conditions: list[ColumnElement[bool]] = []
        for column, value in ((events.c.community_id, query.community_id), (events.c.gate_id, query.gate_id),
                              (events.c.door, query.door), (events.c.resident_id, query.resident_id),
                              (events.c.kind, query.kind.value if query.kind else None)):
            if value is not None:
                conditions.append(column == value)
        if query.communities is not None:
            conditions.append(events.c.community_id.in_(sorted(query.communities)))
        if query.visible_to is not None:
            # by subquery, so a household with any number of visitor passes sees all of its visitors' events
            household = select(residents.c.resident_id).where(
                residents.c.unit_id == query.visible_to.unit_id, residents.c.status == ResidentStatus.ACTIVE.value)
            invited = select(visitor_passes.c.pass_id).where(visitor_passes.c.resident_id.in_(household))
            conditions.append(or_(events.c.resident_id.in_(household), events.c.pass_id.in_(invited)))
        if query.since is not None:
            conditions.append(events.c.ts >= query.since)
        if query.until is not None:
            conditions.append(events.c.ts < query.until)
        if query.after is not None:
            ts, gate_id, event_id = query.after
            conditions.append(or_(events.c.ts < ts, and_(events.c.ts == ts, or_(
                events.c.gate_id < gate_id, and_(events.c.gate_id == gate_id, events.c.event_id < event_id)))))
        rows = (await self._connection.execute(
            select(events).where(*conditions)
            .order_by(events.c.ts.desc(), events.c.gate_id.desc(), events.c.event_id.desc())
            .limit(query.limit + 1))).mappings().all()
        entries = tuple(_event(row) for row in rows[:query.limit])
        return LogPage(entries, encode_cursor(entries[-1]) if len(rows) > query.limit else None)

    async def move(self, community_id: str, moved: Movement) -> None:
        """Record a movement unless a newer one of the same person is known."""
        person = (presence.c.community_id == community_id, presence.c.person_kind == moved.person_kind,
                  presence.c.person_id == moved.person_id)
        since = (await self._connection.execute(select(presence.c.since).where(*person))).scalar()
        if since is None:
            await self._connection.execute(presence.insert().values(
                community_id=community_id, person_kind=moved.person_kind, person_id=moved.person_id,
                inside=moved.inside, since=moved.at))
        elif moved.at > since:
            await self._connection.execute(update(presence).where(*person).values(inside=moved.inside, since=moved.at))

    async def presence(self, community_id: str, now: datetime, residents_seen_since: datetime) -> Presence:
        """People inside as of `now`: active residents whose last movement was in, no earlier than
        `residents_seen_since`; visitors whose last movement was in, while their pass has not ended."""
        inside = (presence.c.community_id == community_id, presence.c.inside.is_(True))
        resident_count = (await self._connection.execute(
            select(func.count()).select_from(presence)
            .join(residents, residents.c.resident_id == presence.c.person_id)
            .where(*inside, presence.c.person_kind == "resident", presence.c.since >= residents_seen_since,
                   residents.c.status == ResidentStatus.ACTIVE.value))).scalar_one()
        visitor_count = (await self._connection.execute(
            select(func.count()).select_from(presence)
            .join(visitor_passes, visitor_passes.c.pass_id == presence.c.person_id)
            .where(*inside, presence.c.person_kind == "visitor", visitor_passes.c.valid_to > now,
                   or_(visitor_passes.c.revoked_at.is_(None), visitor_passes.c.revoked_at > now)))).scalar_one()
        return Presence(community_id, int(resident_count), int(visitor_count))


    async def delete_events_before(self, before: datetime) -> int:
        """Delete the gate events that happened before ``before`` (retention); how many."""
        result = await self._connection.execute(delete(events).where(events.c.ts < before))
        return int(result.rowcount or 0)

    async def delete_presence_before(self, before: datetime) -> int:
        """Delete the last movements older than ``before`` (retention): a resident seen that long ago counts as
        outside already, a visitor's pass has long ended; how many."""
        result = await self._connection.execute(delete(presence).where(presence.c.since < before))
        return int(result.rowcount or 0)


def _event_row(entry: AccessLogEntry) -> dict[str, Any]:
    return {
        "gate_id": entry.gate_id, "event_id": entry.event_id, "community_id": entry.community_id, "ts": entry.ts,
        "received_at": entry.received_at, "door": entry.door, "kind": entry.kind.value,
        "method": entry.method.value if entry.method else None, "credential_hash": entry.credential_hash,
        "resident_id": entry.resident_id, "pass_id": entry.pass_id,
        "direction": entry.direction.value if entry.direction else None,
        "reason": entry.reason.value if entry.reason else None, "offline": entry.offline,
    }


def _event(row: Any) -> AccessLogEntry:
    return AccessLogEntry(
        row["gate_id"], row["event_id"], row["community_id"], row["ts"], row["received_at"], row["door"],
        GateEventKind(row["kind"]), AccessMethod(row["method"]) if row["method"] else None, row["credential_hash"],
        row["resident_id"], row["pass_id"], Direction(row["direction"]) if row["direction"] else None,
        DenialReason(row["reason"]) if row["reason"] else None, row["offline"])
