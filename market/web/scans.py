"""The market API's licence scans: a document's scan or photo uploaded as the request body itself (JPEG, PNG or
PDF, taken by its content whatever the Content-Type says, up to SC_MARKET_MAX_SCAN_BYTES) and read back by the
market's operators and its supervisor only — never public, never cached, always as a download, so a scan is
not rendered inside the site (a health certificate's shows a person's name and photo)."""

from __future__ import annotations

import json
from typing import Final

from aiohttp import web

from market.licences import RecordedDocument
from market.scans import ScanProblem
from market.service import ScanRefused
from market.web.handling import SERVICE, calling, json_of, site_of, subject_of
from market.web.presenting import recorded_document_out
from webkit.json_errors import json_error

CHUNK_BYTES: Final = 64 * 1024
SCAN_HEADERS: Final = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                       "Content-Security-Policy": "default-src 'none'; sandbox", "X-Frame-Options": "DENY",
                       "Referrer-Policy": "no-referrer"}
"""A scan is private (no-store), is exactly the type it was taken as (nosniff), and a PDF opened from it runs
nothing in the site's origin (sandbox)."""


def document_id_of(request: web.Request) -> int | None:
    raw = request.match_info["document_id"]
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None


def too_large(max_bytes: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_bytes, max_bytes + 1, content_type="application/json",
        text=json.dumps({"error": ScanProblem.TOO_LARGE.message(max_bytes), "reason": ScanProblem.TOO_LARGE.value,
                         "max_bytes": max_bytes}))


async def scan_body(request: web.Request, max_bytes: int) -> bytes:
    """The request body, read up to ``max_bytes`` (a declared or actual larger one: 413, read no further)."""
    if (request.content_length or 0) > max_bytes:
        raise too_large(max_bytes)
    content = bytearray()
    while chunk := await request.content.read(CHUNK_BYTES):
        content.extend(chunk)
        if len(content) > max_bytes:
            raise too_large(max_bytes)
    return bytes(content)


def refused_scan(refused: ScanRefused) -> web.HTTPException:
    if refused.problem is ScanProblem.TOO_LARGE:
        return too_large(refused.max_bytes)
    kind: type[web.HTTPException] = web.HTTPUnsupportedMediaType \
        if refused.problem is ScanProblem.UNKNOWN_TYPE else web.HTTPUnprocessableEntity
    return json_error(kind, str(refused), reason=refused.problem.value)


async def upload_scan(request: web.Request) -> web.Response:
    """Keep the body as the document's scan (in place of the one it had)."""
    vendor_id, document_id = request.match_info["vendor_id"], document_id_of(request)
    if document_id is None:
        raise json_error(web.HTTPNotFound, f"no document {request.match_info['document_id']!r}")
    service = request.app[SERVICE]
    content = await scan_body(request, service.settings.max_scan_bytes)

    async def keep() -> RecordedDocument:
        try:
            return await service.keep_scan(site_of(request), vendor_id, document_id, content, subject_of(request))
        except ScanRefused as refused:  # ahead of calling()'s 422 for every refusal: the problem decides
            raise refused_scan(refused) from None

    return json_of(recorded_document_out(await calling(keep())))


async def get_scan(request: web.Request) -> web.Response:
    """The document's scan, as a download."""
    document_id = document_id_of(request)
    if document_id is None:
        raise json_error(web.HTTPNotFound, f"no document {request.match_info['document_id']!r}")
    recorded, content = await calling(request.app[SERVICE].document_scan(
        site_of(request), request.match_info["vendor_id"], document_id))
    return scan_response(recorded, content)


def scan_response(recorded: RecordedDocument, content: bytes) -> web.Response:
    """A document's scan as a private download: named by its document, never by what the uploader called it."""
    if recorded.scan is None:
        raise ValueError(f"document {recorded.document_id} has no scan")
    media_type = recorded.scan.media_type
    filename = f"{recorded.document.kind.value}-{recorded.document_id}.{media_type.extension}"
    return web.Response(body=content, content_type=media_type.value, headers={
        **SCAN_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})
