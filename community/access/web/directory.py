"""The directory: communities, buildings, units and their residents (phones masked), a resident's access groups,
revocation and moving out; and the signed-in resident's own unit and credentials (``/api/access/me``). Each within
the caller's scope: a community is registered by an administrator or by staff already assigned its id, the list
shows the caller's communities, and anything of another community is an unknown id (404).
"""

from __future__ import annotations

from aiohttp import web

from community.access.directory import Building, Community, ResidentRecord, Unit
from community.access.service import not_found
from community.access.web.credentials import _credential_out
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
    _scoped_resident,
    _service,
    _visible_resident,
)
from community.access.web.schemas import (
    AccessBuildingIn,
    AccessBuildingOut,
    AccessBuildingsOut,
    AccessCommunitiesOut,
    AccessCommunityIn,
    AccessCommunityOut,
    AccessGroupsIn,
    AccessMeOut,
    AccessResidentIn,
    AccessResidentOut,
    AccessResidentsOut,
    AccessUnitIn,
    AccessUnitOut,
)
from webkit.json_errors import json_error


def _resident_out(record: ResidentRecord) -> AccessResidentOut:
    return AccessResidentOut(resident_id=record.resident_id, unit_id=record.unit_id, role=record.role,
                             name=record.name, phone=record.masked_phone, group_ids=sorted(record.group_ids),
                             status=record.status)


def _unit_out(unit: Unit, residents: list[ResidentRecord]) -> AccessUnitOut:
    return AccessUnitOut(unit_id=unit.unit_id, building_id=unit.building_id, entrance=unit.entrance, room=unit.room,
                         area_m2=str(unit.area_m2), residents=[_resident_out(r) for r in residents])


async def create_community(request: web.Request) -> web.Response:
    """An administrator registers any community; a property manager one whose id the administrator has assigned
    them already (to their organisation and their account): a new id is no secret, so anything else is a plain 403."""
    data: AccessCommunityIn = await _body(request, AccessCommunityIn)
    if _outside(request, data.community_id):
        raise json_error(web.HTTPForbidden, f"community {data.community_id!r} is not assigned to you: an "
                         "administrator assigns it to your organisation and your account first")
    await _service(request).create_community(Community(data.community_id, data.site, data.name))
    return _json(AccessCommunityOut(community_id=data.community_id, site=data.site, name=data.name), 201)


async def list_communities(request: web.Request) -> web.Response:
    found = [community for community in await _service(request).communities()
             if not _outside(request, community.community_id)]
    return _json(AccessCommunitiesOut(communities=[AccessCommunityOut(community_id=c.community_id, site=c.site,
                                                                      name=c.name) for c in found]))


async def add_building(request: web.Request) -> web.Response:
    data: AccessBuildingIn = await _body(request, AccessBuildingIn)
    community_id = await _community_id(request)
    await _service(request).add_building(Building(data.building_id, community_id, data.name))
    return _json(AccessBuildingOut(building_id=data.building_id, community_id=community_id, name=data.name), 201)


async def list_buildings(request: web.Request) -> web.Response:
    found = await _service(request).buildings(await _community_id(request))
    return _json(AccessBuildingsOut(buildings=[AccessBuildingOut(building_id=b.building_id,
                                                                 community_id=b.community_id, name=b.name)
                                               for b in found]))


async def add_unit(request: web.Request) -> web.Response:
    data: AccessUnitIn = await _body(request, AccessUnitIn)
    unit = Unit(data.unit_id, data.building_id, data.entrance, data.room, data.area_m2)
    service = _service(request)
    building_community = {b.building_id for b in await service.buildings(await _community_id(request))}
    if data.building_id not in building_community:
        raise json_error(web.HTTPNotFound, f"no building {data.building_id!r} in this community")
    await service.add_unit(unit)
    return _json(_unit_out(unit, []), 201)


async def get_unit(request: web.Request) -> web.Response:
    """Managers see everyone ever registered in the unit (with their status); a resident, the active household."""
    unit_id = _path_id(request, "unit_id")
    unit, community_id = await _service(request).unit(unit_id)
    if _outside(request, community_id):
        raise not_found("unit", unit_id)
    manager = _is_manager(request)
    if not manager:
        me, _ = await _me(request)
        if me.unit_id != unit.unit_id:
            raise json_error(web.HTTPForbidden, "a resident sees their own unit only")
    residents = await _service(request).residents(community_id, unit.unit_id, active_only=not manager)
    return _json(_unit_out(unit, residents))


async def add_resident(request: web.Request) -> web.Response:
    data: AccessResidentIn = await _body(request, AccessResidentIn)
    service = _service(request)
    _, community_id = await service.unit(data.unit_id)
    if _outside(request, community_id):
        raise not_found("unit", data.unit_id)
    # a community outside the scope holds no unit of the scope: answered as an unknown community would be
    if community_id != _path_id(request, "community_id"):
        raise json_error(web.HTTPNotFound, f"no unit {data.unit_id!r} in this community")
    record = ResidentRecord(data.resident_id, data.unit_id, data.role, data.name, data.phone,
                            frozenset(data.group_ids))
    await service.add_resident(record)
    return _json(_resident_out(record), 201)


async def list_residents(request: web.Request) -> web.Response:
    community_id = await _community_id(request)
    found = await _service(request).residents(community_id, _query_id(request, "unit_id"))
    return _json(AccessResidentsOut(residents=[_resident_out(r) for r in found]))


async def get_resident(request: web.Request) -> web.Response:
    return _json(_resident_out(await _visible_resident(request)))


async def set_groups(request: web.Request) -> web.Response:
    data: AccessGroupsIn = await _body(request, AccessGroupsIn)
    resident, _ = await _scoped_resident(request)
    record = await _service(request).set_resident_groups(resident.resident_id, frozenset(data.group_ids))
    return _json(_resident_out(record))


async def revoke_resident(request: web.Request) -> web.Response:
    resident_id = (await _scoped_resident(request))[0].resident_id
    await _service(request).revoke_resident(resident_id, _principal(request).subject)
    resident, _ = await _service(request).resident(resident_id)
    return _json(_resident_out(resident))


async def move_out(request: web.Request) -> web.Response:
    resident_id = (await _scoped_resident(request))[0].resident_id
    await _service(request).move_out(resident_id, _principal(request).subject)
    resident, _ = await _service(request).resident(resident_id)
    return _json(_resident_out(resident))


async def me(request: web.Request) -> web.Response:
    resident, community_id = await _me(request)
    unit, _ = await _service(request).unit(resident.unit_id)
    residents = await _service(request).residents(community_id, unit.unit_id, active_only=True)
    credentials = await _service(request).credentials_of(resident.resident_id)
    return _json(AccessMeOut(resident=_resident_out(resident), unit=_unit_out(unit, residents),
                             credentials=[_credential_out(c) for c in credentials]))
