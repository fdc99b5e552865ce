"""The district view's pages (辖区概览) for a market-supervision office — and any reader of markets: an operator sees
their own, an administrator every one:

* /market/district: a row per market of the signed-in person's scope with its counts of problems (licences expiring
  and expired, failed and suspected rapid tests, recalls, findings, complaints, vendors graded C and D by their
  credit), the district's totals and their trends as small charts, per day over 30 days or per week over 12 weeks
  (``?period=30d|12w``);
* /market/{site}/manage/oversight: one market's stalls with problems (a vendor graded C or D is one), most serious
  first, each with its vendor's credit grade, and its trends;
* /market/{site}/manage/oversight/stalls/{stall}: one stall's problems, each linked to the operator's page that
  holds it (a batch, a complaint, the stall's licences, its findings);
* CSV downloads of the summary and of each detail list, for the district (every market of the scope) and for one
  market: UTF-8 with a BOM, as attachments.

A market outside the scope answers as one that does not exist (404), as every operator page does; the district's
own pages count only the scope's markets."""

from __future__ import annotations

import re
from typing import Final

import pygal
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
from market.market_time import market_day
from market.pages.context import market_page, now_of, operator_page, service_of, site_of, unknown_market
from market.pages.credit import GRADE_TONES
from market.service import NotFound
from market.web.scope import READERS, sites_in_scope
from webkit.auth import PRINCIPAL, Handler
from webkit.charts import STYLE
from webkit.pages import PageProblem, page, render

DISTRICT_PATH: Final = "/market/district"
OVERSIGHT: Final = "/oversight"
"""Under a market's /market/{site}/manage: its page of the district view."""
EXPORTS: Final = tuple(ExportKind)
_SCRIPT: Final = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)
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
        raise PageProblem(422, "统计周期只能是近30天（30d）或近12周（12w），链接可能有误。",
                          title="统计周期有误") from None


def trend_charts(found: list[Trend], window: Window) -> list[tuple[str, str]]:
    """Small bar charts of the trends (a few kinds each, a group of bars a day or week), with their titles."""
    by_kind = {trend.kind.value: trend for trend in found}
    return [(title, _count_chart([by_kind[kind] for kind in kinds], window)) for title, kinds in CHART_GROUPS]


def _count_chart(found: list[Trend], window: Window) -> str:
    """Counts per day or week as grouped bars in the shared chart style, whole numbers on the axis (webkit.charts'
    line chart draws fractions of a count between its ticks)."""
    top = max((count for trend in found for count in trend.counts), default=0)
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**9) if top <= s * 4)
    labels = [start.strftime("%m-%d") for start in window.starts]
    chart = pygal.Bar(
        style=STYLE, width=520, height=260, explicit_size=False, js=[], no_data_text="暂无数据", margin=12,
        spacing=8, range=(0, max(step * 4, top)), y_labels=list(range(0, max(step * 4, top) + 1, step)),
        legend_at_bottom=True, legend_at_bottom_columns=len(found), truncate_legend=-1, truncate_label=-1,
        x_label_rotation=0, show_minor_x_labels=False, x_labels_major_every=max(1, len(labels) // 5),
        value_formatter=lambda value: f"{value:.0f}", print_values=False, show_x_guides=False)
    chart.x_labels = labels
    for trend in found:
        chart.add(trend.kind.label_zh, list(trend.counts))
    rendered: str = chart.render(is_unicode=True, disable_xml_declaration=True)
    return _SCRIPT.sub("", rendered)  # pygal embeds its tooltip script's config; no script is shipped


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
        found = await service_of(request).district(sites_in_scope(request[PRINCIPAL]), period, now_of(request),
                                                   credit=kind is ExportKind.SUMMARY)
        if kind is ExportKind.SUMMARY:
            table = summary_table(district_rows(found.markets, found.window))
        else:
            table = DETAIL_TABLES[kind](found.markets, found.window)
        return _download(table, f"district-{kind.value}-{period.value}-{market_day(found.window.now)}.csv")

    return export


async def _market_facts(request: web.Request, credit: bool = True) -> tuple[Window, MarketFacts]:
    try:
        return await service_of(request).market_problems(site_of(request), period_of(request), now_of(request),
                                                         credit)
    except NotFound:
        raise unknown_market() from None


@market_page(*READERS)
async def market_oversight_page(request: web.Request) -> web.StreamResponse:
    window, facts = await _market_facts(request)
    [row] = district_rows([facts], window)
    return await operator_page(request, "pages/district_market.html", {
        "facts": facts, "row": row, "stalls": stall_rows(facts, window), "window": window, "periods": list(Period),
        "charts": trend_charts(trends([facts], window), window), "exports": EXPORTS,
        "unplaced": [f for f in in_window(facts, window).findings if f.stall is None], "grade_tones": GRADE_TONES,
    })


@market_page(*READERS)
async def stall_oversight_page(request: web.Request) -> web.StreamResponse:
    window, facts = await _market_facts(request, credit=False)  # its vendor's rating is read below, alone
    stall = request.match_info["stall"]
    if stall not in facts.stalls:
        raise PageProblem(404, f"本市场没有摊位 {stall}，链接可能有误。", title="摊位不存在")
    try:
        vendor, rating = await service_of(request).stall_vendor_credit(site_of(request), stall, now_of(request))
    except NotFound:  # removed meanwhile
        raise PageProblem(404, f"本市场没有摊位 {stall}，链接可能有误。", title="摊位不存在") from None
    return await operator_page(request, "pages/district_stall.html", {
        "problems": stall_problems(facts, stall, window), "window": window, "periods": list(Period),
        "vendor": vendor, "rating": rating, "grade_tone": GRADE_TONES[rating.grade] if rating else None,
    })


def market_export(kind: ExportKind) -> Handler:
    """The download of ``kind`` of the market in the path (its stalls, for the summary)."""

    @market_page(*READERS)
    async def export(request: web.Request) -> web.StreamResponse:
        window, facts = await _market_facts(request, credit=kind is ExportKind.SUMMARY)
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
