"""The live feed over HTTP: a subscription served as Server-Sent Events (aiohttp-sse), with resumption from
``Last-Event-ID``. The feed itself (:mod:`community.access.live_feed`) knows no transport."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response

from community.access.live_feed import FeedItem, LiveFeed, Subscription

log = logging.getLogger(__name__)

PING_INTERVAL_S = 15.0
SEND_TIMEOUT_S = 10.0

Payload = Callable[[FeedItem], Awaitable[dict[str, Any]]]


class Skip(Exception):
    """Raised by a payload function for an item that has nothing to show (it is left out of the stream)."""


async def stream(
    request: web.Request,
    feed: LiveFeed,
    gates: frozenset[str] | None,
    communities: frozenset[str] | None = None,
    subscriber: str | None = None,
) -> web.StreamResponse:
    """Serve the feed as Server-Sent Events (``event:`` is the item's kind, ``id:`` its position, ``data:`` its
    JSON) until the client goes away, falls too far behind or is superseded by `subscriber`'s newer stream."""

    async def as_json(item: FeedItem) -> dict[str, Any]:
        return {"kind": item.kind, "community_id": item.community_id, "gate_id": item.gate_id, **item.data}

    with feed.subscribe(gates, communities, last_event_id(request), subscriber) as subscription:
        return await send_events(request, subscription, as_json)


def last_event_id(request: web.Request) -> str | None:
    """Where the client resumes: the ``Last-Event-ID`` header EventSource sends when it reconnects, else a
    ``last_event_id`` query parameter (a page passes the feed's position when it was rendered)."""
    value = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    return value[:64] if value else None


async def send_events(request: web.Request, subscription: Subscription, payload: Payload) -> web.StreamResponse:
    """Send ``subscription``'s items as Server-Sent Events, each as ``payload(item)`` in JSON with the item's id,
    until the client goes away, stalls, or falls too far behind (then the browser reconnects with the last id and
    gets the rest replayed, or a ``gap``)."""
    async with sse_response(request, ping_interval=PING_INTERVAL_S, send_timeout=SEND_TIMEOUT_S) as events:
        gone = asyncio.ensure_future(events.wait())
        upcoming: asyncio.Future[FeedItem | None] | None = None
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
                    await events.send(json.dumps(data, ensure_ascii=False, default=str),
                                      id=subscription.event_id(item), event=item.kind)
                except (ConnectionResetError, TimeoutError):
                    break  # the client went away or stalled
        finally:  # the handler cancelled (the server stopping) leaves no wait behind
            gone.cancel()
            if upcoming is not None:
                upcoming.cancel()
        response: web.StreamResponse = events
        return response


def end_streams_at_shutdown(app: web.Application, feed: LiveFeed) -> None:
    """Close ``feed`` when ``app`` (the context's sub-application) shuts down: its streams last until told
    otherwise, and without this the server waits out its shutdown timeout for every open console."""

    async def end(_app: web.Application) -> None:
        feed.close()

    app.on_shutdown.append(end)
