"""Remote open: a manager opens a door of their communities (audited); the outcome follows the gate's ack or the
timeout. Another community's gate is an unknown gate (404) and nothing is sent to it. Supervisors read the audit."""

from __future__ import annotations

from aiohttp import web

from community.access.remote_open import RemoteOpen
from community.access.service import not_found
from community.access.web.handling import (
    _body,
    _community_id,
    _int_path,
    _json,
    _outside,
    _page_limit,
    _path_id,
    _principal,
    _query_id,
    _scoped_gate,
    _service,
)
from community.access.web.schemas import AccessOpenIn, AccessRemoteOpenOut, AccessRemoteOpensOut


def _remote_open_out(request: RemoteOpen) -> AccessRemoteOpenOut:
    return AccessRemoteOpenOut(
        cmd_id=request.cmd_id, gate_id=request.gate_id, door=request.door, requested_by=request.requested_by,
        reason=request.reason, requested_at=request.requested_at, deadline=request.deadline,
        status=request.status.value, finished_at=request.finished_at, error=request.error)


async def open_door(request: web.Request) -> web.Response:
    data: AccessOpenIn = await _body(request, AccessOpenIn)
    door = _int_path(request, "door")
    gate = await _scoped_gate(request)  # before anything is sent
    outcome = await _service(request).open_door(gate.gate_id, door, _principal(request).subject, data.reason)
    return _json(_remote_open_out(outcome), 202)


async def get_remote_open(request: web.Request) -> web.Response:
    cmd_id = _path_id(request, "cmd_id")
    found, community_id = await _service(request).remote_open(cmd_id)
    if _outside(request, community_id):
        raise not_found("remote open", cmd_id)
    return _json(_remote_open_out(found))


async def list_remote_opens(request: web.Request) -> web.Response:
    community_id = await _community_id(request)
    found = await _service(request).remote_opens(community_id, _query_id(request, "gate_id"),
                                                 limit=_page_limit(request, 100))
    return _json(AccessRemoteOpensOut(remote_opens=[_remote_open_out(r) for r in found]))
