"""The directory's repository: communities, buildings, units, residents and their group memberships,
credentials (by keyed hash), gates with their doors, and access groups — read back as the plain records of
`community.access.directory` and `community.access.permissions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from community.access.directory import (
    PHONE_TAIL,
    Building,
    Community,
    CredentialRecord,
    DoorKind,
    Gate,
    GateDoor,
    GroupRecord,
    ResidentMatches,
    ResidentRecord,
    ResidentRole,
    ResidentSearch,
    ResidentStatus,
    Unit,
    credential_hint,
)
from community.access.permissions import AccessGroup, CredentialKind, Door, WeeklyWindow
from community.access.storage.tables import (
    buildings,
    communities,
    credentials,
    doors,
    gate_sync,
    gates,
    group_doors,
    group_members,
    groups,
    residents,
    units,
)

_BATCH = 500
"""Ids per IN (...) list: well below every database's limit of bound parameters."""


class DirectoryRepository:
    """Communities, buildings, units, residents, credentials, gates, doors and access groups."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add_community(self, community: Community) -> None:
        await self._connection.execute(communities.insert().values(
            community_id=community.community_id, site=community.site, name=community.name))

    async def community(self, community_id: str) -> Community | None:
        row = (await self._connection.execute(
            select(communities).where(communities.c.community_id == community_id))).mappings().first()
        return None if row is None else Community(row["community_id"], row["site"], row["name"])

    async def community_of_site(self, site: str) -> Community | None:
        row = (await self._connection.execute(
            select(communities).where(communities.c.site == site))).mappings().first()
        return None if row is None else Community(row["community_id"], row["site"], row["name"])

    async def communities(self) -> list[Community]:
        rows = (await self._connection.execute(select(communities).order_by(communities.c.community_id))).mappings()
        return [Community(row["community_id"], row["site"], row["name"]) for row in rows]

    async def add_building(self, building: Building) -> None:
        await self._connection.execute(buildings.insert().values(
            building_id=building.building_id, community_id=building.community_id, name=building.name))

    async def building(self, building_id: str) -> Building | None:
        row = (await self._connection.execute(
            select(buildings).where(buildings.c.building_id == building_id))).mappings().first()
        return None if row is None else Building(row["building_id"], row["community_id"], row["name"])

    async def buildings(self, community_id: str) -> list[Building]:
        rows = (await self._connection.execute(select(buildings).where(buildings.c.community_id == community_id)
                                               .order_by(buildings.c.building_id))).mappings()
        return [Building(row["building_id"], row["community_id"], row["name"]) for row in rows]

    async def add_unit(self, unit: Unit) -> None:
        await self._connection.execute(units.insert().values(
            unit_id=unit.unit_id, building_id=unit.building_id, entrance=unit.entrance, room=unit.room,
            area_m2=str(unit.area_m2)))

    async def unit(self, unit_id: str) -> Unit | None:
        row = (await self._connection.execute(select(units).where(units.c.unit_id == unit_id))).mappings().first()
        return None if row is None else _unit(row)

    async def units(self, community_id: str) -> list[Unit]:
        rows = (await self._connection.execute(
            select(units).join(buildings, units.c.building_id == buildings.c.building_id)
            .where(buildings.c.community_id == community_id).order_by(units.c.unit_id))).mappings()
        return [_unit(row) for row in rows]

    async def units_of_building(self, building_id: str) -> list[Unit]:
        rows = (await self._connection.execute(
            select(units).where(units.c.building_id == building_id).order_by(units.c.unit_id))).mappings()
        return [_unit(row) for row in rows]

    async def units_by_id(self, unit_ids: Iterable[str]) -> dict[str, Unit]:
        wanted = sorted(set(unit_ids))
        found: dict[str, Unit] = {}
        for start in range(0, len(wanted), _BATCH):
            rows = (await self._connection.execute(
                select(units).where(units.c.unit_id.in_(wanted[start:start + _BATCH])))).mappings()
            found.update((row["unit_id"], _unit(row)) for row in rows)
        return found

    async def unit_counts(self, community_id: str) -> dict[str, int]:
        """How many units each building of the community has (a building without units: not named)."""
        rows = await self._connection.execute(
            select(units.c.building_id, func.count()).join(buildings, units.c.building_id == buildings.c.building_id)
            .where(buildings.c.community_id == community_id).group_by(units.c.building_id))
        return {building_id: count for building_id, count in rows}

    async def community_of_unit(self, unit_id: str) -> str | None:
        return (await self._connection.execute(
            select(buildings.c.community_id).join(units, units.c.building_id == buildings.c.building_id)
            .where(units.c.unit_id == unit_id))).scalar()

    async def add_resident(self, resident: ResidentRecord) -> None:
        await self._connection.execute(residents.insert().values(
            resident_id=resident.resident_id, unit_id=resident.unit_id, role=resident.role.value,
            name=resident.name, phone=resident.phone, status=resident.status.value))
        await self.set_groups(resident.resident_id, resident.group_ids)

    async def set_groups(self, resident_id: str, group_ids: Iterable[str]) -> None:
        await self._connection.execute(delete(group_members).where(group_members.c.resident_id == resident_id))
        rows = [{"group_id": group_id, "resident_id": resident_id} for group_id in sorted(set(group_ids))]
        if rows:
            await self._connection.execute(group_members.insert(), rows)

    async def set_status(self, resident_id: str, status: ResidentStatus) -> None:
        await self._connection.execute(
            update(residents).where(residents.c.resident_id == resident_id).values(status=status.value))

    async def resident(self, resident_id: str) -> ResidentRecord | None:
        found = await self._residents(residents.c.resident_id == resident_id)
        return found[0] if found else None

    async def residents(self, community_id: str, unit_id: str | None = None, *,
                        status: ResidentStatus | None = None) -> list[ResidentRecord]:
        """The residents of the community (or of one unit), of any status unless `status` is given."""
        condition = buildings.c.community_id == community_id
        if unit_id is not None:
            condition = and_(condition, residents.c.unit_id == unit_id)
        if status is not None:
            condition = and_(condition, residents.c.status == status.value)
        return await self._residents(condition)

    async def residents_of_units(self, unit_ids: Sequence[str]) -> list[ResidentRecord]:
        """The residents (of any status) of these units."""
        wanted = sorted(set(unit_ids))
        found: list[ResidentRecord] = []
        for start in range(0, len(wanted), _BATCH):
            found += await self._residents(residents.c.unit_id.in_(wanted[start:start + _BATCH]))
        return found

    async def search_residents(self, search: ResidentSearch) -> ResidentMatches:
        """A page of the residents ``search`` finds, by unit then id, and how many it finds in all."""
        condition = buildings.c.community_id == search.community_id
        if search.status is not None:
            condition = and_(condition, residents.c.status == search.status.value)
        text = search.text.strip()
        if text:
            lowered = text.lower()
            found: list[ColumnElement[bool]] = [
                func.lower(residents.c.name).contains(lowered, autoescape=True),
                func.lower(residents.c.resident_id).contains(lowered, autoescape=True),
                func.lower(residents.c.unit_id).contains(lowered, autoescape=True),
                units.c.room == text]
            if PHONE_TAIL.match(text):
                digits = func.replace(func.replace(func.replace(residents.c.phone, " ", ""), "-", ""), "+", "")
                found.append(digits.endswith(text))
            condition = and_(condition, or_(*found))
        total = (await self._connection.execute(
            select(func.count()).select_from(residents.join(units, residents.c.unit_id == units.c.unit_id)
                                             .join(buildings, units.c.building_id == buildings.c.building_id))
            .where(condition))).scalar_one()
        page = await self._residents(condition, order_by=(units.c.unit_id, residents.c.resident_id),
                                     limit=search.limit, offset=search.offset)
        return ResidentMatches(tuple(page), total)

    async def _residents(self, condition: ColumnElement[bool], *,
                         order_by: Sequence[ColumnElement[Any]] | None = None,
                         limit: int | None = None, offset: int = 0) -> list[ResidentRecord]:
        query = (select(residents).join(units, residents.c.unit_id == units.c.unit_id)
                 .join(buildings, units.c.building_id == buildings.c.building_id)
                 .where(condition).order_by(*(order_by or (residents.c.resident_id,))))
        if limit is not None:
            query = query.limit(limit).offset(offset)
        rows = (await self._connection.execute(query)).mappings().all()
        ids = [row["resident_id"] for row in rows]
        memberships: dict[str, set[str]] = {resident_id: set() for resident_id in ids}
        for start in range(0, len(ids), _BATCH):
            found = await self._connection.execute(
                select(group_members).where(group_members.c.resident_id.in_(ids[start:start + _BATCH])))
            for group_id, resident_id in found:
                memberships[resident_id].add(group_id)
        return [ResidentRecord(row["resident_id"], row["unit_id"], ResidentRole(row["role"]), row["name"],
                               row["phone"], frozenset(memberships[row["resident_id"]]),
                               ResidentStatus(row["status"])) for row in rows]

    async def add_credential(self, credential: CredentialRecord) -> None:
        await self._connection.execute(credentials.insert().values(
            credential_id=credential.credential_id, resident_id=credential.resident_id, kind=credential.kind.value,
            value_hash=credential.value_hash, hint=credential.hint, valid_from=credential.valid_from,
            valid_to=credential.valid_to, revoked_at=credential.revoked_at, revoked_by=credential.revoked_by))

    async def credential(self, credential_id: str) -> CredentialRecord | None:
        row = (await self._connection.execute(
            select(credentials).where(credentials.c.credential_id == credential_id))).mappings().first()
        return None if row is None else _credential(row)

    async def credentials_of(self, resident_id: str) -> list[CredentialRecord]:
        rows = (await self._connection.execute(select(credentials).where(credentials.c.resident_id == resident_id)
                                               .order_by(credentials.c.credential_id))).mappings()
        return [_credential(row) for row in rows]

    async def credentials(self, community_id: str) -> list[CredentialRecord]:
        rows = (await self._connection.execute(
            select(credentials).join(residents, credentials.c.resident_id == residents.c.resident_id)
            .join(units, residents.c.unit_id == units.c.unit_id)
            .join(buildings, units.c.building_id == buildings.c.building_id)
            .where(buildings.c.community_id == community_id).order_by(credentials.c.credential_id))).mappings()
        return [_credential(row) for row in rows]

    async def holders(self, community_id: str, hashes: Iterable[str], *, active_only: bool = False) -> dict[str, str]:
        """Resident id by credential hash in the community: the active credential's holder, else (unless
        `active_only`) the holder of a revoked one — whose card a blacklisted event was."""
        wanted = sorted(set(hashes))
        if not wanted:
            return {}
        query = (
            select(credentials.c.value_hash, credentials.c.resident_id)
            .join(residents, credentials.c.resident_id == residents.c.resident_id)
            .join(units, residents.c.unit_id == units.c.unit_id)
            .join(buildings, units.c.building_id == buildings.c.building_id)
            .where(buildings.c.community_id == community_id, credentials.c.value_hash.in_(wanted))
            .order_by(credentials.c.revoked_at.is_not(None)))  # an active credential wins over a revoked one
        if active_only:
            query = query.where(credentials.c.revoked_at.is_(None))
        rows = await self._connection.execute(query)
        holders: dict[str, str] = {}
        for value_hash, resident_id in rows:
            holders.setdefault(value_hash, resident_id)
        return holders

    async def revoke_credential(self, credential_id: str, at: datetime, by: str) -> None:
        await self._connection.execute(
            update(credentials).where(credentials.c.credential_id == credential_id, credentials.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by))

    async def revoke_credentials_of(self, resident_id: str, at: datetime, by: str) -> None:
        await self._connection.execute(
            update(credentials).where(credentials.c.resident_id == resident_id, credentials.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by))

    async def add_gate(self, gate: Gate, registered_at: datetime | None = None) -> None:
        """Register the gate; it counts as offline since `registered_at` (if given) until its first ``state`` says
        otherwise."""
        await self._connection.execute(gates.insert().values(
            gate_id=gate.gate_id, community_id=gate.community_id, name=gate.name))
        await self._connection.execute(doors.insert(), [
            {"gate_id": gate.gate_id, "number": door.number, "name": door.name, "kind": door.kind.value,
             "building_id": door.building_id} for door in gate.doors])
        await self._connection.execute(gate_sync.insert().values(
            gate_id=gate.gate_id, online=False, uncertain=False, state_at=registered_at))

    async def gate(self, gate_id: str) -> Gate | None:
        found = await self._gates(gates.c.gate_id == gate_id)
        return found[0] if found else None

    async def gates(self, community_id: str | None = None) -> list[Gate]:
        return await self._gates(None if community_id is None else gates.c.community_id == community_id)

    async def _gates(self, condition: ColumnElement[bool] | None) -> list[Gate]:
        query = select(gates).order_by(gates.c.gate_id)
        if condition is not None:
            query = query.where(condition)
        rows = (await self._connection.execute(query)).mappings().all()
        ids = [row["gate_id"] for row in rows]
        by_gate: dict[str, list[GateDoor]] = {gate_id: [] for gate_id in ids}
        if ids:
            door_rows = (await self._connection.execute(
                select(doors).where(doors.c.gate_id.in_(ids)).order_by(doors.c.gate_id, doors.c.number))).mappings()
            for door in door_rows:
                by_gate[door["gate_id"]].append(GateDoor(door["gate_id"], door["number"], door["name"],
                                                         DoorKind(door["kind"]), door["building_id"]))
        return [Gate(row["gate_id"], row["community_id"], row["name"], tuple(by_gate[row["gate_id"]]))
                for row in rows]

    async def put_group(self, record: GroupRecord) -> None:
        """Create or replace a group (its doors, windows, validity); its members stay."""
        group = record.group
        values = {"community_id": record.community_id, "name": record.name,
                  "windows": [window.to_payload() for window in group.windows],
                  "valid_from": group.valid_from, "valid_to": group.valid_to}
        changed = await self._connection.execute(
            update(groups).where(groups.c.group_id == group.group_id).values(**values))
        if not changed.rowcount:
            await self._connection.execute(groups.insert().values(group_id=group.group_id, **values))
        await self._connection.execute(delete(group_doors).where(group_doors.c.group_id == group.group_id))
        await self._connection.execute(group_doors.insert(), [
            {"group_id": group.group_id, "gate_id": door.gate_id, "door": door.number}
            for door in sorted(group.doors)])

    async def group(self, group_id: str) -> GroupRecord | None:
        found = await self._groups(groups.c.group_id == group_id)
        return found[0] if found else None

    async def groups(self, community_id: str) -> list[GroupRecord]:
        return await self._groups(groups.c.community_id == community_id)

    async def _groups(self, condition: ColumnElement[bool]) -> list[GroupRecord]:
        rows = (await self._connection.execute(
            select(groups).where(condition).order_by(groups.c.group_id))).mappings().all()
        ids = [row["group_id"] for row in rows]
        door_sets: dict[str, set[Door]] = {group_id: set() for group_id in ids}
        if ids:
            found = await self._connection.execute(select(group_doors).where(group_doors.c.group_id.in_(ids)))
            for group_id, gate_id, number in found:
                door_sets[group_id].add(Door(gate_id, number))
        return [GroupRecord(row["community_id"], row["name"], AccessGroup(
            row["group_id"], frozenset(door_sets[row["group_id"]]), tuple(_window(w) for w in row["windows"]),
            row["valid_from"], row["valid_to"])) for row in rows]


def _window(payload: dict[str, Any]) -> WeeklyWindow:
    return WeeklyWindow(frozenset(payload["days"]), time.fromisoformat(payload["start"]),
                        time.fromisoformat(payload["end"]))


def _unit(row: Any) -> Unit:
    return Unit(row["unit_id"], row["building_id"], row["entrance"], row["room"], Decimal(row["area_m2"]))


def _credential(row: Any) -> CredentialRecord:
    kind = CredentialKind(row["kind"])
    # masking is idempotent ("…1234" stays so): a hint stored whole before migration 0007 is never shown whole
    hint = None if row["hint"] is None else credential_hint(kind, row["hint"])
    return CredentialRecord(row["credential_id"], row["resident_id"], kind, row["value_hash"], hint,
                            row["valid_from"], row["valid_to"], row["revoked_at"], row["revoked_by"])
