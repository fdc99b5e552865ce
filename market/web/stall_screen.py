"""The stall's screen and its public page: what a stall shows (vendor, licences, today's prices, current
batches and their tests, the complaint hotline), as JSON and as HTML, with the QR code that leads
shoppers to the public page. The screen cannot scroll: what does not fit is counted, never cut off."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import jinja2
from aiohttp import web
from markupsafe import Markup

from market.market_time import day_bounds, local_text
from market.service import DisplayBatch, StallDisplay
from market.web.credit import shown_grade
from market.web.handling import SERVICE, calling, json_of, now_of, public_base, site_of
from market.web.presenting import display_out, yuan
from webkit.qr_code import qr_svg

PAGES = web.AppKey("market_pages", jinja2.Environment)
TEMPLATE_DIR: Final = Path(__file__).parents[1] / "templates"
"""The market's templates, the stall page's (stall.html) among them."""

SCREEN_REFRESH_S: Final = 30
SCREEN_PRICE_ROWS: Final = 12
"""Price rows the 1280×800 stall screen shows (dense); more are counted, "另有 N 项", not cut off."""
SCREEN_BATCH_LINES: Final = 19
"""Lines of the screen's batch column below the day's test count: a batch takes four (product, supplier, batch,
certificate), or one per rapid test (and one for a recall) when it has more."""


async def stall_display(request: web.Request) -> web.Response:
    display = await calling(request.app[SERVICE].stall_display(site_of(request), request.match_info["stall"],
                                                               now_of(request)))
    grade = await shown_grade(request, display.vendor.vendor_id if display.vendor else None)
    shown = display_out(display, _public_page_url(request, display))
    return json_of(shown.model_copy(update={"credit_grade": grade.value if grade else None,
                                            "credit_grade_zh": grade.label_zh if grade else None}))


async def stall_screen(request: web.Request) -> web.Response:
    return await _stall_page(request, screen=True)


async def stall_page(request: web.Request) -> web.Response:
    return await _stall_page(request, screen=False)


def _public_page_url(request: web.Request, display: StallDisplay) -> str:
    return f"{public_base(request)}/market/{display.market.site}/stalls/{display.stall.stall}"


def stall_qr_svg(url: str) -> str:
    """The QR code of a stall's public page, in the screen's ink colour."""
    return qr_svg(url, "摊位公示页二维码", dark="#102a43")


def screen_batches(batches: Sequence[DisplayBatch], lines: int = SCREEN_BATCH_LINES) -> int:
    """How many of ``batches`` the stall screen's column holds (at least one)."""
    used = shown = 0
    for batch in batches:
        used += max(4, len(batch.tests) + (1 if batch.batch.block is not None else 0))
        if used > lines and shown:
            break
        shown += 1
    return shown


async def _stall_page(request: web.Request, screen: bool) -> web.Response:
    now = now_of(request)
    display = await calling(request.app[SERVICE].stall_display(site_of(request), request.match_info["stall"], now))
    url = _public_page_url(request, display)
    shown = display_out(display, url)
    more_prices = more_batches = 0
    if screen:  # a screen cannot scroll: what does not fit is counted, never silently cut off
        more_prices = max(0, len(shown.prices) - SCREEN_PRICE_ROWS)
        more_batches = len(display.batches) - screen_batches(display.batches)
        shown = shown.model_copy(update={"prices": shown.prices[:len(shown.prices) - more_prices],
                                         "batches": shown.batches[:len(shown.batches) - more_batches]})
    html = request.app[PAGES].get_template("stall.html").render(
        d=shown, screen=screen, refresh_s=SCREEN_REFRESH_S, qr_svg=Markup(stall_qr_svg(url)),
        more_prices=more_prices, more_batches=more_batches, updated=local_text(now), now_utc=now, yuan=yuan,
        local=local_text, day_start=day_bounds(display.day)[0],
        grade=await shown_grade(request, display.vendor.vendor_id if display.vendor else None))
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"} if screen else None)
