"""The district view's API (``GET /api/district/markets``): for the supervision office — and any reader of markets:
an operator, an administrator — each market of the caller's scope with its counts of problems over the period, the
totals and the trends (:mod:`market.district`). It lists the caller's markets only, like ``GET /api/markets``; a
market outside the scope is never counted.

It is served from a sub-application of its own at /api/district (the market API's /api/markets/{site} would take
``district`` for a market's id)."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import BaseModel, Field

from market.district import Period, ProblemCounts, district_rows, totals, trends
from market.service import MarketService
from market.web.handling import SERVICE, now_of, query_choice
from market.web.scope import READERS, sites_in_scope
from webkit.auth import PRINCIPAL
from webkit.context_app import ContextApp
from webkit.openapi import QueryParam, Route, add_routes

DISTRICT_PREFIX = "/api/district"
PERIOD = QueryParam("period", description="30d: the last 30 market days, by day (default); 12w: the last 12 weeks, "
                                          "by week (from Monday)")


class CountsOut(BaseModel):
    licences_expiring: int = Field(description="Required documents expiring within 30 days")
    licences_expired: int
    licences_missing: int
    tests_failed: int = Field(description="Rapid tests in the period: positive, or confirmed by the laboratory")
    tests_suspected: int = Field(description="Suspected positives of the period still waiting for the laboratory")
    recalls: int = Field(description="Batches stopped in the period for a failed test or by the operator")
    price_findings: int = Field(description="Findings about prices of the period (price paid ≠ published...)")
    other_findings: int
    complaints_open: int = Field(description="Complaints open now")
    complaints_overdue: int = Field(description="Complaints open past their deadline now")
    complaints_closed: int = Field(description="Complaints closed in the period")
    vendors_graded_c: int = Field(description="Vendors holding a stall now whose credit grade is C (诚信警示), as "
                                              "the vendor's credit rates them today (its own window, a year)")
    vendors_graded_d: int = Field(description="Vendors holding a stall now whose credit grade is D (失信经营)")


class DistrictMarketOut(BaseModel):
    site: str
    name: str
    stalls_with_problems: int = Field(description="Stalls with any problem of the period, or whose vendor is "
                                                  "graded C or D")
    counts: CountsOut
    truncated: bool = Field(description="More facts than one view reads: the counts are at least these")


class TrendOut(BaseModel):
    kind: str = Field(description="tests_failed, tests_suspected, recalls, price_findings or complaints_filed")
    starts: list[date] = Field(description="The first market day of each day or week")
    counts: list[int]


class DistrictOut(BaseModel):
    period: Period
    first_day: date
    markets: list[DistrictMarketOut]
    totals: CountsOut
    trends: list[TrendOut]
    more_markets: bool = Field(description="More markets in scope than one view shows (the first 200 by site id)")


def counts_out(counts: ProblemCounts) -> CountsOut:
    return CountsOut(**{name: getattr(counts, name) for name in CountsOut.model_fields})


async def district_markets(request: web.Request) -> web.Response:
    period = query_choice(request, "period", Period) or Period.DAYS
    service: MarketService = request.app[SERVICE]
    found = await service.district(sites_in_scope(request[PRINCIPAL]), period, now_of(request))
    rows = district_rows(found.markets, found.window)
    answer = DistrictOut(
        period=period, first_day=found.window.first_day,
        markets=[DistrictMarketOut(site=row.site, name=row.name, stalls_with_problems=row.stalls_with_problems,
                                   counts=counts_out(row.counts), truncated=row.truncated) for row in rows],
        totals=counts_out(totals(rows)),
        trends=[TrendOut(kind=trend.kind.value, starts=list(trend.starts), counts=list(trend.counts))
                for trend in trends(found.markets, found.window)],
        more_markets=found.more_markets)
    return web.json_response(answer.model_dump(mode="json"))


ROUTES = [
    Route("GET", DISTRICT_PREFIX + "/markets", district_markets,
          "The district view: each of the caller's markets (a supervision office's, an operator's; an "
          "administrator's: all) with its licences expiring and expired, failed and suspected rapid tests, recalls, "
          "findings and complaints over the period, its vendors graded C and D, the totals and the trends per day or "
          "week", None, DistrictOut,
          200, READERS, (400,), query=(PERIOD,)),
]


def mount_district_api(app: web.Application, service: MarketService) -> None:
    """Serve the district API from its sub-application of ``app``, described in ``app``'s /openapi.json."""
    context = ContextApp(DISTRICT_PREFIX)
    context.app[SERVICE] = service
    add_routes(app, ROUTES, context=context)
    context.attach(app)
