"""The property manager console's live feed: gate events, alarms, gate availability and remote-open outcomes as they
happen, fanned out in-process to subscribers (streamed as Server-Sent Events by :mod:`community.access.live_stream`),
filterable by gate.

Bounded: each subscriber has a queue of `queue_size` items; one that falls that far behind (a slow or stalled client)
is dropped — its stream ends and the browser's EventSource reconnects — rather than letting the queue grow. At most
`max_subscribers` listen at once. Publishing never waits.

A share per account: each subscription names its subscriber (the signed-in account, whichever way it listens), and
one subscriber holds at most `max_per_subscriber` of the places, so one manager's forgotten tabs — or one script —
cannot take every place and lock the other managers out. A subscriber over its share loses its *oldest*
subscription, which gets one ``superseded`` item and ends (the console stops there rather than reconnect), so the
console just opened always gets the feed and tabs left open do not pile up; refusing the new one instead would
lock a manager out of their own feed whenever a vanished connection (a laptop that slept, a changed network) is
still counted, until the server notices it is gone.

No silent gaps: every item gets an id (``<feed epoch>.<sequence>``, sent as the SSE ``id:``) and the feed keeps the
last `replay_size` items. A client reconnecting with ``Last-Event-ID`` (EventSource sends it by itself) gets what it
missed replayed from there, before anything new. When that cannot be done — the id is older than what is kept, is from
before a restart (another epoch), or names more than its queue holds — it gets one ``gap`` item instead, so the
console can say "有遗漏，请刷新" rather than look complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

log = logging.getLogger(__name__)

GAP = "gap"
"""The kind of the item that tells a reconnected client it missed items that cannot be replayed."""
GAP_NOTICE = "有遗漏，请刷新"
SUPERSEDED = "superseded"
"""The kind of the last item of a subscription ended because its subscriber opened one more than its share."""
SUPERSEDED_NOTICE = "实时动态已在您的另一个窗口打开，此处已停止更新"
_EVENT_ID = re.compile(r"^([0-9a-f]{1,32})\.([0-9]{1,18})$")


@dataclass(frozen=True)
class FeedItem:
    """One thing the console shows; `data` is JSON-ready and carries no raw credential. `sequence` is given by the
    feed when the item is published (it is not part of what the item says, so equality ignores it)."""

    kind: str  # event | alarm | gate | remote_open | gap | superseded
    community_id: str
    gate_id: str
    data: dict[str, Any]
    sequence: int | None = field(default=None, compare=False)


class FeedFull(Exception):
    """As many subscribers as allowed are listening."""


@dataclass
class Subscription:
    gates: frozenset[str] | None
    communities: frozenset[str] | None
    queue: asyncio.Queue[FeedItem | None]
    dropped: bool = False
    epoch: str = ""
    subscriber: str | None = None
    """Whose subscription this is (an account id): a subscriber's subscriptions share `max_per_subscriber`."""
    superseded: bool = False

    def event_id(self, item: FeedItem) -> str | None:
        """The SSE id of an item: where a reconnecting client resumes."""
        return None if item.sequence is None else f"{self.epoch}.{item.sequence}"

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
    replayed: int = 0
    gaps: int = 0
    superseded: int = 0


@dataclass
class LiveFeed:
    queue_size: int = 256
    max_subscribers: int = 100
    max_per_subscriber: int = 4
    """Subscriptions one subscriber holds at once; a newer one ends its oldest."""
    replay_size: int = 1024
    """How many of the latest items are kept for clients that reconnect."""
    stats: FeedStats = field(default_factory=FeedStats)
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))
    """Tells this process's ids from a previous one's: after a restart nothing can be replayed."""
    _subscriptions: list[Subscription] = field(default_factory=list)
    _recent: deque[FeedItem] = field(default_factory=deque)
    _sequence: int = 0
    _closed: bool = False

    def __post_init__(self) -> None:
        if self.queue_size < 1 or self.max_subscribers < 1 or self.max_per_subscriber < 1 or self.replay_size < 0:
            raise ValueError("the queue size and subscriber limits must be positive, the replay size not negative")
        self._recent = deque(self._recent, maxlen=self.replay_size)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    @property
    def position(self) -> str:
        """The id of the latest item published: a page rendered now can ask the stream to start from here."""
        return f"{self.epoch}.{self._sequence}"

    def publish(self, item: FeedItem) -> None:
        """Number the item, keep it for replay and hand it to every subscriber that wants it; a subscriber whose
        queue is full is dropped."""
        self.stats.published += 1
        self._sequence += 1
        item = replace(item, sequence=self._sequence)
        self._recent.append(item)  # the oldest falls out: the deque is bounded by replay_size
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
        self,
        gates: frozenset[str] | None = None,
        communities: frozenset[str] | None = None,
        last_event_id: str | None = None,
        subscriber: str | None = None,
    ) -> Iterator[Subscription]:
        """Listen from now on; with `last_event_id` (a reconnecting client's), first get what it missed since then,
        or a ``gap`` item when that cannot be replayed. With `subscriber` (who listens), that subscriber's oldest
        subscription ends if this one is more than its share; without, only the global limit counts it."""
        if subscriber is not None:
            self._keep_share(subscriber)
        if len(self._subscriptions) >= self.max_subscribers:
            raise FeedFull(f"{self.max_subscribers} consoles are listening already")
        # one slot more than the limit, for the end-of-stream marker of a dropped subscriber
        subscription = Subscription(gates, communities, asyncio.Queue(self.queue_size + 1), epoch=self.epoch,
                                    subscriber=subscriber)
        if self._closed:
            subscription.queue.put_nowait(None)
        elif last_event_id is not None:
            # no await between the replay and joining the subscribers: nothing can be published in between
            for item in self._catch_up(subscription, last_event_id):
                subscription.queue.put_nowait(item)
        self._subscriptions.append(subscription)
        try:
            yield subscription
        finally:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def close(self) -> None:
        """End every stream, now and later: the server is shutting down and waits for its requests to finish. A
        browser that reconnects to the next server resumes from its last id (a gap there: another epoch)."""
        self._closed = True
        for subscription in list(self._subscriptions):
            self._subscriptions.remove(subscription)
            subscription.queue.put_nowait(None)  # publish() keeps one slot free for it

    def _keep_share(self, subscriber: str) -> None:
        """Make room for one more of `subscriber`'s subscriptions by ending its oldest ones beyond its share."""
        held = [subscription for subscription in self._subscriptions if subscription.subscriber == subscriber]
        for oldest in held[:max(0, len(held) - self.max_per_subscriber + 1)]:
            self._supersede(oldest)

    def _supersede(self, subscription: Subscription) -> None:
        # what is queued is not sent: the client stops here, and one that resumes from its last id gets it replayed
        self._subscriptions.remove(subscription)
        subscription.superseded = True
        self.stats.superseded += 1
        while not subscription.queue.empty():
            subscription.queue.get_nowait()
        subscription.queue.put_nowait(FeedItem(SUPERSEDED, "", "", {"notice": SUPERSEDED_NOTICE}))
        subscription.queue.put_nowait(None)  # the queue holds queue_size + 1 ≥ 2
        log.info("live feed subscription superseded by its subscriber's newer one",
                 extra={"max_per_subscriber": self.max_per_subscriber})

    def _catch_up(self, subscription: Subscription, last_event_id: str) -> list[FeedItem]:
        """What a client that last saw `last_event_id` missed and still wants, or one gap item."""
        matched = _EVENT_ID.match(last_event_id.strip())
        seen = int(matched.group(2)) if matched is not None and matched.group(1) == self.epoch else None
        oldest = self._recent[0].sequence if self._recent else self._sequence + 1
        assert oldest is not None
        if seen is None or seen > self._sequence or seen < oldest - 1:
            return [self._gap()]
        missed = [item for item in self._recent if item.sequence is not None and item.sequence > seen
                  and subscription.wants(item)]
        if len(missed) > self.queue_size:
            return [self._gap()]
        self.stats.replayed += len(missed)
        return missed

    def _gap(self) -> FeedItem:
        # numbered as the latest item, so a client that reconnects after it resumes from here, not from before
        self.stats.gaps += 1
        log.info("live feed gap reported to a reconnecting client", extra={"epoch": self.epoch})
        return FeedItem(GAP, "", "", {"notice": GAP_NOTICE}, sequence=self._sequence)

    def _drop(self, subscription: Subscription) -> None:
        self._subscriptions.remove(subscription)
        subscription.dropped = True
        self.stats.dropped_subscribers += 1
        while not subscription.queue.empty():
            subscription.queue.get_nowait()
        subscription.queue.put_nowait(None)
        log.warning("live feed subscriber dropped", extra={"queue_size": self.queue_size})


