"""Storage of the access context (SQLAlchemy Core, async): the directory (communities, buildings, units, residents,
credentials, gates and doors, access groups), each gate's whitelist sync state and the versions it refers to, visitor
passes, remote-open audit, the access log, presence and alarms. Tables mirror community/migrations/versions/
0004_access.py; the domain stays plain dataclasses and is converted here, at the edge.

No raw credential is stored: credentials and log entries carry the keyed hash only (and the last four characters of a
card number or face-template reference as a hint). Phone numbers are stored (the property office must be able to
call) and masked wherever they are shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from community.access.access_log import AccessLogEntry, LogPage, LogQuery, Movement, Presence, encode_cursor
from community.access.alarms import Alarm, AlarmKind, AlarmStatus
from community.access.directory import (
    Building,
    Community,
    CredentialRecord,
    DoorKind,
    Gate,
    GateDoor,
    GroupRecord,
    ResidentRecord,
    ResidentRole,
    ResidentStatus,
    Unit,
    credential_hint,
)
from community.access.permissions import (
    AccessGroup,
    CredentialKind,
    Door,
    Grant,
    WeeklyWindow,
    Whitelist,
    WhitelistEntry,
)
from community.access.remote_open import RemoteOpen, RemoteOpenStatus
from community.access.visitor_pass import VisitorPass
from community.access.visitors import VisitorPassRecord
from community.access.whitelist_sync import GateSyncState, PendingPlan, VersionedWhitelist, WhitelistVersion
from devices.contract import AccessMethod, DenialReason, Direction, GateEventKind
from devices.gate_commands import WhitelistArgs
from relational.database import UtcDateTime

metadata = MetaData()

communities = Table(
    "access_communities", metadata,
    Column("community_id", String(64), primary_key=True),
    Column("site", String(64), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
)

buildings = Table(
    "access_buildings", metadata,
    Column("building_id", String(64), primary_key=True),
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), nullable=False),
    Column("name", String(100), nullable=False),
)

units = Table(
    "access_units", metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("building_id", String(64), ForeignKey("access_buildings.building_id"), nullable=False),
    Column("entrance", String(32), nullable=False),
    Column("room", String(32), nullable=False),
    Column("area_m2", String(24), nullable=False),  # exact decimal text: SQLite has no decimal type
)

residents = Table(
    "access_residents", metadata,
    Column("resident_id", String(64), primary_key=True),
    Column("unit_id", String(64), ForeignKey("access_units.unit_id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("phone", String(32), nullable=True),
    Column("status", String(16), nullable=False),
)

gates = Table(
    "access_gates", metadata,
    Column("gate_id", String(64), primary_key=True),
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), nullable=False),
    Column("name", String(100), nullable=False),
)

doors = Table(
    "access_doors", metadata,
    Column("gate_id", String(64), ForeignKey("access_gates.gate_id"), primary_key=True),
    Column("number", Integer(), primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("building_id", String(64), ForeignKey("access_buildings.building_id"), nullable=True),
)

groups = Table(
    "access_groups", metadata,
    Column("group_id", String(64), primary_key=True),
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("windows", JSON(), nullable=False),
    Column("valid_from", UtcDateTime(), nullable=True),
    Column("valid_to", UtcDateTime(), nullable=True),
)

group_doors = Table(
    "access_group_doors", metadata,
    Column("group_id", String(64), ForeignKey("access_groups.group_id"), primary_key=True),
    Column("gate_id", String(64), primary_key=True),
    Column("door", Integer(), primary_key=True, autoincrement=False),
    ForeignKeyConstraint(["gate_id", "door"], ["access_doors.gate_id", "access_doors.number"]),
)

group_members = Table(
    "access_group_members", metadata,
    Column("group_id", String(64), ForeignKey("access_groups.group_id"), primary_key=True),
    Column("resident_id", String(64), ForeignKey("access_residents.resident_id"), primary_key=True),
)

credentials = Table(
    "access_credentials", metadata,
    Column("credential_id", String(64), primary_key=True),
    Column("resident_id", String(64), ForeignKey("access_residents.resident_id"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("value_hash", String(64), nullable=False, index=True),
    Column("hint", String(64), nullable=True),
    Column("valid_from", UtcDateTime(), nullable=True),
    Column("valid_to", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("revoked_by", String(64), nullable=True),
)

gate_sync = Table(
    "access_gate_sync", metadata,
    Column("gate_id", String(64), ForeignKey("access_gates.gate_id"), primary_key=True),
    Column("online", Boolean(), nullable=False),
    Column("state_at", UtcDateTime(), nullable=True),  # when availability last changed
    Column("desired_version", Integer(), nullable=True),
    Column("acked_version", Integer(), nullable=True),
    Column("uncertain", Boolean(), nullable=False),
    Column("pending", JSON(), nullable=True),
    Column("retry_at", UtcDateTime(), nullable=True),  # when the plan in flight is due again, if any
)

whitelist_versions = Table(
    "access_whitelist_versions", metadata,
    Column("gate_id", String(64), ForeignKey("access_gates.gate_id"), primary_key=True),
    Column("version", Integer(), primary_key=True, autoincrement=False),
    Column("content_hash", String(64), nullable=False),
    Column("payload", JSON(), nullable=False),
)

visitor_passes = Table(
    "access_visitor_passes", metadata,
    Column("pass_id", String(64), primary_key=True),
    Column("resident_id", String(64), ForeignKey("access_residents.resident_id"), nullable=False),
    Column("value_hash", String(64), nullable=False, unique=True),
    Column("visitor_name", String(32), nullable=True),
    Column("visitor_phone", String(32), nullable=True),
    Column("doors", JSON(), nullable=False),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_to", UtcDateTime(), nullable=False),
    Column("max_uses", Integer(), nullable=False),
    Column("uses", Integer(), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("revoked_by", String(64), nullable=True),
)

remote_opens = Table(
    "access_remote_opens", metadata,
    Column("cmd_id", String(64), primary_key=True),
    Column("gate_id", String(64), ForeignKey("access_gates.gate_id"), nullable=False),
    Column("door", Integer(), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("deadline", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("error", String(200), nullable=True),
)

events = Table(
    "access_events", metadata,
    Column("gate_id", String(64), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), nullable=False),
    Column("ts", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("door", Integer(), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("method", String(16), nullable=True),
    Column("credential_hash", String(64), nullable=True),
    Column("resident_id", String(64), nullable=True),
    Column("pass_id", String(64), nullable=True),
    Column("direction", String(4), nullable=True),
    Column("reason", String(24), nullable=True),
    Column("offline", Boolean(), nullable=False),
    Index("access_events_by_community", "community_id", "ts"),
    Index("access_events_by_gate", "gate_id", "ts"),
    Index("access_events_by_resident", "resident_id", "ts"),
    Index("access_events_by_pass", "pass_id"),
)

presence = Table(
    "access_presence", metadata,
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), primary_key=True),
    Column("person_kind", String(8), primary_key=True),  # resident | visitor
    Column("person_id", String(64), primary_key=True),
    Column("inside", Boolean(), nullable=False),
    Column("since", UtcDateTime(), nullable=False),
)

alarms = Table(
    "access_alarms", metadata,
    Column("number", Integer(), primary_key=True, autoincrement=True),
    Column("alarm_id", String(200), nullable=False, unique=True),
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("gate_id", String(64), nullable=False),
    Column("door", Integer(), nullable=True),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("occurrences", Integer(), nullable=False),
    Column("acknowledged_by", String(64), nullable=True),
    Column("acknowledged_at", UtcDateTime(), nullable=True),
    Column("acknowledge_note", Text(), nullable=False),
    Column("resolved_by", String(64), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("resolve_note", Text(), nullable=False),
    Index("access_alarms_by_status", "status", "raised_at"),
)


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

    async def _residents(self, condition: ColumnElement[bool]) -> list[ResidentRecord]:
        rows = (await self._connection.execute(
            select(residents).join(units, residents.c.unit_id == units.c.unit_id)
            .join(buildings, units.c.building_id == buildings.c.building_id)
            .where(condition).order_by(residents.c.resident_id))).mappings().all()
        ids = [row["resident_id"] for row in rows]
        memberships: dict[str, set[str]] = {resident_id: set() for resident_id in ids}
        for start in range(0, len(ids), 500):
            found = await self._connection.execute(
                select(group_members).where(group_members.c.resident_id.in_(ids[start:start + 500])))
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


class SyncRepository:
    """Each gate's whitelist sync state, and the whitelist versions it refers to (others are pruned)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def load(self, gate_id: str, *, for_update: bool = False) -> GateSyncState | None:
        query = select(gate_sync).where(gate_sync.c.gate_id == gate_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).mappings().first()
        if row is None:
            return None
        wanted = {row["acked_version"], row["desired_version"]}
        if row["pending"] is not None:
            wanted.add(row["pending"]["target_version"])
        versions = await self._versions(gate_id, {number for number in wanted if number is not None})
        pending = None
        if row["pending"] is not None:
            plan = row["pending"]
            pending = PendingPlan(
                versions[plan["target_version"]],
                tuple(_command_from_json(command) for command in plan["commands"]),
                frozenset(plan["acked_ids"]), plan["attempts"], datetime.fromisoformat(plan["next_attempt_at"]))
        return GateSyncState(
            gate_id, online=row["online"], acked=versions.get(row["acked_version"]),
            desired=versions.get(row["desired_version"]), pending=pending, uncertain=row["uncertain"])

    async def save(self, state: GateSyncState, changed_at: datetime | None = None) -> None:
        """Store the state; `changed_at` when the gate's availability changed."""
        for versioned in (state.acked, state.desired, state.pending.target if state.pending else None):
            if versioned is not None:
                await self._keep_version(state.gate_id, versioned)
        values: dict[str, Any] = {
            "online": state.online, "uncertain": state.uncertain,
            "acked_version": state.acked.version.number if state.acked else None,
            "desired_version": state.desired.version.number if state.desired else None,
            "pending": None if state.pending is None else _plan_to_json(state.pending),
            "retry_at": None if state.pending is None else state.pending.next_attempt_at,
        }
        if changed_at is not None:
            values["state_at"] = changed_at
        await self._connection.execute(update(gate_sync).where(gate_sync.c.gate_id == state.gate_id).values(**values))
        kept = {v.version.number for v in (state.acked, state.desired, state.pending.target if state.pending else None)
                if v is not None}
        await self._connection.execute(delete(whitelist_versions).where(
            whitelist_versions.c.gate_id == state.gate_id, whitelist_versions.c.version.not_in(kept)))

    async def availability(self) -> dict[str, tuple[bool, datetime | None]]:
        """Every gate's (online, since when), to restore the offline alarms' clocks after a restart. A gate never
        heard from is offline since its registration (None for gates registered before that was recorded)."""
        rows = await self._connection.execute(select(gate_sync.c.gate_id, gate_sync.c.online, gate_sync.c.state_at))
        return {gate_id: (online, since) for gate_id, online, since in rows}

    async def due(self, now: datetime) -> list[str]:
        """Gates online with a plan in flight that is due to be sent again by `now`."""
        return list((await self._connection.execute(
            select(gate_sync.c.gate_id).where(gate_sync.c.online.is_(True), gate_sync.c.retry_at <= now)
            .order_by(gate_sync.c.gate_id))).scalars())

    async def _versions(self, gate_id: str, numbers: set[int]) -> dict[int, VersionedWhitelist]:
        if not numbers:
            return {}
        rows = await self._connection.execute(select(whitelist_versions).where(
            whitelist_versions.c.gate_id == gate_id, whitelist_versions.c.version.in_(sorted(numbers))))
        found = {}
        for row in rows.mappings():
            whitelist = whitelist_from_payload(row["payload"])
            if whitelist.content_hash != row["content_hash"]:
                raise ValueError(f"stored whitelist {gate_id} v{row['version']} does not match its content hash")
            found[row["version"]] = VersionedWhitelist(WhitelistVersion(row["version"], row["content_hash"]),
                                                       whitelist)
        return found

    async def _keep_version(self, gate_id: str, versioned: VersionedWhitelist) -> None:
        exists = (await self._connection.execute(select(whitelist_versions.c.content_hash).where(
            whitelist_versions.c.gate_id == gate_id,
            whitelist_versions.c.version == versioned.version.number))).scalar()
        if exists is None:
            await self._connection.execute(whitelist_versions.insert().values(
                gate_id=gate_id, version=versioned.version.number, content_hash=versioned.version.content_hash,
                payload=versioned.whitelist.to_payload()))
        elif exists != versioned.version.content_hash:
            raise ValueError(f"whitelist {gate_id} v{versioned.version.number} was stored with other content")


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

    async def revoke(self, pass_id: str, at: datetime, by: str) -> None:
        await self._connection.execute(
            update(visitor_passes).where(visitor_passes.c.pass_id == pass_id, visitor_passes.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by))

    async def revoke_all_of(self, resident_id: str, at: datetime, by: str) -> None:
        await self._connection.execute(
            update(visitor_passes).where(visitor_passes.c.resident_id == resident_id,
                                         visitor_passes.c.revoked_at.is_(None), visitor_passes.c.valid_to > at)
            .values(revoked_at=at, revoked_by=by))

    async def count_use(self, pass_id: str) -> None:
        await self._connection.execute(
            update(visitor_passes).where(visitor_passes.c.pass_id == pass_id)
            .values(uses=visitor_passes.c.uses + 1))


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


class RemoteOpenRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, request: RemoteOpen) -> None:
        await self._connection.execute(remote_opens.insert().values(**_remote_open_values(request)))

    async def update(self, request: RemoteOpen) -> None:
        await self._connection.execute(update(remote_opens).where(remote_opens.c.cmd_id == request.cmd_id)
                                       .values(**_remote_open_values(request)))

    async def get(self, cmd_id: str) -> RemoteOpen | None:
        row = (await self._connection.execute(
            select(remote_opens).where(remote_opens.c.cmd_id == cmd_id))).mappings().first()
        return None if row is None else _remote_open(row)

    async def due(self, now: datetime) -> list[RemoteOpen]:
        rows = await self._connection.execute(select(remote_opens).where(
            remote_opens.c.status == RemoteOpenStatus.PENDING.value, remote_opens.c.deadline <= now))
        return [_remote_open(row) for row in rows.mappings()]

    async def listed(self, community_id: str, gate_id: str | None = None, limit: int = 100) -> list[RemoteOpen]:
        query = (select(remote_opens).join(gates, remote_opens.c.gate_id == gates.c.gate_id)
                 .where(gates.c.community_id == community_id))
        if gate_id is not None:
            query = query.where(remote_opens.c.gate_id == gate_id)
        rows = await self._connection.execute(query.order_by(remote_opens.c.requested_at.desc()).limit(limit))
        return [_remote_open(row) for row in rows.mappings()]


def is_data_error(error: DBAPIError) -> bool:
    """Whether the database refused a value itself (too long for its column, a NUL character, a number out of
    range) — bad input that slipped past validation — rather than failing (connection lost, disk full).

    PostgreSQL says so with SQLSTATE class 22 (data exception); asyncpg refuses some values before sending them
    (its own ``DataError``). SQLite stores such values without complaint.
    """
    original = error.orig
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if isinstance(state, str) and state.startswith("22"):
        return True
    cause = getattr(original, "__cause__", None)
    return any(type(link).__name__ == "DataError" for link in (original, cause) if link is not None)


def is_conflict(error: IntegrityError) -> bool:
    """Whether an insert failed on a key that exists (rather than on a missing reference)."""
    text = str(error.orig).lower()
    return "unique" in text or "duplicate" in text


# -- conversions ------------------------------------------------------------------------------------------------


def whitelist_from_payload(payload: Mapping[str, Any]) -> Whitelist:
    """The domain whitelist from its ``sync_whitelist`` payload (validated by the gate contract)."""
    wire = WhitelistArgs.model_validate(payload)
    return Whitelist(
        wire.gate,
        tuple(WhitelistEntry(
            entry.hash, CredentialKind(entry.kind.value), entry.valid_from, entry.valid_to,
            tuple(Grant(grant.group, tuple(grant.doors),
                        tuple(WeeklyWindow(frozenset(w.days), w.start, w.end) for w in grant.windows),
                        grant.valid_from, grant.valid_to) for grant in entry.grants))
            for entry in wire.entries),
        tuple(wire.blacklist),
    )


def _plan_to_json(plan: PendingPlan) -> dict[str, Any]:
    return {
        "target_version": plan.target.version.number,
        "commands": [{**command, "issued_at": command["issued_at"].isoformat()} for command in plan.commands],
        "acked_ids": sorted(plan.acked_ids),
        "attempts": plan.attempts,
        "next_attempt_at": plan.next_attempt_at.isoformat(),
    }


def _command_from_json(command: dict[str, Any]) -> dict[str, Any]:
    return {**command, "issued_at": datetime.fromisoformat(command["issued_at"])}


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


def _visitor_pass(row: Any) -> VisitorPassRecord:
    visit = VisitorPass(row["pass_id"], row["resident_id"], frozenset(Door(g, n) for g, n in row["doors"]),
                        row["valid_from"], row["valid_to"], row["max_uses"], row["visitor_name"])
    return VisitorPassRecord(visit, row["value_hash"], row["issued_at"], row["visitor_phone"], row["uses"],
                             row["revoked_at"], row["revoked_by"])


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


def _remote_open_values(request: RemoteOpen) -> dict[str, Any]:
    return {
        "cmd_id": request.cmd_id, "gate_id": request.gate_id, "door": request.door,
        "requested_by": request.requested_by, "reason": request.reason, "requested_at": request.requested_at,
        "deadline": request.deadline, "status": request.status.value, "finished_at": request.finished_at,
        "error": request.error,
    }


def _remote_open(row: Any) -> RemoteOpen:
    return RemoteOpen(row["cmd_id"], row["gate_id"], row["door"], row["requested_by"], row["reason"],
                      row["requested_at"], row["deadline"], RemoteOpenStatus(row["status"]), row["finished_at"],
                      row["error"])
