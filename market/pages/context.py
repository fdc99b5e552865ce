"""What every market page reads from the app and the request: the pages' context on the app (the
service, the market the navigation links to, the board's trend cache), the guard of the operator's pages
(:func:`market_page`: the role, and the market within the signed-in person's scope), the market and a stall
asked for (404 as a page when there is none), the stalls and scales of a market, and the operator's frame
around a page (the section tabs, with the count of open findings; whether it shows forms and contacts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from market.licences import RecordedDocument
from market.service import MarketService, NotFound, ScaleOverview, StallDisplay, StallOverview
from market.stalls import Market, Vendor
from market.web.scope import OPERATORS, sees_contacts
from webkit.auth import CLOCK, PRINCIPAL, Handler
from webkit.identity import Role
from webkit.pages import PageProblem, page, render

if TYPE_CHECKING:  # the board's page reads this context: its cache is named here for the type only
    from market.pages.price_board import BoardTrends

STALLS_PER_PAGE: Final = 200
FINDINGS_PER_PAGE: Final = 50
DIRECTORY_SCAN: Final = 5_000
"""Stalls read at most for one page (the service lists them in pages); scales of one stall at most."""


@dataclass(frozen=True)
class MarketPages:
    service: MarketService
    site: str
    """The market the navigation links to."""
    trends: BoardTrends


MARKET_PAGES = web.AppKey("market_pages_context", MarketPages)


def context_of(request: web.Request) -> MarketPages:
    return request.app[MARKET_PAGES]


def service_of(request: web.Request) -> MarketService:
    return request.app[MARKET_PAGES].service


def now_of(request: web.Request) -> datetime:
    return request.config_dict[CLOCK]()


def site_of(request: web.Request) -> str:
    return request.match_info["site"]


def unknown_market() -> PageProblem:
    """The page for a market that does not exist, and for one outside the signed-in person's scope."""
    return PageProblem(404, "没有这个市场，链接可能有误。", title="市场不存在")


def market_page(*roles: Role) -> Callable[[Handler], Handler]:
    """An operator's page of the market in its path (:func:`webkit.pages.page`'s guard by ``roles``, CSRF on every
    form): for a market outside the signed-in person's scope, the very page of a market that does not exist, so
    another operator's market cannot be told from none. Reading pages take :data:`READERS` (the supervisor
    too), forms :data:`OPERATORS`."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def scoped(request: web.Request) -> web.StreamResponse:
            if not request[PRINCIPAL].has_market(site_of(request)):
                raise unknown_market()
            return await handler(request)

        return page(*roles)(scoped)

    return decorate


def may_change(request: web.Request) -> bool:
    """Whether the signed-in person may change the market (an operator), or only read it (a supervisor)."""
    return request[PRINCIPAL].has_any(OPERATORS)


async def market_of(request: web.Request) -> Market:
    try:
        return await service_of(request).market(site_of(request))
    except NotFound:
        raise unknown_market() from None


async def display_of(request: web.Request, stall: str) -> StallDisplay:
    try:
        return await service_of(request).stall_display(site_of(request), stall, now_of(request))
    except NotFound:
        raise PageProblem(404, f"本市场没有摊位 {stall}，链接可能有误。", title="摊位不存在") from None


async def all_stalls(service: MarketService, site: str, now: datetime) -> list[StallOverview]:
    found: list[StallOverview] = []
    while len(found) < DIRECTORY_SCAN:
        chunk = await service.stalls(site, now, STALLS_PER_PAGE, len(found))
        found.extend(chunk)
        if len(chunk) < STALLS_PER_PAGE:
            break
    return found


async def all_vendors(service: MarketService, site: str) -> list[tuple[Vendor, list[RecordedDocument]]]:
    """The market's vendors by id, each with every document recorded for them (voided ones marked)."""
    found: list[tuple[Vendor, list[RecordedDocument]]] = []
    while len(found) < DIRECTORY_SCAN:
        chunk = await service.vendors(site, STALLS_PER_PAGE, len(found))
        found.extend(chunk)
        if len(chunk) < STALLS_PER_PAGE:
            break
    return found


def unknown_vendor() -> PageProblem:
    return PageProblem(404, "本市场没有这个经营者，链接可能有误。", title="经营者不存在")


async def vendor_of(request: web.Request) -> Vendor:
    """The vendor in the page's path, of the market in it (a market that does not exist: its own page)."""
    await market_of(request)
    try:
        return await service_of(request).vendor(site_of(request), request.match_info["vendor_id"])
    except NotFound:
        raise unknown_vendor() from None


async def scales_of(service: MarketService, site: str, stall: str) -> list[ScaleOverview]:
    """The scales at ``stall``, by id."""
    return await service.scales(site, DIRECTORY_SCAN, 0, stall=stall)


async def operator_page(request: web.Request, template: str, context: dict[str, Any],
                        status: int = 200) -> web.Response:
    """An operator page: the market and its section tabs (with the count of open findings); its forms and the
    vendors' contacts only for an operator (a supervisor reads)."""
    service = service_of(request)
    market = context.get("market") or await market_of(request)
    open_findings = await service.findings(market.site, None, None, True, FINDINGS_PER_PAGE + 1, 0)
    return await render(request, template, {
        **context, "market": market, "base": f"/market/{market.site}/manage",
        "can_change": may_change(request), "sees_contacts": sees_contacts(request[PRINCIPAL]),
        "open_findings": len(open_findings), "more_findings": len(open_findings) > FINDINGS_PER_PAGE,
    }, status=status)


def offset_of(request: web.Request, name: str = "offset") -> int:
    raw = request.query.get(name, "0")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0
