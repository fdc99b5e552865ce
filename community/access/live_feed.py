"""The property manager console's live feed: gate events, alarms, gate availability and remote-open outcomes as they
happen, fanned out in-process to subscribers and streamed as Server-Sent Events, filterable by gate.

Bounded: each subscriber has a queue of `queue_size` items; one that falls that far behind (a slow or stalled client)
is dropped — its stream ends and the browser's EventSource reconnects — rather than letting the queue grow. At most
`max_subscribers` listen at once. Publishing never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response

log = logging.getLogger(__name__)

PING_INTERVAL_S = 15.0
SEND_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FeedItem:
    """One thing the console shows; `data` is JSON-ready and carries no raw credential."""

    kind: str  # event | alarm | gate | remote_open
    community_id: str
    gate_id: str
    data: dict[str, Any]


class FeedFull(Exception):
    """As many subscribers as allowed are listening."""


@dataclass
class Subscription:
    gates: frozenset[str] | None
    communities: frozenset[str] | None
    queue: asyncio.Queue[FeedItem | None]
    dropped: bool = False

    def wants(self, item: FeedItem) -> bool:
        return (self.gates is None or item.gate_id in self.gates) and (
            self.communities is None or item.community_id in self.communities
        )

    async def next(self) -> FeedItem | None:
        """The next item, or None once this subscriber was dropped for falling behind."""
        return await self.queue.get()


@dataclass
class FeedStats:
    published: int = 0
    delivered: int = 0
    dropped_subscribers: int = 0


@dataclass
class LiveFeed:
    queue_size: int = 256
    max_subscribers: int = 100
    stats: FeedStats = field(default_factory=FeedStats)
    _subscriptions: list[Subscription] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.queue_size < 1 or self.max_subscribers < 1:
            raise ValueError("the feed's queue size and subscriber limit must be positive")

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, item: FeedItem) -> None:
        """Hand the item to every subscriber that wants it; a subscriber whose queue is full is dropped."""
        self.stats.published += 1
        for subscription in list(self._subscriptions):
            if not subscription.wants(item):
                continue
            if subscription.queue.qsize() >= self.queue_size:
                self._drop(subscription)
                continue
            subscription.queue.put_nowait(item)
            self.stats.delivered += 1

    @contextlib.contextmanager
    def subscribe(
        self, gates: frozenset[str] | None = None, communities: frozenset[str] | None = None
    ) -> Iterator[Subscription]:
        if len(self._subscriptions) >= self.max_subscribers:
            raise FeedFull(f"{self.max_subscribers} consoles are listening already")
        # one slot more than the limit, for the end-of-stream marker of a dropped subscriber
        subscription = Subscription(gates, communities, asyncio.Queue(self.queue_size + 1))
        self._subscriptions.append(subscription)
        try:
            yield subscription
        finally:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def _drop(self, subscription: Subscription) -> None:
        self._subscriptions.remove(subscription)
        subscription.dropped = True
        self.stats.dropped_subscribers += 1
        while not subscription.queue.empty():
            subscription.queue.get_nowait()
        subscription.queue.put_nowait(None)
        log.warning("live feed subscriber dropped", extra={"queue_size": self.queue_size})


class Skip(Exception):
    """Raised by a payload function for an item that has nothing to show (it is left out of the stream)."""


Payload = Callable[[FeedItem], Awaitable[dict[str, Any]]]


async def stream(
    request: web.Request,
    feed: LiveFeed,
    gates: frozenset[str] | None,
    communities: frozenset[str] | None = None,
) -> web.StreamResponse:
    """Serve the feed as Server-Sent Events (``event:`` is the item's kind, ``data:`` its JSON) until the client
    goes away or falls too far behind."""

    async def as_json(item: FeedItem) -> dict[str, Any]:
        return {"kind": item.kind, "community_id": item.community_id, "gate_id": item.gate_id, **item.data}

    with feed.subscribe(gates, communities) as subscription:
        return await send_events(request, subscription, as_json)


async def send_events(request: web.Request, subscription: Subscription, payload: Payload) -> web.StreamResponse:
    """Send ``subscription``'s items as Server-Sent Events, each as ``payload(item)`` in JSON, until the client
    goes away, stalls, or falls too far behind (then the browser reconnects; a reload shows what was missed)."""
    async with sse_response(request, ping_interval=PING_INTERVAL_S, send_timeout=SEND_TIMEOUT_S) as events:
        gone = asyncio.ensure_future(events.wait())
        try:
            while True:
                upcoming = asyncio.ensure_future(subscription.next())
                await asyncio.wait({upcoming, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not upcoming.done():
                    upcoming.cancel()
                    break
                item = upcoming.result()
                if item is None:
                    break
                try:
                    data = await payload(item)
                except Skip:
                    continue
                try:
                    await events.send(json.dumps(data, ensure_ascii=False, default=str), event=item.kind)
                except (ConnectionResetError, TimeoutError):
                    break  # the client went away or stalled
        finally:
            gone.cancel()
        response: web.StreamResponse = events
        return response
