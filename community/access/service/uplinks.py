"""Gate uplinks, a burst at a time in one transaction: events go to the access log; states to the whitelist delivery
(a gate back online may need its list) and, as availability, to the alarm rules and the live feed; acks to the
remote open or the whitelist plan they answer. Idempotent: a redelivered event, ack or state changes nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from community.access.directory import Community, Gate
from community.access.live_feed import FeedItem
from community.access.service.access_log import AccessLog
from community.access.service.alarms import AlarmBook
from community.access.service.gate_registry import GateRegistry
from community.access.service.remote_opens import OPEN_PREFIX, RemoteOpens
from community.access.service.unit_of_work import UnitOfWork, Work
from community.access.service.whitelists import WhitelistDelivery
from devices.contract import CommandAck, DeviceState, GateEvent, UplinkModel
from devices.topics import DeviceTopic

log = logging.getLogger(__name__)


class UplinkHandler:
    def __init__(self, uow: UnitOfWork, clock: Callable[[], datetime], gates: GateRegistry, access_log: AccessLog,
                 delivery: WhitelistDelivery, remote_opens: RemoteOpens, alarms: AlarmBook) -> None:
        self._uow = uow
        self._clock = clock
        self._gates = gates
        self._access_log = access_log
        self._delivery = delivery
        self._remote_opens = remote_opens
        self._alarms = alarms

    async def handle(self, messages: Sequence[tuple[DeviceTopic, UplinkModel]]) -> None:
        """Apply a burst of gate uplinks. Idempotent: a redelivered event, ack or state changes nothing more."""
        now = self._clock()
        async with self._uow.work(now) as work:
            events: list[tuple[Gate, Community, GateEvent]] = []
            for topic, message in messages:
                known = await self._gates.of_topic(work.connection, topic)
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
                await self._access_log.record(work, events)

    async def _on_state(self, work: Work, gate: Gate, community: Community, message: DeviceState) -> None:
        changed = await self._delivery.on_state(work, gate, community, message)
        if changed is None:
            return
        await self._alarms.on_state(work, community.community_id, gate.gate_id, message.online)
        if changed:
            log.info("gate availability", extra={"gate": gate.gate_id, "online": message.online})
            work.feed.append(FeedItem("gate", community.community_id, gate.gate_id,
                                      {"online": message.online, "at": work.now.isoformat()}))

    async def _on_ack(self, work: Work, gate: Gate, community: Community, ack: CommandAck) -> None:
        if ack.cmd_id.startswith(OPEN_PREFIX):
            await self._remote_opens.on_ack(work, gate, community, ack)
        else:
            await self._delivery.on_ack(work, gate, community, ack)
