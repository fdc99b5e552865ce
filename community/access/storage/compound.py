"""A compound's directory written in bulk (a bulk import): buildings, units, residents with their groups and
credentials added many rows per statement, buildings renamed, units and residents changed in place — and which of
many ids exist in any community. One transaction's connection, like every repository here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.directory import Building, CredentialRecord, ResidentRecord, Unit
from community.access.storage.tables import buildings, credentials, group_members, residents, units

CHUNK = 500
"""Ids in one ``IN (...)`` and rows in one multi-row statement: well within every database's parameter limits."""


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


class CompoundRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def existing(self, table: Table, ids: Iterable[str]) -> frozenset[str]:
        """Which of ``ids`` are keys of ``table`` (buildings, units or residents), in any community."""
        key = table.primary_key.columns.values()[0]
        wanted = sorted(set(ids))
        found: set[str] = set()
        for chunk in _chunks(wanted):
            found.update((await self._connection.execute(select(key).where(key.in_(chunk)))).scalars())
        return frozenset(found)

    async def _insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        for chunk in _chunks(rows):
            await self._connection.execute(table.insert(), list(chunk))

    async def add_buildings(self, added: Sequence[Building]) -> None:
        await self._insert(buildings, [{"building_id": b.building_id, "community_id": b.community_id, "name": b.name}
                                       for b in added])

    async def rename_buildings(self, renamed: Sequence[Building]) -> None:
        if renamed:
            await self._connection.execute(
                update(buildings).where(buildings.c.building_id == bindparam("key")).values(name=bindparam("new_name")),
                [{"key": b.building_id, "new_name": b.name} for b in renamed])

    async def add_units(self, added: Sequence[Unit]) -> None:
        await self._insert(units, [_unit_row(unit) for unit in added])

    async def change_units(self, changed: Sequence[Unit]) -> None:
        if changed:
            await self._connection.execute(
                update(units).where(units.c.unit_id == bindparam("key")).values(
                    building_id=bindparam("new_building_id"), entrance=bindparam("new_entrance"),
                    room=bindparam("new_room"), area_m2=bindparam("new_area_m2")),
                [{"key": unit.unit_id, **{f"new_{name}": value for name, value in _unit_row(unit).items()
                                           if name != "unit_id"}} for unit in changed])

    async def add_residents(self, added: Sequence[ResidentRecord]) -> None:
        await self._insert(residents, [{"resident_id": r.resident_id, "unit_id": r.unit_id, "role": r.role.value,
                                        "name": r.name, "phone": r.phone, "status": r.status.value} for r in added])
        await self._add_members(added)

    async def change_residents(self, changed: Sequence[ResidentRecord]) -> None:
        """Each resident's name, role, phone and groups as the record says (their unit and status stay)."""
        if not changed:
            return
        await self._connection.execute(
            update(residents).where(residents.c.resident_id == bindparam("key")).values(
                name=bindparam("new_name"), role=bindparam("new_role"), phone=bindparam("new_phone")),
            [{"key": r.resident_id, "new_name": r.name, "new_role": r.role.value, "new_phone": r.phone}
             for r in changed])
        for chunk in _chunks([r.resident_id for r in changed]):
            await self._connection.execute(delete(group_members).where(group_members.c.resident_id.in_(chunk)))
        await self._add_members(changed)

    async def _add_members(self, records: Sequence[ResidentRecord]) -> None:
        await self._insert(group_members, [{"group_id": group_id, "resident_id": r.resident_id}
                                           for r in records for group_id in sorted(r.group_ids)])

    async def add_credentials(self, added: Sequence[CredentialRecord]) -> None:
        await self._insert(credentials, [
            {"credential_id": c.credential_id, "resident_id": c.resident_id, "kind": c.kind.value,
             "value_hash": c.value_hash, "hint": c.hint, "valid_from": c.valid_from, "valid_to": c.valid_to,
             "revoked_at": c.revoked_at, "revoked_by": c.revoked_by} for c in added])


def _unit_row(unit: Unit) -> dict[str, Any]:
    return {"unit_id": unit.unit_id, "building_id": unit.building_id, "entrance": unit.entrance, "room": unit.room,
            "area_m2": str(unit.area_m2)}
