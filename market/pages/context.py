"""What every market page reads from the app and the request: the pages' context on the app (the
service, the market the navigation links to, the board's trend cache), the market and a stall asked
for (404 as a page when there is none), the stalls and scales of a market, and the operator's frame
around a page (the section tabs, with the count of open findings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from market.service import MarketService, NotFound, ScaleOverview, StallDisplay, StallOverview
from market.stalls import Market
from webkit.auth import CLOCK
from webkit.identity import Role
from webkit.pages import PageProblem, render

if TYPE_CHECKING:  # the board's page reads this context: its cache is named here for the type only
    from market.pages.price_board import BoardTrends

OPERATORS: Final = (Role.MARKET_OPERATOR,)
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


async def market_of(request: web.Request) -> Market:
    try:
        return await service_of(request).market(site_of(request))
    except NotFound:
        raise PageProblem(404, "没有这个市场，链接可能有误。", title="市场不存在") from None


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


async def scales_of(service: MarketService, site: str, stall: str) -> list[ScaleOverview]:
    """The scales at ``stall``, by id."""
    return await service.scales(site, DIRECTORY_SCAN, 0, stall=stall)


async def operator_page(request: web.Request, template: str, context: dict[str, Any],
                        status: int = 200) -> web.Response:
    """An operator page: the market and its section tabs (with the count of open findings)."""
    service = service_of(request)
    market = context.get("market") or await market_of(request)
    open_findings = await service.findings(market.site, None, None, True, FINDINGS_PER_PAGE + 1, 0)
    return await render(request, template, {
        **context, "market": market, "base": f"/market/{market.site}/manage",
        "open_findings": len(open_findings), "more_findings": len(open_findings) > FINDINGS_PER_PAGE,
    }, status=status)


def offset_of(request: web.Request, name: str = "offset") -> int:
    raw = request.query.get(name, "0")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0
