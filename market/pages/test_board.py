"""The public daily test board (农残检测公示): the market's rapid tests of a market day — stall, product, item, value
and outcome, a suspected positive shown as waiting for the laboratory — for shoppers, as markets post it at the gate.
Today's by default; ``?day=`` a date of the last month."""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web

from market.market_time import market_day
from market.pages.context import market_of, now_of, service_of
from market.web.tracing import BOARD_DAYS, board_day
from webkit.pages import render


async def test_board_page(request: web.Request) -> web.Response:
    market = await market_of(request)
    now = now_of(request)
    today = market_day(now)
    day = board_day(request.query.get("day"), now)
    if day is None:
        return await render(request, "pages/test_board.html", {
            "market": market, "board": None, "today": today, "days": _days(today),
            "problem": f"请选择最近 {BOARD_DAYS} 天内的日期。"}, status=400)
    board = await service_of(request).test_board(market.site, day)
    return await render(request, "pages/test_board.html", {
        "market": market, "board": board, "today": today, "days": _days(today), "problem": None})


def _days(today: date) -> list[date]:
    """The week's days to choose from, today first."""
    return [today - timedelta(days=n) for n in range(7)]
