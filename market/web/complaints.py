"""The market API's complaints: a shopper files one (public, rate-limited per client address like the trace lookup,
in buckets of their own shared with the pages) and follows it by its reference; the market's operators list them,
read one with the scale's record of the purchase it names, move it on (start, resolve, reject) and read its photo;
its supervisor reads."""

from __future__ import annotations

import base64
import binascii
import re

from aiohttp import web

from market.complaints import PHOTO_TYPES, REFERENCE, ComplaintState
from market.rate_limit import TokenBuckets
from market.scans import sniffed_type
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
from market.web.scans import SCAN_HEADERS, too_large
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
    """A complaint with its photo, if any, in base64: one over the market's limit is 413 before it is decoded,
    one that is no JPEG or PNG 415; the service takes it or keeps nothing (the page's checks, the same words)."""
    _limited(request)
    data: ComplaintIn = await read_body(request, ComplaintIn)
    service = request.app[SERVICE]
    photo = photo_of(data.photo, service.settings.max_complaint_photo_bytes)
    if photo is not None and (problem := service.complaint_photo_problem(photo)) is not None:
        kind: type[web.HTTPException] = web.HTTPUnsupportedMediaType \
            if photo and sniffed_type(photo[:16]) not in PHOTO_TYPES else web.HTTPUnprocessableEntity
        raise json_error(kind, problem.message, details=[{"field": "photo", "problem": problem.message}])
    complaint = await calling(service.file_complaint(site_of(request), ComplaintForm(
        data.stall, data.trace_code or None, data.category, data.text, photo), now_of(request)))
    return json_of(complaint_filed_out(complaint), 201)


_DATA_URL = re.compile(r"data:image/[A-Za-z0-9.+-]{1,32};base64,", re.ASCII)


def photo_of(encoded: str | None, max_bytes: int) -> bytes | None:
    """The photo's bytes from base64 (a data: URL's prefix dropped): 413 when it would decode to more than
    ``max_bytes`` (judged from its length, before decoding), 400 when it is no base64."""
    if encoded is None:
        return None
    text = encoded[m.end():] if (m := _DATA_URL.match(encoded)) else encoded
    if len(text) // 4 * 3 - text.count("=", -2) > max_bytes:
        raise too_large(max_bytes)
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise json_error(web.HTTPBadRequest, "photo: not base64 (RFC 4648)",
                         details=[{"field": "photo", "problem": "not base64"}]) from None


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
        site_of(request), complaint_id, data.action, data.outcome, subject_of(request), now_of(request),
        data.conclusion))
    return json_of(complaint_out(complaint, now_of(request)))


async def complaint_photo(request: web.Request) -> web.Response:
    complaint, content = await calling(request.app[SERVICE].complaint_photo(site_of(request),
                                                                           complaint_id_of(request)))
    assert complaint.photo is not None
    return web.Response(body=content, content_type=complaint.photo.media_type.value, headers={
        **SCAN_HEADERS, "Content-Disposition": f'attachment; filename="complaint-{complaint.reference}.'
                                               f'{complaint.photo.media_type.extension}"'})
