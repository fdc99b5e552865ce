"""The market API's complaints: a shopper files one (public, rate-limited per client address like the trace lookup,
in buckets of their own shared with the pages) and follows it by its reference; the market's operators list them,
read one with the scale's record of the purchase it names, move it on (start, resolve, reject) and read its photo;
its supervisor reads."""

from __future__ import annotations

from aiohttp import web

from market.complaints import REFERENCE, ComplaintState
from market.rate_limit import TokenBuckets
from market.service import ComplaintForm
from market.web.handling import (
    SERVICE,
    calling,
    json_of,
    now_of,
    paged,
    paging,
    query_choice,
    read_body,
    site_of,
    subject_of,
)
from market.web.presenting import (
    complaint_detail_out,
    complaint_filed_out,
    complaint_out,
    complaint_status_out,
)
from market.web.scans import SCAN_HEADERS
from market.web.schemas import ComplaintActionIn, ComplaintIn, ComplaintsPage
from market.web.tracing import trace_client
from webkit.json_errors import json_error

COMPLAINT_BUCKETS = web.AppKey("market_complaint_buckets", TokenBuckets)


def take_complaint_token(request: web.Request) -> int:
    """A token of the client's complaint bucket: 0 to go ahead, else the seconds to wait."""
    client = trace_client(request, request.app[SERVICE].settings)
    return request.config_dict[COMPLAINT_BUCKETS].take(client, now_of(request))


def _limited(request: web.Request) -> None:
    wait = take_complaint_token(request)
    if wait:
        raise json_error(web.HTTPTooManyRequests, "too many complaints from this address; try again later",
                         headers={"Retry-After": str(wait)}, retry_after_s=wait)


async def file_complaint(request: web.Request) -> web.Response:
    _limited(request)
    data: ComplaintIn = await read_body(request, ComplaintIn)
    complaint = await calling(request.app[SERVICE].file_complaint(site_of(request), ComplaintForm(
        data.stall, data.trace_code or None, data.category, data.text), now_of(request)))
    return json_of(complaint_filed_out(complaint), 201)


async def complaint_status(request: web.Request) -> web.Response:
    _limited(request)
    reference = request.match_info["reference"].strip().upper()
    if not REFERENCE.fullmatch(reference):
        raise json_error(web.HTTPNotFound, "no complaint with this reference")
    complaint = await calling(request.app[SERVICE].complaint_by_reference(site_of(request), reference))
    return json_of(complaint_status_out(complaint))


def complaint_id_of(request: web.Request) -> int:
    text = request.match_info["complaint_id"]
    if not text.isdigit() or len(text) > 12:
        raise json_error(web.HTTPNotFound, f"no complaint {text!r}")
    return int(text)


async def list_complaints(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    state = query_choice(request, "state", ComplaintState)
    found = await calling(request.app[SERVICE].complaints(site_of(request), frozenset({state}) if state else None,
                                                          limit + 1, offset))
    return paged(ComplaintsPage, [complaint_out(c, now_of(request)) for c in found], limit, offset)


async def get_complaint(request: web.Request) -> web.Response:
    detail = await calling(request.app[SERVICE].complaint_detail(site_of(request), complaint_id_of(request)))
    return json_of(complaint_detail_out(detail, now_of(request)))


async def act_on_complaint(request: web.Request) -> web.Response:
    complaint_id = complaint_id_of(request)
    data: ComplaintActionIn = await read_body(request, ComplaintActionIn)
    complaint = await calling(request.app[SERVICE].act_on_complaint(
        site_of(request), complaint_id, data.action, data.outcome, subject_of(request), now_of(request)))
    return json_of(complaint_out(complaint, now_of(request)))


async def complaint_photo(request: web.Request) -> web.Response:
    complaint, content = await calling(request.app[SERVICE].complaint_photo(site_of(request),
                                                                           complaint_id_of(request)))
    assert complaint.photo is not None
    return web.Response(body=content, content_type=complaint.photo.media_type.value, headers={
        **SCAN_HEADERS, "Content-Disposition": f'attachment; filename="complaint-{complaint.reference}.'
                                               f'{complaint.photo.media_type.extension}"'})
