"""Gates and their doors with their whitelist sync state, the whitelist a gate should hold, and access groups
(doors, weekly windows, validity) — of the caller's communities (another community's gate: 404).
"""

from __future__ import annotations

from datetime import time

from aiohttp import web

from community.access.directory import Gate, GateDoor, GroupRecord
from community.access.permissions import AccessGroup, Door, WeeklyWindow
from community.access.service import GateStatus, not_found
from community.access.web.handling import _body, _community_id, _json, _outside, _path_id, _scoped_gate, _service
from community.access.web.schemas import (
    AccessDoorOut,
    AccessGateIn,
    AccessGateOut,
    AccessGatesOut,
    AccessGroupIn,
    AccessGroupOut,
    AccessGroupsOut,
    AccessWhitelistOut,
)
from webkit.json_errors import json_error


def _gate_out(status: GateStatus) -> AccessGateOut:
    gate = status.gate
    return AccessGateOut(
        gate_id=gate.gate_id, community_id=gate.community_id, name=gate.name,
        doors=[AccessDoorOut(number=d.number, name=d.name, kind=d.kind, building_id=d.building_id)
               for d in gate.doors],
        online=status.online, desired_version=status.desired_version, acked_version=status.acked_version,
        in_sync=status.in_sync, pending_commands=status.pending_commands,
        whitelist_entries=status.whitelist_entries, blacklist_entries=status.blacklist_entries)


def _group_out(record: GroupRecord) -> AccessGroupOut:
    group = record.group
    return AccessGroupOut(
        group_id=group.group_id, community_id=record.community_id, name=record.name,
        doors=[{"gate_id": door.gate_id, "door": door.number} for door in sorted(group.doors)],
        windows=[window.to_payload() for window in group.windows], valid_from=group.valid_from,
        valid_to=group.valid_to)


async def add_gate(request: web.Request) -> web.Response:
    data: AccessGateIn = await _body(request, AccessGateIn)
    if len({door.number for door in data.doors}) != len(data.doors):
        raise json_error(web.HTTPBadRequest, "door numbers repeat")
    gate = Gate(data.gate_id, await _community_id(request), data.name,
                tuple(GateDoor(data.gate_id, d.number, d.name, d.kind, d.building_id)
                      for d in sorted(data.doors, key=lambda d: d.number)))
    service = _service(request)
    await service.add_gate(gate)
    return _json(_gate_out(await service.gate_status(gate.gate_id)), 201)


async def list_gates(request: web.Request) -> web.Response:
    service = _service(request)
    community_id = await _community_id(request)
    statuses = [await service.gate_status(gate.gate_id) for gate in await service.gates(community_id)]
    return _json(AccessGatesOut(gates=[_gate_out(status) for status in statuses]))


async def get_gate(request: web.Request) -> web.Response:
    gate_id = _path_id(request, "gate_id")
    status = await _service(request).gate_status(gate_id)
    if _outside(request, status.gate.community_id):
        raise not_found("gate", gate_id)
    return _json(_gate_out(status))


async def get_whitelist(request: web.Request) -> web.Response:
    gate_id = (await _scoped_gate(request)).gate_id
    desired = await _service(request).desired_whitelist(gate_id)
    if desired is None:
        return _json(AccessWhitelistOut(gate_id=gate_id, version=None, content_hash=None, whitelist=None))
    version, whitelist = desired
    return _json(AccessWhitelistOut(gate_id=gate_id, version=version, content_hash=whitelist.content_hash,
                                    whitelist=whitelist.to_payload()))


async def put_group(request: web.Request) -> web.Response:
    data: AccessGroupIn = await _body(request, AccessGroupIn)
    community_id = await _community_id(request)
    group_id = _path_id(request, "group_id", creating=True)
    try:
        windows = tuple(WeeklyWindow(frozenset(w.days), time.fromisoformat(w.start), time.fromisoformat(w.end))
                        for w in data.windows)
        group = AccessGroup(group_id, frozenset(Door(d.gate_id, d.door) for d in data.doors), windows,
                            data.valid_from, data.valid_to)
    except ValueError as invalid:
        raise json_error(web.HTTPUnprocessableEntity, str(invalid)) from None
    record = GroupRecord(community_id, data.name, group)
    await _service(request).put_group(record)
    return _json(_group_out(record))


async def list_groups(request: web.Request) -> web.Response:
    community_id = await _community_id(request)
    return _json(AccessGroupsOut(groups=[_group_out(g) for g in await _service(request).groups(community_id)]))
