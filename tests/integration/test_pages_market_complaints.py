"""Complaints on a real server and database (SQLite and PostgreSQL): a shopper files one from a receipt's trace code
(with a photo, or refused with the reason next to the field: a 20 MB photo, a PDF, a text too short, a trace code of
no purchase), a script in the text kept and shown escaped, the reference's page, the rate limit; the operator's list
and page with the scale's record of a short-weight sale, the steps to a resolution published anonymised on the
stall's page; the API the same, in scope."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import ClientResponse, FormData, web
from sqlalchemy.ext.asyncio import AsyncEngine

from market.complaints import ComplaintCategory, ComplaintState
from market.rate_limit import RateLimit
from market.service import ComplaintForm, FieldsRefused
from market.web.complaints import photo_of
from tests.integration.test_pages_market import (
    MANAGE,
    NOW,
    SITE,
    Site,
    field_problem,
    opened_site,
    record,
    section,
    words,
)
from webkit.pages import CSRF_FIELD

pytestmark = pytest.mark.integration

JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 2000
PNG_HEAD = b"\x89PNG\r\n\x1a\n"
SCRIPT = "<script>alert('x')</script> 称重少了二两"
FORM = f"/market/{SITE}/complaints/new"


@pytest.fixture
async def site(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Site]:
    async with opened_site(engine, tmp_path, complaint_dir=tmp_path / "complaints",
                           complaint_rate=RateLimit(capacity=8, refill_per_minute=1),
                           max_complaint_photo_bytes=1024 * 1024) as opened:
        await opened.sell("scale-01", record(1, NOW - timedelta(minutes=30), net_g=1250, fen=680))
        yield opened


async def public_token(site: Site, path: str = FORM) -> str:
    page = await site.page(path)
    marker = f'name="{CSRF_FIELD}" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


async def file(site: Site, token: str, photo: tuple[str, bytes, str] | None = None, **fields: str
               ) -> ClientResponse:
    data = FormData()
    data.add_field(CSRF_FIELD, token)
    for name, value in {"category": "short_weight", "trace_code": f"{SITE}-A03-0001", "text": SCRIPT,
                        **fields}.items():
        data.add_field(name, value)
    if photo is not None:
        data.add_field("photo", photo[1], filename=photo[0], content_type=photo[2])
    return await site.client.post(FORM, data=data, allow_redirects=False)


async def test_a_shopper_files_a_complaint_from_a_receipt_and_follows_it_by_its_reference(site: Site) -> None:
    form = await site.page(f"{FORM}?trace=https://market.example.cn/market/{SITE}/trace/{SITE}-A03-0001")
    assert f'value="{SITE}-A03-0001"' in section(form, "complaint-form"), "the receipt's code is filled in"
    token = await public_token(site)
    filed = await file(site, token, photo=("receipt.jpg", JPEG, "image/jpeg"))
    assert filed.status == 303, await filed.text()
    location = filed.headers["Location"]
    assert location.startswith(f"/market/{SITE}/complaints/status/TS") and location.endswith("?filed=1")
    status = await site.page(location)
    reference = location.split("/")[-1].split("?")[0]
    assert "投诉已受理" in status and reference in words(section(status, "filed"))
    assert "已受理" in words(section(status, "state")) and "2026-11-30" in words(section(status, "state"))
    assert "<script>" not in status and "二两" not in status, "the complainant's text is not on the public page"
    lookup = await site.client.get(f"/market/{SITE}/complaints/status?reference={reference.lower()}",
                                   allow_redirects=False)
    assert lookup.status == 303 and lookup.headers["Location"].endswith(reference)
    await site.page(f"/market/{SITE}/complaints/status/TS2345678999", status=404)
    await site.page(f"/market/{SITE}/complaints/status?reference=nonsense", status=400)
    (kept,) = await site.service.complaints(SITE, None, 10, 0)
    assert kept.text == SCRIPT and kept.photo is not None and kept.stall == "A03"


@pytest.mark.parametrize(("fields", "photo", "field", "status", "reason"), [
    ({}, ("big.jpg", b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024), "image/jpeg"), "photo", 413, "文件太大"),
    ({}, ("licence.pdf", b"%PDF-1.4\n%%EOF\n", "image/jpeg"), "photo", 415, "只接受 JPEG 或 PNG"),
    ({}, ("fake.png", b"GIF89a" + b"\0" * 10, "image/png"), "photo", 415, "只接受 JPEG 或 PNG"),
    ({"text": "少了"}, None, "text", 422, "至少 5 个字"),
    ({"trace_code": "nope-0000"}, None, "trace_code", 422, "没有找到这个追溯码"),
    ({"trace_code": "", "stall": ""}, None, "trace_code", 422, "请填写小票上的追溯码"),
    ({"trace_code": "", "stall": "Z99"}, None, "stall", 422, "没有这个摊位"),
    ({"stall": "A04"}, None, "stall", 422, "这笔购买是在 A03 摊位"),
    ({"category": "nonsense"}, None, "category", 422, "请选择投诉类别"),
])
async def test_a_complaint_that_does_not_pass_is_refused_next_to_its_field_and_nothing_is_kept(
        site: Site, tmp_path: Path, fields: dict[str, str], photo: tuple[str, bytes, str] | None, field: str,
        status: int, reason: str) -> None:
    token = await public_token(site)
    refused = await file(site, token, photo=photo, **fields)
    body = await refused.text()
    assert refused.status == status, body
    assert reason in field_problem(body, f"complaint-{field}")
    if "text" not in fields:
        assert "&lt;script&gt;" in body and "<script>alert" not in body, "the text comes back escaped"
    assert await site.service.complaints(SITE, None, 10, 0) == []
    folder = tmp_path / "complaints"
    assert not folder.exists() or not any(folder.rglob("*.*")), "no photo kept"


async def test_a_form_without_its_token_is_refused_and_the_rate_limit_holds(site: Site) -> None:
    forged = await file(site, "forged")
    assert forged.status == 403
    token = await public_token(site)
    answers = [(await file(site, token)).status for _ in range(8)]
    assert answers.count(429) >= 1 and answers[0] == 303, answers
    api = await site.client.post(f"/api/markets/{SITE}/complaints", json={
        "category": "price", "stall": "A03", "text": "价格与公示不符"})
    assert api.status == 429 and "Retry-After" in api.headers


async def test_the_operator_sees_the_scales_record_resolves_and_the_stall_page_publishes_it(site: Site) -> None:
    complaint = await site.service.file_complaint(SITE, ComplaintForm(
        None, f"{SITE}-A03-0001", ComplaintCategory.SHORT_WEIGHT, SCRIPT, None), NOW)
    token = await site.sign_in("op-liu")
    listing = await site.page(f"{MANAGE}/complaints")
    assert complaint.reference in section(listing, "complaints") and "短斤少两" in words(listing)
    page = await site.page(f"{MANAGE}/complaints/{complaint.complaint_id}")
    record_facts = words(section(page, "scale-record"))
    assert "1.25 公斤（1250 克）" in record_facts and "6.80 元/公斤" in record_facts and "8.50 元" in record_facts
    assert "与重量×单价相符" in record_facts
    assert "&lt;script&gt;alert" in section(page, "complaint") and "<script>alert" not in page
    path = f"{MANAGE}/complaints/{complaint.complaint_id}/state"
    no_outcome = await site.post(path, {"action": "resolve", "outcome": ""}, token)
    assert no_outcome.status == 422
    assert "请填写处理结果" in field_problem(await no_outcome.text(), "handle-outcome")
    started = await site.post(path, {"action": "start"}, token)
    assert started.status == 303
    again = await site.post(path, {"action": "start"}, token)
    assert again.status == 409
    typed = {"action": "resolve", "outcome": "经复秤少 100 克，已退还差价并约谈经营者"}
    unsaid = await site.post(path, typed, token)
    assert unsaid.status == 422, "resolving says whether the complaint was upheld"
    assert "请选择核实结论" in field_problem(await unsaid.text(), "handle-conclusion")
    assert "已退还差价并约谈经营者" in await unsaid.text(), "the outcome is kept as typed"
    rejected_upheld = await site.post(path, {**typed, "action": "reject", "conclusion": "upheld"}, token)
    assert rejected_upheld.status == 422
    assert "投诉属实的，请选择办结" in field_problem(await rejected_upheld.text(), "handle-conclusion")
    unknown = await site.post(path, {**typed, "conclusion": "maybe"}, token)
    assert unknown.status == 422 and "请选择核实结论" in field_problem(await unknown.text(), "handle-conclusion")
    resolved = await site.post(path, {**typed, "conclusion": "upheld"}, token)
    assert resolved.status == 303
    closed = await site.post(path, {"action": "reject", "outcome": "x"}, token)
    assert closed.status == 409
    site.client.session.cookie_jar.clear()
    stall = await site.page(f"/market/{SITE}/stalls/A03")
    published = words(section(stall, "complaint-outcomes"))
    assert "短斤少两" in published and "已办结" in published and "已退还差价" in published
    assert "投诉属实（查实）" in published
    assert "二两" not in stall and complaint.reference not in stall and f"{SITE}-A03-0001" not in published
    status = await site.page(f"/market/{SITE}/complaints/status/{complaint.reference}")
    assert "已退还差价" in words(section(status, "state"))
    display = await (await site.client.get(f"/api/markets/{SITE}/stalls/A03/display")).json()
    assert (display["complaint_outcomes"][0]["state"], display["complaint_outcomes"][0]["conclusion"]) == (
        "resolved", "upheld")
    signed_out = await site.client.get(f"{MANAGE}/complaints", allow_redirects=False)
    assert signed_out.status == 303, "the operator's list is not public"


async def test_a_20_mb_photo_is_refused_unread(site: Site) -> None:
    token = await public_token(site)
    refused = await file(site, token, photo=("huge.jpg", b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024),
                                             "image/jpeg"))
    assert refused.status == 413 and "上传的文件太大" in await refused.text()
    assert await site.service.complaints(SITE, None, 10, 0) == []


async def test_the_api_files_and_the_operator_handles_in_scope(site: Site) -> None:
    filed = await site.client.post(f"/api/markets/{SITE}/complaints", json={
        "category": "hygiene", "stall": "A03", "text": "案板有异味，苍蝇多"})
    assert filed.status == 201
    reference = (await filed.json())["reference"]
    state = await site.client.get(f"/api/markets/{SITE}/complaint-status/{reference}")
    assert (await state.json())["state"] == "received"
    refused = await site.client.post(f"/api/markets/{SITE}/complaints", json={
        "category": "hygiene", "trace_code": "nope", "text": "x"})
    assert refused.status == 422
    assert {d["field"] for d in (await refused.json())["details"]} == {"text", "trace_code"}
    listed = await site.client.get(f"/api/markets/{SITE}/complaints")
    assert listed.status == 401, "the list is the operators'"
    complaints = await site.service.complaints(SITE, frozenset({ComplaintState.RECEIVED}), 10, 0)
    assert [c.reference for c in complaints] == [reference]
    with pytest.raises(FieldsRefused):
        await site.service.file_complaint(SITE, ComplaintForm("A03", None, ComplaintCategory.OTHER, "    ", None),
                                          NOW)


API = f"/api/markets/{SITE}/complaints"


async def test_the_api_takes_a_photo_in_base64_checked_as_the_page_checks_it(site: Site, tmp_path: Path) -> None:
    receipt = {"category": "short_weight", "trace_code": f"{SITE}-A03-0001", "text": SCRIPT}
    folder = tmp_path / "complaints"
    for photo, status in (
            (base64.b64encode(b"%PDF-1.7\n" + b"\0" * 100).decode(), 415),  # no photo, by its content
            ("bm90IGJhc2U2NCE=!!", 400),
            (base64.b64encode(b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024)).decode(), 413)):
        refused = await site.client.post(API, json={**receipt, "photo": photo})
        assert refused.status == status, await refused.text()
        assert await site.service.complaints(SITE, None, 10, 0) == [], "nothing half-written"
        assert not folder.exists() or not any(folder.rglob("*.*")), "no photo kept"

    filed = await site.client.post(API, json={**receipt, "photo": base64.b64encode(JPEG).decode()})
    assert filed.status == 201, await filed.text()
    png = PNG_HEAD + b"\0" * 500
    from_browser = await site.client.post(API, json={
        "category": "hygiene", "stall": "A03", "text": "案板有异味，苍蝇多",
        "photo": "data:image/png;base64," + base64.b64encode(png).decode()})
    assert from_browser.status == 201
    complaints = {c.category: c for c in await site.service.complaints(SITE, None, 10, 0)}
    kept = complaints[ComplaintCategory.SHORT_WEIGHT]
    assert kept.text == SCRIPT and kept.complaint_id is not None, "the text is kept as given"
    assert (await site.service.complaint_photo(SITE, kept.complaint_id))[1] == JPEG
    other = complaints[ComplaintCategory.HYGIENE].complaint_id
    assert other is not None and (await site.service.complaint_photo(SITE, other))[1] == png
    await site.sign_in("op-liu")
    page = await site.page(f"{MANAGE}/complaints/{kept.complaint_id}")
    assert "&lt;script&gt;alert(" in page and "<script>alert(" not in page, "shown escaped"


def test_a_base64_photo_is_measured_before_it_is_decoded() -> None:
    limit = 3000
    assert photo_of(base64.b64encode(b"x" * limit).decode(), limit) == b"x" * limit
    with pytest.raises(web.HTTPRequestEntityTooLarge):
        photo_of(base64.b64encode(b"x" * (limit + 1)).decode(), limit)
    with pytest.raises(web.HTTPBadRequest):
        photo_of("data:image/png;base64,***", limit)
    assert photo_of(None, limit) is None
