"""The market API's findings: what the operator must look into (a price charged that differs from the
published one, an amount that does not add up, a sale of an unknown or blocked batch, ...), listed with
filters and resolved with a note."""

from __future__ import annotations

from aiohttp import web

from market.findings import FindingKind
from market.web.handling import (
    SERVICE,
    calling,
    json_of,
    now_of,
    paged,
    paging,
    query_choice,
    query_flag,
    read_body,
    site_of,
    subject_of,
)
from market.web.presenting import finding_out
from market.web.schemas import FindingsPage, ResolutionIn
from webkit.json_errors import json_error


async def list_findings(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    kind = query_choice(request, "kind", FindingKind)
    open_only = query_flag(request, "open", True)
    found = await calling(request.app[SERVICE].findings(site_of(request), kind, request.query.get("stall"), open_only,
                                                        limit + 1, offset))
    return paged(FindingsPage, [finding_out(f) for f in found], limit, offset)


async def resolve_finding(request: web.Request) -> web.Response:
    data: ResolutionIn = await read_body(request, ResolutionIn)
    raw = request.match_info["finding_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise json_error(web.HTTPNotFound, f"no finding {raw!r}")
    resolved = await calling(request.app[SERVICE].resolve_finding(site_of(request), int(raw), subject_of(request),
                                                                  data.resolution, now_of(request)))
    return json_of(finding_out(resolved))
