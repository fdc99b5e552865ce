"""What every handler of the access API shares: the service on the app, the service's refusals as 4xx, the
request body against its schema, ids from the path and the query string checked like every id of the API,
page limits, and who the caller is — a manager, or the active resident behind the token, with the residents
they may see — and what the caller's scope holds.

Scope: every object an id names (a community, unit, resident, credential, gate, pass, remote open, alarm) belongs to
one community; outside the caller's scope it is answered exactly as an id that names nothing — the service's own
404 (:func:`~community.access.service.not_found`), so nobody learns what other communities hold. A resident's scope
is their own community, and the own-unit checks come on top of it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError

from community.access.access_log import MAX_PAGE
from community.access.directory import Gate, ResidentRecord, ResidentStatus
from community.access.service import (
    UNSTORABLE_VALUE,
    AccessError,
    AccessService,
    Conflict,
    NotAllowed,
    NotFound,
    Refused,
    not_found,
)
from community.access.storage import is_data_error
from community.access.web.schemas import DEVICE_ID_PATTERN, ID_PATTERN, _In
from webkit.auth import PRINCIPAL, Handler
from webkit.identity import Principal, Role
from webkit.json_errors import json_error

log = logging.getLogger(__name__)

SERVICE = web.AppKey("access_service", AccessService)

_IDS = {"gate_id": re.compile(DEVICE_ID_PATTERN)}
_ANY_ID = re.compile(ID_PATTERN)
MANAGERS = (Role.PROPERTY_MANAGER,)
READERS = (Role.PROPERTY_MANAGER, Role.SUPERVISOR)
"""Who reads a community's operational data: its communities, buildings, gates and their sync, access groups, alarms,
the remote-open audit and presence counts. A supervisor (street office) reads these of its scope and changes nothing;
residents' personal data (residents, credentials, passes, the access log, the live feed) stays with the managers."""
PEOPLE = (Role.PROPERTY_MANAGER, Role.RESIDENT)

_STATUS: dict[type[AccessError], type[web.HTTPException]] = {
    NotFound: web.HTTPNotFound, Conflict: web.HTTPConflict, Refused: web.HTTPUnprocessableEntity,
    NotAllowed: web.HTTPForbidden,
}


def _translated(handler: Handler) -> Handler:
    """The service's refusals as 4xx with the reason (``error``; with ``error_zh`` and the rule's code ``reason``
    where the service gives them); a value the database refuses as 422, without its SQL text."""

    @wraps(handler)
    async def translated(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AccessError as refused:
            explained: dict[str, Any] = (
                {"error_zh": refused.message_zh, "reason": refused.reason} if refused.reason else {})
            raise json_error(_STATUS.get(type(refused), web.HTTPUnprocessableEntity), str(refused),
                             **explained) from None
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


def _outside(request: web.Request, community_id: str) -> bool:
    """Whether the community is outside the caller's scope (an administrator's holds every one)."""
    return not _principal(request).has_community(community_id)


def _scope_filter(request: web.Request) -> frozenset[str] | None:
    """The communities the caller may see, for a listing across communities; None: every one (an administrator)."""
    scope = _principal(request).scope
    return None if _principal(request).is_admin or scope.everything else scope.communities


async def _community_id(request: web.Request, community_id: str | None = None) -> str:
    """The community in the path (or ``community_id``): it exists and is in the caller's scope, else the 404 of an
    unknown community."""
    community_id = community_id or _path_id(request, "community_id")
    if _outside(request, community_id):
        raise not_found("community", community_id)
    await _service(request).community(community_id)
    return community_id


async def _scoped_resident(request: web.Request) -> tuple[ResidentRecord, str]:
    """The resident in the path and their community, in the caller's scope (else the 404 of an unknown resident)."""
    resident_id = _path_id(request, "resident_id")
    resident, community_id = await _service(request).resident(resident_id)
    if _outside(request, community_id):
        raise not_found("resident", resident_id)
    return resident, community_id


async def _scoped_gate(request: web.Request) -> Gate:
    """The gate in the path, in the caller's scope (else the 404 of an unknown gate)."""
    gate_id = _path_id(request, "gate_id")
    gate = await _service(request).gate(gate_id)
    if _outside(request, gate.community_id):
        raise not_found("gate", gate_id)
    return gate


async def _me(request: web.Request) -> tuple[ResidentRecord, str]:
    """The resident behind the token (their subject is their resident id), and their community; 403 unless they are
    an active resident (moved out or revoked: no resident access) of a community in their account's scope."""
    try:
        resident, community_id = await _service(request).signed_in_resident(_principal(request).subject)
    except NotFound:
        raise json_error(web.HTTPForbidden, "this token names no resident") from None
    if _outside(request, community_id):  # an account not (or no longer) assigned the resident's community
        raise json_error(web.HTTPForbidden, "this token names no resident")
    return resident, community_id


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


async def _visible_resident(request: web.Request) -> ResidentRecord:
    """The resident in the path, in the caller's scope: for a manager, or for a resident of the same unit while both
    are active."""
    resident, _ = await _scoped_resident(request)
    if not _is_manager(request):
        me, _ = await _me(request)
        if me.unit_id != resident.unit_id or resident.status is not ResidentStatus.ACTIVE:
            raise json_error(web.HTTPForbidden, "a resident sees their own household only")
    return resident
