"""Visitor passes: a resident invites (a signed QR pass), sees and revokes their own; a manager sees a
community's. The QR text and code go to the inviting resident only. A pass of a community outside the caller's scope
is an unknown pass (404), for a resident too (whose scope is their community); one of another household of the
resident's own community is theirs to be refused (403), as before.
"""

from __future__ import annotations

import io
from datetime import datetime

import segno
from aiohttp import web

from community.access.directory import mask_phone
from community.access.permissions import Door
from community.access.service import not_found
from community.access.visitors import VisitorPassRecord
from community.access.web.handling import (
    _body,
    _community_id,
    _is_manager,
    _json,
    _me,
    _outside,
    _path_id,
    _principal,
    _query_id,
    _service,
)
from community.access.web.schemas import AccessPassesOut, AccessPassIn, AccessPassOut
from webkit.auth import CLOCK
from webkit.json_errors import json_error


def _pass_out(record: VisitorPassRecord, now: datetime, text: str | None) -> AccessPassOut:
    visit = record.visitor_pass
    return AccessPassOut(
        pass_id=visit.pass_id, resident_id=visit.resident_id,
        doors=[{"gate_id": door.gate_id, "door": door.number} for door in sorted(visit.doors)],
        valid_from=visit.valid_from, valid_to=visit.valid_to, max_uses=visit.max_uses, uses=record.uses,
        status=record.status(now).value, visitor_name=visit.visitor_name,
        visitor_phone=mask_phone(record.visitor_phone) if record.visitor_phone else None,
        issued_at=record.issued_at, revoked_at=record.revoked_at, text=text)


async def invite(request: web.Request) -> web.Response:
    data: AccessPassIn = await _body(request, AccessPassIn)
    resident, _ = await _me(request)
    issued = await _service(request).invite(
        resident.resident_id, frozenset(Door(d.gate_id, d.door) for d in data.doors), valid_from=data.valid_from,
        valid_to=data.valid_to, max_uses=data.max_uses, visitor_name=data.visitor_name,
        visitor_phone=data.visitor_phone)
    return _json(_pass_out(issued.record, request.config_dict[CLOCK](), issued.text), 201)


async def _visible_pass(request: web.Request) -> tuple[VisitorPassRecord, bool]:
    """The pass in the path for its inviter or a manager; whether the caller is the inviter."""
    pass_id = _path_id(request, "pass_id")
    record, community_id = await _service(request).visitor_pass(pass_id)
    if _outside(request, community_id):
        raise not_found("visitor pass", pass_id)
    if _is_manager(request):
        return record, record.resident_id == _principal(request).subject
    me, _ = await _me(request)  # an active resident
    if record.resident_id != me.resident_id:
        raise json_error(web.HTTPForbidden, "a resident sees the visitors they invited only")
    return record, True


async def get_pass(request: web.Request) -> web.Response:
    record, inviter = await _visible_pass(request)
    text = _service(request).pass_text(record) if inviter else None
    return _json(_pass_out(record, request.config_dict[CLOCK](), text))


async def pass_qr(request: web.Request) -> web.Response:
    record, inviter = await _visible_pass(request)
    if not inviter:
        raise json_error(web.HTTPForbidden, "only the inviting resident gets the QR code")
    buffer = io.BytesIO()
    segno.make(_service(request).pass_text(record), error="m").save(buffer, kind="svg", scale=4)
    return web.Response(body=buffer.getvalue(), content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})


async def list_passes(request: web.Request) -> web.Response:
    service, now = _service(request), request.config_dict[CLOCK]()
    if _is_manager(request):
        community_id = _query_id(request, "community_id")
        if not community_id:
            raise json_error(web.HTTPBadRequest, "give ?community_id=", field="community_id")
        await _community_id(request, community_id)  # 404 for an unknown community (or another's), not an empty list
        found = await service.passes(community_id=community_id)
        return _json(AccessPassesOut(passes=[_pass_out(r, now, None) for r in found]))
    resident, _ = await _me(request)
    found = await service.passes(resident_ids=[resident.resident_id])
    return _json(AccessPassesOut(passes=[_pass_out(r, now, None) for r in found]))


async def revoke_pass(request: web.Request) -> web.Response:
    record, _ = await _visible_pass(request)
    revoked = await _service(request).revoke_pass(record.pass_id, _principal(request).subject)
    return _json(_pass_out(revoked, request.config_dict[CLOCK](), None))
