"""The ownership register's API (aiohttp), for the property office: record or replace a unit's ownership, import a
community's register in bulk, read it — with the units that have no recorded owner, which a voter roll frozen from
the register counts with nobody able to vote for them (so register their owners before voting opens).

Owner names are personal data: only property managers (and administrators) read or write the register here — the
supervisor does not (its routes are for operational, non-personal data). A manager acts on the communities its
account is assigned: a unit or community outside them is answered exactly as one that does not exist (404, the same
body), whether to read or to write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from community.ownership.register import MAX_OWNERS_PER_UNIT, Owner, OwnershipEntry, RegisteredUnit, UnitOwnership
from community.ownership.service import (
    MAX_IMPORT,
    OwnershipRefused,
    OwnershipService,
    UnknownCommunity,
    UnknownUnit,
)
from webkit.auth import CLOCK, PRINCIPAL, serve_tokens
from webkit.context_app import ContextApp
from webkit.identity import Role, TokenAuthority
from webkit.json_errors import json_error
from webkit.openapi import Route, add_routes

SERVICE = web.AppKey("ownership_service", OwnershipService)

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
KEEPERS = (Role.PROPERTY_MANAGER,)  # and administrators, who may do everything


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OwnerIn(_In):
    owner_id: Id = Field(description="The register's person id: the id the owner signs in with")
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class OwnershipIn(_In):
    owners: Annotated[list[OwnerIn], Field(min_length=1, max_length=MAX_OWNERS_PER_UNIT)]
    representative_id: Id | None = Field(default=None, description="The co-owner who votes for a co-owned unit")
    held_by_developer: bool = Field(default=False, description="Unsold, or sold but not yet delivered: list the "
                                                               "developer as the only owner")


class UnitOwnershipIn(OwnershipIn):
    unit_id: Id


class OwnershipImportIn(_In):
    units: Annotated[list[UnitOwnershipIn], Field(min_length=1, max_length=MAX_IMPORT)]


class OwnerOut(BaseModel):
    owner_id: str
    name: str


class UnitOut(BaseModel):
    unit_id: str
    label: str
    area_m2: str


class OwnershipOut(BaseModel):
    unit_id: str
    owners: list[OwnerOut]
    representative_id: str | None
    held_by_developer: bool
    recorded_at: datetime
    recorded_by: str


class RegisterUnitOut(UnitOut):
    ownership: OwnershipOut | None


class RegisterOut(BaseModel):
    community_id: str
    units: list[RegisterUnitOut]
    unregistered: list[UnitOut] = Field(description="Units without a recorded owner: a voter roll frozen from the "
                                                    "register counts them, and nobody can vote for them")


class HistoryOut(BaseModel):
    unit_id: str
    entries: list[OwnershipOut] = Field(description="Every ownership recorded for the unit, oldest first; the last "
                                                    "one counts")


class ImportOut(BaseModel):
    community_id: str
    recorded: int


async def _body(request: web.Request, model: type[_In]) -> Any:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as invalid:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                   for e in invalid.errors(include_url=False, include_input=False)]
        raise json_error(web.HTTPBadRequest, "the request body breaks the schema", details=details) from None


def _ownership(unit_id: str, data: OwnershipIn) -> UnitOwnership:
    try:
        return UnitOwnership(unit_id, tuple(Owner(owner.owner_id, owner.name) for owner in data.owners),
                             data.representative_id, data.held_by_developer)
    except ValueError as invalid:
        raise json_error(web.HTTPUnprocessableEntity, str(invalid)) from None


async def record_ownership(request: web.Request) -> web.Response:
    data: OwnershipIn = await _body(request, OwnershipIn)
    unit_id = request.match_info["unit_id"]
    ownership = _ownership(unit_id, data)
    try:
        entry = await request.app[SERVICE].record(ownership, request[PRINCIPAL].subject, request.config_dict[CLOCK](),
                                                  within=request[PRINCIPAL].has_community)
    except UnknownUnit:
        raise _unknown_unit(unit_id) from None
    except OwnershipRefused as refused:
        raise json_error(web.HTTPUnprocessableEntity, str(refused)) from None
    return web.json_response(_entry_out(entry).model_dump(mode="json"))


def _unknown_unit(unit_id: str) -> web.HTTPException:
    return json_error(web.HTTPNotFound, f"no unit {unit_id!r} in the access register")


def _unknown_community(community_id: str) -> web.HTTPException:
    return json_error(web.HTTPNotFound, f"no community {community_id!r}")


async def import_register(request: web.Request) -> web.Response:
    data: OwnershipImportIn = await _body(request, OwnershipImportIn)
    community_id = request.match_info["community_id"]
    records = [_ownership(unit.unit_id, unit) for unit in data.units]
    try:
        entries = await request.app[SERVICE].import_register(community_id, records, request[PRINCIPAL].subject,
                                                             request.config_dict[CLOCK](),
                                                             within=request[PRINCIPAL].has_community)
    except UnknownCommunity:
        raise _unknown_community(community_id) from None
    except OwnershipRefused as refused:
        raise json_error(web.HTTPUnprocessableEntity, str(refused)) from None
    return web.json_response(ImportOut(community_id=community_id, recorded=len(entries)).model_dump(mode="json"),
                             status=201)


async def get_register(request: web.Request) -> web.Response:
    community_id = request.match_info["community_id"]
    try:
        register = await request.app[SERVICE].register(community_id, within=request[PRINCIPAL].has_community)
    except UnknownCommunity:
        raise _unknown_community(community_id) from None
    out = RegisterOut(
        community_id=community_id,
        units=[RegisterUnitOut(**_unit_out(unit).model_dump(), ownership=_entry_out(register.entries[unit.unit_id])
                               if unit.unit_id in register.entries else None) for unit in register.units],
        unregistered=[_unit_out(unit) for unit in register.unregistered],
    )
    return web.json_response(out.model_dump(mode="json"))


async def get_history(request: web.Request) -> web.Response:
    unit_id = request.match_info["unit_id"]
    try:
        entries = await request.app[SERVICE].history(unit_id, within=request[PRINCIPAL].has_community)
    except UnknownUnit:
        raise _unknown_unit(unit_id) from None
    return web.json_response(HistoryOut(unit_id=unit_id, entries=[_entry_out(e) for e in entries])
                             .model_dump(mode="json"))


def _unit_out(unit: RegisteredUnit) -> UnitOut:
    return UnitOut(unit_id=unit.unit_id, label=unit.label, area_m2=str(unit.area))


def _entry_out(entry: OwnershipEntry) -> OwnershipOut:
    ownership = entry.ownership
    return OwnershipOut(unit_id=ownership.unit_id,
                        owners=[OwnerOut(owner_id=owner.owner_id, name=owner.name) for owner in ownership.owners],
                        representative_id=ownership.representative_id, held_by_developer=ownership.held_by_developer,
                        recorded_at=entry.recorded_at, recorded_by=entry.recorded_by)


U = "/api/ownership/units/{unit_id}"
C = "/api/ownership/communities/{community_id}"
ROUTES = [
    Route("PUT", U, record_ownership, "Record (or replace) a unit's ownership; the earlier record stays in the history",
          OwnershipIn, OwnershipOut, 200, KEEPERS, (400, 404, 422)),
    Route("GET", U + "/history", get_history, "Every ownership recorded for a unit", None, HistoryOut, 200, KEEPERS,
          (404,)),
    Route("GET", C, get_register, "A community's ownership register, and the units without a recorded owner", None,
          RegisterOut, 200, KEEPERS, (404,)),
    Route("POST", C + "/import", import_register, "Import many units' ownership at once (all or none)",
          OwnershipImportIn, ImportOut, 201, KEEPERS, (400, 404, 422)),
]


PREFIX = "/api/ownership"


def mount(app: web.Application, service: OwnershipService, authority: TokenAuthority,
          now: Callable[[], datetime]) -> web.Application:
    """Serve this API from its own sub-application of ``app`` at /api/ownership (described in ``app``'s /openapi.json,
    shared with the other contexts); returns the sub-application."""
    serve_tokens(app, authority, now)
    api = ContextApp(PREFIX)
    api.app[SERVICE] = service
    add_routes(app, ROUTES, context=api)
    return api.attach(app)


def create_app(service: OwnershipService, authority: TokenAuthority, now: Callable[[], datetime]) -> web.Application:
    app = web.Application()
    mount(app, service, authority, now)
    return app
