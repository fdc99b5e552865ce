"""The district view's pages (辖区概览) for a market-supervision office — and any reader of markets: an operator sees
their own, an administrator every one:

* /market/district: a row per market of the signed-in person's scope with its counts of problems (licences expiring
  and expired, failed and suspected rapid tests, recalls, findings, complaints), the district's totals and their
  trends as small charts, per day over 30 days or per week over 12 weeks (``?period=30d|12w``);
* /market/{site}/manage/oversight: one market's stalls with problems, most serious first, and its trends;
* /market/{site}/manage/oversight/stalls/{stall}: one stall's problems, each linked to the operator's page that
  holds it (a batch, a complaint, the stall's licences, its findings);
* CSV downloads of the summary and of each detail list, for the district (every market of the scope) and for one
  market: UTF-8 with a BOM, as attachments.

A market outside the scope answers as one that does not exist (404), as every operator page does; the district's
own pages count only the scope's markets."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from aiohttp import web

from market.district import (
    MarketFacts,
    Period,
    Trend,
    Window,
    district_rows,
    in_window,
    stall_problems,
    stall_rows,
    totals,
    trends,
)
from market.district_exports import DETAIL_TABLES, ExportKind, Table, csv_bytes, stalls_table, summary_table
from market.market_time import day_start, market_day
from market.pages.context import market_page, now_of, operator_page, service_of, site_of, unknown_market
from market.service import NotFound
from market.web.scope import READERS, sites_in_scope
from webkit.auth import PRINCIPAL, Handler
from webkit.charts import TimeSeries, line_chart
from webkit.pages import PageProblem, page, render

DISTRICT_PATH: Final = "/market/district"
OVERSIGHT: Final = "/oversight"
"""Under a market's /market/{site}/manage: its page of the district view."""
EXPORTS: Final = tuple(ExportKind)
CHART_GROUPS: Final = (("快检", ("tests_failed", "tests_suspected")), ("召回与价格问题", ("recalls", "price_findings")),
                       ("投诉", ("complaints_filed",)))


def period_of(request: web.Request) -> Period:
    """The period asked for in ``?period=`` (the last 30 days when none); another value is refused."""
    raw = request.query.get("period")
    if raw is None or raw == "":
        return Period.DAYS
    try:
        return Period(raw)
    except ValueError:
        raise PageProblem(422, "统计周期只能是近30天（30d）或近12周（12w），链接可能有误。", title="统计周期有误") from None


def trend_charts(found: list[Trend], window: Window) -> list[tuple[str, str]]:
    """Small line charts of the trends, a few kinds each, with their titles."""
    by_kind = {trend.kind.value: trend for trend in found}
    middle = timedelta(hours=12) if window.period is Period.DAYS else timedelta(days=3, hours=12)
    charts: list[tuple[str, str]] = []
    for title, kinds in CHART_GROUPS:
        series = [TimeSeries(by_kind[kind].kind.label_zh,
                             [(day_start(start) + middle, count)
                              for start, count in zip(by_kind[kind].starts, by_kind[kind].counts, strict=True)])
                  for kind in kinds]
        charts.append((title, line_chart(series, width=520, height=240, dots=window.period is Period.WEEKS)))
    return charts


@page(*READERS)
async def district_page(request: web.Request) -> web.StreamResponse:
    period = period_of(request)
    found = await service_of(request).district(sites_in_scope(request[PRINCIPAL]), period, now_of(request))
    rows = district_rows(found.markets, found.window)
    return await render(request, "pages/district.html", {
        "rows": rows, "totals": totals(rows), "window": found.window, "periods": list(Period),
        "charts": trend_charts(trends(found.markets, found.window), found.window),
        "more_markets": found.more_markets, "exports": EXPORTS, "today": market_day(found.window.now),
    })


def district_export(kind: ExportKind) -> Handler:
    """The download of ``kind`` over the district: every market of the signed-in person's scope."""

    @page(*READERS)
    async def export(request: web.Request) -> web.StreamResponse:
        period = period_of(request)
        found = await service_of(request).district(sites_in_scope(request[PRINCIPAL]), period, now_of(request))
        if kind is ExportKind.SUMMARY:
            table = summary_table(district_rows(found.markets, found.window))
        else:
            table = DETAIL_TABLES[kind](found.markets, found.window)
        return _download(table, f"district-{kind.value}-{period.value}-{market_day(found.window.now)}.csv")

    return export


async def _market_facts(request: web.Request) -> tuple[Window, MarketFacts]:
    try:
        return await service_of(request).market_problems(site_of(request), period_of(request), now_of(request))
    except NotFound:
        raise unknown_market() from None


@market_page(*READERS)
async def market_oversight_page(request: web.Request) -> web.StreamResponse:
    window, facts = await _market_facts(request)
    [row] = district_rows([facts], window)
    return await operator_page(request, "pages/district_market.html", {
        "facts": facts, "row": row, "stalls": stall_rows(facts, window), "window": window, "periods": list(Period),
        "charts": trend_charts(trends([facts], window), window), "exports": EXPORTS,
        "unplaced": [f for f in in_window(facts, window).findings if f.stall is None],
    })


@market_page(*READERS)
async def stall_oversight_page(request: web.Request) -> web.StreamResponse:
    window, facts = await _market_facts(request)
    stall = request.match_info["stall"]
    if stall not in facts.stalls:
        raise PageProblem(404, f"本市场没有摊位 {stall}，链接可能有误。", title="摊位不存在")
    return await operator_page(request, "pages/district_stall.html", {
        "problems": stall_problems(facts, stall, window), "window": window, "periods": list(Period),
    })


def market_export(kind: ExportKind) -> Handler:
    """The download of ``kind`` of the market in the path (its stalls, for the summary)."""

    @market_page(*READERS)
    async def export(request: web.Request) -> web.StreamResponse:
        window, facts = await _market_facts(request)
        if kind is ExportKind.SUMMARY:
            table = stalls_table(facts, stall_rows(facts, window))
        else:
            table = DETAIL_TABLES[kind]([facts], window)
        name = "stalls" if kind is ExportKind.SUMMARY else kind.value
        return _download(table, f"{facts.site}-{name}-{window.period.value}-{market_day(window.now)}.csv")

    return export


def _download(table: Table, filename: str) -> web.Response:
    # a site id is the devices' topic segment (letters, digits, - and _): the name needs no quoting beyond ours
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in filename)
    return web.Response(body=csv_bytes(table), content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


def district_routes() -> list[tuple[str, Handler]]:
    """The district view's pages and downloads (all GET), by path."""
    manage = "/market/{site}/manage" + OVERSIGHT
    return [(DISTRICT_PATH, district_page), (manage, market_oversight_page),
            (manage + "/stalls/{stall}", stall_oversight_page),
            *((f"{DISTRICT_PATH}/export/{kind.value}.csv", district_export(kind)) for kind in EXPORTS),
            *((f"{manage}/export/{kind.value}.csv", market_export(kind)) for kind in EXPORTS)]
