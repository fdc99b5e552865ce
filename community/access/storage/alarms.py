"""Alarms as raised and handled: stored once by alarm id, numbered by the database, updated as they are
acknowledged, resolved or repeat.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.alarms import Alarm, AlarmKind, AlarmStatus
from community.access.storage.tables import alarms


class AlarmRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, community_id: str, alarm: Alarm) -> int:
        """Store a raised alarm; an alarm already stored (same id) is kept as it is. Returns its number."""
        existing = await self.number_of(alarm.alarm_id)
        if existing is not None:
            return existing
        result = await self._connection.execute(alarms.insert().values(community_id=community_id,
                                                                       **_alarm_values(alarm)))
        key = result.inserted_primary_key
        if key is None:
            raise RuntimeError("the database returned no number for the new alarm")
        return int(key[0])

    async def update(self, alarm: Alarm) -> None:
        await self._connection.execute(
            update(alarms).where(alarms.c.alarm_id == alarm.alarm_id).values(**_alarm_values(alarm)))

    async def number_of(self, alarm_id: str) -> int | None:
        return (await self._connection.execute(select(alarms.c.number).where(alarms.c.alarm_id == alarm_id))).scalar()

    async def find(self, alarm_id: str) -> tuple[int, Alarm] | None:
        row = (await self._connection.execute(select(alarms).where(alarms.c.alarm_id == alarm_id))).mappings().first()
        return None if row is None else (row["number"], _alarm(row))

    async def get(self, number: int) -> tuple[str, Alarm] | None:
        row = (await self._connection.execute(select(alarms).where(alarms.c.number == number))).mappings().first()
        return None if row is None else (row["community_id"], _alarm(row))

    async def unresolved(self) -> list[Alarm]:
        rows = await self._connection.execute(select(alarms).where(alarms.c.status != AlarmStatus.RESOLVED.value)
                                              .order_by(alarms.c.raised_at, alarms.c.number))
        return [_alarm(row) for row in rows.mappings()]

    async def listed(self, community_id: str, *, status: AlarmStatus | None = None, gate_id: str | None = None,
                     kind: AlarmKind | None = None, limit: int = 100) -> list[tuple[int, Alarm]]:
        query = select(alarms).where(alarms.c.community_id == community_id)
        if status is not None:
            query = query.where(alarms.c.status == status.value)
        if gate_id is not None:
            query = query.where(alarms.c.gate_id == gate_id)
        if kind is not None:
            query = query.where(alarms.c.kind == kind.value)
        rows = await self._connection.execute(query.order_by(alarms.c.raised_at.desc(), alarms.c.number.desc())
                                              .limit(limit))
        return [(row["number"], _alarm(row)) for row in rows.mappings()]


    async def delete_resolved_before(self, before: datetime) -> int:
        """Delete the alarms resolved before ``before`` (retention); open and acknowledged ones stay; how many."""
        result = await self._connection.execute(delete(alarms).where(
            alarms.c.status == AlarmStatus.RESOLVED.value, alarms.c.resolved_at < before))
        return int(result.rowcount or 0)


def _alarm_values(alarm: Alarm) -> dict[str, Any]:
    return {
        "alarm_id": alarm.alarm_id, "kind": alarm.kind.value, "gate_id": alarm.gate_id, "door": alarm.door,
        "raised_at": alarm.raised_at, "status": alarm.status.value, "occurrences": alarm.occurrences,
        "acknowledged_by": alarm.acknowledged_by, "acknowledged_at": alarm.acknowledged_at,
        "acknowledge_note": alarm.acknowledge_note, "resolved_by": alarm.resolved_by,
        "resolved_at": alarm.resolved_at, "resolve_note": alarm.resolve_note,
    }


def _alarm(row: Any) -> Alarm:
    return Alarm(row["alarm_id"], AlarmKind(row["kind"]), row["gate_id"], row["door"], row["raised_at"],
                 AlarmStatus(row["status"]), row["occurrences"], row["acknowledged_by"], row["acknowledged_at"],
                 row["acknowledge_note"], row["resolved_by"], row["resolved_at"], row["resolve_note"])
