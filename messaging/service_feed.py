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
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from config.settings import MqttEndpoint
from devices.contract import UplinkModel
from devices.topics import DeviceKind, DeviceTopic, subscription_filter
from gateway.inputs.mqtt import Inbound, MqttSource
from gateway.processors.decoding import Accepted, decode

log = logging.getLogger(__name__)

MAX_BURST = 500
HOLD_HIGH = 5_000  # messages waiting here before the source is paused
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 30.0
STOP_WAIT_S = 10.0  # how long stop() lets the burst in hand finish before the caller may cancel it


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
        self._stop_requested = asyncio.Event()
        self._deliverer: asyncio.Task[None] | None = None
        self.source = MqttSource(endpoint, client_id, subscription_filter(share_group or None, kind),
                                 self._on_messages, protocol=protocol)
        self.handled = 0
        self.failures = 0

    async def run(self) -> None:
        """Keep the session and hand messages to the service until :meth:`stop` (or cancelled)."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.source.run(), name="service-feed-source")
            self._deliverer = tasks.create_task(self._deliver(), name="service-feed-deliver")

    async def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Let the burst in the service's hands finish and be acknowledged, then leave the broker; what
        was not handled yet is redelivered to the next session.

        Waiting rather than cancelling matters: a handler cancelled inside a database transaction
        leaves the connection to be torn down under it, and with SQLite such a connection can keep
        the write lock until it is garbage-collected, stalling every other writer (and shutdown)."""
        self._stop_requested.set()
        self.source.pause()
        self._arrived.set()
        if self._deliverer is not None:
            await asyncio.wait({self._deliverer}, timeout=wait_s)
        await self.source.disconnect()

    def _on_messages(self, messages: list[Inbound]) -> None:
        self._waiting.extend(messages)
        if len(self._waiting) >= HOLD_HIGH:
            self.source.pause()
        self._arrived.set()

    async def _deliver(self) -> None:
        while not self._stop_requested.is_set():
            await self._arrived.wait()
            while self._waiting and not self._stop_requested.is_set():
                burst = [self._waiting.popleft() for _ in range(min(MAX_BURST, len(self._waiting)))]
                if not await self._handle_until_done(burst):
                    return  # stopping while the service could not take it: the broker redelivers it
                self.source.ack([(inbound.generation, inbound.mid, inbound.qos) for inbound in burst])
                if len(self._waiting) < HOLD_HIGH // 2:
                    self.source.resume()
            self._arrived.clear()

    async def _handle_until_done(self, burst: list[Inbound]) -> bool:
        """Hand the burst's valid messages to the service until it takes them (True), or until
        :meth:`stop` is called while it keeps refusing them (False)."""
        accepted = [(decoded.topic, decoded.message) for decoded in (decode(m.topic, m.payload) for m in burst)
                    if isinstance(decoded, Accepted)]
        if not accepted:
            return True
        delay = self._retry_initial_s
        while True:
            try:
                await self._handler.handle(accepted)
            except Exception as failure:  # the database is down, or a bug: hold the burst, retry
                self.failures += 1
                if self._stop_requested.is_set():
                    return False
                log.warning("service could not handle uplinks; retrying",
                            extra={"handler": type(self._handler).__name__, "messages": len(accepted),
                                   "error": f"{type(failure).__name__}: {failure}", "retry_in_s": delay})
                await self._sleep_unless_stopping(delay)
                delay = min(self._retry_max_s, delay * 2)
                continue
            self.handled += len(accepted)
            return True

    async def _sleep_unless_stopping(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), delay)
