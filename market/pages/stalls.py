"""The operator's pages of stalls and their licences: every stall with its licence status, the licence problems
most urgent first and the market's own licence policy with the rules of the law beside it; one stall with what it
sells, each required document with its legal basis, its staff roster with each person's health certificate, its
vendor's documents (a mistyped one voided, with a reason), its scales and their last price push, its prices,
batches and open findings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from aiohttp import web

from market.licences import RULES, DocumentStatus, Offering, StallType, Validity
from market.pages.context import (
    STALLS_PER_PAGE,
    all_vendors,
    display_of,
    market_of,
    market_page,
    may_change,
    now_of,
    offset_of,
    operator_page,
    scales_of,
    service_of,
    site_of,
)
from market.pages.form_fields import InputProblem, text_field
from market.pages.wording import licence_tone
from market.scale_delivery import DeliveryStatus
from market.service import Conflict, NotFound, Refused, StallDisplay, StallOverview
from market.web.scope import OPERATORS, READERS
from webkit.auth import PRINCIPAL
from webkit.form_checks import FormState
from webkit.pages import PageProblem, form_of

LICENCE_PROBLEMS_PER_PAGE: Final = 50
ROSTER_SPARE_ROWS: Final = 2
"""Blank rows the roster form offers for new people."""
PUBLISH_REFRESH_S: Final = 5


@dataclass(frozen=True)
class StallRow:
    overview: StallOverview

    @property
    def attention(self) -> tuple[DocumentStatus, ...]:
        return self.overview.licences.attention

    @property
    def other_certificates(self) -> list[DocumentStatus]:
        """Staff certificates needing attention besides the one that stands for the stall's requirement."""
        shown = {s.person for s in self.overview.licences.required if s.person}
        return [s for s in self.overview.licences.health_certificates
                if s.validity is not Validity.VALID and s.person not in shown]

    @property
    def tone(self) -> str:
        if not self.overview.licences.compliant or any(licence_tone(s) == "bad" for s in self.attention):
            return "bad"
        return "warn" if self.attention else "ok"


@market_page(*READERS)
async def stalls_page(request: web.Request) -> web.Response:
    return await stalls_page_with(request)


async def stalls_page_with(request: web.Request, new_stall: FormState | None = None, *,
                           policy: FormState | None = None, status: int = 200) -> web.Response:
    """The stalls with their licences, and the forms adding a stall or changing the market's licence policy as
    typed and refused."""
    market = await market_of(request)
    service = service_of(request)
    now = now_of(request)
    offset = offset_of(request)
    found = await service.stalls(market.site, now, STALLS_PER_PAGE + 1, offset)
    rows = [StallRow(overview) for overview in found[:STALLS_PER_PAGE]]
    problems_offset = offset_of(request, "problems")
    problems = await service.licence_problems(market.site, now, LICENCE_PROBLEMS_PER_PAGE + 1, problems_offset)
    return await operator_page(request, "pages/stalls.html", {
        "market": market, "rows": rows, "problems": problems[:LICENCE_PROBLEMS_PER_PAGE], "tab": "stalls",
        "problems_offset": problems_offset, "problems_per_page": LICENCE_PROBLEMS_PER_PAGE,
        "problems_next": problems_offset + LICENCE_PROBLEMS_PER_PAGE
        if len(problems) > LICENCE_PROBLEMS_PER_PAGE else None,
        "counts": {
            "stalls": len(rows),
            "compliant": sum(1 for row in rows if row.tone == "ok"),
            "bad": sum(1 for row in rows if row.tone == "bad"),
            "warn": sum(1 for row in rows if row.tone == "warn"),
        },
        "offset": offset, "next_offset": offset + STALLS_PER_PAGE if len(found) > STALLS_PER_PAGE else None,
        "new_stall": new_stall or FormState({"vendor_id": request.query.get("vendor_id", "")[:64]}),
        "new_stall_open": new_stall is not None or "new_stall" in request.query,
        "stall_types": [(kind.value, kind.label_zh) for kind in StallType],
        "offerings": [(offering.value, offering.label_zh) for offering in Offering],
        "vendors": [(v.vendor_id, f"{v.name}（{v.vendor_id}）") for v, _ in await all_vendors(service, market.site)]
        if may_change(request) else [],
        "rules": RULES, "policy": policy or _policy_state(market.policy.health_certificate_every_stall,
                                                          market.policy.licence_for_farmers),
        "policy_open": policy is not None, "notice": _STALLS_NOTICES.get(request.query.get("notice", "")),
    }, status=status)


def _policy_state(every_stall: bool, farmers: bool) -> FormState:
    return FormState({"health_certificate_every_stall": "yes" if every_stall else "",
                      "licence_for_farmers": "yes" if farmers else ""})


_STALLS_NOTICES: Final = {"policy": "本市场证照规定已更新，各摊位的证照状态已按新规定核对。"}


@market_page(*READERS)
async def stall_page(request: web.Request) -> web.Response:
    return await _stall_page(request)


async def stall_page_with(request: web.Request, *, scale: FormState | None = None,
                          roster: FormState | None = None, status: int = 200) -> web.Response:
    """The stall's page with the form registering a scale, or the roster's, as typed and refused."""
    return await _stall_page(request, scale=scale, roster=roster, status=status)


async def _stall_page(request: web.Request, *, void_failed: int | None = None, void_problem: str | None = None,
                      void_reason: str = "", scale: FormState | None = None, roster: FormState | None = None,
                      status: int = 200) -> web.Response:
    service = service_of(request)
    site = site_of(request)
    display = await display_of(request, request.match_info["stall"])
    code = display.stall.stall
    scales = await scales_of(service, site, code)
    pending = any(s.last_price_push is not None and s.last_price_push.status is DeliveryStatus.PENDING
                  and s.registration.online is not False for s in scales)
    just_published = "published" in request.query
    vendor_id = display.stall.vendor_id
    return await operator_page(request, "pages/stall.html", {
        "market": display.market, "d": display, "scales": scales, "tab": "stalls",
        "recorded": await service.vendor_documents(site, vendor_id) if vendor_id else [],
        "voided_notice": "voided" in request.query, "void_failed": void_failed, "void_problem": void_problem,
        "void_reason": void_reason,
        "price_log": await service.price_history(site, code, None, 12, 0),
        "batches": await service.batches(site, code, 10, 0),
        "findings": await service.findings(site, None, code, True, 10, 0),
        "just_published": just_published, "scale": scale or FormState(),
        "roster": roster or roster_form(display), "roster_failed": roster is not None,
        "sells": [offering.label_zh for offering in Offering if offering in display.stall.offerings],
        "certificates_of": {s.person: s for s in display.licences.health_certificates if s.person},
        "notice": _STALL_NOTICES.get(request.query.get("notice", "")),
        "refresh_s": PUBLISH_REFRESH_S if just_published and pending else None, "refresh_url": request.path_qs,
    }, status=status)


_STALL_NOTICES: Final = {
    "added": "摊位已登记。请登记摊位上的电子秤，再发布价格。",
    "changed": "摊位信息已更新。",
    "scale": "电子秤已登记。本摊位的价目表会下发到这台秤（还没有价格的，发布价格后下发）。",
    "staff": "从业人员名单已更新，健康证明已按名单核对。",
}


def roster_form(display: StallDisplay) -> FormState:
    """The roster form as the stall's roster fills it, with blank rows for new people."""
    values = {"rows": str(len(display.staff) + ROSTER_SPARE_ROWS)}
    for row, member in enumerate(display.staff):
        values[f"staff_name_{row}"] = member.name
        values[f"staff_rte_{row}"] = "yes" if member.handles_ready_to_eat else ""
    return FormState(values)


@market_page(*OPERATORS)
async def void_document(request: web.Request) -> web.StreamResponse:
    """Void a mistyped document of the stall's vendor, with a reason (audited)."""
    service = service_of(request)
    site = site_of(request)
    display = await display_of(request, request.match_info["stall"])
    raw = request.match_info["document_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12) or display.stall.vendor_id is None:
        raise PageProblem(404, "没有这份证照。", title="证照不存在")
    document_id = int(raw)
    form = await form_of(request)
    reason = form.get("reason", "").strip()[:400]
    try:
        text_field(reason, "作废原因", 200)
        if form.get("confirm") != "yes":
            raise InputProblem("请勾选确认：作废后该证照不再计入本摊位的证照。")
    except InputProblem as problem:
        return await _stall_page(request, void_failed=document_id, void_problem=str(problem), void_reason=reason,
                                 status=422)
    try:
        await service.void_document(site, display.stall.vendor_id, document_id, reason, request[PRINCIPAL].subject,
                                    now_of(request))
    except NotFound:
        raise PageProblem(404, "没有这份证照。", title="证照不存在") from None
    except Conflict:
        return await _stall_page(request, void_failed=document_id, void_problem="这份证照已经作废过了。", status=409)
    except Refused as refused:
        return await _stall_page(request, void_failed=document_id, void_problem=f"未被接受：{refused}",
                                 void_reason=reason, status=422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/stalls/{quote(display.stall.stall)}?voided=1#recorded")
