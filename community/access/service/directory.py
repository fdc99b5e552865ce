"""The directory's use cases: communities, buildings, units, residents (moving in, out, revoked), their credentials
(enrolled by keyed hash, the raw value never kept), gates with their doors, and access groups — one at a time or a
whole community imported at once. Every change that can alter what a gate lets in marks the community for a
whitelist recomputation within the same transaction.

The reads behind the console's register pages: a building, its units, units counted per building, the residents of
some units, a page of residents searched by name, id, unit, room or a phone's last four digits.

Also the lookups the other use cases share: a community or resident that must exist (NotFound otherwise).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from community.access.alarms import SYSTEM
from community.access.directory import (
    Building,
    Community,
    CredentialRecord,
    Gate,
    GroupRecord,
    ResidentMatches,
    ResidentRecord,
    ResidentSearch,
    ResidentStatus,
    Unit,
    credential_hint,
)
from community.access.permissions import CredentialKind, credential_hash
from community.access.service.alarms import AlarmBook
from community.access.service.errors import Conflict, NotAllowed, Refused, not_found
from community.access.service.gate_registry import GateRegistry
from community.access.service.settings import AccessKeys
from community.access.service.unit_of_work import UnitOfWork
from community.access.storage import DirectoryRepository, VisitorRepository
from devices.contract import EARLIEST, LATEST

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CredentialEnrolment:
    """A credential as it is enrolled: the raw value is hashed at once and never kept."""

    resident_id: str
    kind: CredentialKind
    raw_value: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    credential_id: str | None = None


@dataclass(frozen=True)
class CommunityImport:
    """A whole community at once, as taken over from the property office's records (or the demo)."""

    community: Community
    buildings: Sequence[Building] = ()
    units: Sequence[Unit] = ()
    gates: Sequence[Gate] = ()
    groups: Sequence[GroupRecord] = ()
    residents: Sequence[ResidentRecord] = ()
    credentials: Sequence[CredentialEnrolment] = ()
    revoked_credentials: Sequence[CredentialEnrolment] = ()


class Directory:
    """The directory's use cases. A gate it registers is told to the gate registry and the alarm rules as well: it
    is heard from, and watched, from its registration on."""

    def __init__(self, uow: UnitOfWork, keys: AccessKeys, gates: GateRegistry, alarms: AlarmBook) -> None:
        self._uow = uow
        self._keys = keys
        self._gates = gates
        self._alarms = alarms

    async def create_community(self, community: Community) -> None:
        async with self._uow.work() as work:
            await _insert(DirectoryRepository(work.connection).add_community(community),
                          f"community {community.community_id!r} or site {community.site!r} exists already")

    async def communities(self) -> list[Community]:
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).communities()

    async def community(self, community_id: str) -> Community:
        async with self._uow.connect() as connection:
            return await existing_community(DirectoryRepository(connection), community_id)

    async def add_building(self, building: Building) -> None:
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            await existing_community(directory, building.community_id)
            await _insert(directory.add_building(building), f"building {building.building_id!r} exists already")

    async def buildings(self, community_id: str) -> list[Building]:
        async with self._uow.connect() as connection:
            directory = DirectoryRepository(connection)
            await existing_community(directory, community_id)
            return await directory.buildings(community_id)

    async def building(self, building_id: str) -> Building:
        async with self._uow.connect() as connection:
            building = await DirectoryRepository(connection).building(building_id)
        if building is None:
            raise not_found("building", building_id)
        return building

    async def unit_counts(self, community_id: str) -> dict[str, int]:
        """How many units each building of the community has (a building without units: not named)."""
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).unit_counts(community_id)

    async def building_units(self, building_id: str) -> list[Unit]:
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).units_of_building(building_id)

    async def units_by_id(self, unit_ids: Iterable[str]) -> dict[str, Unit]:
        """The units of these ids that exist (of any community: the caller keeps to its scope)."""
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).units_by_id(unit_ids)

    async def add_unit(self, unit: Unit) -> None:
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            if await directory.building(unit.building_id) is None:
                raise not_found("building", unit.building_id)
            await _insert(directory.add_unit(unit), f"unit {unit.unit_id!r} exists already")

    async def unit(self, unit_id: str) -> tuple[Unit, str]:
        """The unit and its community."""
        async with self._uow.connect() as connection:
            directory = DirectoryRepository(connection)
            unit, community_id = await directory.unit(unit_id), await directory.community_of_unit(unit_id)
        if unit is None or community_id is None:
            raise not_found("unit", unit_id)
        return unit, community_id

    async def units(self, community_id: str) -> list[Unit]:
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).units(community_id)

    async def add_resident(self, resident: ResidentRecord) -> None:
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            community_id = await directory.community_of_unit(resident.unit_id)
            if community_id is None:
                raise not_found("unit", resident.unit_id)
            await _check_groups(directory, community_id, resident.group_ids)
            await _insert(directory.add_resident(resident), f"resident {resident.resident_id!r} exists already")
            work.resync.add(community_id)

    async def resident(self, resident_id: str) -> tuple[ResidentRecord, str]:
        """The resident and their community."""
        async with self._uow.connect() as connection:
            directory = DirectoryRepository(connection)
            resident = await directory.resident(resident_id)
            if resident is None:
                raise not_found("resident", resident_id)
            community_id = await directory.community_of_unit(resident.unit_id)
        assert community_id is not None  # a resident's unit has a building, which has a community
        return resident, community_id

    async def residents(self, community_id: str, unit_id: str | None = None, *,
                        active_only: bool = False) -> list[ResidentRecord]:
        """The residents of a community or unit; `active_only` leaves out those moved out or revoked (a household
        as its members see it: a new occupant does not see the former ones)."""
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).residents(
                community_id, unit_id, status=ResidentStatus.ACTIVE if active_only else None)

    async def residents_of_units(self, unit_ids: Sequence[str]) -> list[ResidentRecord]:
        """Everyone ever registered in these units, with their status (of any community: the caller keeps to its
        scope)."""
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).residents_of_units(unit_ids)

    async def search_residents(self, search: ResidentSearch) -> ResidentMatches:
        """A page of a community's residents found by name, id, unit or room, or by the last four digits of their
        phone (:class:`ResidentSearch`), and how many were found."""
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).search_residents(search)

    async def signed_in_resident(self, resident_id: str) -> tuple[ResidentRecord, str]:
        """The resident a resident token names, and their community — only while they are active: a resident moved
        out or revoked keeps their record (the audit) but no resident access. NotFound, or NotAllowed."""
        resident, community_id = await self.resident(resident_id)
        if resident.status is not ResidentStatus.ACTIVE:
            raise NotAllowed(f"resident {resident_id!r} is {resident.status.value}: no resident access")
        return resident, community_id

    async def set_resident_groups(self, resident_id: str, group_ids: frozenset[str]) -> ResidentRecord:
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            resident, community_id = await existing_resident(directory, resident_id)
            await _check_groups(directory, community_id, group_ids)
            await directory.set_groups(resident_id, group_ids)
            work.resync.add(community_id)
        return replace(resident, group_ids=group_ids)

    async def revoke_resident(self, resident_id: str, by: str) -> None:
        """Blacklist every credential and visitor pass of the resident on every gate they could open."""
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            resident, community_id = await existing_resident(directory, resident_id)
            if resident.status is ResidentStatus.MOVED_OUT:
                raise Conflict(f"resident {resident_id!r} has moved out")
            await directory.set_status(resident_id, ResidentStatus.REVOKED)
            await directory.revoke_credentials_of(resident_id, work.now, by)
            await VisitorRepository(work.connection).revoke_all_of(resident_id, work.now, by)
            work.resync.add(community_id)
        log.info("resident revoked", extra={"resident": resident_id, "by": by})

    async def move_out(self, resident_id: str, by: str) -> None:
        """Take the resident off every list (not blacklisted: their cards may be handed on); their passes revoked."""
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            _, community_id = await existing_resident(directory, resident_id)
            await directory.set_status(resident_id, ResidentStatus.MOVED_OUT)
            await VisitorRepository(work.connection).revoke_all_of(resident_id, work.now, by)
            work.resync.add(community_id)

    async def enroll(self, enrolment: CredentialEnrolment) -> CredentialRecord:
        """Record a credential by its keyed hash; the same card or PIN cannot be active twice in a community."""
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            resident, community_id = await existing_resident(directory, enrolment.resident_id)
            if resident.status is not ResidentStatus.ACTIVE:
                raise Conflict(f"resident {resident.resident_id!r} is {resident.status.value}")
            record = self._credential_record(enrolment)
            holders = await directory.holders(community_id, [record.value_hash], active_only=True)
            if holders:
                raise Conflict(f"this {enrolment.kind.value} is enrolled already")
            await _insert(directory.add_credential(record), f"credential {record.credential_id!r} exists")
            work.resync.add(community_id)
        return record

    async def credentials_of(self, resident_id: str) -> list[CredentialRecord]:
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).credentials_of(resident_id)

    async def credential(self, credential_id: str) -> tuple[CredentialRecord, str]:
        """The credential and its holder's community."""
        async with self._uow.connect() as connection:
            directory = DirectoryRepository(connection)
            record = await directory.credential(credential_id)
            if record is None:
                raise not_found("credential", credential_id)
            _, community_id = await existing_resident(directory, record.resident_id)
        return record, community_id

    async def revoke_credential(self, credential_id: str, by: str) -> CredentialRecord:
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            record = await directory.credential(credential_id)
            if record is None:
                raise not_found("credential", credential_id)
            if record.revoked_at is not None:
                raise Conflict(f"credential {credential_id!r} is revoked already")
            _, community_id = await existing_resident(directory, record.resident_id)
            await directory.revoke_credential(credential_id, work.now, by)
            work.resync.add(community_id)
        return replace(record, revoked_at=work.now, revoked_by=by)

    async def add_gate(self, gate: Gate) -> None:
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            await existing_community(directory, gate.community_id)
            for door in gate.doors:
                if door.building_id is not None and await directory.building(door.building_id) is None:
                    raise not_found("building", door.building_id)
            await _insert(directory.add_gate(gate, work.now), f"gate {gate.gate_id!r} exists already")
            work.resync.add(gate.community_id)
        self._gates.registered([gate.gate_id])
        self._alarms.registered([gate.gate_id], work.now)

    async def gates(self, community_id: str) -> list[Gate]:
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).gates(community_id)

    async def gate(self, gate_id: str) -> Gate:
        async with self._uow.connect() as connection:
            gate = await DirectoryRepository(connection).gate(gate_id)
        if gate is None:
            raise not_found("gate", gate_id)
        return gate

    async def put_group(self, record: GroupRecord) -> None:
        """Create or change an access group; every gate of the community follows."""
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            await existing_community(directory, record.community_id)
            existing = await directory.group(record.group.group_id)
            if existing is not None and existing.community_id != record.community_id:
                raise Conflict(f"group {record.group.group_id!r} belongs to another community")
            _check_contract_years(record.group.valid_from, record.group.valid_to)
            doors = {(door.gate_id, door.number) for gate in await directory.gates(record.community_id)
                     for door in gate.doors}
            unknown = sorted(f"{door.gate_id}#{door.number}" for door in record.group.doors
                             if (door.gate_id, door.number) not in doors)
            if unknown:
                raise Refused(f"doors not in this community: {', '.join(unknown)}")
            await directory.put_group(record)
            work.resync.add(record.community_id)

    async def groups(self, community_id: str) -> list[GroupRecord]:
        async with self._uow.connect() as connection:
            return await DirectoryRepository(connection).groups(community_id)

    async def import_community(self, data: CommunityImport) -> None:
        """Create a community with everything in it in one transaction, and plan every gate's first list."""
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            await _insert(directory.add_community(data.community),
                          f"community {data.community.community_id!r} exists already")
            for building in data.buildings:
                await directory.add_building(building)
            for unit in data.units:
                await directory.add_unit(unit)
            for gate in data.gates:
                await directory.add_gate(gate, work.now)
            for group in data.groups:
                _check_contract_years(group.group.valid_from, group.group.valid_to)
                await directory.put_group(group)
            for resident in data.residents:
                await directory.add_resident(resident)
            for enrolment in data.credentials:
                await directory.add_credential(self._credential_record(enrolment))
            for enrolment in data.revoked_credentials:
                record = self._credential_record(enrolment)
                await directory.add_credential(replace(record, revoked_at=work.now, revoked_by=SYSTEM))
            work.resync.add(data.community.community_id)
        self._gates.registered(gate.gate_id for gate in data.gates)
        self._alarms.registered((gate.gate_id for gate in data.gates), work.now)

    def _credential_record(self, enrolment: CredentialEnrolment) -> CredentialRecord:
        if not enrolment.raw_value:
            raise Refused("the credential's value is empty")
        value_hash = credential_hash(enrolment.kind, enrolment.raw_value, self._keys.site_key)
        record = CredentialRecord(
            enrolment.credential_id or f"cred-{secrets.token_hex(8)}", enrolment.resident_id, enrolment.kind,
            value_hash, credential_hint(enrolment.kind, enrolment.raw_value), enrolment.valid_from,
            enrolment.valid_to)
        try:
            record.for_permissions()  # the domain's checks: validity period
        except ValueError as invalid:
            raise Refused(str(invalid)) from None
        _check_contract_years(record.valid_from, record.valid_to)
        return record


async def existing_community(directory: DirectoryRepository, community_id: str) -> Community:
    """The community, which must exist."""
    community = await directory.community(community_id)
    if community is None:
        raise not_found("community", community_id)
    return community


async def existing_resident(directory: DirectoryRepository, resident_id: str) -> tuple[ResidentRecord, str]:
    """The resident and their community."""
    resident = await directory.resident(resident_id)
    if resident is None:
        raise not_found("resident", resident_id)
    community_id = await directory.community_of_unit(resident.unit_id)
    assert community_id is not None
    return resident, community_id


async def _check_groups(directory: DirectoryRepository, community_id: str, group_ids: Iterable[str]) -> None:
    known = {record.group.group_id for record in await directory.groups(community_id)}
    unknown = sorted(set(group_ids) - known)
    if unknown:
        raise Refused(f"no such access groups in this community: {', '.join(unknown)}")


async def _insert(insertion: Awaitable[None], message: str) -> None:
    try:
        await insertion
    except IntegrityError:
        raise Conflict(message) from None


def _check_contract_years(*moments: datetime | None) -> None:
    """Validity ends the gates can carry: the device contract takes times in 2000..2099 only."""
    for moment in moments:
        if moment is not None and not EARLIEST <= moment < LATEST:
            raise Refused(f"{moment.isoformat()} is outside 2000..2099, which gates cannot hold")
