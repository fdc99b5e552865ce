"""The access log, newest first and paginated (a manager's communities, or one of them; a resident's household and
visitors), and the presence it yields: residents and visitors inside (counts, which supervisors read too).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from community.access.access_log import AccessLogEntry, LogQuery, Visibility, decode_cursor
from community.access.web.handling import (
    _aware,
    _community_id,
    _door_number,
    _is_manager,
    _json,
    _me,
    _page_limit,
    _query,
    _query_id,
    _scope_filter,
    _service,
)
from community.access.web.schemas import AccessEventOut, AccessEventsOut, AccessPresenceOut
from devices.contract import GateEventKind
from webkit.json_errors import json_error


def _event_out(entry: AccessLogEntry) -> AccessEventOut:
    return AccessEventOut(gate_id=entry.gate_id, event_id=entry.event_id, ts=entry.ts, door=entry.door,
                          kind=entry.kind, method=entry.method, direction=entry.direction, reason=entry.reason,
                          offline=entry.offline, resident_id=entry.resident_id, pass_id=entry.pass_id)


async def list_events(request: web.Request) -> web.Response:
    """Managers query a community's log (one of their scope: another is an unknown community), or without
    ?community_id= their communities' together; a resident sees their unit's residents' and their visitors' events."""
    service = _service(request)
    limit = _page_limit(request, 50)
    filters: dict[str, Any] = {
        "gate_id": _query_id(request, "gate_id"), "door": _query(request, "door", _door_number),
        "resident_id": _query_id(request, "resident_id"), "kind": _query(request, "kind", GateEventKind),
        "since": _query(request, "since", _aware), "until": _query(request, "until", _aware),
        "after": _query(request, "cursor", decode_cursor), "limit": limit,
    }
    communities = None
    if _is_manager(request):
        community_id = _query_id(request, "community_id")
        if community_id is not None:
            await _community_id(request, community_id)
        else:
            communities = _scope_filter(request)
        visible = None
    else:
        resident, community_id = await _me(request)
        household = {r.resident_id for r in await service.residents(community_id, resident.unit_id, active_only=True)}
        if filters["resident_id"] is not None and filters["resident_id"] not in household:
            raise json_error(web.HTTPForbidden, "a resident sees their own household's events only")
        visible = Visibility(resident.unit_id)  # the household and every visitor it invited, resolved in the query
    try:
        query = LogQuery(community_id=community_id, visible_to=visible, communities=communities, **filters)
    except ValueError as invalid:
        raise json_error(web.HTTPBadRequest, str(invalid)) from None
    page = await service.access_log(query)
    return _json(AccessEventsOut(events=[_event_out(e) for e in page.entries], next_cursor=page.next_cursor))


async def presence(request: web.Request) -> web.Response:
    counted = await _service(request).presence(await _community_id(request))
    return _json(AccessPresenceOut(community_id=counted.community_id, residents_inside=counted.residents_inside,
                                   visitors_inside=counted.visitors_inside))
