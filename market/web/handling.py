"""What every handler of the market API shares: the service on the app, reading a request (its body
against a schema, a page of a list, query choices), answering with a model or a page of models, and
the service's refusals as HTTP errors. Handlers only translate HTTP to MarketService calls."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.outputs import StoreRejected, StoreUnavailable
from market.divisions import Divisions
from market.service import Conflict, FieldsRefused, MarketService, NotFound, Refused
from market.web.schemas import RequestBody
from webkit.auth import CLOCK, PRINCIPAL
from webkit.json_errors import json_error

log = logging.getLogger(__name__)
SERVICE = web.AppKey("market_service", MarketService)

MAX_PAGE: Final = 200
DEFAULT_PAGE: Final = 50


async def read_body(request: web.Request, model: type[RequestBody]) -> Any:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as invalid:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                   for e in invalid.errors(include_url=False, include_input=False)]
        raise json_error(web.HTTPBadRequest, "the request body breaks the schema", details=details) from None


def paging(request: web.Request) -> tuple[int, int]:
    limit = query_int(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    offset = query_int(request, "offset", 0, 0, 10**9)
    return limit, offset


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise json_error(web.HTTPBadRequest, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


_Choice = TypeVar("_Choice", bound=StrEnum)


def query_choice(request: web.Request, name: str, choices: type[_Choice]) -> _Choice | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return choices(raw)
    except ValueError:
        raise json_error(web.HTTPBadRequest, f"{name} must be one of: {', '.join(c.value for c in choices)}") from None


def query_flag(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise json_error(web.HTTPBadRequest, f"{name} must be true or false")
    return raw == "true"


def paged(model: type[BaseModel], items: Sequence[BaseModel], limit: int, offset: int) -> web.Response:
    """``items`` holds up to ``limit + 1`` entries: one more than asked tells that there is a next page."""
    more = len(items) > limit
    page = model(items=list(items[:limit]), limit=limit, offset=offset, next_offset=offset + limit if more else None)
    return web.json_response(page.model_dump(mode="json"))


def json_of(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


_T = TypeVar("_T")


async def calling(call: Awaitable[_T]) -> _T:
    """The service's refusals as 4xx: not found, conflict, a rule broken."""
    try:
        return await call
    except NotFound as missing:
        raise json_error(web.HTTPNotFound, str(missing)) from None
    except Conflict as conflict:
        raise json_error(web.HTTPConflict, str(conflict)) from None
    except FieldsRefused as refused:
        details = [{"field": problem.field, "problem": problem.message} for problem in refused.problems]
        raise json_error(web.HTTPUnprocessableEntity, str(refused), details=details) from None
    except Refused as refused:
        raise json_error(web.HTTPUnprocessableEntity, str(refused)) from None
    except StoreUnavailable:
        raise json_error(web.HTTPServiceUnavailable, "the time-series store is not reachable now") from None
    except StoreRejected as rejected:  # a query this store version does not take: logged, the page says so
        log.error("time-series query refused", extra={"error": str(rejected)})
        raise json_error(web.HTTPServiceUnavailable, "the time-series store cannot answer this now") from None


def built(make: Callable[[], _T]) -> _T:
    """A domain value from validated input; its own rules (check characters, dates) as 422."""
    try:
        return make()
    except ValueError as invalid:
        raise json_error(web.HTTPUnprocessableEntity, str(invalid)) from None


def site_of(request: web.Request) -> str:
    return request.match_info["site"]


def now_of(request: web.Request) -> datetime:
    return request.config_dict[CLOCK]()


def subject_of(request: web.Request) -> str:
    return request[PRINCIPAL].subject


def divisions_of(request: web.Request) -> Divisions:
    """The GB/T 2260 list the service checks origins against."""
    return request.app[SERVICE].settings.divisions


def public_base(request: web.Request) -> str:
    configured = request.app[SERVICE].settings.public_base_url
    return (configured or str(request.url.origin())).rstrip("/")
