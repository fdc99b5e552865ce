"""Storage of the ownership register (SQLAlchemy Core, async), and the read of the units it is about.

``ownership_records`` is append-only: recording a unit's ownership adds a row, so the register as it stood at any
moment is the last row per unit recorded by then (``record_id`` breaks ties between rows recorded at the same time).
The units, their buildings and areas live in the access register (``community.access.storage``); they are read here
through its tables, never copied. The table mirrors community/migrations/versions/0005_ownership.py.

There is no foreign key to ``access_units``: the service checks the unit against the access register in the same
transaction, and the access context's tables stay free to change without this context's constraints on them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Index, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.storage.tables import buildings, communities, units
from community.ownership.register import (
    Owner,
    OwnershipEntry,
    RegisteredUnit,
    RegisterSnapshot,
    UnitOwnership,
)
from relational.database import UtcDateTime

metadata = MetaData()

ownership_records = Table(
    "ownership_records", metadata,
    Column("record_id", Integer(), primary_key=True, autoincrement=True),
    Column("unit_id", String(64), nullable=False),
    Column("owners", JSON(), nullable=False),  # [{"owner_id": ..., "name": ...}] in the recorded order
    Column("representative_id", String(64), nullable=True),
    Column("held_by_developer", Boolean(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Index("ownership_records_by_unit", "unit_id", "record_id"),
)


class OwnershipRepository:
    """One transaction's reads and writes of the ownership register on ``connection``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def community_exists(self, community_id: str) -> bool:
        found = await self._connection.execute(
            select(communities.c.community_id).where(communities.c.community_id == community_id))
        return found.first() is not None

    async def lock_community(self, community_id: str) -> bool:
        """Serialise writers of one community's register until this transaction ends (PostgreSQL row lock; SQLite
        admits one writer at a time anyway). False when there is no such community."""
        found = await self._connection.execute(
            select(communities.c.community_id).where(communities.c.community_id == community_id).with_for_update())
        return found.first() is not None

    async def community_of_unit(self, unit_id: str) -> str | None:
        return (await self._connection.execute(
            select(buildings.c.community_id).join(units, units.c.building_id == buildings.c.building_id)
            .where(units.c.unit_id == unit_id))).scalar()

    async def units(self, community_id: str) -> list[RegisteredUnit]:
        """The community's units from the access register, labelled building + 单元 + room, by unit id."""
        rows = await self._connection.execute(
            select(units.c.unit_id, units.c.entrance, units.c.room, units.c.area_m2, buildings.c.name)
            .join(buildings, units.c.building_id == buildings.c.building_id)
            .where(buildings.c.community_id == community_id).order_by(units.c.unit_id))
        return [RegisteredUnit(unit_id, f"{building}{entrance}{room}", Decimal(area))
                for unit_id, entrance, room, area, building in rows]

    async def add(self, entries: list[OwnershipEntry]) -> None:
        if entries:
            await self._connection.execute(ownership_records.insert(), [_row(entry) for entry in entries])

    async def entries(self, community_id: str, as_of: datetime | None = None) -> dict[str, OwnershipEntry]:
        """Each unit's last recorded ownership (recorded by `as_of`, when given), by unit id."""
        latest = (select(func.max(ownership_records.c.record_id))
                  .join(units, units.c.unit_id == ownership_records.c.unit_id)
                  .join(buildings, units.c.building_id == buildings.c.building_id)
                  .where(buildings.c.community_id == community_id)
                  .group_by(ownership_records.c.unit_id))
        if as_of is not None:
            latest = latest.where(ownership_records.c.recorded_at <= as_of)
        rows = (await self._connection.execute(
            select(ownership_records).where(ownership_records.c.record_id.in_(latest))
            .order_by(ownership_records.c.unit_id))).mappings().all()
        return {row["unit_id"]: _entry(row) for row in rows}

    async def history(self, unit_id: str) -> list[OwnershipEntry]:
        """Every ownership recorded for a unit, oldest first."""
        rows = (await self._connection.execute(
            select(ownership_records).where(ownership_records.c.unit_id == unit_id)
            .order_by(ownership_records.c.record_id))).mappings().all()
        return [_entry(row) for row in rows]

    async def snapshot(self, community_id: str, as_of: datetime) -> RegisterSnapshot:
        """The community's units and their ownership as the register stood at `as_of`.

        Units and areas are read as they are now: the access register keeps no history of them (and has no way to
        change an area); a unit added after `as_of` has no ownership recorded by then and so is reported, not listed.
        """
        entries = await self.entries(community_id, as_of)
        return RegisterSnapshot(community_id, as_of, tuple(await self.units(community_id)),
                                {unit_id: entry.ownership for unit_id, entry in entries.items()})


def _row(entry: OwnershipEntry) -> dict[str, Any]:
    ownership = entry.ownership
    return {"unit_id": ownership.unit_id,
            "owners": [{"owner_id": owner.owner_id, "name": owner.name} for owner in ownership.owners],
            "representative_id": ownership.representative_id, "held_by_developer": ownership.held_by_developer,
            "recorded_at": entry.recorded_at, "recorded_by": entry.recorded_by}


def _entry(row: Any) -> OwnershipEntry:
    ownership = UnitOwnership(row["unit_id"], tuple(Owner(owner["owner_id"], owner["name"]) for owner in row["owners"]),
                              row["representative_id"], row["held_by_developer"])
    return OwnershipEntry(ownership, row["recorded_at"], row["recorded_by"])
