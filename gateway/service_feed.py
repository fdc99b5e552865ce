"""How a domain service hears its devices: its own persistent MQTT session on one kind of device's
uplinks, validated by the same contract as the gateway, acknowledged only after the service has
handled them.

The gateway owns the time series and the dead letters; a service (market for scales, access for
gates) needs the same messages in its relational database. Taking them from the broker in a
session of its own, rather than from the gateway's process, lets the services run and restart
apart from the gateways (as in the compose stack) and gives them the gateway's guarantee: nothing
the broker accepted is lost while the service or its database is down. Messages the contract
refuses are acknowledged and skipped here: the gateway keeps them as dead letters.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from devices.contract import UplinkModel
from devices.topics import DeviceKind, DeviceTopic, subscription_filter
from gateway.decoding import Accepted, decode
from gateway.mqtt_source import Inbound, MqttSource
from gateway.settings import MqttEndpoint

log = logging.getLogger(__name__)

MAX_BURST = 500
HOLD_HIGH = 5_000  # messages waiting here before the source is paused
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 30.0


class UplinkHandler(Protocol):
    async def handle(self, messages: Sequence[tuple[DeviceTopic, UplinkModel]]) -> None:
        """Apply a burst of validated uplinks. Must be idempotent: after a failure or a reconnect
        the same messages come again. Raising means "not handled": the burst is retried."""


class ServiceFeed:
    """Feeds one service from one persistent session (``client_id``) on ``kind``'s topics."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        kind: DeviceKind,
        handler: UplinkHandler,
        *,
        share_group: str | None = None,
        protocol: int = 4,
        retry_initial_s: float = RETRY_INITIAL_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self._handler = handler
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._waiting: deque[Inbound] = deque()
        self._arrived = asyncio.Event()
        self.source = MqttSource(endpoint, client_id, subscription_filter(share_group or None, kind),
                                 self._on_messages, protocol=protocol)
        self.handled = 0
        self.failures = 0

    async def run(self) -> None:
        """Keep the session and hand messages to the service until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.source.run(), name="service-feed-source")
            tasks.create_task(self._deliver(), name="service-feed-deliver")

    async def stop(self) -> None:
        """Leave the broker; what was not handled yet is redelivered to the next session."""
        self.source.pause()
        await self.source.disconnect()

    def _on_messages(self, messages: list[Inbound]) -> None:
        self._waiting.extend(messages)
        if len(self._waiting) >= HOLD_HIGH:
            self.source.pause()
        self._arrived.set()

    async def _deliver(self) -> None:
        while True:
            await self._arrived.wait()
            while self._waiting:
                burst = [self._waiting.popleft() for _ in range(min(MAX_BURST, len(self._waiting)))]
                await self._handle_until_done(burst)
                self.source.ack([(inbound.generation, inbound.mid, inbound.qos) for inbound in burst])
                if len(self._waiting) < HOLD_HIGH // 2:
                    self.source.resume()
            self._arrived.clear()

    async def _handle_until_done(self, burst: list[Inbound]) -> None:
        accepted = [(decoded.topic, decoded.message) for decoded in (decode(m.topic, m.payload) for m in burst)
                    if isinstance(decoded, Accepted)]
        if not accepted:
            return
        delay = self._retry_initial_s
        while True:
            try:
                await self._handler.handle(accepted)
            except Exception as failure:  # the database is down, or a bug: hold the burst, retry
                self.failures += 1
                log.warning("service could not handle uplinks; retrying",
                            extra={"handler": type(self._handler).__name__, "messages": len(accepted),
                                   "error": f"{type(failure).__name__}: {failure}", "retry_in_s": delay})
                await asyncio.sleep(delay)
                delay = min(self._retry_max_s, delay * 2)
                continue
            self.handled += len(accepted)
            return
