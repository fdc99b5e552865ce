"""A vendor's credit rating (信用评价) in the market API: the score, the grade and every deduction with its reason
and the fact it came from, to the market's operators and its supervisor (the stall screen shows the grade alone),
with the rules it was made by."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel

from market.credit import MAX_WINDOW_DAYS, CreditRating, CreditRules, Grade
from market.web.handling import SERVICE, calling, json_of, now_of, query_int, site_of
from webkit.openapi import QueryParam

WINDOW_DAYS = QueryParam("days", "integer", f"The window: this many days back (1 to {MAX_WINDOW_DAYS}; default the "
                                            "market's, 365)")


class CreditDeductionOut(BaseModel):
    source: str
    source_zh: str
    rule: str
    points: int
    full_points: int
    reason_zh: str
    fact: str
    stall: str | None
    at: datetime | None
    older: bool


class CreditTotalOut(BaseModel):
    source: str
    source_zh: str
    points: int
    uncapped: int
    cap: int
    counted: int
    considered: int


class CreditRulesOut(BaseModel):
    window_days: int
    recent_days: int
    older_percent: int
    licence_missing: int
    licence_expired: int
    licence_not_yet_valid: int
    licence_expiring: int
    licence_cap: int
    price_differs: int
    no_published_price: int
    amount_mismatch: int
    sale_of_blocked_batch: int
    oversold: int
    finding_cap: int
    count_resolved_findings: bool
    test_positive: int
    test_suspected: int
    test_cap: int
    complaint_upheld: int
    complaint_cap: int
    recall: int
    recall_cap: int
    grade_a: int
    grade_b: int
    grade_c: int


class CreditOut(BaseModel):
    vendor_id: str
    since: datetime
    until: datetime
    score: int
    grade: str
    grade_zh: str
    deductions: list[CreditDeductionOut]
    totals: list[CreditTotalOut]
    rules: CreditRulesOut


def credit_out(rating: CreditRating) -> CreditOut:
    return CreditOut(
        vendor_id=rating.vendor_id, since=rating.since, until=rating.until, score=rating.score,
        grade=rating.grade.value, grade_zh=rating.grade.label_zh,
        deductions=[CreditDeductionOut(source=d.source.value, source_zh=d.source.label_zh, rule=d.rule,
                                       points=d.points, full_points=d.full_points, reason_zh=d.reason_zh,
                                       fact=d.fact, stall=d.stall, at=d.at, older=d.older)
                    for d in rating.deductions],
        totals=[CreditTotalOut(source=t.source.value, source_zh=t.source.label_zh, points=t.points,
                               uncapped=t.uncapped, cap=t.cap, counted=t.counted, considered=t.considered)
                for t in rating.totals],
        rules=rules_out(rating.rules))


def rules_out(rules: CreditRules) -> CreditRulesOut:
    return CreditRulesOut.model_validate(vars(rules))


async def vendor_credit(request: web.Request) -> web.Response:
    """The vendor's credit rating now, over ``days`` back (the market's window when not given)."""
    days = query_int(request, "days", 0, 1, MAX_WINDOW_DAYS) if "days" in request.query else None
    rating = await calling(request.app[SERVICE].vendor_credit(site_of(request), request.match_info["vendor_id"],
                                                              now_of(request), days))
    return json_of(credit_out(rating))


async def shown_grade(request: web.Request, vendor_id: str | None) -> Grade | None:
    """The grade a stall's screen and public page show of its vendor (none without one): the grade alone, never
    what was deducted and why — a complaint's details stay with the market and its supervisor."""
    if vendor_id is None:
        return None
    rating = await calling(request.app[SERVICE].vendor_credit(site_of(request), vendor_id, now_of(request)))
    return rating.grade
