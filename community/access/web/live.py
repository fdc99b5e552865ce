"""The live feed of events, alarms, gates and remote opens, as Server-Sent Events."""

from __future__ import annotations

from aiohttp import web

from community.access.live_feed import FeedFull
from community.access.live_stream import stream
from community.access.web.handling import _scope_filter, _service
from webkit.auth import PRINCIPAL
from webkit.json_errors import json_error


async def live(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``event: event|alarm|gate|remote_open``, ``data:`` JSON. ?gate_id= (repeatable) and
    ?community_id= filter. The account's streams (with the console's) share its `live_streams_per_account`: a
    newer one ends its oldest with ``event: superseded``, after which a client should not reconnect by itself.

    Only the caller's communities are ever sent (replays too): a community named outside the scope is left out, as
    an unknown one is (it has nothing to send), so naming only such ones gives an empty stream either way."""
    gates = frozenset(request.query.getall("gate_id", [])) or None
    named = frozenset(request.query.getall("community_id", [])) or None
    scope = _scope_filter(request)
    communities = named if scope is None else scope if named is None else named & scope
    try:
        return await stream(request, _service(request).feed, gates, communities, request[PRINCIPAL].subject)
    except FeedFull as full:
        raise json_error(web.HTTPServiceUnavailable, str(full)) from None
