"""Every gate's whitelist kept in sync — the outbox's deliveries to the gates. `WhitelistDelivery` works inside the
use cases' transactions: it recomputes the effective whitelist of each gate of a community that changed and plans the
commands that bring the gate to it, moves the plans on as gates report their state and acknowledge commands, resends
what is due and refreshes every list from time to time; `whitelist_sync` decides, versions and retries. `Whitelists`
is the sync as people see it: a gate's status, the list it should hold, a recomputation on demand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from community.access.directory import Community, Gate
from community.access.live_feed import FeedItem
from community.access.permissions import AccessGroup, Credential, Resident, Whitelist, effective_whitelist
from community.access.service.directory import existing_community
from community.access.service.errors import not_found
from community.access.service.gate_registry import GateRegistry
from community.access.service.settings import AccessSettings
from community.access.service.unit_of_work import UnitOfWork, Work
from community.access.service.visitors import revoke_lapsed_passes
from community.access.storage import DirectoryRepository, SyncRepository, VisitorRepository
from community.access.visitors import VisitorPassRecord
from community.access.whitelist_sync import (
    HOLDS_NOTHING,
    GateSyncState,
    Reported,
    WhitelistVersion,
    due_retries,
    on_ack,
    on_state,
    plan_sync,
)
from devices.contract import CommandAck, DeviceState
from devices.gate_commands import GateStateReport

log = logging.getLogger(__name__)


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


class WhitelistDelivery:
    """Plans, within a transaction, what each gate needs to hold its effective whitelist."""

    def __init__(self, settings: AccessSettings, gates: GateRegistry) -> None:
        self._settings = settings
        self._gates = gates
        self._next_refresh: datetime | None = None

    async def resync(self, work: Work, community_id: str) -> None:
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
        await revoke_lapsed_passes(work, community_id)  # a pass never outlasts its inviter's own access
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
            step = plan_sync(whitelist, _next_version(state, whitelist), state, work.now, self._settings.sync_policy)
            if step.state is not state:
                await sync.save(step.state)
                log.info("whitelist planned", extra={
                    "gate": gate.gate_id, "version": step.state.desired.version.number if step.state.desired else None,
                    "entries": len(whitelist.entries), "commands": [command["op"] for command in step.commands]})
            work.send(community.site, gate.gate_id, step.commands)

    async def on_state(self, work: Work, gate: Gate, community: Community, message: DeviceState) -> bool | None:
        """Move the gate's plan on with its state (a gate back online may need its list again). Returns whether its
        availability changed; None for a gate without a sync state, from whose state nothing more follows."""
        sync = SyncRepository(work.connection)
        state = await sync.load(gate.gate_id, for_update=True)
        if state is None:
            return None
        changed = state.online != message.online
        # compared on every online state: a gate that rebooted with another list may never have been seen offline
        reported = _reported_version(message) if message.online else None
        step = on_state(state, message.online, work.now, reported, self._settings.sync_policy)
        if step.state is not state or changed:
            await sync.save(step.state, changed_at=work.now if changed else None)
        work.send(community.site, gate.gate_id, step.commands)
        return changed

    async def on_ack(self, work: Work, gate: Gate, community: Community, ack: CommandAck) -> None:
        """Move the gate's plan on with the ack of one of its whitelist commands."""
        sync = SyncRepository(work.connection)
        state = await sync.load(gate.gate_id, for_update=True)
        if state is None:
            return
        step = on_ack(state, ack.cmd_id, ack.ok, work.now, self._settings.sync_policy)
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

    async def resend_due(self, work: Work) -> None:
        """Send again the commands of plans in flight that are due."""
        sync = SyncRepository(work.connection)
        for gate_id in await sync.due(work.now):
            known = await self._gates.of_id(work.connection, gate_id)
            state = await sync.load(gate_id, for_update=True)
            if known is None or state is None:
                continue
            step = due_retries(state, work.now, self._settings.sync_policy)
            if step.state is not state:
                await sync.save(step.state)
            work.send(known[1].site, gate_id, step.commands)

    async def refresh_when_due(self, work: Work) -> None:
        """Recompute every community's lists every `refresh_every` (passes leaving the blacklist, expired
        credentials pruned), the first time at once."""
        if self._next_refresh is None or work.now >= self._next_refresh:
            self._next_refresh = work.now + self._settings.refresh_every
            work.resync.update(community.community_id
                               for community in await DirectoryRepository(work.connection).communities())

    def _whitelist(self, gate_id: str, credentials: list[Credential], people: list[Resident],
                   groups: list[AccessGroup], spent: list[VisitorPassRecord], now: datetime) -> Whitelist:
        listed = effective_whitelist(gate_id, credentials, people, groups, as_of=now - self._settings.expired_kept_for)
        passes = {record.value_hash for record in spent
                  if any(door.gate_id == gate_id for door in record.visitor_pass.doors)}
        if not passes:
            return listed
        blacklist = (set(listed.blacklist) | passes) - listed.by_hash.keys()
        return Whitelist(gate_id, listed.entries, tuple(sorted(blacklist)))


class Whitelists:
    """The sync as people see it, and a recomputation on demand."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def gate_status(self, gate_id: str) -> GateStatus:
        async with self._uow.connect() as connection:
            gate = await DirectoryRepository(connection).gate(gate_id)
            state = await SyncRepository(connection).load(gate_id)
        if gate is None or state is None:
            raise not_found("gate", gate_id)
        desired = state.desired.whitelist if state.desired else None
        return GateStatus(
            gate, state.online, state.desired.version.number if state.desired else None,
            state.acked.version.number if state.acked else None, state.in_sync,
            len(state.pending.unacked) if state.pending else 0,
            len(desired.entries) if desired else 0, len(desired.blacklist) if desired else 0)

    async def desired_whitelist(self, gate_id: str) -> tuple[int, Whitelist] | None:
        """The version and content the gate should hold (None before the first computation)."""
        async with self._uow.connect() as connection:
            state = await SyncRepository(connection).load(gate_id)
        if state is None:
            raise not_found("gate", gate_id)
        return None if state.desired is None else (state.desired.version.number, state.desired.whitelist)

    async def resync(self, community_id: str) -> None:
        """Recompute every gate's whitelist of the community now (normally done by each change and hourly)."""
        async with self._uow.work() as work:
            await existing_community(DirectoryRepository(work.connection), community_id)
            work.resync.add(community_id)


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

