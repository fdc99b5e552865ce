"""The dispatcher: takes new events from the outbox, coalesces storms, expands each event into deliveries (event ×
recipient × channel, each with its idempotency key) and delivers them.

Deliveries are rows: a delivery is marked sent only after its channel took it, so a dispatcher stopped between the
two sends it again on the next start, with the same idempotency key (the receiver's to drop; the notification
centre drops it itself). A lane — one recipient on one channel — delivers in event order, one delivery at a time;
lanes run side by side as their own tasks, so a receiver down (or slow up to the send timeout) holds back only its
own lane. A failed attempt is retried with exponential back-off (:mod:`notifications.backoff`) until the give-up
bound, then the delivery is failed and waits on the delivery log for a person's retry.

One dispatcher per database, as one service process per database (community.access.service.unit_of_work)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifications.backoff import RetryPolicy, retry_at
from notifications.channels import DeliveryFailed, Outgoing, Sender
from notifications.coalescing import Window, admit, due, summary_words
from notifications.events import Channel, NotificationEvent, NotificationKind, Severity
from notifications.metrics import FAILED, RETRY, SENT, NotificationMetrics
from notifications.preferences import Preferences, personal_channels
from notifications.quiet_hours import held_until
from notifications.recipients import Recipients
from notifications.storage import (
    EXPANDED,
    FOLDED,
    Delivery,
    DeliveryRepository,
    DeliveryState,
    Endpoint,
    EndpointRepository,
    OutboxRepository,
    PreferenceRepository,
    idempotency_key,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchSettings:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    coalesce_window: timedelta = timedelta(minutes=5)
    poll_s: float = 1.0
    batch: int = 200
    """Events expanded per transaction."""
    max_in_flight: int = 32
    """Lanes delivering at once."""
    stop_wait_s: float = 5.0
    metrics_every_s: float = 5.0
    """How often the outbox's depth and the oldest undelivered age are read for the metrics."""


Lane = tuple[str, str]


class Dispatcher:
    def __init__(self, engine: AsyncEngine, recipients: Recipients, senders: Mapping[Channel, Sender],
                 clock: Callable[[], datetime], settings: DispatchSettings | None = None,
                 metrics: NotificationMetrics | None = None) -> None:
        self._engine = engine
        self._recipients = recipients
        self._senders = dict(senders)
        self._clock = clock
        self.settings = settings or DispatchSettings()
        self._lanes: dict[Lane, asyncio.Task[None]] = {}
        self.wake = asyncio.Event()
        self.metrics = metrics or NotificationMetrics()
        self._measured_at: float | None = None

    @property
    def configured(self) -> frozenset[Channel]:
        return frozenset(self._senders)

    async def run(self, stopping: asyncio.Event) -> None:
        """Dispatch until ``stopping`` is set, then let the deliveries in hand finish for a moment (what is cut off
        stays pending and leaves on the next start)."""
        try:
            while not stopping.is_set():
                try:
                    await self.step()
                except Exception:  # the database may be away for a while: log, and try again next time
                    log.exception("notification dispatch failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_either(stopping, self.wake), self.settings.poll_s)
                self.wake.clear()
        finally:
            await self.stop_lanes(self.settings.stop_wait_s)

    async def step(self) -> None:
        """Expand what is new, then start the lanes whose next delivery is due."""
        while await self.expand() >= self.settings.batch:
            pass
        await self.start_due()
        now = asyncio.get_running_loop().time()
        if self._measured_at is None or now - self._measured_at >= self.settings.metrics_every_s:
            self._measured_at = now
            await self.measure()

    async def measure(self) -> None:
        """The outbox's depth, the deliveries waiting and the oldest undelivered age, for the metrics."""
        now = self._clock()
        async with self._engine.connect() as connection:
            outbox, deliveries = OutboxRepository(connection), DeliveryRepository(connection)
            depth, pending = await outbox.depth(), await deliveries.pending_count()
            oldest = [moment for moment in (await outbox.oldest_new(), await deliveries.oldest_unheld(now)) if moment]
        self.metrics.outbox_depth.set(depth)
        self.metrics.pending.set(pending)
        self.metrics.oldest_age.set(max(0.0, (now - min(oldest)).total_seconds()) if oldest else 0.0)
        self.metrics.lanes.set(len(self._lanes))

    async def stop_lanes(self, wait_s: float) -> None:
        tasks = list(self._lanes.values())
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=wait_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()

    @property
    def in_flight(self) -> int:
        return len(self._lanes)

    # -- expansion ------------------------------------------------------------------------------------------------

    async def expand(self) -> int:
        """Coalesce and expand up to a batch of new events in one transaction; returns how many were taken."""
        now = self._clock()
        async with self._engine.begin() as connection:
            await self._close_due_windows(connection, now)
            return await self._expand_new(connection, now)

    async def _close_due_windows(self, connection: AsyncConnection, now: datetime) -> None:
        repository = OutboxRepository(connection)
        for window in await repository.windows_with_folded(self.settings.batch):
            if due(window, now, self.settings.coalesce_window):
                await self._summarise(connection, window, now)
                await repository.save_window(replace(window, folded=0, last_event_id=None), existed=True)

    async def _expand_new(self, connection: AsyncConnection, now: datetime) -> int:
        repository = OutboxRepository(connection)
        events = await repository.new(self.settings.batch)
        for stored in events:
            event = stored.event
            if event.dedupe_key is not None:
                current = await repository.window(event.dedupe_key)
                # windows run on the dispatcher's clock, as their closing does: a backlog expanded late is one storm
                admission = admit(current, event.dedupe_key, stored.event_id, now, self.settings.coalesce_window)
                if admission.closed is not None:
                    await self._summarise(connection, admission.closed, now)
                await repository.save_window(admission.window, existed=current is not None)
                if not admission.deliver:
                    await repository.mark(stored.event_id, FOLDED)
                    continue
            await self._expand_one(connection, stored.event_id, event, now)
            await repository.mark(stored.event_id, EXPANDED)
        return len(events)

    async def _summarise(self, connection: AsyncConnection, window: Window, now: datetime) -> None:
        """The summary of a window's folded events, as an event of its own, expanded at once."""
        repository = OutboxRepository(connection)
        last = await repository.get(window.last_event_id) if window.last_event_id is not None else None
        if last is None:
            return
        title, text = summary_words(last.title, window.folded)
        summary = replace(last, title=title[:200], text=f"{text}\n最近一次：{last.text}"[:2000], dedupe_key=None,
                          count=window.folded)
        event_id = await repository.add(summary)
        await self._expand_one(connection, event_id, summary, now)
        await repository.mark(event_id, EXPANDED)

    async def _expand_one(self, connection: AsyncConnection, event_id: int, event: NotificationEvent,
                          now: datetime) -> None:
        rows: list[dict[str, Any]] = []
        people = await self._recipients.people(connection, event)
        preferences = await PreferenceRepository(connection).of(people)
        for account_id in people:
            chosen = preferences.get(account_id, Preferences())
            for channel in personal_channels(chosen, event.kind, self.configured):
                held = held_until(chosen.quiet_hours, event.severity, channel, now)
                rows.append(_row(event_id, event, f"account:{account_id}", channel, now, held,
                                 account_id=account_id))
        organisations = await self._recipients.organisations(connection, event)
        for endpoint in await EndpointRepository(connection).of(organisations):
            if endpoint.receives(event.kind) and endpoint.channel in self.configured:
                rows.append(_row(event_id, event, f"endpoint:{endpoint.endpoint_id}", endpoint.channel, now, None,
                                 endpoint_id=endpoint.endpoint_id))
        await DeliveryRepository(connection).add(rows)

    async def send_test(self, endpoint: Endpoint) -> str | None:
        """Send a test notification to ``endpoint`` now, outside the outbox (nothing is recorded); why it failed, or
        None when the receiver took it."""
        sender = self._senders.get(endpoint.channel)
        if sender is None:
            return f"channel {endpoint.channel.value} is not configured"
        now = self._clock()
        text = f"这是来自智慧社区平台的测试通知（{endpoint.label}）。收到即表示配置正确。"
        event = NotificationEvent(NotificationKind.TEST, "测试通知", text, now, severity=Severity.INFO,
                                  data={"endpoint_id": endpoint.endpoint_id})
        key = idempotency_key(0, f"test:{endpoint.endpoint_id}:{now.isoformat()}", endpoint.channel)
        try:
            await sender.send(Outgoing(key, 0, event, address=endpoint.url, secret=endpoint.secret))
        except DeliveryFailed as failed:
            return str(failed)
        return None

    # -- delivery -------------------------------------------------------------------------------------------------

    async def start_due(self) -> int:
        """Start a task for each lane whose first delivery is due (at most ``max_in_flight`` lanes at once)."""
        room = self.settings.max_in_flight - len(self._lanes)
        if room <= 0:
            return 0
        async with self._engine.connect() as connection:
            heads = await DeliveryRepository(connection).heads(self._clock(), self._lanes, room)
        for delivery in heads:
            lane = (delivery.recipient, delivery.channel.value)
            task = asyncio.create_task(self._deliver(delivery), name=f"notify-{delivery.delivery_id}")
            self._lanes[lane] = task
            task.add_done_callback(self._lane_done_callback(lane))
        return len(heads)

    def _lane_done_callback(self, lane: Lane) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._lanes.pop(lane, None)
            self.wake.set()  # the lane's next delivery may be due at once

        return done

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            outgoing = await self._outgoing(delivery)
            await self._senders[delivery.channel].send(outgoing)
        except DeliveryFailed as failed:
            await self._failed(delivery, str(failed), failed.permanent)
            return
        except KeyError:
            await self._failed(delivery, f"channel {delivery.channel.value} is not configured", True)
            return
        async with self._engine.begin() as connection:
            await DeliveryRepository(connection).sent(delivery.delivery_id, self._clock())
        self.metrics.deliveries.labels(delivery.channel.value, SENT).inc()
        log.info("notification delivered", extra={"delivery": delivery.delivery_id,
                                                   "channel": delivery.channel.value})

    async def _failed(self, delivery: Delivery, reason: str, permanent: bool) -> None:
        now = self._clock()
        again = None if permanent else retry_at(self.settings.retry, delivery.attempts + 1, delivery.created_at, now)
        async with self._engine.begin() as connection:
            await DeliveryRepository(connection).failed_attempt(delivery.delivery_id, reason, again)
        self.metrics.deliveries.labels(delivery.channel.value, FAILED if again is None else RETRY).inc()
        log.warning("notification delivery failed", extra={
            "delivery": delivery.delivery_id, "channel": delivery.channel.value, "error": reason,
            "retry_at": again.isoformat() if again else None})

    async def _outgoing(self, delivery: Delivery) -> Outgoing:
        async with self._engine.connect() as connection:
            event = await OutboxRepository(connection).get(delivery.event_id)
            if event is None:
                raise DeliveryFailed("the event is gone", permanent=True)
            if delivery.endpoint_id is not None:
                endpoint = await EndpointRepository(connection).get(delivery.endpoint_id)
                if endpoint is None or not endpoint.enabled:
                    raise DeliveryFailed("the endpoint was removed or disabled", permanent=True)
                return Outgoing(delivery.idempotency_key, delivery.event_id, event, address=endpoint.url,
                                secret=endpoint.secret)
            assert delivery.account_id is not None  # a delivery is to an endpoint or to an account
            preferences = await PreferenceRepository(connection).get(delivery.account_id)
        address = {Channel.EMAIL: preferences.email, Channel.SMS: preferences.phone}.get(delivery.channel, "")
        if address is None:
            raise DeliveryFailed("no address to send to (removed from the person's settings)", permanent=True)
        return Outgoing(delivery.idempotency_key, delivery.event_id, event, account_id=delivery.account_id,
                        address=address)


def _row(event_id: int, event: NotificationEvent, recipient: str, channel: Channel, now: datetime,
         held: datetime | None, *, account_id: str | None = None, endpoint_id: int | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id, "recipient": recipient, "account_id": account_id, "endpoint_id": endpoint_id,
        "channel": channel.value, "idempotency_key": idempotency_key(event_id, recipient, channel),
        "community_id": event.community_id, "market_id": event.market_id, "state": DeliveryState.PENDING.value,
        "attempts": 0, "created_at": now, "next_attempt_at": now, "held_until": held,
    }


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    waits = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


