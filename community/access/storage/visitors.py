"""Visitor passes as issued (signed pass, keyed hash of its credential, visitor's phone), their uses
and revocations, and the passes the gates must refuse (revoked or spent, not expired yet).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.permissions import Door
from community.access.storage.tables import buildings, residents, units, visitor_passes
from community.access.visitor_pass import VisitorPass
from community.access.visitors import VisitorPassRecord


class VisitorRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, record: VisitorPassRecord) -> None:
        visit = record.visitor_pass
        await self._connection.execute(visitor_passes.insert().values(
            pass_id=visit.pass_id, resident_id=visit.resident_id, value_hash=record.value_hash,
            visitor_name=visit.visitor_name, visitor_phone=record.visitor_phone,
            doors=[[door.gate_id, door.number] for door in sorted(visit.doors)], valid_from=visit.valid_from,
            valid_to=visit.valid_to, max_uses=visit.max_uses, uses=record.uses, issued_at=record.issued_at,
            revoked_at=record.revoked_at, revoked_by=record.revoked_by))

    async def get(self, pass_id: str) -> VisitorPassRecord | None:
        row = (await self._connection.execute(
            select(visitor_passes).where(visitor_passes.c.pass_id == pass_id))).mappings().first()
        return None if row is None else _visitor_pass(row)

    async def by_hashes(self, hashes: Iterable[str]) -> dict[str, VisitorPassRecord]:
        wanted = sorted(set(hashes))
        if not wanted:
            return {}
        rows = await self._connection.execute(select(visitor_passes).where(visitor_passes.c.value_hash.in_(wanted)))
        return {row["value_hash"]: _visitor_pass(row) for row in rows.mappings()}

    async def listed(self, *, community_id: str | None = None, resident_ids: Iterable[str] | None = None,
                     limit: int = 200) -> list[VisitorPassRecord]:
        query = select(visitor_passes).order_by(visitor_passes.c.issued_at.desc(), visitor_passes.c.pass_id)
        if resident_ids is not None:
            query = query.where(visitor_passes.c.resident_id.in_(sorted(set(resident_ids))))
        if community_id is not None:
            query = (query.join(residents, visitor_passes.c.resident_id == residents.c.resident_id)
                     .join(units, residents.c.unit_id == units.c.unit_id)
                     .join(buildings, units.c.building_id == buildings.c.building_id)
                     .where(buildings.c.community_id == community_id))
        rows = await self._connection.execute(query.limit(limit))
        return [_visitor_pass(row) for row in rows.mappings()]

    async def to_blacklist(self, community_id: str, now: datetime) -> list[VisitorPassRecord]:
        """Passes of the community that gates must refuse now: revoked or spent, not expired yet."""
        rows = await self._connection.execute(
            select(visitor_passes).join(residents, visitor_passes.c.resident_id == residents.c.resident_id)
            .join(units, residents.c.unit_id == units.c.unit_id)
            .join(buildings, units.c.building_id == buildings.c.building_id)
            .where(buildings.c.community_id == community_id, visitor_passes.c.valid_to > now,
                   or_(visitor_passes.c.revoked_at.is_not(None),
                       visitor_passes.c.uses >= visitor_passes.c.max_uses)))
        return [_visitor_pass(row) for row in rows.mappings()]

    async def live_of(self, resident_id: str, now: datetime) -> list[VisitorPassRecord]:
        """The resident's passes that may still be active at `now`: not revoked, not expired, uses left."""
        rows = await self._connection.execute(
            select(visitor_passes).where(visitor_passes.c.resident_id == resident_id,
                                         visitor_passes.c.revoked_at.is_(None), visitor_passes.c.valid_to > now,
                                         visitor_passes.c.uses < visitor_passes.c.max_uses))
        return [_visitor_pass(row) for row in rows.mappings()]

    async def live(self, community_id: str, now: datetime) -> list[VisitorPassRecord]:
        """The community's passes that may still open a door at or after `now`: not revoked, not expired, uses
        left."""
        rows = await self._connection.execute(
            select(visitor_passes).join(residents, visitor_passes.c.resident_id == residents.c.resident_id)
            .join(units, residents.c.unit_id == units.c.unit_id)
            .join(buildings, units.c.building_id == buildings.c.building_id)
            .where(buildings.c.community_id == community_id, visitor_passes.c.revoked_at.is_(None),
                   visitor_passes.c.valid_to > now, visitor_passes.c.uses < visitor_passes.c.max_uses))
        return [_visitor_pass(row) for row in rows.mappings()]

    async def revoke(self, pass_id: str, at: datetime, by: str) -> None:
        await self._connection.execute(
            update(visitor_passes).where(visitor_passes.c.pass_id == pass_id, visitor_passes.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by))

    async def revoke_all_of(self, resident_id: str, at: datetime, by: str) -> None:
        await self._connection.execute(
            update(visitor_passes).where(visitor_passes.c.resident_id == resident_id,
                                         visitor_passes.c.revoked_at.is_(None), visitor_passes.c.valid_to > at)
            .values(revoked_at=at, revoked_by=by))

    async def forget_visitors_ended_before(self, before: datetime) -> int:
        """Clear the visitor's name and phone of the passes whose validity ended before ``before`` (retention); the
        pass itself stays (its inviter's history, the events that name it); how many."""
        result = await self._connection.execute(
            update(visitor_passes).where(
                visitor_passes.c.valid_to < before,
                or_(visitor_passes.c.visitor_name.is_not(None), visitor_passes.c.visitor_phone.is_not(None)))
            .values(visitor_name=None, visitor_phone=None))
        return int(result.rowcount or 0)

    async def count_use(self, pass_id: str) -> None:
        await self._connection.execute(
            update(visitor_passes).where(visitor_passes.c.pass_id == pass_id)
            .values(uses=visitor_passes.c.uses + 1))


def _visitor_pass(row: Any) -> VisitorPassRecord:
    visit = VisitorPass(row["pass_id"], row["resident_id"], frozenset(Door(g, n) for g, n in row["doors"]),
                        row["valid_from"], row["valid_to"], row["max_uses"], row["visitor_name"])
    return VisitorPassRecord(visit, row["value_hash"], row["issued_at"], row["visitor_phone"], row["uses"],
                             row["revoked_at"], row["revoked_by"])
