"""`AccessService`, the one object the web layer, the pages and the composition root hold: it builds the use-case
groups of this package around one unit of work and hands each call to the group it belongs to. The use cases
themselves, and their documentation, are in the groups' modules:

* `directory` — communities, buildings, units, residents, credentials, gates, access groups, imports;
* `compound` — a bulk import into an existing community, in one transaction others may write in too;
* `whitelists` — every gate's whitelist kept in sync (the outbox's deliveries), and its status;
* `visitors` — visitor passes; `remote_opens` — doors opened from afar;
* `access_log` — gate events recorded, the log and presence; `alarms` — alarms raised and handled;
* `uplinks` — what the gates send; `unit_of_work` — the transaction and the outbox around it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.access_log import LogPage, LogQuery, Presence
from community.access.alarms import Alarm, AlarmKind, AlarmStatus
from community.access.directory import (
    Building,
    Community,
    CredentialRecord,
    Gate,
    GroupRecord,
    ResidentMatches,
    ResidentRecord,
    ResidentSearch,
    Unit,
)
from community.access.live_feed import LiveFeed
from community.access.permissions import Door, Whitelist
from community.access.remote_open import RemoteOpen
from community.access.service.access_log import AccessLog
from community.access.service.alarms import AlarmBook, AlarmDesk
from community.access.service.compound import Compounds, CompoundWork
from community.access.service.directory import CommunityImport, CredentialEnrolment, Directory
from community.access.service.gate_registry import GateRegistry
from community.access.service.remote_opens import RemoteOpens
from community.access.service.retention import Purged, Retention
from community.access.service.settings import AccessKeys, AccessSettings
from community.access.service.unit_of_work import UnitOfWork
from community.access.service.uplinks import UplinkHandler
from community.access.service.visitors import IssuedPass, VisitorPasses
from community.access.service.whitelists import GateStatus, WhitelistDelivery, Whitelists
from community.access.visitors import VisitorPassRecord
from devices.contract import UplinkModel
from devices.topics import DeviceTopic
from messaging.downlink import Downlink
from notifications.outbox import Outbox


class AccessService:
    """Needs the relational database, the downlink to the gates, a clock (for uplinks, which carry no "now"),
    the keys, and optionally settings and the live feed the console listens to (by default one that gives each
    account the settings' `live_streams_per_account`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        downlink: Downlink,
        clock: Callable[[], datetime],
        keys: AccessKeys,
        settings: AccessSettings | None = None,
        feed: LiveFeed | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.settings = settings or AccessSettings()
        self.feed = feed or LiveFeed(max_per_subscriber=self.settings.live_streams_per_account)
        gates = GateRegistry()
        alarm_book = AlarmBook(self.settings.alarm_rules, gates, outbox)
        self._delivery = WhitelistDelivery(self.settings, gates)
        uow = UnitOfWork(engine, downlink, clock, self.feed, restore=alarm_book.restore, resync=self._delivery.resync)
        self._uow = uow
        self._alarm_book = alarm_book
        self._directory = Directory(uow, keys, gates, alarm_book)
        self._compounds = Compounds(uow, keys)
        self._whitelists = Whitelists(uow)
        self._visitors = VisitorPasses(uow, keys, self.settings)
        self._remote_opens = RemoteOpens(uow, downlink, clock, gates, self.settings)
        self._access_log = AccessLog(uow, clock, keys, self.settings, alarm_book)
        self._alarms = AlarmDesk(uow, alarm_book)
        self._retention = Retention(self.settings)
        self._uplinks = UplinkHandler(uow, clock, gates, self._access_log, self._delivery, self._remote_opens,
                                      alarm_book)

    # -- the directory ------------------------------------------------------------------------------------------

    async def create_community(self, community: Community) -> None:
        await self._directory.create_community(community)

    async def communities(self) -> list[Community]:
        return await self._directory.communities()

    async def community(self, community_id: str) -> Community:
        return await self._directory.community(community_id)

    async def add_building(self, building: Building) -> None:
        await self._directory.add_building(building)

    async def buildings(self, community_id: str) -> list[Building]:
        return await self._directory.buildings(community_id)

    async def building(self, building_id: str) -> Building:
        return await self._directory.building(building_id)

    async def unit_counts(self, community_id: str) -> dict[str, int]:
        return await self._directory.unit_counts(community_id)

    async def building_units(self, building_id: str) -> list[Unit]:
        return await self._directory.building_units(building_id)

    async def units_by_id(self, unit_ids: Iterable[str]) -> dict[str, Unit]:
        return await self._directory.units_by_id(unit_ids)

    async def add_unit(self, unit: Unit) -> None:
        await self._directory.add_unit(unit)

    async def unit(self, unit_id: str) -> tuple[Unit, str]:
        return await self._directory.unit(unit_id)

    async def units(self, community_id: str) -> list[Unit]:
        return await self._directory.units(community_id)

    async def add_resident(self, resident: ResidentRecord) -> None:
        await self._directory.add_resident(resident)

    async def resident(self, resident_id: str) -> tuple[ResidentRecord, str]:
        return await self._directory.resident(resident_id)

    async def residents(self, community_id: str, unit_id: str | None = None, *,
                        active_only: bool = False) -> list[ResidentRecord]:
        return await self._directory.residents(community_id, unit_id, active_only=active_only)

    async def residents_of_units(self, unit_ids: Sequence[str]) -> list[ResidentRecord]:
        return await self._directory.residents_of_units(unit_ids)

    async def search_residents(self, search: ResidentSearch) -> ResidentMatches:
        return await self._directory.search_residents(search)

    async def signed_in_resident(self, resident_id: str) -> tuple[ResidentRecord, str]:
        return await self._directory.signed_in_resident(resident_id)

    async def set_resident_groups(self, resident_id: str, group_ids: frozenset[str]) -> ResidentRecord:
        return await self._directory.set_resident_groups(resident_id, group_ids)

    async def revoke_resident(self, resident_id: str, by: str) -> None:
        await self._directory.revoke_resident(resident_id, by)

    async def move_out(self, resident_id: str, by: str) -> None:
        await self._directory.move_out(resident_id, by)

    async def enroll(self, enrolment: CredentialEnrolment) -> CredentialRecord:
        return await self._directory.enroll(enrolment)

    async def credentials_of(self, resident_id: str) -> list[CredentialRecord]:
        return await self._directory.credentials_of(resident_id)

    async def credential(self, credential_id: str) -> tuple[CredentialRecord, str]:
        return await self._directory.credential(credential_id)

    async def revoke_credential(self, credential_id: str, by: str) -> CredentialRecord:
        return await self._directory.revoke_credential(credential_id, by)

    async def add_gate(self, gate: Gate) -> None:
        await self._directory.add_gate(gate)

    async def gates(self, community_id: str) -> list[Gate]:
        return await self._directory.gates(community_id)

    async def gate(self, gate_id: str) -> Gate:
        return await self._directory.gate(gate_id)

    async def put_group(self, record: GroupRecord) -> None:
        await self._directory.put_group(record)

    async def groups(self, community_id: str) -> list[GroupRecord]:
        return await self._directory.groups(community_id)

    async def import_community(self, data: CommunityImport) -> None:
        await self._directory.import_community(data)

    def compound_work(self, community_id: str) -> AbstractAsyncContextManager[CompoundWork]:
        return self._compounds.work(community_id)

    # -- whitelists ---------------------------------------------------------------------------------------------

    async def gate_status(self, gate_id: str) -> GateStatus:
        return await self._whitelists.gate_status(gate_id)

    async def desired_whitelist(self, gate_id: str) -> tuple[int, Whitelist] | None:
        return await self._whitelists.desired_whitelist(gate_id)

    async def resync(self, community_id: str) -> None:
        await self._whitelists.resync(community_id)

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
        return await self._visitors.invite(resident_id, doors, valid_from=valid_from, valid_to=valid_to,
                                           max_uses=max_uses, visitor_name=visitor_name, visitor_phone=visitor_phone)

    async def visitor_pass(self, pass_id: str) -> tuple[VisitorPassRecord, str]:
        return await self._visitors.visitor_pass(pass_id)

    def pass_text(self, record: VisitorPassRecord) -> str:
        return self._visitors.pass_text(record)

    async def passes(self, *, community_id: str | None = None, resident_ids: Iterable[str] | None = None,
                     limit: int = 200) -> list[VisitorPassRecord]:
        return await self._visitors.passes(community_id=community_id, resident_ids=resident_ids, limit=limit)

    async def revoke_pass(self, pass_id: str, by: str) -> VisitorPassRecord:
        return await self._visitors.revoke_pass(pass_id, by)

    # -- remote open --------------------------------------------------------------------------------------------

    async def open_door(self, gate_id: str, door: int, by: str, reason: str) -> RemoteOpen:
        return await self._remote_opens.open_door(gate_id, door, by, reason)

    async def remote_open(self, cmd_id: str) -> tuple[RemoteOpen, str]:
        return await self._remote_opens.remote_open(cmd_id)

    async def remote_opens(self, community_id: str, gate_id: str | None = None, limit: int = 100) -> list[RemoteOpen]:
        return await self._remote_opens.remote_opens(community_id, gate_id, limit)

    # -- the access log, presence, alarms -----------------------------------------------------------------------

    async def access_log(self, query: LogQuery) -> LogPage:
        return await self._access_log.query(query)

    async def presence(self, community_id: str) -> Presence:
        return await self._access_log.presence(community_id)

    async def alarms(self, community_id: str, *, status: AlarmStatus | None = None, gate_id: str | None = None,
                     kind: AlarmKind | None = None, limit: int = 100) -> list[tuple[int, Alarm]]:
        return await self._alarms.alarms(community_id, status=status, gate_id=gate_id, kind=kind, limit=limit)

    async def alarm(self, number: int) -> tuple[str, Alarm]:
        return await self._alarms.alarm(number)

    async def acknowledge_alarm(self, number: int, by: str, note: str = "") -> Alarm:
        return await self._alarms.acknowledge_alarm(number, by, note)

    async def resolve_alarm(self, number: int, by: str, note: str = "") -> Alarm:
        return await self._alarms.resolve_alarm(number, by, note)

    # -- uplinks and periodic work ------------------------------------------------------------------------------

    async def handle(self, messages: Sequence[tuple[DeviceTopic, UplinkModel]]) -> None:
        await self._uplinks.handle(messages)

    async def tick(self, now: datetime) -> None:
        """Resend due whitelist commands, time out remote opens, raise offline alarms, refresh lists hourly, purge
        what is past the access log's retention hourly."""
        async with self._uow.work(now) as work:
            await self._delivery.resend_due(work)
            await self._remote_opens.time_out_due(work)
            await self._alarm_book.on_tick(work)
            await self._delivery.refresh_when_due(work)
            await self._retention.purge_when_due(work)

    async def purge(self, before: datetime) -> Purged:
        """Purge what is older than ``before`` now, whatever the retention (an operator's one-off; the tick purges by
        the retention)."""
        async with self._uow.work() as work:
            return await self._retention.purge(work, before)
