"""Complaints on the pages: the shopper's form (from a receipt's trace code or a stall; category, text, an optional
photo), the page a reference opens, both public and rate-limited per client address with the API's complaint
buckets; the operator's list (the earliest deadline first, overdue marked) and a complaint's page — the scale's
record of the purchase for a short weight, the photo, the forms moving it on — to the market's operators, read by
its supervisor."""

from __future__ import annotations

import hmac
import logging
from typing import Final
from urllib.parse import quote

from aiohttp import web

from market.complaints import (
    MAX_TEXT,
    REFERENCE,
    ComplaintAction,
    ComplaintCategory,
    ComplaintConclusion,
    ComplaintState,
)
from market.pages.context import (
    all_stalls,
    market_of,
    market_page,
    now_of,
    offset_of,
    operator_page,
    service_of,
    site_of,
)
from market.pages.form_fields import trace_code_from
from market.pages.uploads import upload_form
from market.service import ComplaintForm, Conflict, FieldsRefused, NotFound
from market.stalls import Market
from market.web.complaints import complaint_id_of, take_complaint_token
from market.web.presenting import expected_amount_fen
from market.web.scans import SCAN_HEADERS
from market.web.schemas import ComplaintActionIn
from market.web.scope import OPERATORS, READERS
from webkit.auth import PRINCIPAL
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.pages import CSRF_FIELD, PageProblem, csrf_token, form_of, render, session_principal

log = logging.getLogger(__name__)

COMPLAINTS_PER_PAGE: Final = 50
FORM_FIELDS: Final = ("category", "trace_code", "stall", "text")
HANDLING_WORDS: Final = FieldWords({"action": "处理方式", "outcome": "处理结果", "conclusion": "核实结论"})
STATE_FILTERS: Final = {"open": "待处理", "received": "已受理", "handling": "处理中", "resolved": "已办结",
                        "rejected": "不予支持", "all": "全部"}
_OPEN: Final = frozenset({ComplaintState.RECEIVED, ComplaintState.HANDLING})


def _too_many(wait: int) -> PageProblem:
    return PageProblem(429, f"提交或查询过于频繁，请 {wait} 秒后再试。", title="请稍后再试")


async def complaint_form_page(request: web.Request) -> web.Response:
    """The shopper's form, filled from ``?trace=`` (a receipt's code, or its QR code's address) or ``?stall=``."""
    market = await market_of(request)
    trace = trace_code_from(request.query.get("trace", "")[:2000]) or ""
    stall = request.query.get("stall", "").strip()[:32]
    return await _form_page(request, market, FormState({"trace_code": trace, "stall": stall,
                                                        "category": request.query.get("category", "")[:16]}))


async def _form_page(request: web.Request, market: Market, form: FormState, status: int = 200) -> web.Response:
    stalls = await all_stalls(service_of(request), market.site, now_of(request))
    return await render(request, "pages/complaint_form.html", {
        "market": market, "form": form, "max_text": MAX_TEXT,
        "categories": [(c.value, c.label_zh) for c in ComplaintCategory],
        "stalls": [(o.stall.stall, f"{o.stall.stall} {o.stall.name}") for o in stalls],
        "max_photo": service_of(request).settings.max_complaint_photo_bytes,
        "complaint_days": service_of(request).settings.complaint_days,
    }, status=status)


async def file_complaint(request: web.Request) -> web.StreamResponse:
    """File the complaint: the rate limit first (nothing is read beyond it), then the form with its photo (bounded,
    :func:`market.pages.uploads.upload_form`), the form's token, and the service's checks, each reason next to its
    field with what was typed kept (a photo must be chosen again)."""
    market = await market_of(request)
    wait = take_complaint_token(request)
    if wait:
        raise _too_many(wait)
    await session_principal(request)  # the pre-session's CSRF token for the public
    settings = service_of(request).settings
    upload = await upload_form(request, "photo", settings.max_complaint_photo_bytes)
    sent = upload.fields.get(CSRF_FIELD, "")
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token(request).encode()):
        raise PageProblem(403, "表单已失效（可能停留过久）。请返回上一页，刷新后重新提交。", title="表单已失效")
    state = typed(upload.fields, FORM_FIELDS, codes=("trace_code", "stall"))
    state.values["text"] = upload.fields.get("text", "")[:MAX_TEXT * 2]  # kept as typed, line breaks too
    try:
        category = ComplaintCategory(state.values["category"])
    except ValueError:
        state.refuse("category", "请选择投诉类别")
        category = ComplaintCategory.OTHER
    trace = trace_code_from(state.values["trace_code"]) if state.values["trace_code"] else None
    if state.values["trace_code"] and trace is None:
        state.refuse("trace_code", "追溯码为 1–64 个字符，请核对小票")
    # a file beyond the limit is kept to one byte more (upload_form): the service words "too large"
    photo = upload.file.content if upload.file is not None and upload.file.chosen else None
    if state.failed:
        return await _form_page(request, market, state, status=422)
    form = ComplaintForm(state.values["stall"] or None, trace, category, state.values["text"], photo)
    try:
        complaint = await service_of(request).file_complaint(market.site, form, now_of(request))
    except FieldsRefused as refused:
        for problem in refused.problems:
            state.refuse(problem.field, problem.message_zh)
        return await _form_page(request, market, state, status=_status(refused))
    raise web.HTTPSeeOther(f"/market/{market.site}/complaints/status/{complaint.reference}?filed=1")


def _status(refused: FieldsRefused) -> int:
    """413 for a photo too large, 415 for a file that is no photo, else 422 (as the scans' forms answer)."""
    words = {problem.message_zh for problem in refused.problems if problem.field == "photo"}
    if any(word.startswith("文件太大") for word in words):
        return 413
    if any("JPEG" in word for word in words):
        return 415
    return 422


async def complaint_lookup_page(request: web.Request) -> web.StreamResponse:
    """The form asking a reference (``?reference=`` leads to its page)."""
    market = await market_of(request)
    typed_reference = request.query.get("reference")
    if typed_reference is None:
        return await render(request, "pages/complaint_status.html", {
            "market": market, "complaint": None, "typed": "", "problem": None, "filed": False, "overdue": False})
    reference = typed_reference.strip().upper()[:32]
    if not REFERENCE.fullmatch(reference):
        return await render(request, "pages/complaint_status.html", {
            "market": market, "complaint": None, "typed": typed_reference[:32],
            "problem": "受理编号为 TS 加 10 位字母数字，请核对。", "filed": False, "overdue": False}, status=400)
    raise web.HTTPSeeOther(f"/market/{market.site}/complaints/status/{reference}")


async def complaint_status_page(request: web.Request) -> web.Response:
    market = await market_of(request)
    wait = take_complaint_token(request)
    if wait:
        raise _too_many(wait)
    reference = request.match_info["reference"].strip().upper()
    complaint = None
    if REFERENCE.fullmatch(reference):
        try:
            complaint = await service_of(request).complaint_by_reference(market.site, reference)
        except NotFound:
            complaint = None
    if complaint is None:
        return await render(request, "pages/complaint_status.html", {
            "market": market, "complaint": None, "typed": reference[:32],
            "problem": "没有找到这个受理编号的投诉，请核对。", "filed": False, "overdue": False}, status=404)
    return await render(request, "pages/complaint_status.html", {
        "market": market, "complaint": complaint, "typed": reference, "problem": None,
        "filed": request.query.get("filed") == "1", "overdue": complaint.overdue(now_of(request))})


@market_page(*READERS)
async def complaints_page(request: web.Request) -> web.Response:
    market = await market_of(request)
    chosen = request.query.get("state", "open")
    chosen = chosen if chosen in STATE_FILTERS else "open"
    states = (_OPEN if chosen == "open" else None if chosen == "all" else frozenset({ComplaintState(chosen)}))
    offset = offset_of(request)
    found = await service_of(request).complaints(market.site, states, COMPLAINTS_PER_PAGE + 1, offset)
    return await operator_page(request, "pages/complaints.html", {
        "market": market, "tab": "complaints", "complaints": found[:COMPLAINTS_PER_PAGE], "state": chosen,
        "states": STATE_FILTERS, "now_utc": now_of(request), "offset": offset,
        "next_offset": offset + COMPLAINTS_PER_PAGE if len(found) > COMPLAINTS_PER_PAGE else None})


async def _complaint_page(request: web.Request, form: FormState | None = None, status: int = 200
                          ) -> web.Response:
    market = await market_of(request)
    complaint_id = _id_of(request)
    try:
        detail = await service_of(request).complaint_detail(market.site, complaint_id)
    except NotFound:
        raise PageProblem(404, "没有这条投诉，链接可能有误。", title="投诉不存在") from None
    sale = detail.sale
    return await operator_page(request, "pages/complaint.html", {
        "market": market, "tab": "complaints", "detail": detail, "complaint": detail.complaint, "sale": sale,
        "expected_fen": expected_amount_fen(sale) if sale else None, "now_utc": now_of(request),
        "form": form or FormState(), "notice": request.query.get("notice"),
        "actions": [(a.value, a.label_zh) for a in ComplaintAction],
        "conclusions": [(c.value, c.label_zh) for c in ComplaintConclusion]}, status=status)


def _id_of(request: web.Request) -> int:
    try:
        return complaint_id_of(request)
    except web.HTTPNotFound:
        raise PageProblem(404, "没有这条投诉，链接可能有误。", title="投诉不存在") from None


@market_page(*READERS)
async def complaint_page(request: web.Request) -> web.Response:
    return await _complaint_page(request)


@market_page(*OPERATORS)
async def act_on_complaint(request: web.Request) -> web.StreamResponse:
    site = site_of(request)
    complaint_id = _id_of(request)
    form = await form_of(request)
    state = FormState({"action": form.get("action", "")[:16], "outcome": form.get("outcome", "")[:1000],
                       "conclusion": form.get("conclusion", "")[:16]})
    step = checked(ComplaintActionIn, state, HANDLING_WORDS)  # as the API takes it
    if step is None:
        return await _complaint_page(request, state, status=422)
    action = step.action
    try:
        await service_of(request).act_on_complaint(site, complaint_id, action, step.outcome,
                                                   request[PRINCIPAL].subject, now_of(request), step.conclusion)
    except NotFound:
        raise PageProblem(404, "没有这条投诉，链接可能有误。", title="投诉不存在") from None
    except Conflict:
        state.general.append("这条投诉已办结或已在处理中，请刷新后查看。")
        return await _complaint_page(request, state, status=409)
    except FieldsRefused as refused:
        for problem in refused.problems:
            state.refuse(problem.field, problem.message_zh)
        return await _complaint_page(request, state, status=422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/complaints/{complaint_id}?notice={quote(action.value)}")


@market_page(*READERS)
async def complaint_photo(request: web.Request) -> web.StreamResponse:
    try:
        complaint, content = await service_of(request).complaint_photo(site_of(request), _id_of(request))
    except NotFound:
        raise PageProblem(404, "这条投诉没有照片。", title="没有照片") from None
    assert complaint.photo is not None
    return web.Response(body=content, content_type=complaint.photo.media_type.value, headers={
        **SCAN_HEADERS, "Content-Disposition": f'attachment; filename="complaint-{complaint.reference}.'
                                               f'{complaint.photo.media_type.extension}"'})
