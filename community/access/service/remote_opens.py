"""Remote opens: an operator opens a door from afar — the ``open`` command goes to the gate at once (not through the
outbox: the person waits for it), and the request is audited with its outcome, which comes with the gate's ack, or
with the deadline passing, or at once when the gate is offline or cannot be reached.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from community.access.directory import Community, Gate
from community.access.live_feed import FeedItem
from community.access.remote_open import RemoteOpen, answered, timed_out, undeliverable
from community.access.service.errors import NotFound, Refused, not_found
from community.access.service.gate_registry import GateRegistry
from community.access.service.settings import AccessSettings
from community.access.service.unit_of_work import UnitOfWork, Work
from community.access.storage import DirectoryRepository, RemoteOpenRepository, SyncRepository
from devices.contract import Command, CommandAck
from devices.gate_commands import OPEN, OpenDoorArgs
from devices.topics import DeviceKind
from messaging.downlink import Downlink, DownlinkUnavailable

log = logging.getLogger(__name__)

OPEN_PREFIX = "open-"
"""Command ids of remote opens start so, which tells their acks from the whitelist commands'."""


class RemoteOpens:
    def __init__(self, uow: UnitOfWork, downlink: Downlink, clock: Callable[[], datetime], gates: GateRegistry,
                 settings: AccessSettings) -> None:
        self._uow = uow
        self._downlink = downlink
        self._clock = clock
        self._gates = gates
        self._settings = settings

    async def open_door(self, gate_id: str, door: int, by: str, reason: str) -> RemoteOpen:
        """Send ``open`` to the gate; the outcome comes with its ack (or the timeout). Always audited."""
        now = self._clock()
        async with self._uow.connect() as connection:
            # a person names the gate: asked of the database, even if uplinks from that id were ignored before
            known = await self._gates.of_id(connection, gate_id, ask_again=True)
        if known is None:
            raise not_found("gate", gate_id)
        gate, community = known
        if door not in {d.number for d in gate.doors}:
            raise NotFound(f"gate {gate_id!r} has no door {door}")
        try:
            request = RemoteOpen(f"{OPEN_PREFIX}{secrets.token_hex(8)}", gate_id, door, by, reason, now,
                                 now + self._settings.remote_open_timeout)
        except ValueError as invalid:
            raise Refused(str(invalid)) from None
        async with self._uow.work(now) as work:
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
                          args=OpenDoorArgs(door=door, seconds=self._settings.remote_open_seconds).model_dump())
        try:
            await self._downlink.send(community.site, DeviceKind.GATE, gate_id, command)
        except DownlinkUnavailable as unavailable:
            failed = undeliverable(request, f"the command could not be sent: {unavailable}"[:200], self._clock())
            async with self._uow.work() as work:
                await RemoteOpenRepository(work.connection).update(failed)
                work.feed.append(_remote_open_item(community.community_id, failed))
            return failed
        return request

    async def remote_open(self, cmd_id: str) -> tuple[RemoteOpen, str]:
        """A remote-open request and its community."""
        async with self._uow.connect() as connection:
            request = await RemoteOpenRepository(connection).get(cmd_id)
            gate = None if request is None else await DirectoryRepository(connection).gate(request.gate_id)
        if request is None or gate is None:
            raise not_found("remote open", cmd_id)
        return request, gate.community_id

    async def remote_opens(self, community_id: str, gate_id: str | None = None, limit: int = 100) -> list[RemoteOpen]:
        async with self._uow.connect() as connection:
            return await RemoteOpenRepository(connection).listed(community_id, gate_id, limit)

    async def on_ack(self, work: Work, gate: Gate, community: Community, ack: CommandAck) -> None:
        """The outcome of a remote open, as its gate acknowledged it."""
        opens = RemoteOpenRepository(work.connection)
        request = await opens.get(ack.cmd_id)
        done = None if request is None or request.gate_id != gate.gate_id else answered(
            request, ack.ok, ack.error, work.now)
        if done is not None:
            await opens.update(done)
            work.feed.append(_remote_open_item(community.community_id, done))
            log.info("remote open answered", extra={"cmd_id": ack.cmd_id, "status": done.status.value})

    async def time_out_due(self, work: Work) -> None:
        """Requests past their deadline without an ack: timed out."""
        opens = RemoteOpenRepository(work.connection)
        for request in await opens.due(work.now):
            expired = timed_out(request, work.now)
            known = await self._gates.of_id(work.connection, request.gate_id)
            if expired is not None and known is not None:
                await opens.update(expired)
                work.feed.append(_remote_open_item(known[1].community_id, expired))
                log.warning("remote open timed out", extra={"cmd_id": request.cmd_id, "gate": request.gate_id})


def _remote_open_item(community_id: str, request: RemoteOpen) -> FeedItem:
    return FeedItem("remote_open", community_id, request.gate_id, {
        "cmd_id": request.cmd_id, "door": request.door, "status": request.status.value,
        "requested_by": request.requested_by, "error": request.error,
    })
