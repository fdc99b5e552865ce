"""The public price board: today's lowest, average and highest price per product across the market,
and a 7/14/30-day trend chart per product from the stored sales. The board is the most viewed page:
its price histories and drawn charts are kept for a short while (:class:`BoardTrends`)."""

from __future__ import annotations

import copy
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Final

import pygal
from aiohttp import web

from gateway.outputs import StoreRejected, StoreUnavailable
from market.market_time import MARKET_TZ, day_start, market_day
from market.pages.context import context_of, now_of, service_of, site_of
from market.pricing import BoardLine, DailyPrice
from market.service import NotFound, PriceHistory
from webkit.charts import STYLE, padded_time_range
from webkit.pages import PageProblem, render

log = logging.getLogger(__name__)
TREND_DAYS: Final = (7, 14, 30)
BOARD_CHARTS_MAX: Final = 40
"""Products charted on the board (each chart costs its drawing; the figures are one query for all)."""
BOARD_TREND_ENTRIES: Final = 64
"""Boards (market, range, day) whose trends are kept for reuse."""
_SCRIPT: Final = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)
TREND_STYLE: Final = copy.copy(STYLE)
"""The shared chart style with larger type: a trend chart is shown about 300 px wide, in a card."""
TREND_STYLE.label_font_size = TREND_STYLE.major_label_font_size = TREND_STYLE.legend_font_size = 21


@dataclass
class CachedTrends:
    """One board's price histories and their drawn charts, as :class:`BoardTrends` keeps them until stale."""

    made_at: datetime
    histories: dict[str, PriceHistory]
    charts: dict[str, str | None] = field(default_factory=dict)


class BoardTrends:
    """The public board's price histories and drawn charts per (market, days, market day), reused for
    ``ttl``: the board is the most viewed page and yesterday's sales do not change; today's show up
    within ``ttl``. Bounded: the least recently used board is forgotten first."""

    def __init__(self, ttl: timedelta, max_entries: int = BOARD_TREND_ENTRIES) -> None:
        self.ttl = ttl
        self._entries: OrderedDict[tuple[str, int, date], CachedTrends] = OrderedDict()
        self._max = max_entries

    def get(self, key: tuple[str, int, date], now: datetime) -> CachedTrends | None:
        entry = self._entries.get(key)
        if entry is None or not entry.made_at <= now < entry.made_at + self.ttl:
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, int, date], entry: CachedTrends) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)



@dataclass(frozen=True)
class ProductTrend:
    line: BoardLine
    history: PriceHistory | None
    chart: str | None

    @property
    def latest(self) -> DailyPrice | None:
        """The last market day with sales."""
        return self.history.days[-1] if self.history and self.history.days else None


async def price_board_page(request: web.Request) -> web.Response:
    service = service_of(request)
    site = site_of(request)
    now = now_of(request)
    raw_days = request.query.get("days", "")
    days = int(raw_days) if raw_days.isascii() and raw_days.isdigit() and int(raw_days) in TREND_DAYS \
        else TREND_DAYS[0]
    try:
        market, lines = await service.price_board(site, now)
    except NotFound:
        raise PageProblem(404, "没有这个市场，链接可能有误。", title="市场不存在") from None
    cache = context_of(request).trends
    key = (site, days, market_day(now))
    known = cache.get(key, now)
    unavailable = False
    if known is None and lines:
        try:
            known = CachedTrends(now, await service.price_histories(site, days, now))  # one query for the board
            cache.put(key, known)
        except (StoreUnavailable, StoreRejected) as failure:
            log.warning("price trends unavailable", extra={"error": str(failure)})
            unavailable = True
    trends: list[ProductTrend] = []
    for line in lines:
        history = chart = None
        if known is not None and len(trends) < BOARD_CHARTS_MAX:
            history = known.histories.get(line.plu, PriceHistory(line.plu, []))
            if line.plu not in known.charts:
                known.charts[line.plu] = _trend_chart(history)
            chart = known.charts[line.plu]
        trends.append(ProductTrend(line, history, chart))
    return await render(request, "pages/board.html", {
        "market": market, "trends": trends, "days": days, "day_choices": TREND_DAYS, "unavailable": unavailable,
        "today": market_day(now), "charted": sum(1 for t in trends if t.chart),
    })


def _trend_chart(history: PriceHistory) -> str | None:
    """Daily lowest, weighted mean and highest price paid (yuan/kg), one point per market day, as
    inline SVG in the shared chart style. Drawn here rather than with webkit.charts.line_chart, whose
    axis always starts at zero: a price that moves by a tenth would be a flat line against it."""
    days = history.days
    if len(days) < 2:
        return None
    series: list[tuple[str, list[Fraction]]] = [("成交价", [Fraction(d.min_fen) for d in days])]
    if any(d.min_fen != d.max_fen for d in days):  # one stall, one price a day: a single line says it all
        series = [("最高价", [Fraction(d.max_fen) for d in days]),
                  ("成交均价", [d.weighted_mean_fen for d in days]),
                  ("最低价", [Fraction(d.min_fen) for d in days])]
    low, high, step = _price_axis(min(d.min_fen for d in days), max(d.max_fen for d in days))
    moments = [day_start(d.day) + timedelta(hours=12) for d in days]
    every = max(1, -(-len(days) // 4))  # at most four dates under the axis: they must fit unshortened
    chart = pygal.DateTimeLine(
        style=TREND_STYLE, width=460, height=290, explicit_size=False, js=[], no_data_text="暂无数据", margin=12,
        spacing=12, include_x_axis=False, range=(low / 100, high / 100), xrange=padded_time_range(moments),
        y_labels=[fen / 100 for fen in range(low, high + 1, step)],
        x_value_formatter=lambda moment: moment.replace(tzinfo=UTC).astimezone(MARKET_TZ).strftime("%m-%d"),
        value_formatter=lambda value: f"{value:.2f} 元", x_label_rotation=0, show_x_guides=False, dots_size=3,
        legend_at_bottom=True, legend_at_bottom_columns=len(series), truncate_legend=-1, truncate_label=-1,
        margin_right=36)
    chart.x_labels = moments[::every]
    for label, values in series:
        chart.add(label, [(moment, float(value / 100)) for moment, value in zip(moments, values, strict=True)])
    rendered: str = chart.render(is_unicode=True, disable_xml_declaration=True)
    return _SCRIPT.sub("", rendered)  # pygal embeds its tooltip script's config; no script is shipped


def _price_axis(lowest_fen: int, highest_fen: int) -> tuple[int, int, int]:
    """A price axis in whole steps of 1, 2 or 5 × 10ⁿ fen around the prices, about five ticks."""
    spread = max(highest_fen - lowest_fen, 10)
    step = next(s * 10**n for n in range(0, 12) for s in (1, 2, 5) if s * 10**n * 5 >= spread)
    low = max(0, (lowest_fen - step // 2) // step * step)
    high = -(-(highest_fen + step // 2) // step) * step
    return low, high, step
