"""The access-control API (aiohttp): directory, credentials, gates and groups, visitor passes, remote open, the
access log, presence, alarms and the live feed (Server-Sent Events).

Handlers translate HTTP to AccessService calls. Roles: property managers (and admins) run the community; a resident
(whose token subject is their resident id) sees only their own unit, their own credentials and the visitors they
invited — anything else is 403, or 404 when it does not exist. Phone numbers are masked in every answer; a
credential is never shown, only its hint. Schema names start with ``Access`` so the combined /openapi.json of all
contexts has no clashes.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, time
from decimal import Decimal
from functools import wraps
from typing import Annotated, Any

import segno
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy.exc import DBAPIError

from community.access.access_log import MAX_PAGE, AccessLogEntry, LogQuery, Visibility, decode_cursor
from community.access.alarms import Alarm, AlarmKind, AlarmStatus
from community.access.directory import (
    Building,
    Community,
    CredentialRecord,
    DoorKind,
    Gate,
    GateDoor,
    GroupRecord,
    ResidentRecord,
    ResidentRole,
    ResidentStatus,
    Unit,
    mask_phone,
)
from community.access.live_feed import FeedFull
from community.access.live_stream import stream
from community.access.permissions import AccessGroup, CredentialKind, Door, WeeklyWindow
from community.access.remote_open import RemoteOpen
from community.access.service import (
    UNSTORABLE_VALUE,
    AccessError,
    AccessService,
    Conflict,
    CredentialEnrolment,
    GateStatus,
    NotAllowed,
    NotFound,
    Refused,
)
from community.access.storage import is_data_error
from community.access.visitors import VisitorPassRecord
from devices.contract import AccessMethod, DenialReason, Direction, GateEventKind
from webkit.auth import AUTHORITY, CLOCK, PRINCIPAL, Handler
from webkit.identity import Principal, Role, TokenAuthority
from webkit.json_errors import json_error
from webkit.openapi import LIMIT, QueryParam, Route, add_routes

log = logging.getLogger(__name__)

SERVICE = web.AppKey("access_service", AccessService)

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
"""Every id of this API, in bodies, paths and queries alike: it fits every id column (64 characters)."""
DEVICE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
_IDS = {"gate_id": re.compile(DEVICE_ID_PATTERN)}
_ANY_ID = re.compile(ID_PATTERN)
# Text limits are the columns' (in characters, as PostgreSQL counts them); one-line texts refuse control characters
# and notes refuse NUL, which PostgreSQL cannot store, so bad text is a 400 on every database.
Name = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,100}$")]
ShortLine = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,32}$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 -]{5,30}$")]
Note = Annotated[str, StringConstraints(pattern=r"^[^\x00]{0,2000}$")]
DoorNumber = Annotated[int, Field(ge=1, le=1024)]
MANAGERS = (Role.PROPERTY_MANAGER,)
PEOPLE = (Role.PROPERTY_MANAGER, Role.RESIDENT)

_STATUS: dict[type[AccessError], type[web.HTTPException]] = {
    NotFound: web.HTTPNotFound, Conflict: web.HTTPConflict, Refused: web.HTTPUnprocessableEntity,
    NotAllowed: web.HTTPForbidden,
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessCommunityIn(_In):
    community_id: Id
    site: DeviceId = Field(description="The MQTT site id of the installation (sc/v1/{site}/gate/...)")
    name: Name


class AccessCommunityOut(BaseModel):
    community_id: str
    site: str
    name: str


class AccessCommunitiesOut(BaseModel):
    communities: list[AccessCommunityOut]


class AccessBuildingIn(_In):
    building_id: Id
    name: Name


class AccessBuildingOut(BaseModel):
    building_id: str
    community_id: str
    name: str


class AccessBuildingsOut(BaseModel):
    buildings: list[AccessBuildingOut]


class AccessUnitIn(_In):
    unit_id: Id
    building_id: Id
    entrance: ShortLine = Field(description="单元, e.g. 2单元")
    room: ShortLine
    area_m2: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)] = Field(
        description="Registered exclusive area, exact decimal")


class AccessResidentIn(_In):
    resident_id: Id = Field(description="Also the subject of the resident's bearer token")
    unit_id: Id
    role: ResidentRole
    name: Name
    phone: Phone | None = None
    group_ids: Annotated[list[Id], Field(max_length=64)] = []


class AccessResidentOut(BaseModel):
    resident_id: str
    unit_id: str
    role: ResidentRole
    name: str
    phone: str | None = Field(description="Masked: 138****5678")
    group_ids: list[str]
    status: ResidentStatus


class AccessResidentsOut(BaseModel):
    residents: list[AccessResidentOut]


class AccessUnitOut(BaseModel):
    unit_id: str
    building_id: str
    entrance: str
    room: str
    area_m2: str
    residents: list[AccessResidentOut]


class AccessGroupsIn(_In):
    group_ids: Annotated[list[Id], Field(max_length=64)]


class AccessCredentialIn(_In):
    kind: CredentialKind
    value: Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,128}$")] = Field(
        description="Card number, PIN, face template reference or static QR text; hashed at once, never stored")
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None


class AccessCredentialOut(BaseModel):
    credential_id: str
    resident_id: str
    kind: CredentialKind
    hint: str | None = Field(description="The last four characters of a card number or face template reference "
                                         "(…5678); nothing of a PIN")
    valid_from: datetime | None
    valid_to: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None


class AccessCredentialsOut(BaseModel):
    credentials: list[AccessCredentialOut]


class AccessDoorIn(_In):
    number: DoorNumber
    name: Name
    kind: DoorKind
    building_id: Id | None = None


class AccessGateIn(_In):
    gate_id: DeviceId = Field(description="The controller's device id on MQTT")
    name: Name
    doors: Annotated[list[AccessDoorIn], Field(min_length=1, max_length=64)]


class AccessDoorOut(BaseModel):
    number: int
    name: str
    kind: DoorKind
    building_id: str | None


class AccessGateOut(BaseModel):
    gate_id: str
    community_id: str
    name: str
    doors: list[AccessDoorOut]
    online: bool
    desired_version: int | None
    acked_version: int | None
    in_sync: bool
    pending_commands: int
    whitelist_entries: int
    blacklist_entries: int


class AccessGatesOut(BaseModel):
    gates: list[AccessGateOut]


class AccessWhitelistOut(BaseModel):
    gate_id: str
    version: int | None
    content_hash: str | None
    whitelist: dict[str, Any] | None = Field(description="As sent to the gate: credential hashes, never values")


class AccessDoorRef(_In):
    gate_id: DeviceId
    door: DoorNumber


class AccessWindowIn(_In):
    days: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1, max_length=7)] = Field(
        description="Weekdays the window starts on, 0 = Monday")
    start: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}(:\d{2})?$")] = Field(
        description="Asia/Shanghai wall clock; an end not after the start crosses midnight")
    end: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}(:\d{2})?$")]


class AccessGroupIn(_In):
    name: Name
    doors: Annotated[list[AccessDoorRef], Field(min_length=1, max_length=1024)]
    windows: Annotated[list[AccessWindowIn], Field(min_length=1, max_length=32)]
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None


class AccessGroupOut(BaseModel):
    group_id: str
    community_id: str
    name: str
    doors: list[dict[str, Any]]
    windows: list[dict[str, Any]]
    valid_from: datetime | None
    valid_to: datetime | None


class AccessGroupsOut(BaseModel):
    groups: list[AccessGroupOut]


class AccessPassIn(_In):
    doors: Annotated[list[AccessDoorRef], Field(min_length=1, max_length=16)]
    valid_from: AwareDatetime | None = Field(None, description="Default: now")
    valid_to: AwareDatetime | None = Field(None, description="Default: 4 hours after the start; at most 24 hours")
    max_uses: Annotated[int, Field(ge=1, le=100)] | None = None
    visitor_name: ShortLine | None = None
    visitor_phone: Phone | None = None


class AccessPassOut(BaseModel):
    pass_id: str
    resident_id: str
    doors: list[dict[str, Any]]
    valid_from: datetime
    valid_to: datetime
    max_uses: int
    uses: int
    status: str
    visitor_name: str | None
    visitor_phone: str | None = Field(description="Masked")
    issued_at: datetime
    revoked_at: datetime | None
    text: str | None = Field(description="The signed QR text; shown to the inviting resident only")


class AccessPassesOut(BaseModel):
    passes: list[AccessPassOut]


class AccessOpenIn(_In):
    reason: Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,200}$")] = Field(
        description="Why the door is opened remotely (kept in the audit)")


class AccessRemoteOpenOut(BaseModel):
    cmd_id: str
    gate_id: str
    door: int
    requested_by: str
    reason: str
    requested_at: datetime
    deadline: datetime
    status: str
    finished_at: datetime | None
    error: str | None


class AccessRemoteOpensOut(BaseModel):
    remote_opens: list[AccessRemoteOpenOut]


class AccessEventOut(BaseModel):
    gate_id: str
    event_id: str
    ts: datetime
    door: int
    kind: GateEventKind
    method: AccessMethod | None
    direction: Direction | None
    reason: DenialReason | None = Field(description="Why it was denied")
    offline: bool
    resident_id: str | None
    pass_id: str | None


class AccessEventsOut(BaseModel):
    events: list[AccessEventOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page")


class AccessPresenceOut(BaseModel):
    community_id: str
    residents_inside: int
    visitors_inside: int


class AccessNoteIn(_In):
    note: Note = ""


class AccessAlarmOut(BaseModel):
    number: int
    alarm_id: str
    kind: AlarmKind
    gate_id: str
    door: int | None
    raised_at: datetime
    status: AlarmStatus
    occurrences: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledge_note: str
    resolved_by: str | None
    resolved_at: datetime | None
    resolve_note: str


class AccessAlarmsOut(BaseModel):
    alarms: list[AccessAlarmOut]


class AccessMeOut(BaseModel):
    resident: AccessResidentOut
    unit: AccessUnitOut
    credentials: list[AccessCredentialOut]


# -- helpers ----------------------------------------------------------------------------------------------------


def _translated(handler: Handler) -> Handler:
    """The service's refusals as 4xx with the reason; a value the database refuses as 422, without its SQL text."""

    @wraps(handler)
    async def translated(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AccessError as refused:
            raise json_error(_STATUS.get(type(refused), web.HTTPUnprocessableEntity), str(refused)) from None
        except DBAPIError as failed:
            if not is_data_error(failed):
                raise
            log.warning("a value the database cannot take was refused", extra={"error": type(failed.orig).__name__})
            raise json_error(web.HTTPUnprocessableEntity, UNSTORABLE_VALUE) from None

    return translated


async def _body(request: web.Request, model: type[_In]) -> Any:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as invalid:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                   for e in invalid.errors(include_url=False, include_input=False)]
        raise json_error(web.HTTPBadRequest, "the request body breaks the schema", details=details) from None


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


def _service(request: web.Request) -> AccessService:
    return request.app[SERVICE]


def _principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def _is_manager(request: web.Request) -> bool:
    return _principal(request).has_any(MANAGERS)


async def _me(request: web.Request) -> tuple[ResidentRecord, str]:
    """The resident behind the token (their subject is their resident id), and their community; 403 unless they are
    an active resident (moved out or revoked: no resident access)."""
    try:
        return await _service(request).signed_in_resident(_principal(request).subject)
    except NotFound:
        raise json_error(web.HTTPForbidden, "this token names no resident") from None


def _query(request: web.Request, name: str, parse: Callable[[str], Any]) -> Any:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except (ValueError, TypeError):
        raise json_error(web.HTTPBadRequest, f"query parameter {name!r} is not valid", field=name) from None


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a time needs an offset")
    return moment


def _path_id(request: web.Request, name: str, *, creating: bool = False) -> str:
    """An id from the path, checked like every id of the API: one that cannot exist is 404 (400 for the id of
    something being created), never a lookup that the database might refuse."""
    raw = request.match_info[name]
    if _IDS.get(name, _ANY_ID).fullmatch(raw):
        return raw
    what = name.removesuffix("_id")
    if creating:
        raise json_error(web.HTTPBadRequest, f"a {what} id is 1..64 letters, digits or _ . : -", field=name)
    raise json_error(web.HTTPNotFound, f"no {what} with that id")


def _query_id(request: web.Request, name: str) -> str | None:
    """An id from the query string (None when absent), checked like every id of the API: 400 when malformed."""
    raw = request.query.get(name)
    if not raw:
        return None
    if not _IDS.get(name, _ANY_ID).fullmatch(raw):
        raise json_error(web.HTTPBadRequest, f"query parameter {name!r} is not a valid id", field=name)
    return raw


def _page_limit(request: web.Request, default: int) -> int:
    """The ``?limit=`` of a listing: 1..MAX_PAGE, else 400 — the same rule for every paged list."""
    limit = _query(request, "limit", int)
    if limit is None:
        return default
    if not 1 <= limit <= MAX_PAGE:
        raise json_error(web.HTTPBadRequest, f"limit must be 1..{MAX_PAGE}", field="limit")
    return int(limit)


def _door_number(text: str) -> int:
    number = int(text)
    if not 1 <= number <= 1024:
        raise ValueError("a door number is 1..1024")
    return number


def _int_path(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise json_error(web.HTTPNotFound, f"no {name} {raw!r}")
    return int(raw)


def _resident_out(record: ResidentRecord) -> AccessResidentOut:
    return AccessResidentOut(resident_id=record.resident_id, unit_id=record.unit_id, role=record.role,
                             name=record.name, phone=record.masked_phone, group_ids=sorted(record.group_ids),
                             status=record.status)


def _credential_out(record: CredentialRecord) -> AccessCredentialOut:
    return AccessCredentialOut(credential_id=record.credential_id, resident_id=record.resident_id, kind=record.kind,
                               hint=record.hint, valid_from=record.valid_from, valid_to=record.valid_to,
                               revoked_at=record.revoked_at, revoked_by=record.revoked_by)


def _unit_out(unit: Unit, residents: list[ResidentRecord]) -> AccessUnitOut:
    return AccessUnitOut(unit_id=unit.unit_id, building_id=unit.building_id, entrance=unit.entrance, room=unit.room,
                         area_m2=str(unit.area_m2), residents=[_resident_out(r) for r in residents])


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


def _pass_out(record: VisitorPassRecord, now: datetime, text: str | None) -> AccessPassOut:
    visit = record.visitor_pass
    return AccessPassOut(
        pass_id=visit.pass_id, resident_id=visit.resident_id,
        doors=[{"gate_id": door.gate_id, "door": door.number} for door in sorted(visit.doors)],
        valid_from=visit.valid_from, valid_to=visit.valid_to, max_uses=visit.max_uses, uses=record.uses,
        status=record.status(now).value, visitor_name=visit.visitor_name,
        visitor_phone=mask_phone(record.visitor_phone) if record.visitor_phone else None,
        issued_at=record.issued_at, revoked_at=record.revoked_at, text=text)


def _remote_open_out(request: RemoteOpen) -> AccessRemoteOpenOut:
    return AccessRemoteOpenOut(
        cmd_id=request.cmd_id, gate_id=request.gate_id, door=request.door, requested_by=request.requested_by,
        reason=request.reason, requested_at=request.requested_at, deadline=request.deadline,
        status=request.status.value, finished_at=request.finished_at, error=request.error)


def _event_out(entry: AccessLogEntry) -> AccessEventOut:
    return AccessEventOut(gate_id=entry.gate_id, event_id=entry.event_id, ts=entry.ts, door=entry.door,
                          kind=entry.kind, method=entry.method, direction=entry.direction, reason=entry.reason,
                          offline=entry.offline, resident_id=entry.resident_id, pass_id=entry.pass_id)


def _alarm_out(number: int, alarm: Alarm) -> AccessAlarmOut:
    return AccessAlarmOut(
        number=number, alarm_id=alarm.alarm_id, kind=alarm.kind, gate_id=alarm.gate_id, door=alarm.door,
        raised_at=alarm.raised_at, status=alarm.status, occurrences=alarm.occurrences,
        acknowledged_by=alarm.acknowledged_by, acknowledged_at=alarm.acknowledged_at,
        acknowledge_note=alarm.acknowledge_note, resolved_by=alarm.resolved_by, resolved_at=alarm.resolved_at,
        resolve_note=alarm.resolve_note)


# -- the directory ----------------------------------------------------------------------------------------------


async def create_community(request: web.Request) -> web.Response:
    data: AccessCommunityIn = await _body(request, AccessCommunityIn)
    await _service(request).create_community(Community(data.community_id, data.site, data.name))
    return _json(AccessCommunityOut(community_id=data.community_id, site=data.site, name=data.name), 201)


async def list_communities(request: web.Request) -> web.Response:
    found = await _service(request).communities()
    return _json(AccessCommunitiesOut(communities=[AccessCommunityOut(community_id=c.community_id, site=c.site,
                                                                      name=c.name) for c in found]))


async def add_building(request: web.Request) -> web.Response:
    data: AccessBuildingIn = await _body(request, AccessBuildingIn)
    community_id = _path_id(request, "community_id")
    await _service(request).add_building(Building(data.building_id, community_id, data.name))
    return _json(AccessBuildingOut(building_id=data.building_id, community_id=community_id, name=data.name), 201)


async def list_buildings(request: web.Request) -> web.Response:
    found = await _service(request).buildings(_path_id(request, "community_id"))
    return _json(AccessBuildingsOut(buildings=[AccessBuildingOut(building_id=b.building_id,
                                                                 community_id=b.community_id, name=b.name)
                                               for b in found]))


async def add_unit(request: web.Request) -> web.Response:
    data: AccessUnitIn = await _body(request, AccessUnitIn)
    unit = Unit(data.unit_id, data.building_id, data.entrance, data.room, data.area_m2)
    service = _service(request)
    building_community = {b.building_id for b in await service.buildings(_path_id(request, "community_id"))}
    if data.building_id not in building_community:
        raise json_error(web.HTTPNotFound, f"no building {data.building_id!r} in this community")
    await service.add_unit(unit)
    return _json(_unit_out(unit, []), 201)


async def get_unit(request: web.Request) -> web.Response:
    """Managers see everyone ever registered in the unit (with their status); a resident, the active household."""
    unit, community_id = await _service(request).unit(_path_id(request, "unit_id"))
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
    if community_id != _path_id(request, "community_id"):
        raise json_error(web.HTTPNotFound, f"no unit {data.unit_id!r} in this community")
    record = ResidentRecord(data.resident_id, data.unit_id, data.role, data.name, data.phone,
                            frozenset(data.group_ids))
    await service.add_resident(record)
    return _json(_resident_out(record), 201)


async def list_residents(request: web.Request) -> web.Response:
    community_id = _path_id(request, "community_id")
    await _service(request).community(community_id)
    found = await _service(request).residents(community_id, _query_id(request, "unit_id"))
    return _json(AccessResidentsOut(residents=[_resident_out(r) for r in found]))


async def _visible_resident(request: web.Request) -> ResidentRecord:
    """The resident in the path, for a manager, or for a resident of the same unit while both are active."""
    resident, _ = await _service(request).resident(_path_id(request, "resident_id"))
    if not _is_manager(request):
        me, _ = await _me(request)
        if me.unit_id != resident.unit_id or resident.status is not ResidentStatus.ACTIVE:
            raise json_error(web.HTTPForbidden, "a resident sees their own household only")
    return resident


async def get_resident(request: web.Request) -> web.Response:
    return _json(_resident_out(await _visible_resident(request)))


async def set_groups(request: web.Request) -> web.Response:
    data: AccessGroupsIn = await _body(request, AccessGroupsIn)
    record = await _service(request).set_resident_groups(_path_id(request, "resident_id"), frozenset(data.group_ids))
    return _json(_resident_out(record))


async def revoke_resident(request: web.Request) -> web.Response:
    resident_id = _path_id(request, "resident_id")
    await _service(request).revoke_resident(resident_id, _principal(request).subject)
    resident, _ = await _service(request).resident(resident_id)
    return _json(_resident_out(resident))


async def move_out(request: web.Request) -> web.Response:
    resident_id = _path_id(request, "resident_id")
    await _service(request).move_out(resident_id, _principal(request).subject)
    resident, _ = await _service(request).resident(resident_id)
    return _json(_resident_out(resident))


async def enroll(request: web.Request) -> web.Response:
    data: AccessCredentialIn = await _body(request, AccessCredentialIn)
    record = await _service(request).enroll(CredentialEnrolment(
        _path_id(request, "resident_id"), data.kind, data.value, data.valid_from, data.valid_to))
    return _json(_credential_out(record), 201)


async def list_credentials(request: web.Request) -> web.Response:
    resident = await _visible_resident(request)
    if not _is_manager(request) and resident.resident_id != _principal(request).subject:
        raise json_error(web.HTTPForbidden, "a resident sees their own credentials only")
    found = await _service(request).credentials_of(resident.resident_id)
    return _json(AccessCredentialsOut(credentials=[_credential_out(c) for c in found]))


async def revoke_credential(request: web.Request) -> web.Response:
    """Managers revoke any credential; a resident reports their own card lost."""
    service = _service(request)
    credential_id = _path_id(request, "credential_id")
    if not _is_manager(request):
        await _me(request)  # an active resident
        mine = {c.credential_id for c in await service.credentials_of(_principal(request).subject)}
        if credential_id not in mine:
            raise json_error(web.HTTPForbidden, "a resident revokes their own credentials only")
    record = await service.revoke_credential(credential_id, _principal(request).subject)
    return _json(_credential_out(record))


async def me(request: web.Request) -> web.Response:
    resident, community_id = await _me(request)
    unit, _ = await _service(request).unit(resident.unit_id)
    residents = await _service(request).residents(community_id, unit.unit_id, active_only=True)
    credentials = await _service(request).credentials_of(resident.resident_id)
    return _json(AccessMeOut(resident=_resident_out(resident), unit=_unit_out(unit, residents),
                             credentials=[_credential_out(c) for c in credentials]))


# -- gates, groups, whitelists ----------------------------------------------------------------------------------


async def add_gate(request: web.Request) -> web.Response:
    data: AccessGateIn = await _body(request, AccessGateIn)
    if len({door.number for door in data.doors}) != len(data.doors):
        raise json_error(web.HTTPBadRequest, "door numbers repeat")
    gate = Gate(data.gate_id, _path_id(request, "community_id"), data.name,
                tuple(GateDoor(data.gate_id, d.number, d.name, d.kind, d.building_id)
                      for d in sorted(data.doors, key=lambda d: d.number)))
    service = _service(request)
    await service.add_gate(gate)
    return _json(_gate_out(await service.gate_status(gate.gate_id)), 201)


async def list_gates(request: web.Request) -> web.Response:
    service = _service(request)
    community_id = _path_id(request, "community_id")
    await service.community(community_id)
    statuses = [await service.gate_status(gate.gate_id) for gate in await service.gates(community_id)]
    return _json(AccessGatesOut(gates=[_gate_out(status) for status in statuses]))


async def get_gate(request: web.Request) -> web.Response:
    return _json(_gate_out(await _service(request).gate_status(_path_id(request, "gate_id"))))


async def get_whitelist(request: web.Request) -> web.Response:
    gate_id = _path_id(request, "gate_id")
    desired = await _service(request).desired_whitelist(gate_id)
    if desired is None:
        return _json(AccessWhitelistOut(gate_id=gate_id, version=None, content_hash=None, whitelist=None))
    version, whitelist = desired
    return _json(AccessWhitelistOut(gate_id=gate_id, version=version, content_hash=whitelist.content_hash,
                                    whitelist=whitelist.to_payload()))


async def put_group(request: web.Request) -> web.Response:
    data: AccessGroupIn = await _body(request, AccessGroupIn)
    community_id = _path_id(request, "community_id")
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
    community_id = _path_id(request, "community_id")
    await _service(request).community(community_id)
    return _json(AccessGroupsOut(groups=[_group_out(g) for g in await _service(request).groups(community_id)]))


# -- visitor passes ---------------------------------------------------------------------------------------------


async def invite(request: web.Request) -> web.Response:
    data: AccessPassIn = await _body(request, AccessPassIn)
    resident, _ = await _me(request)
    issued = await _service(request).invite(
        resident.resident_id, frozenset(Door(d.gate_id, d.door) for d in data.doors), valid_from=data.valid_from,
        valid_to=data.valid_to, max_uses=data.max_uses, visitor_name=data.visitor_name,
        visitor_phone=data.visitor_phone)
    return _json(_pass_out(issued.record, request.app[CLOCK](), issued.text), 201)


async def _visible_pass(request: web.Request) -> tuple[VisitorPassRecord, bool]:
    """The pass in the path for its inviter or a manager; whether the caller is the inviter."""
    record, _ = await _service(request).visitor_pass(_path_id(request, "pass_id"))
    if _is_manager(request):
        return record, record.resident_id == _principal(request).subject
    me, _ = await _me(request)  # an active resident
    if record.resident_id != me.resident_id:
        raise json_error(web.HTTPForbidden, "a resident sees the visitors they invited only")
    return record, True


async def get_pass(request: web.Request) -> web.Response:
    record, inviter = await _visible_pass(request)
    text = _service(request).pass_text(record) if inviter else None
    return _json(_pass_out(record, request.app[CLOCK](), text))


async def pass_qr(request: web.Request) -> web.Response:
    record, inviter = await _visible_pass(request)
    if not inviter:
        raise json_error(web.HTTPForbidden, "only the inviting resident gets the QR code")
    buffer = io.BytesIO()
    segno.make(_service(request).pass_text(record), error="m").save(buffer, kind="svg", scale=4)
    return web.Response(body=buffer.getvalue(), content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})


async def list_passes(request: web.Request) -> web.Response:
    service, now = _service(request), request.app[CLOCK]()
    if _is_manager(request):
        community_id = _query_id(request, "community_id")
        if not community_id:
            raise json_error(web.HTTPBadRequest, "give ?community_id=", field="community_id")
        await service.community(community_id)  # 404 for a community that does not exist, not an empty list
        found = await service.passes(community_id=community_id)
        return _json(AccessPassesOut(passes=[_pass_out(r, now, None) for r in found]))
    resident, _ = await _me(request)
    found = await service.passes(resident_ids=[resident.resident_id])
    return _json(AccessPassesOut(passes=[_pass_out(r, now, None) for r in found]))


async def revoke_pass(request: web.Request) -> web.Response:
    record, _ = await _visible_pass(request)
    revoked = await _service(request).revoke_pass(record.pass_id, _principal(request).subject)
    return _json(_pass_out(revoked, request.app[CLOCK](), None))


# -- remote open ------------------------------------------------------------------------------------------------


async def open_door(request: web.Request) -> web.Response:
    data: AccessOpenIn = await _body(request, AccessOpenIn)
    door = _int_path(request, "door")
    outcome = await _service(request).open_door(_path_id(request, "gate_id"), door, _principal(request).subject,
                                                data.reason)
    return _json(_remote_open_out(outcome), 202)


async def get_remote_open(request: web.Request) -> web.Response:
    found, _ = await _service(request).remote_open(_path_id(request, "cmd_id"))
    return _json(_remote_open_out(found))


async def list_remote_opens(request: web.Request) -> web.Response:
    community_id = _path_id(request, "community_id")
    await _service(request).community(community_id)
    found = await _service(request).remote_opens(community_id, _query_id(request, "gate_id"),
                                                 limit=_page_limit(request, 100))
    return _json(AccessRemoteOpensOut(remote_opens=[_remote_open_out(r) for r in found]))


# -- the access log, presence, alarms, live feed ----------------------------------------------------------------


async def list_events(request: web.Request) -> web.Response:
    """Managers query a community's log; a resident sees their unit's residents' and their visitors' events."""
    service = _service(request)
    limit = _page_limit(request, 50)
    filters: dict[str, Any] = {
        "gate_id": _query_id(request, "gate_id"), "door": _query(request, "door", _door_number),
        "resident_id": _query_id(request, "resident_id"), "kind": _query(request, "kind", GateEventKind),
        "since": _query(request, "since", _aware), "until": _query(request, "until", _aware),
        "after": _query(request, "cursor", decode_cursor), "limit": limit,
    }
    if _is_manager(request):
        community_id = _query_id(request, "community_id")
        if not community_id:
            raise json_error(web.HTTPBadRequest, "give ?community_id=", field="community_id")
        await service.community(community_id)
        visible = None
    else:
        resident, community_id = await _me(request)
        household = {r.resident_id for r in await service.residents(community_id, resident.unit_id, active_only=True)}
        if filters["resident_id"] is not None and filters["resident_id"] not in household:
            raise json_error(web.HTTPForbidden, "a resident sees their own household's events only")
        visible = Visibility(resident.unit_id)  # the household and every visitor it invited, resolved in the query
    try:
        query = LogQuery(community_id=community_id, visible_to=visible, **filters)
    except ValueError as invalid:
        raise json_error(web.HTTPBadRequest, str(invalid)) from None
    page = await service.access_log(query)
    return _json(AccessEventsOut(events=[_event_out(e) for e in page.entries], next_cursor=page.next_cursor))


async def presence(request: web.Request) -> web.Response:
    counted = await _service(request).presence(_path_id(request, "community_id"))
    return _json(AccessPresenceOut(community_id=counted.community_id, residents_inside=counted.residents_inside,
                                   visitors_inside=counted.visitors_inside))


async def list_alarms(request: web.Request) -> web.Response:
    community_id = _path_id(request, "community_id")
    await _service(request).community(community_id)
    found = await _service(request).alarms(
        community_id, status=_query(request, "status", AlarmStatus), gate_id=_query_id(request, "gate_id"),
        kind=_query(request, "kind", AlarmKind), limit=_page_limit(request, 100))
    return _json(AccessAlarmsOut(alarms=[_alarm_out(number, alarm) for number, alarm in found]))


async def acknowledge_alarm(request: web.Request) -> web.Response:
    data: AccessNoteIn = await _body(request, AccessNoteIn)
    number = _int_path(request, "number")
    alarm = await _service(request).acknowledge_alarm(number, _principal(request).subject, data.note)
    return _json(_alarm_out(number, alarm))


async def resolve_alarm(request: web.Request) -> web.Response:
    data: AccessNoteIn = await _body(request, AccessNoteIn)
    number = _int_path(request, "number")
    alarm = await _service(request).resolve_alarm(number, _principal(request).subject, data.note)
    return _json(_alarm_out(number, alarm))


async def live(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``event: event|alarm|gate|remote_open``, ``data:`` JSON. ?gate_id= (repeatable) and
    ?community_id= filter."""
    gates = frozenset(request.query.getall("gate_id", [])) or None
    communities = frozenset(request.query.getall("community_id", [])) or None
    try:
        return await stream(request, _service(request).feed, gates, communities)
    except FeedFull as full:
        raise json_error(web.HTTPServiceUnavailable, str(full)) from None


C = "/api/access/communities/{community_id}"
COMMUNITY_ID = QueryParam("community_id", description="The community (managers)")
GATE_ID = QueryParam("gate_id", description="Only this gate")
UNIT_ID = QueryParam("unit_id", description="Only this unit")
_ROUTES = [
    Route("POST", "/api/access/communities", create_community, "Register a community (小区) and its MQTT site",
          AccessCommunityIn, AccessCommunityOut, 201, (Role.ADMIN,), (400, 409, 422)),
    Route("GET", "/api/access/communities", list_communities, "The communities", None, AccessCommunitiesOut, 200,
          MANAGERS),
    Route("POST", C + "/buildings", add_building, "Add a building", AccessBuildingIn, AccessBuildingOut, 201,
          MANAGERS, (400, 404, 409, 422)),
    Route("GET", C + "/buildings", list_buildings, "The buildings", None, AccessBuildingsOut, 200, MANAGERS, (404,)),
    Route("POST", C + "/units", add_unit, "Add a unit (房屋) with its exclusive area", AccessUnitIn, AccessUnitOut,
          201, MANAGERS, (400, 404, 409, 422)),
    Route("GET", "/api/access/units/{unit_id}", get_unit, "A unit and its residents (phones masked)", None,
          AccessUnitOut, 200, PEOPLE, (404,)),
    Route("POST", C + "/residents", add_resident, "Register a resident (owner, family member, tenant)",
          AccessResidentIn, AccessResidentOut, 201, MANAGERS, (400, 404, 409, 422)),
    Route("GET", C + "/residents", list_residents, "The residents (phones masked)", None,
          AccessResidentsOut, 200, MANAGERS, (400, 404), query=(UNIT_ID,)),
    Route("GET", "/api/access/me", me, "The signed-in resident, their unit and credentials", None, AccessMeOut, 200,
          (Role.RESIDENT,)),
    Route("GET", "/api/access/residents/{resident_id}", get_resident, "A resident (phone masked)", None,
          AccessResidentOut, 200, PEOPLE, (404,)),
    Route("PUT", "/api/access/residents/{resident_id}/groups", set_groups, "Set a resident's access groups",
          AccessGroupsIn, AccessResidentOut, 200, MANAGERS, (400, 404, 422)),
    Route("POST", "/api/access/residents/{resident_id}/revoke", revoke_resident,
          "Revoke a resident: every credential and pass blacklisted on every gate they could open", None,
          AccessResidentOut, 200, MANAGERS, (404, 409, 422)),
    Route("POST", "/api/access/residents/{resident_id}/move-out", move_out,
          "A resident moves out: off every whitelist, no more resident access", None, AccessResidentOut, 200,
          MANAGERS, (404, 422)),
    Route("POST", "/api/access/residents/{resident_id}/credentials", enroll,
          "Enrol a card, PIN, face template reference or static QR (stored as a keyed hash)", AccessCredentialIn,
          AccessCredentialOut, 201, MANAGERS, (400, 404, 409, 422)),
    Route("GET", "/api/access/residents/{resident_id}/credentials", list_credentials,
          "A resident's credentials (hints only)", None, AccessCredentialsOut, 200, PEOPLE, (404,)),
    Route("POST", "/api/access/credentials/{credential_id}/revoke", revoke_credential,
          "Revoke a credential (a resident: their own, e.g. a lost card)", None, AccessCredentialOut, 200, PEOPLE,
          (404, 409, 422)),
    Route("POST", C + "/gates", add_gate, "Register a gate controller and its doors", AccessGateIn, AccessGateOut,
          201, MANAGERS, (400, 404, 409, 422)),
    Route("GET", C + "/gates", list_gates, "The gates with their whitelist sync state", None, AccessGatesOut, 200,
          MANAGERS, (404,)),
    Route("GET", "/api/access/gates/{gate_id}", get_gate, "A gate and its whitelist sync state", None,
          AccessGateOut, 200, MANAGERS, (404,)),
    Route("GET", "/api/access/gates/{gate_id}/whitelist", get_whitelist,
          "The whitelist the gate should hold (credential hashes)", None, AccessWhitelistOut, 200, MANAGERS, (404,)),
    Route("PUT", C + "/groups/{group_id}", put_group, "Create or change an access group: doors, weekly windows, "
          "validity", AccessGroupIn, AccessGroupOut, 200, MANAGERS, (400, 404, 409, 422)),
    Route("GET", C + "/groups", list_groups, "The access groups", None, AccessGroupsOut, 200, MANAGERS, (404,)),
    Route("POST", "/api/access/passes", invite, "Invite a visitor: a signed QR pass (≤ 24 h, bounded uses)",
          AccessPassIn, AccessPassOut, 201, (Role.RESIDENT,), (400, 403, 404, 422)),
    Route("GET", "/api/access/passes", list_passes,
          "Visitor passes: a resident's own; a manager's of a community", None, AccessPassesOut, 200, PEOPLE,
          (400, 404), query=(COMMUNITY_ID,)),
    Route("GET", "/api/access/passes/{pass_id}", get_pass, "A visitor pass (the QR text for its inviter)", None,
          AccessPassOut, 200, PEOPLE, (404,)),
    Route("GET", "/api/access/passes/{pass_id}/qr.svg", pass_qr, "The pass as a QR code (SVG), for its inviter",
          None, None, 200, PEOPLE, (404,)),
    Route("POST", "/api/access/passes/{pass_id}/revoke", revoke_pass, "Revoke a visitor pass", None, AccessPassOut,
          200, PEOPLE, (404, 409, 422)),
    Route("POST", "/api/access/gates/{gate_id}/doors/{door}/open", open_door,
          "Open a door remotely (audited); the outcome follows the gate's ack or the timeout", AccessOpenIn,
          AccessRemoteOpenOut, 202, MANAGERS, (400, 404, 422)),
    Route("GET", "/api/access/remote-opens/{cmd_id}", get_remote_open, "A remote open and its outcome", None,
          AccessRemoteOpenOut, 200, MANAGERS, (404,)),
    Route("GET", C + "/remote-opens", list_remote_opens, "The remote-open audit, newest first", None,
          AccessRemoteOpensOut, 200, MANAGERS, (400, 404), query=(GATE_ID, LIMIT)),
    Route("GET", "/api/access/events", list_events, "The access log, newest first, paginated (a manager names "
          "the community; a resident sees their unit's)", None, AccessEventsOut, 200, PEOPLE, (400, 404),
          query=(COMMUNITY_ID, GATE_ID, QueryParam("door", "integer"), QueryParam("resident_id"),
                 QueryParam("kind", description="A gate event kind"),
                 QueryParam("since", description="RFC 3339 time with offset"),
                 QueryParam("until", description="RFC 3339 time with offset"), LIMIT,
                 QueryParam("cursor", description="The previous page's next_cursor"))),
    Route("GET", C + "/presence", presence, "Residents and visitors inside the compound", None, AccessPresenceOut,
          200, MANAGERS, (404,)),
    Route("GET", C + "/alarms", list_alarms, "Alarms, newest first", None, AccessAlarmsOut, 200, MANAGERS,
          (400, 404), query=(QueryParam("status", description="open, acknowledged or resolved"), GATE_ID,
                             QueryParam("kind", description="An alarm kind"), LIMIT)),
    Route("POST", "/api/access/alarms/{number}/acknowledge", acknowledge_alarm, "Acknowledge an open alarm",
          AccessNoteIn, AccessAlarmOut, 200, MANAGERS, (400, 404, 409, 422)),
    Route("POST", "/api/access/alarms/{number}/resolve", resolve_alarm, "Resolve an alarm, with a note",
          AccessNoteIn, AccessAlarmOut, 200, MANAGERS, (400, 404, 409, 422)),
    Route("GET", "/api/access/live", live, "Live feed (Server-Sent Events) of events and alarms; each has an id, "
          "and a client reconnecting with Last-Event-ID gets what it missed, or a `gap` event", None, None, 200,
          MANAGERS, (503,), query=(QueryParam("gate_id", description="Only these gates", repeated=True),
                                   QueryParam("community_id", description="Only these communities", repeated=True))),
]
ROUTES = [replace(route, handler=_translated(route.handler)) for route in _ROUTES]


def mount(app: web.Application, service: AccessService, authority: TokenAuthority,
          now: Callable[[], datetime]) -> None:
    """Serve the access API (and /openapi.json, shared with the other contexts) from ``app``."""
    app[SERVICE] = service
    app[AUTHORITY] = authority
    app[CLOCK] = now
    add_routes(app, ROUTES)


def create_app(service: AccessService, authority: TokenAuthority, now: Callable[[], datetime]) -> web.Application:
    app = web.Application()
    mount(app, service, authority, now)
    return app
