"""The way into the operator's pages: the markets the signed-in person may act on — straight to the one when
there is one (a market's operator), a list when there are several (a supervision office over a district, an
administrator), a word when none is assigned yet. The navigation's 市场管理 link leads here, so a person is
never sent to a market outside their scope (which would answer as if it did not exist)."""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from aiohttp import web

from market.pages.context import may_change, offset_of, service_of
from market.web.scope import READERS, sites_in_scope
from webkit.auth import PRINCIPAL
from webkit.pages import page, render

CHOOSER_PATH: Final = "/market/manage"
MARKETS_PER_PAGE: Final = 100


@page(*READERS)
async def markets_page(request: web.Request) -> web.StreamResponse:
    offset = offset_of(request)
    found = await service_of(request).markets(MARKETS_PER_PAGE + 1, offset, sites_in_scope(request[PRINCIPAL]))
    if len(found) == 1 and offset == 0:
        raise web.HTTPSeeOther(f"/market/{quote(found[0].site, safe='')}/manage")
    return await render(request, "pages/markets.html", {
        "markets": found[:MARKETS_PER_PAGE], "can_change": may_change(request), "offset": offset,
        "per_page": MARKETS_PER_PAGE,
        "next_offset": offset + MARKETS_PER_PAGE if len(found) > MARKETS_PER_PAGE else None,
    })


PUBLIC_PRICES_PATH: Final = "/market/prices"
PUBLIC_TRACE_PATH: Final = "/market/trace"
_PUBLIC_PAGES: Final = {PUBLIC_PRICES_PATH: ("prices", "价格公示"), PUBLIC_TRACE_PATH: ("trace", "溯源查询")}


async def public_markets_page(request: web.Request) -> web.StreamResponse:
    """The portal's public links (price board, trace lookup) for anyone: straight to the market's page when the
    installation has one, the markets to choose from when it has several, a word when it has none yet — never
    to a market that does not exist (the installation's SC_SITE need not be a market's)."""
    slug, title = _PUBLIC_PAGES[request.path]
    offset = offset_of(request)
    found = await service_of(request).markets(MARKETS_PER_PAGE + 1, offset, None)
    if len(found) == 1 and offset == 0:
        raise web.HTTPSeeOther(f"/market/{quote(found[0].site, safe='')}/{slug}")
    return await render(request, "pages/public_markets.html", {
        "markets": found[:MARKETS_PER_PAGE], "slug": slug, "title": title, "offset": offset,
        "per_page": MARKETS_PER_PAGE,
        "next_offset": offset + MARKETS_PER_PAGE if len(found) > MARKETS_PER_PAGE else None,
    })
