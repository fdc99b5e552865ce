"""The access log: gate events recorded as they arrive — stored once by gate and event id, the credential named by
its keyed hash and its holder (resident or visitor pass), presence moved, visitor pass uses counted (a spent pass is
blacklisted), the alarm rules fed, each event on the live feed — and the log and presence as people query them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

from community.access.access_log import AccessLogEntry, LogPage, LogQuery, Presence, movement
from community.access.directory import Community, Gate
from community.access.live_feed import FeedItem
from community.access.permissions import CredentialKind, credential_hash
from community.access.service.alarms import AlarmBook
from community.access.service.directory import existing_community
from community.access.service.settings import AccessKeys, AccessSettings
from community.access.service.unit_of_work import UnitOfWork, Work
from community.access.storage import AccessLogRepository, DirectoryRepository, VisitorRepository
from community.access.visitors import VisitorPassRecord
from devices.contract import AccessMethod, GateEvent, GateEventKind

_CREDENTIAL_KINDS = {AccessMethod.CARD: CredentialKind.CARD, AccessMethod.PIN: CredentialKind.PIN,
                     AccessMethod.FACE: CredentialKind.FACE, AccessMethod.QR: CredentialKind.QR}


class AccessLog:
    def __init__(self, uow: UnitOfWork, clock: Callable[[], datetime], keys: AccessKeys, settings: AccessSettings,
                 alarms: AlarmBook) -> None:
        self._uow = uow
        self._clock = clock
        self._keys = keys
        self._settings = settings
        self._alarms = alarms

    async def record(self, work: Work, events: list[tuple[Gate, Community, GateEvent]]) -> None:
        """Record a burst of gate events; one seen before (a redelivery) changes nothing."""
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
            await self._alarms.on_event(work, gate.gate_id, event)
        await self._alarms.store_folded(work)

    async def query(self, query: LogQuery) -> LogPage:
        async with self._uow.connect() as connection:
            return await AccessLogRepository(connection).query(query)

    async def presence(self, community_id: str) -> Presence:
        """People inside now — an estimate (docs/community.md): visitors until their pass ends, residents until
        their last movement in is older than `resident_presence_stale_after`."""
        now = self._clock()
        async with self._uow.connect() as connection:
            await existing_community(DirectoryRepository(connection), community_id)
            return await AccessLogRepository(connection).presence(
                community_id, now, now - self._settings.resident_presence_stale_after)

    def _event_credential_hash(self, event: GateEvent) -> str | None:
        """The keyed hash of what the gate read — as on the whitelists, so it names the holder; never the value."""
        if event.credential is None:
            return None
        kind = _CREDENTIAL_KINDS.get(event.method) if event.method is not None else None
        if kind is not None:
            return credential_hash(kind, event.credential, self._keys.site_key)
        label = event.method.value if event.method is not None else "other"
        return hmac.new(self._keys.site_key, f"{label}:{event.credential}".encode(), hashlib.sha256).hexdigest()


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

