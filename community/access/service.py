"""Access-control use cases: the directory and permissions, keeping every gate's whitelist in sync, visitor passes,
remote opens, the access log, presence and alarms. Each use case runs in one transaction, lets the domain decide
(permissions, whitelist_sync, visitor_pass, alarms) and stores the outcome; commands go to the gates and items to
the live feed only once the transaction has committed.

Gate uplinks arrive through :meth:`AccessService.handle` (idempotent: events by gate and event id, acks by command
id, availability by value), periodic work through :meth:`AccessService.tick`. One service process per database: the
whitelist sync and the alarm rules keep a little state in memory (restored from the database at start), and writes
are serialised in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from community.access.access_log import AccessLogEntry, LogPage, LogQuery, Presence, movement
from community.access.alarms import (
    SYSTEM,
    Alarm,
    AlarmEngine,
    AlarmKind,
    AlarmRules,
    AlarmStatus,
    AlarmTransitionError,
)
from community.access.alarms import acknowledge as acknowledged
from community.access.alarms import resolve as resolved
from community.access.directory import (
    Building,
    Community,
    CredentialRecord,
    Gate,
    GroupRecord,
    ResidentRecord,
    ResidentStatus,
    Unit,
    credential_hint,
)
from community.access.live_feed import FeedItem, LiveFeed
from community.access.permissions import (
    AccessGroup,
    Credential,
    CredentialKind,
    Door,
    Resident,
    Whitelist,
    credential_hash,
    effective_whitelist,
)
from community.access.remote_open import RemoteOpen, answered, timed_out, undeliverable
from community.access.storage import (
    AccessLogRepository,
    AlarmRepository,
    DirectoryRepository,
    RemoteOpenRepository,
    SyncRepository,
    VisitorRepository,
    is_data_error,
)
from community.access.visitor_pass import VisitorPass, issue
from community.access.visitors import PassStatus, VisitorPassRecord, pass_credential_hash
from community.access.whitelist_sync import (
    DEFAULT_POLICY,
    HOLDS_NOTHING,
    GateSyncState,
    Reported,
    SyncPolicy,
    WhitelistVersion,
    due_retries,
    on_ack,
    on_state,
    plan_sync,
)
from devices.contract import (
    EARLIEST,
    LATEST,
    AccessMethod,
    Command,
    CommandAck,
    DeviceState,
    GateEvent,
    GateEventKind,
    UplinkModel,
)
from devices.gate_commands import OPEN, GateStateReport, OpenDoorArgs
from devices.topics import DeviceKind, DeviceTopic
from messaging.downlink import Downlink, DownlinkUnavailable

log = logging.getLogger(__name__)
UNSTORABLE_VALUE = "a value is too long, out of range or holds characters that cannot be stored"

OPEN_PREFIX = "open-"
_CREDENTIAL_KINDS = {AccessMethod.CARD: CredentialKind.CARD, AccessMethod.PIN: CredentialKind.PIN,
                     AccessMethod.FACE: CredentialKind.FACE, AccessMethod.QR: CredentialKind.QR}


class AccessError(Exception):
    """A use case refused; the message says why (shown to the caller)."""


class NotFound(AccessError):
    pass


class Conflict(AccessError):
    """It exists already, or the state does not allow it now."""


class Refused(AccessError):
    """It breaks a rule (an unknown group, a door of another community, a pass too long)."""


class NotAllowed(AccessError):
    """The caller may not do this to this thing (a resident inviting to a door they cannot open)."""


@dataclass(frozen=True)
class AccessKeys:
    """`site_key` hashes credentials on the whitelists (the gates hold it: they hash what their readers see);
    `pass_key` signs visitor passes (the gates hold it too: they verify passes offline)."""

    site_key: bytes
    pass_key: bytes

    def __post_init__(self) -> None:
        if len(self.site_key) < 16:
            raise ValueError("the access site key must be at least 16 bytes")
        if len(self.pass_key) < 32:
            raise ValueError("the visitor pass key must be at least 32 bytes")


@dataclass(frozen=True)
class AccessSettings:
    """Everything a deployment may tune, with the defaults the docs describe (docs/community.md).

    The alarm thresholds are plain fields so the composition root can fill each from one setting; the alarm rules
    are built from them (:attr:`alarm_rules`), which also checks them: ValueError for a threshold that cannot work.
    """

    sync_policy: SyncPolicy = DEFAULT_POLICY
    denial_threshold: int = 5
    """Denials at one door that raise a repeated-denials alarm when they fall within `denial_window`."""
    denial_window: timedelta = timedelta(minutes=2)
    door_held_open_after: timedelta = timedelta(seconds=60)
    """A door heard open and not closed for longer raises a door-held-open alarm (besides the gate's own)."""
    gate_offline_after: timedelta = timedelta(minutes=5)
    """A gate offline — or registered and never heard from — for longer raises a gate-offline alarm."""
    resident_presence_stale_after: timedelta = timedelta(hours=24)
    """A resident last seen going in longer ago than this no longer counts as inside (they may have left unseen)."""
    remote_open_timeout: timedelta = timedelta(seconds=10)
    remote_open_seconds: int = 5
    pass_default_validity: timedelta = timedelta(hours=4)
    pass_max_validity: timedelta = timedelta(hours=24)
    pass_default_uses: int = 4
    expired_kept_for: timedelta = timedelta(days=30)
    """Credentials expired less than this long ago stay on the lists, so gates say 'expired', not 'unknown'."""
    refresh_every: timedelta = timedelta(hours=1)
    """How often every whitelist is recomputed anyway (passes leaving the blacklist, expired credentials pruned)."""

    def __post_init__(self) -> None:
        _ = self.alarm_rules  # builds the rules, so a threshold that cannot work fails at start-up
        if self.resident_presence_stale_after <= timedelta(0):
            raise ValueError("resident_presence_stale_after must be positive")

    @property
    def alarm_rules(self) -> AlarmRules:
        return AlarmRules(denial_threshold=self.denial_threshold, denial_window=self.denial_window,
                          held_open_after=self.door_held_open_after, offline_after=self.gate_offline_after)


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


@dataclass(frozen=True)
class GateStatus:
    gate: Gate
    online: bool
    desired_version: int | None
    acked_version: int | None
    in_sync: bool
    pending_commands: int
    whitelist_entries: int
    blacklist_entries: int


@dataclass(frozen=True)
class IssuedPass:
    record: VisitorPassRecord
    text: str  # what the QR code holds


@dataclass
class _Work:
    """One transaction's connection and what to do once it has committed."""

    connection: AsyncConnection
    now: datetime
    commands: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    feed: list[FeedItem] = field(default_factory=list)
    resync: set[str] = field(default_factory=set)
    remote_opens: list[tuple[str, RemoteOpen]] = field(default_factory=list)

    def send(self, site: str, gate_id: str, commands: Iterable[dict[str, Any]]) -> None:
        self.commands.extend((site, gate_id, command) for command in commands)


class AccessService:
    """Needs the relational database, the downlink to the gates, a clock (for uplinks, which carry no "now"),
    the keys, and optionally settings and the live feed the console listens to."""

    def __init__(
        self,
        engine: AsyncEngine,
        downlink: Downlink,
        clock: Callable[[], datetime],
        keys: AccessKeys,
        settings: AccessSettings | None = None,
        feed: LiveFeed | None = None,
    ) -> None:
        self._engine = engine
        self._downlink = downlink
        self._clock = clock
        self._keys = keys
        self.settings = settings or AccessSettings()
        self.feed = feed or LiveFeed()
        self._lock = asyncio.Lock()
        self._alarms = AlarmEngine(self.settings.alarm_rules)
        self._stored_occurrences: dict[str, int] = {}
        self._ready = False
        self._next_refresh: datetime | None = None
        self._gates: dict[str, tuple[Gate, Community]] = {}
        self._unregistered: set[str] = set()

    # -- the directory ------------------------------------------------------------------------------------------

    async def create_community(self, community: Community) -> None:
        async with self._work() as work:
            await self._insert(DirectoryRepository(work.connection).add_community(community),
                               f"community {community.community_id!r} or site {community.site!r} exists already")

    async def communities(self) -> list[Community]:
        async with self._engine.connect() as connection:
            return await DirectoryRepository(connection).communities()

    async def community(self, community_id: str) -> Community:
        async with self._engine.connect() as connection:
            return await self._community(DirectoryRepository(connection), community_id)

    async def add_building(self, building: Building) -> None:
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            await self._community(directory, building.community_id)
            await self._insert(directory.add_building(building), f"building {building.building_id!r} exists already")

    async def buildings(self, community_id: str) -> list[Building]:
        async with self._engine.connect() as connection:
            directory = DirectoryRepository(connection)
            await self._community(directory, community_id)
            return await directory.buildings(community_id)

    async def add_unit(self, unit: Unit) -> None:
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            if await directory.building(unit.building_id) is None:
                raise NotFound(f"no building {unit.building_id!r}")
            await self._insert(directory.add_unit(unit), f"unit {unit.unit_id!r} exists already")

    async def unit(self, unit_id: str) -> tuple[Unit, str]:
        """The unit and its community."""
        async with self._engine.connect() as connection:
            directory = DirectoryRepository(connection)
            unit, community_id = await directory.unit(unit_id), await directory.community_of_unit(unit_id)
        if unit is None or community_id is None:
            raise NotFound(f"no unit {unit_id!r}")
        return unit, community_id

    async def units(self, community_id: str) -> list[Unit]:
        async with self._engine.connect() as connection:
            return await DirectoryRepository(connection).units(community_id)

    async def add_resident(self, resident: ResidentRecord) -> None:
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            community_id = await directory.community_of_unit(resident.unit_id)
            if community_id is None:
                raise NotFound(f"no unit {resident.unit_id!r}")
            await self._check_groups(directory, community_id, resident.group_ids)
            await self._insert(directory.add_resident(resident), f"resident {resident.resident_id!r} exists already")
            work.resync.add(community_id)

    async def resident(self, resident_id: str) -> tuple[ResidentRecord, str]:
        """The resident and their community."""
        async with self._engine.connect() as connection:
            directory = DirectoryRepository(connection)
            resident = await directory.resident(resident_id)
            if resident is None:
                raise NotFound(f"no resident {resident_id!r}")
            community_id = await directory.community_of_unit(resident.unit_id)
        assert community_id is not None  # a resident's unit has a building, which has a community
        return resident, community_id

    async def residents(self, community_id: str, unit_id: str | None = None, *,
                        active_only: bool = False) -> list[ResidentRecord]:
        """The residents of a community or unit; `active_only` leaves out those moved out or revoked (a household
        as its members see it: a new occupant does not see the former ones)."""
        async with self._engine.connect() as connection:
            return await DirectoryRepository(connection).residents(
                community_id, unit_id, status=ResidentStatus.ACTIVE if active_only else None)

    async def signed_in_resident(self, resident_id: str) -> tuple[ResidentRecord, str]:
        """The resident a resident token names, and their community — only while they are active: a resident moved
        out or revoked keeps their record (the audit) but no resident access. NotFound, or NotAllowed."""
        resident, community_id = await self.resident(resident_id)
        if resident.status is not ResidentStatus.ACTIVE:
            raise NotAllowed(f"resident {resident_id!r} is {resident.status.value}: no resident access")
        return resident, community_id

    async def set_resident_groups(self, resident_id: str, group_ids: frozenset[str]) -> ResidentRecord:
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            resident, community_id = await self._resident(directory, resident_id)
            await self._check_groups(directory, community_id, group_ids)
            await directory.set_groups(resident_id, group_ids)
            work.resync.add(community_id)
        return replace(resident, group_ids=group_ids)

    async def revoke_resident(self, resident_id: str, by: str) -> None:
        """Blacklist every credential and visitor pass of the resident on every gate they could open."""
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            resident, community_id = await self._resident(directory, resident_id)
            if resident.status is ResidentStatus.MOVED_OUT:
                raise Conflict(f"resident {resident_id!r} has moved out")
            await directory.set_status(resident_id, ResidentStatus.REVOKED)
            await directory.revoke_credentials_of(resident_id, work.now, by)
            await VisitorRepository(work.connection).revoke_all_of(resident_id, work.now, by)
            work.resync.add(community_id)
        log.info("resident revoked", extra={"resident": resident_id, "by": by})

    async def move_out(self, resident_id: str, by: str) -> None:
        """Take the resident off every list (not blacklisted: their cards may be handed on); their passes revoked."""
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            _, community_id = await self._resident(directory, resident_id)
            await directory.set_status(resident_id, ResidentStatus.MOVED_OUT)
            await VisitorRepository(work.connection).revoke_all_of(resident_id, work.now, by)
            work.resync.add(community_id)

    async def enroll(self, enrolment: CredentialEnrolment) -> CredentialRecord:
        """Record a credential by its keyed hash; the same card or PIN cannot be active twice in a community."""
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            resident, community_id = await self._resident(directory, enrolment.resident_id)
            if resident.status is not ResidentStatus.ACTIVE:
                raise Conflict(f"resident {resident.resident_id!r} is {resident.status.value}")
            record = self._credential_record(enrolment)
            holders = await directory.holders(community_id, [record.value_hash], active_only=True)
            if holders:
                raise Conflict(f"this {enrolment.kind.value} is enrolled already")
            await self._insert(directory.add_credential(record), f"credential {record.credential_id!r} exists")
            work.resync.add(community_id)
        return record

    async def credentials_of(self, resident_id: str) -> list[CredentialRecord]:
        async with self._engine.connect() as connection:
            return await DirectoryRepository(connection).credentials_of(resident_id)

    async def revoke_credential(self, credential_id: str, by: str) -> CredentialRecord:
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            record = await directory.credential(credential_id)
            if record is None:
                raise NotFound(f"no credential {credential_id!r}")
            if record.revoked_at is not None:
                raise Conflict(f"credential {credential_id!r} is revoked already")
            _, community_id = await self._resident(directory, record.resident_id)
            await directory.revoke_credential(credential_id, work.now, by)
            work.resync.add(community_id)
        return replace(record, revoked_at=work.now, revoked_by=by)

    async def add_gate(self, gate: Gate) -> None:
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            await self._community(directory, gate.community_id)
            for door in gate.doors:
                if door.building_id is not None and await directory.building(door.building_id) is None:
                    raise NotFound(f"no building {door.building_id!r}")
            await self._insert(directory.add_gate(gate, work.now), f"gate {gate.gate_id!r} exists already")
            work.resync.add(gate.community_id)
        self._unregistered.discard(gate.gate_id)
        self._alarms.on_state(gate.gate_id, False, work.now)  # silent since registration until its first state

    async def gates(self, community_id: str) -> list[Gate]:
        async with self._engine.connect() as connection:
            return await DirectoryRepository(connection).gates(community_id)

    async def gate(self, gate_id: str) -> Gate:
        async with self._engine.connect() as connection:
            gate = await DirectoryRepository(connection).gate(gate_id)
        if gate is None:
            raise NotFound(f"no gate {gate_id!r}")
        return gate

    async def put_group(self, record: GroupRecord) -> None:
        """Create or change an access group; every gate of the community follows."""
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            await self._community(directory, record.community_id)
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
        async with self._engine.connect() as connection:
            return await DirectoryRepository(connection).groups(community_id)

    async def import_community(self, data: CommunityImport) -> None:
        """Create a community with everything in it in one transaction, and plan every gate's first list."""
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            await self._insert(directory.add_community(data.community),
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
        self._unregistered.difference_update(gate.gate_id for gate in data.gates)
        for gate in data.gates:
            self._alarms.on_state(gate.gate_id, False, work.now)

    # -- whitelists ---------------------------------------------------------------------------------------------

    async def gate_status(self, gate_id: str) -> GateStatus:
        async with self._engine.connect() as connection:
            gate = await DirectoryRepository(connection).gate(gate_id)
            state = await SyncRepository(connection).load(gate_id)
        if gate is None or state is None:
            raise NotFound(f"no gate {gate_id!r}")
        desired = state.desired.whitelist if state.desired else None
        return GateStatus(
            gate, state.online, state.desired.version.number if state.desired else None,
            state.acked.version.number if state.acked else None, state.in_sync,
            len(state.pending.unacked) if state.pending else 0,
            len(desired.entries) if desired else 0, len(desired.blacklist) if desired else 0)

    async def desired_whitelist(self, gate_id: str) -> tuple[int, Whitelist] | None:
        """The version and content the gate should hold (None before the first computation)."""
        async with self._engine.connect() as connection:
            state = await SyncRepository(connection).load(gate_id)
        if state is None:
            raise NotFound(f"no gate {gate_id!r}")
        return None if state.desired is None else (state.desired.version.number, state.desired.whitelist)

    async def resync(self, community_id: str) -> None:
        """Recompute every gate's whitelist of the community now (normally done by each change and hourly)."""
        async with self._work() as work:
            await self._community(DirectoryRepository(work.connection), community_id)
            work.resync.add(community_id)

    # -- visitor passes -----------------------------------------------------------------------------------------

    async def invite(
        self,
        resident_id: str,
        doors: frozenset[Door],
        *,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        max_uses: int | None = None,
        visitor_name: str | None = None,
        visitor_phone: str | None = None,
    ) -> IssuedPass:
        """A signed pass for a visitor, for doors the inviting resident may open themself."""
        async with self._work() as work:
            directory = DirectoryRepository(work.connection)
            resident, community_id = await self._resident(directory, resident_id)
            if resident.status is not ResidentStatus.ACTIVE:
                raise NotAllowed(f"resident {resident_id!r} is {resident.status.value} and cannot invite")
            groups = {record.group.group_id: record.group for record in await directory.groups(community_id)}
            theirs = {door for group_id in resident.group_ids if group_id in groups for door in groups[group_id].doors}
            if not doors <= theirs:
                outside = ", ".join(f"{door.gate_id}#{door.number}" for door in sorted(doors - theirs))
                raise NotAllowed(f"a resident invites only to doors they may open themself, not {outside}")
            start = (valid_from or work.now).replace(microsecond=0)
            end = (valid_to or start + self.settings.pass_default_validity).replace(microsecond=0)
            pass_id = f"vp-{secrets.token_hex(8)}"
            try:
                visit = VisitorPass(pass_id, resident_id, doors, start, end,
                                    max_uses or self.settings.pass_default_uses, visitor_name)
                text = issue(visit, self._keys.pass_key, max_validity=self.settings.pass_max_validity)
            except ValueError as invalid:
                raise Refused(str(invalid)) from None
            if end <= work.now:
                raise Refused("the pass would be over before it is handed out")
            record = VisitorPassRecord(visit, pass_credential_hash(pass_id, self._keys.site_key), work.now,
                                       visitor_phone)
            await VisitorRepository(work.connection).add(record)
        log.info("visitor pass issued", extra={"pass": pass_id, "resident": resident_id, "doors": len(doors)})
        return IssuedPass(record, text)

    async def visitor_pass(self, pass_id: str) -> tuple[VisitorPassRecord, str]:
        """The pass record and its community."""
        async with self._engine.connect() as connection:
            record = await VisitorRepository(connection).get(pass_id)
            if record is None:
                raise NotFound(f"no visitor pass {pass_id!r}")
            _, community_id = await self._resident(DirectoryRepository(connection), record.resident_id)
        return record, community_id

    def pass_text(self, record: VisitorPassRecord) -> str:
        """The QR text of a pass (signing is deterministic: the same pass gives the same text)."""
        return issue(record.visitor_pass, self._keys.pass_key, max_validity=self.settings.pass_max_validity)

    async def passes(self, *, community_id: str | None = None, resident_ids: Iterable[str] | None = None,
                     limit: int = 200) -> list[VisitorPassRecord]:
        async with self._engine.connect() as connection:
            return await VisitorRepository(connection).listed(community_id=community_id, resident_ids=resident_ids,
                                                              limit=limit)

    async def revoke_pass(self, pass_id: str, by: str) -> VisitorPassRecord:
        """Revoke a pass; gates whose doors it names blacklist it until it would have expired."""
        async with self._work() as work:
            visitors = VisitorRepository(work.connection)
            record = await visitors.get(pass_id)
            if record is None:
                raise NotFound(f"no visitor pass {pass_id!r}")
            status = record.status(work.now)
            if status in (PassStatus.REVOKED, PassStatus.EXPIRED):
                raise Conflict(f"visitor pass {pass_id!r} is {status.value} already")
            await visitors.revoke(pass_id, work.now, by)
            _, community_id = await self._resident(DirectoryRepository(work.connection), record.resident_id)
            work.resync.add(community_id)
        return replace(record, revoked_at=work.now, revoked_by=by)

    # -- remote open --------------------------------------------------------------------------------------------

    async def open_door(self, gate_id: str, door: int, by: str, reason: str) -> RemoteOpen:
        """Send ``open`` to the gate; the outcome comes with its ack (or the timeout). Always audited."""
        now = self._clock()
        known = await self._known_gate_id(gate_id)
        if known is None:
            raise NotFound(f"no gate {gate_id!r}")
        gate, community = known
        if door not in {d.number for d in gate.doors}:
            raise NotFound(f"gate {gate_id!r} has no door {door}")
        try:
            request = RemoteOpen(f"{OPEN_PREFIX}{secrets.token_hex(8)}", gate_id, door, by, reason, now,
                                 now + self.settings.remote_open_timeout)
        except ValueError as invalid:
            raise Refused(str(invalid)) from None
        async with self._work(now) as work:
            state = await SyncRepository(work.connection).load(gate_id)
            if state is not None and not state.online:
                request = undeliverable(request, "the gate is offline", now)
            await RemoteOpenRepository(work.connection).add(request)
        log.info("remote open requested",
                 extra={"cmd_id": request.cmd_id, "gate": gate_id, "door": door, "by": by,
                        "status": request.status.value})
        if request.finished_at is not None:
            return request
        command = Command(cmd_id=request.cmd_id, op=OPEN, issued_at=now, expires_at=request.deadline,
                          args=OpenDoorArgs(door=door, seconds=self.settings.remote_open_seconds).model_dump())
        try:
            await self._downlink.send(community.site, DeviceKind.GATE, gate_id, command)
        except DownlinkUnavailable as unavailable:
            failed = undeliverable(request, f"the command could not be sent: {unavailable}"[:200], self._clock())
            async with self._work() as work:
                await RemoteOpenRepository(work.connection).update(failed)
                work.feed.append(_remote_open_item(community.community_id, failed))
            return failed
        return request

    async def remote_open(self, cmd_id: str) -> tuple[RemoteOpen, str]:
        """A remote-open request and its community."""
        async with self._engine.connect() as connection:
            request = await RemoteOpenRepository(connection).get(cmd_id)
            gate = None if request is None else await DirectoryRepository(connection).gate(request.gate_id)
        if request is None or gate is None:
            raise NotFound(f"no remote open {cmd_id!r}")
        return request, gate.community_id

    async def remote_opens(self, community_id: str, gate_id: str | None = None, limit: int = 100) -> list[RemoteOpen]:
        async with self._engine.connect() as connection:
            return await RemoteOpenRepository(connection).listed(community_id, gate_id, limit)

    # -- the access log, presence, alarms -----------------------------------------------------------------------

    async def access_log(self, query: LogQuery) -> LogPage:
        async with self._engine.connect() as connection:
            return await AccessLogRepository(connection).query(query)

    async def presence(self, community_id: str) -> Presence:
        """People inside now — an estimate (docs/community.md): visitors until their pass ends, residents until
        their last movement in is older than `resident_presence_stale_after`."""
        now = self._clock()
        async with self._engine.connect() as connection:
            await self._community(DirectoryRepository(connection), community_id)
            return await AccessLogRepository(connection).presence(
                community_id, now, now - self.settings.resident_presence_stale_after)

    async def alarms(self, community_id: str, *, status: AlarmStatus | None = None, gate_id: str | None = None,
                     kind: AlarmKind | None = None, limit: int = 100) -> list[tuple[int, Alarm]]:
        async with self._engine.connect() as connection:
            return await AlarmRepository(connection).listed(community_id, status=status, gate_id=gate_id, kind=kind,
                                                            limit=limit)

    async def alarm(self, number: int) -> tuple[str, Alarm]:
        """The alarm and its community."""
        async with self._engine.connect() as connection:
            found = await AlarmRepository(connection).get(number)
        if found is None:
            raise NotFound(f"no alarm {number}")
        return found

    async def acknowledge_alarm(self, number: int, by: str, note: str = "") -> Alarm:
        return await self._move_alarm(number, by, note, acknowledge=True)

    async def resolve_alarm(self, number: int, by: str, note: str = "") -> Alarm:
        return await self._move_alarm(number, by, note, acknowledge=False)

    async def _move_alarm(self, number: int, by: str, note: str, *, acknowledge: bool) -> Alarm:
        async with self._work() as work:
            repository = AlarmRepository(work.connection)
            found = await repository.get(number)
            if found is None:
                raise NotFound(f"no alarm {number}")
            community_id, stored = found
            try:
                if stored.status is not AlarmStatus.RESOLVED and self._alarms.knows(stored.alarm_id):
                    move = self._alarms.acknowledge if acknowledge else self._alarms.resolve
                    alarm = move(stored.alarm_id, by, work.now, note)
                else:
                    alarm = (acknowledged if acknowledge else resolved)(stored, by, work.now, note)
            except AlarmTransitionError as refused:
                raise Conflict(str(refused)) from None
            await repository.update(alarm)
            work.feed.append(_alarm_item(community_id, number, alarm))
        log.info("alarm " + ("acknowledged" if acknowledge else "resolved"),
                 extra={"alarm": number, "kind": alarm.kind.value, "by": by})
        return alarm

    # -- uplinks and periodic work ------------------------------------------------------------------------------

    async def handle(self, messages: Sequence[tuple[DeviceTopic, UplinkModel]]) -> None:
        """Apply a burst of gate uplinks. Idempotent: a redelivered event, ack or state changes nothing more."""
        now = self._clock()
        async with self._work(now) as work:
            events: list[tuple[Gate, Community, GateEvent]] = []
            for topic, message in messages:
                known = await self._known_gate(work.connection, topic)
                if known is None:
                    continue
                gate, community = known
                if isinstance(message, GateEvent):
                    events.append((gate, community, message))
                elif isinstance(message, DeviceState):
                    await self._on_state(work, gate, community, message)
                elif isinstance(message, CommandAck):
                    await self._on_ack(work, gate, community, message)
            if events:
                await self._on_events(work, events)

    async def tick(self, now: datetime) -> None:
        """Resend due whitelist commands, time out remote opens, raise offline alarms, refresh lists hourly."""
        async with self._work(now) as work:
            sync = SyncRepository(work.connection)
            for gate_id in await sync.due(now):
                known = await self._known_gate(work.connection, None, gate_id)
                state = await sync.load(gate_id, for_update=True)
                if known is None or state is None:
                    continue
                step = due_retries(state, now, self.settings.sync_policy)
                if step.state is not state:
                    await sync.save(step.state)
                work.send(known[1].site, gate_id, step.commands)
            opens = RemoteOpenRepository(work.connection)
            for request in await opens.due(now):
                expired = timed_out(request, now)
                known = await self._known_gate(work.connection, None, request.gate_id)
                if expired is not None and known is not None:
                    await opens.update(expired)
                    work.feed.append(_remote_open_item(known[1].community_id, expired))
                    log.warning("remote open timed out", extra={"cmd_id": request.cmd_id, "gate": request.gate_id})
            for alarm in self._alarms.tick(now):
                await self._store_raised(work, alarm)
            if self._next_refresh is None or now >= self._next_refresh:
                self._next_refresh = now + self.settings.refresh_every
                work.resync.update(community.community_id
                                   for community in await DirectoryRepository(work.connection).communities())

    async def _on_events(self, work: _Work, events: list[tuple[Gate, Community, GateEvent]]) -> None:
        directory, visitors = DirectoryRepository(work.connection), VisitorRepository(work.connection)
        access_log = AccessLogRepository(work.connection)
        hashed = [(gate, community, event, self._event_credential_hash(event)) for gate, community, event in events]
        entries: list[AccessLogEntry] = []
        passes: dict[str, VisitorPassRecord] = {}  # by credential hash
        for community_id in {community.community_id for _, community, _, _ in hashed}:
            hashes = [h for _, c, _, h in hashed if h is not None and c.community_id == community_id]
            holders = await directory.holders(community_id, hashes)
            passes.update(await visitors.by_hashes(hashes))
            for gate, community, event, value_hash in hashed:
                if community.community_id != community_id:
                    continue
                visit = passes.get(value_hash) if value_hash is not None else None
                entries.append(AccessLogEntry(
                    gate.gate_id, event.event_id, community_id, event.ts, work.now, event.door, event.kind,
                    event.method, value_hash, holders.get(value_hash) if value_hash is not None else None,
                    visit.pass_id if visit is not None else None, event.direction, event.reason, event.offline))
        fresh = {(entry.gate_id, entry.event_id): entry for entry in await access_log.add(entries)}
        passes_by_id = {record.pass_id: record for record in passes.values()}
        uses: dict[str, int] = {}
        for gate, community, event in events:
            entry = fresh.pop((gate.gate_id, event.event_id), None)
            if entry is None:
                continue  # seen before: a redelivery
            kinds = {door.number: door.kind for door in gate.doors}
            moved = movement(entry, kinds.get(entry.door))
            if moved is not None:
                await access_log.move(community.community_id, moved)
            if entry.pass_id is not None and entry.kind is GateEventKind.GRANTED:
                await visitors.count_use(entry.pass_id)
                record = passes_by_id[entry.pass_id]
                uses[entry.pass_id] = uses.get(entry.pass_id, record.uses) + 1
                if uses[entry.pass_id] >= record.visitor_pass.max_uses:
                    work.resync.add(community.community_id)  # spent: every gate of the pass refuses it now
            work.feed.append(_event_item(entry, gate))
            for alarm in self._alarms.on_event(gate.gate_id, event, work.now):
                await self._store_raised(work, alarm)
        await self._store_folded(work)

    async def _on_state(self, work: _Work, gate: Gate, community: Community, message: DeviceState) -> None:
        sync = SyncRepository(work.connection)
        state = await sync.load(gate.gate_id, for_update=True)
        if state is None:
            return
        changed = state.online != message.online
        # compared on every online state: a gate that rebooted with another list may never have been seen offline
        reported = _reported_version(message) if message.online else None
        step = on_state(state, message.online, work.now, reported, self.settings.sync_policy)
        if step.state is not state or changed:
            await sync.save(step.state, changed_at=work.now if changed else None)
        work.send(community.site, gate.gate_id, step.commands)
        for alarm in self._alarms.on_state(gate.gate_id, message.online, work.now):
            await self._store_updated(work, community.community_id, alarm)
        if changed:
            log.info("gate availability", extra={"gate": gate.gate_id, "online": message.online})
            work.feed.append(FeedItem("gate", community.community_id, gate.gate_id,
                                      {"online": message.online, "at": work.now.isoformat()}))

    async def _on_ack(self, work: _Work, gate: Gate, community: Community, ack: CommandAck) -> None:
        if ack.cmd_id.startswith(OPEN_PREFIX):
            opens = RemoteOpenRepository(work.connection)
            request = await opens.get(ack.cmd_id)
            done = None if request is None or request.gate_id != gate.gate_id else answered(
                request, ack.ok, ack.error, work.now)
            if done is not None:
                await opens.update(done)
                work.feed.append(_remote_open_item(community.community_id, done))
                log.info("remote open answered", extra={"cmd_id": ack.cmd_id, "status": done.status.value})
            return
        sync = SyncRepository(work.connection)
        state = await sync.load(gate.gate_id, for_update=True)
        if state is None:
            return
        step = on_ack(state, ack.cmd_id, ack.ok, work.now, self.settings.sync_policy)
        if step.state is state or step.state == state:
            return  # late, repeated or unknown
        await sync.save(step.state)
        work.send(community.site, gate.gate_id, step.commands)
        if not ack.ok:
            log.warning("gate refused a whitelist command",
                        extra={"gate": gate.gate_id, "cmd_id": ack.cmd_id, "error": ack.error})
        if step.state.acked != state.acked and step.state.acked is not None:
            work.feed.append(FeedItem("gate", community.community_id, gate.gate_id,
                                      {"whitelist_version": step.state.acked.version.number,
                                       "in_sync": step.state.in_sync}))

    # -- internals ----------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _work(self, now: datetime | None = None) -> AsyncIterator[_Work]:
        """One serialised transaction; its commands are sent and its feed items published after the commit."""
        async with self._lock:
            now = now or self._clock()
            await self._restore(now)
            try:
                async with self._engine.begin() as connection:
                    work = _Work(connection, now)
                    yield work
                    for community_id in sorted(work.resync):
                        await self._resync(work, community_id)
            except DBAPIError as failed:
                if not is_data_error(failed):
                    raise
                # bad input that slipped past validation: refused, and without the SQL text (it holds the values)
                log.warning("a value the database cannot store was refused",
                            extra={"error": type(failed.orig).__name__})
                raise Refused(UNSTORABLE_VALUE) from None
        for item in work.feed:
            self.feed.publish(item)
        for site, gate_id, command in work.commands:
            try:
                await self._downlink.send(site, DeviceKind.GATE, gate_id, Command.model_validate(command))
            except DownlinkUnavailable as unavailable:
                # the plan stays pending: tick() sends it again when it is due
                log.warning("whitelist command not sent",
                            extra={"gate": gate_id, "cmd_id": command["cmd_id"], "error": str(unavailable)})

    async def _restore(self, now: datetime) -> None:
        if self._ready:
            return
        async with self._engine.connect() as connection:
            unresolved = await AlarmRepository(connection).unresolved()
            availability = await SyncRepository(connection).availability()
        # a gate never heard from is offline since its registration, or since now when that was not recorded
        offline = {gate_id: since or now for gate_id, (online, since) in availability.items() if not online}
        self._alarms.restore(unresolved, offline)
        self._stored_occurrences = {alarm.alarm_id: alarm.occurrences for alarm in unresolved}
        self._ready = True

    async def _resync(self, work: _Work, community_id: str) -> None:
        """Recompute the whitelist of every gate of the community and plan what each gate needs."""
        directory = DirectoryRepository(work.connection)
        community = await directory.community(community_id)
        if community is None:
            return
        credentials = [record.for_permissions() for record in await directory.credentials(community_id)]
        groups = [record.group for record in await directory.groups(community_id)]
        known_groups = {group.group_id for group in groups}
        people = [Resident(person.resident_id, person.group_ids & known_groups)
                  for record in await directory.residents(community_id)
                  if (person := record.for_permissions()) is not None]
        spent = await VisitorRepository(work.connection).to_blacklist(community_id, work.now)
        sync = SyncRepository(work.connection)
        for gate in await directory.gates(community_id):
            try:
                whitelist = self._whitelist(gate.gate_id, credentials, people, groups, spent, work.now)
            except ValueError as broken:
                # e.g. two active credentials with one hash (imported data): this gate keeps its list, the rest go on
                log.error("whitelist not computable", extra={"gate": gate.gate_id, "error": str(broken)})
                continue
            state = await sync.load(gate.gate_id, for_update=True)
            if state is None:
                continue
            step = plan_sync(whitelist, _next_version(state, whitelist), state, work.now, self.settings.sync_policy)
            if step.state is not state:
                await sync.save(step.state)
                log.info("whitelist planned", extra={
                    "gate": gate.gate_id, "version": step.state.desired.version.number if step.state.desired else None,
                    "entries": len(whitelist.entries), "commands": [command["op"] for command in step.commands]})
            work.send(community.site, gate.gate_id, step.commands)

    def _whitelist(self, gate_id: str, credentials: list[Credential], people: list[Resident],
                   groups: list[AccessGroup], spent: list[VisitorPassRecord], now: datetime) -> Whitelist:
        listed = effective_whitelist(gate_id, credentials, people, groups, as_of=now - self.settings.expired_kept_for)
        passes = {record.value_hash for record in spent
                  if any(door.gate_id == gate_id for door in record.visitor_pass.doors)}
        if not passes:
            return listed
        blacklist = (set(listed.blacklist) | passes) - listed.by_hash.keys()
        return Whitelist(gate_id, listed.entries, tuple(sorted(blacklist)))

    async def _store_raised(self, work: _Work, alarm: Alarm) -> None:
        known = await self._known_gate(work.connection, None, alarm.gate_id)
        if known is None:
            return
        alarms = AlarmRepository(work.connection)
        existing = await alarms.find(alarm.alarm_id)
        if existing is not None and existing[1].status is AlarmStatus.RESOLVED:
            # resolved by hand while its cause goes on (a gate still offline): it stays resolved
            self._alarms.resolve(alarm.alarm_id, SYSTEM, max(work.now, alarm.raised_at), "resolved already")
            return
        number = await alarms.add(known[1].community_id, alarm)
        self._stored_occurrences[alarm.alarm_id] = alarm.occurrences
        if existing is None:
            work.feed.append(_alarm_item(known[1].community_id, number, alarm))
            log.warning("alarm raised", extra={"alarm": number, "kind": alarm.kind.value, "gate": alarm.gate_id,
                                               "door": alarm.door})

    async def _store_updated(self, work: _Work, community_id: str, alarm: Alarm) -> None:
        alarms = AlarmRepository(work.connection)
        number = await alarms.number_of(alarm.alarm_id)
        if number is None:
            return
        await alarms.update(alarm)
        self._stored_occurrences.pop(alarm.alarm_id, None)
        work.feed.append(_alarm_item(community_id, number, alarm))

    async def _store_folded(self, work: _Work) -> None:
        """Persist the repeats the engine counted on alarms still unresolved."""
        alarms = AlarmRepository(work.connection)
        for alarm in self._alarms.unresolved:
            if self._stored_occurrences.get(alarm.alarm_id) != alarm.occurrences:
                await alarms.update(alarm)
                self._stored_occurrences[alarm.alarm_id] = alarm.occurrences

    async def _known_gate(
        self, connection: AsyncConnection, topic: DeviceTopic | None, gate_id: str | None = None
    ) -> tuple[Gate, Community] | None:
        """The registered gate of a topic (whose site must be the gate's community's), or of a gate id."""
        device = topic.device if topic is not None else gate_id
        assert device is not None
        if topic is not None and topic.kind is not DeviceKind.GATE:
            return None
        known = self._gates.get(device)
        if known is None and device not in self._unregistered:
            directory = DirectoryRepository(connection)
            gate = await directory.gate(device)
            community = None if gate is None else await directory.community(gate.community_id)
            if gate is None or community is None:
                self._unregistered.add(device)
                log.info("uplink from an unregistered gate ignored", extra={"gate": device})
                return None
            known = self._gates[device] = (gate, community)
        if known is None:
            return None
        if topic is not None and topic.site != known[1].site:
            log.warning("gate uplink from another site ignored", extra={"gate": device, "site": topic.site})
            return None
        return known

    async def _known_gate_id(self, gate_id: str) -> tuple[Gate, Community] | None:
        async with self._engine.connect() as connection:
            self._unregistered.discard(gate_id)
            return await self._known_gate(connection, None, gate_id)

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

    def _event_credential_hash(self, event: GateEvent) -> str | None:
        """The keyed hash of what the gate read — as on the whitelists, so it names the holder; never the value."""
        if event.credential is None:
            return None
        kind = _CREDENTIAL_KINDS.get(event.method) if event.method is not None else None
        if kind is not None:
            return credential_hash(kind, event.credential, self._keys.site_key)
        label = event.method.value if event.method is not None else "other"
        return hmac.new(self._keys.site_key, f"{label}:{event.credential}".encode(), hashlib.sha256).hexdigest()

    async def _community(self, directory: DirectoryRepository, community_id: str) -> Community:
        community = await directory.community(community_id)
        if community is None:
            raise NotFound(f"no community {community_id!r}")
        return community

    async def _resident(self, directory: DirectoryRepository, resident_id: str) -> tuple[ResidentRecord, str]:
        resident = await directory.resident(resident_id)
        if resident is None:
            raise NotFound(f"no resident {resident_id!r}")
        community_id = await directory.community_of_unit(resident.unit_id)
        assert community_id is not None
        return resident, community_id

    async def _check_groups(self, directory: DirectoryRepository, community_id: str, group_ids: Iterable[str]) -> None:
        known = {record.group.group_id for record in await directory.groups(community_id)}
        unknown = sorted(set(group_ids) - known)
        if unknown:
            raise Refused(f"no such access groups in this community: {', '.join(unknown)}")

    async def _insert(self, insertion: Awaitable[None], message: str) -> None:
        try:
            await insertion
        except IntegrityError:
            raise Conflict(message) from None


def _check_contract_years(*moments: datetime | None) -> None:
    """Validity ends the gates can carry: the device contract takes times in 2000..2099 only."""
    for moment in moments:
        if moment is not None and not EARLIEST <= moment < LATEST:
            raise Refused(f"{moment.isoformat()} is outside 2000..2099, which gates cannot hold")


def _next_version(state: GateSyncState, whitelist: Whitelist) -> int:
    if state.desired is None:
        return 1
    if state.desired.version.content_hash == whitelist.content_hash:
        return state.desired.version.number
    return state.desired.version.number + 1


def _reported_version(message: DeviceState) -> Reported | None:
    """What the gate's state says it holds: a version, nothing (both keys null), or no report (keys left out)."""
    extra = message.model_extra or {}
    try:
        report = GateStateReport.model_validate(extra)
    except ValidationError:
        return None  # a firmware's own idea of these keys: no report, rather than a burst that never passes
    if report.whitelist_version is not None and report.whitelist_hash is not None:
        return WhitelistVersion(report.whitelist_version, report.whitelist_hash)
    if "whitelist_version" in extra and report.whitelist_version is None and report.whitelist_hash is None:
        return HOLDS_NOTHING
    return None


def _event_item(entry: AccessLogEntry, gate: Gate) -> FeedItem:
    names = {door.number: door.name for door in gate.doors}
    return FeedItem("event", entry.community_id, entry.gate_id, {
        "event_id": entry.event_id, "ts": entry.ts.isoformat(), "door": entry.door,
        "door_name": names.get(entry.door), "event": entry.kind.value,
        "method": entry.method.value if entry.method else None,
        "direction": entry.direction.value if entry.direction else None,
        "reason": entry.reason.value if entry.reason else None, "offline": entry.offline,
        "resident_id": entry.resident_id, "pass_id": entry.pass_id,
    })


def _alarm_item(community_id: str, number: int, alarm: Alarm) -> FeedItem:
    return FeedItem("alarm", community_id, alarm.gate_id, {"number": number, **alarm_document(alarm)})


def _remote_open_item(community_id: str, request: RemoteOpen) -> FeedItem:
    return FeedItem("remote_open", community_id, request.gate_id, {
        "cmd_id": request.cmd_id, "door": request.door, "status": request.status.value,
        "requested_by": request.requested_by, "error": request.error,
    })


def alarm_document(alarm: Alarm) -> dict[str, Any]:
    """An alarm as JSON-ready values."""
    return {
        "alarm_id": alarm.alarm_id, "alarm": alarm.kind.value, "door": alarm.door,
        "raised_at": alarm.raised_at.isoformat(), "status": alarm.status.value, "occurrences": alarm.occurrences,
        "acknowledged_by": alarm.acknowledged_by,
        "acknowledged_at": alarm.acknowledged_at.isoformat() if alarm.acknowledged_at else None,
        "acknowledge_note": alarm.acknowledge_note, "resolved_by": alarm.resolved_by,
        "resolved_at": alarm.resolved_at.isoformat() if alarm.resolved_at else None,
        "resolve_note": alarm.resolve_note,
    }
