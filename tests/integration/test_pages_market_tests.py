"""The rapid-test pages on a real server and database: the operator's test form (standard items, each refusal next
to its field, nothing written), a suspected positive held and the laboratory's result recorded on the batch page,
the public daily test board and the stall page's latest tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devices.scale_commands import BLOCK_BATCH, UNBLOCK_BATCH
from market.rapid_tests import TestOutcome
from market.tracing import BlockCause
from tests.integration.test_pages_market import (
    BATCH_ID,
    MANAGE,
    SITE,
    TESTER,
    Site,
    field_problem,
    opened_site,
    section,
    words,
)

pytestmark = pytest.mark.integration
BATCH = f"{MANAGE}/batches/{BATCH_ID}"


@pytest.fixture
async def site(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Site]:
    async with opened_site(engine, tmp_path) as opened:
        yield opened


async def test_the_test_form_offers_the_products_items_and_refuses_each_field_with_its_reason(site: Site) -> None:
    token = await site.sign_in("op-liu")
    page = await site.page(BATCH)
    form = section(page, "test-form")
    assert "有机磷和氨基甲酸酯类农药（酶抑制率法，判定值 50 %）" in words(form)
    assert "克伦特罗" not in form, "a vegetable is not screened for clenbuterol"
    unitless = await site.post(f"{BATCH}/tests", {"item": "organophosphate_carbamate", "value": "12", "unit": "",
                                                  "tester": TESTER, "tested_at": "2026-11-23T09:40"}, token)
    body = await unitless.text()
    assert unitless.status == 422
    assert field_problem(body, "test-unit") == "检测值缺少单位：有机磷和氨基甲酸酯类农药的单位是 %"
    assert 'value="12"' in section(body, "test-form"), "what was typed is kept"
    wrong_item = await site.post(f"{BATCH}/tests", {"item": "clenbuterol", "value": "0.1", "unit": "μg/kg",
                                                    "tester": TESTER, "tested_at": "2026-11-23T09:40"}, token)
    assert wrong_item.status == 422
    assert field_problem(await wrong_item.text(), "test-item") == "蔬菜不检克伦特罗：应检有机磷和氨基甲酸酯类农药"
    too_much = await site.post(f"{BATCH}/tests", {"item": "organophosphate_carbamate", "value": "130", "unit": "%",
                                                  "tester": TESTER, "tested_at": "2026-11-23T09:40"}, token)
    assert too_much.status == 422 and "检测值超出范围" in field_problem(await too_much.text(), "test-value")
    detail = await site.service.batch_detail(SITE, BATCH_ID)
    assert len(detail.tests) == 1 and detail.batch.block is None, "nothing written"


async def test_a_suspected_positive_is_held_and_the_laboratorys_pass_releases_it_from_the_page(site: Site) -> None:
    token = await site.sign_in("op-liu")
    suspected = await site.post(f"{BATCH}/tests", {"item": "organophosphate_carbamate", "value": "58.4",
                                                   "unit": "%", "tester": TESTER, "tested_at": "2026-11-23T09:40"},
                                token)
    assert suspected.status == 303 and "notice=suspected" in suspected.headers["Location"]
    assert {command.op for _, command in site.downlink.sent} == {BLOCK_BATCH}
    page = await site.page(f"{BATCH}?notice=suspected")
    assert "等待实验室复检结果" in page and "快检疑似阳性，待实验室复检" in words(section(page, "blocked"))
    test = (await site.service.batch_detail(SITE, BATCH_ID)).tests[-1]
    assert test.outcome is TestOutcome.SUSPECTED_POSITIVE and test.test_id is not None
    lab_form = section(page, f"lab-{test.test_id}")
    assert "录入实验室复检结果" in words(lab_form)
    blank = await site.post(f"{BATCH}/tests/{test.test_id}/laboratory", {"verdict": "pass", "laboratory": "",
                                                                          "report_number": ""}, token)
    assert blank.status == 422
    assert field_problem(await blank.text(), f"lab-{test.test_id}-laboratory") == "请填写检测机构"
    site.downlink.sent.clear()
    passed = await site.post(f"{BATCH}/tests/{test.test_id}/laboratory", {
        "verdict": "pass", "laboratory": "丰台区食品检验所", "report_number": "FT-2026-88",
        "reported_at": "2026-11-23T09:55"}, token)
    assert passed.status == 303 and "notice=lab_released" in passed.headers["Location"]
    assert {command.op for _, command in site.downlink.sent} == {UNBLOCK_BATCH}
    released = await site.page(f"{BATCH}?notice=lab_released")
    assert "疑似阳性，复检合格" in words(section(released, "tests")) and "FT-2026-88" in released
    again = await site.post(f"{BATCH}/tests/{test.test_id}/laboratory", {
        "verdict": "fail", "laboratory": "x", "report_number": "y"}, token)
    assert again.status == 409
    await site.post(f"{BATCH}/tests/999999/laboratory", {"verdict": "fail", "laboratory": "x",
                                                         "report_number": "y"}, token)
    missing = await site.post(f"{BATCH}/tests/not-a-number/laboratory", {"verdict": "fail"}, token)
    assert missing.status == 404


async def test_the_laboratorys_fail_keeps_the_batch_recalled(site: Site) -> None:
    token = await site.sign_in("op-liu")
    await site.post(f"{BATCH}/tests", {"item": "organophosphate_carbamate", "value": "75", "unit": "%",
                                       "tester": TESTER, "tested_at": "2026-11-23T09:40"}, token)
    test = (await site.service.batch_detail(SITE, BATCH_ID)).tests[-1]
    failed = await site.post(f"{BATCH}/tests/{test.test_id}/laboratory", {
        "verdict": "fail", "laboratory": "丰台区食品检验所", "report_number": "FT-2026-89"}, token)
    assert failed.status == 303 and "notice=lab_failed" in failed.headers["Location"]
    block = (await site.service.batch_detail(SITE, BATCH_ID)).batch.block
    assert block is not None and block.cause is BlockCause.FAILED_TEST


async def test_the_public_board_and_the_stall_page_show_the_tests(site: Site) -> None:
    token = await site.sign_in("op-liu")
    await site.post(f"{BATCH}/tests", {"item": "organophosphate_carbamate", "value": "61", "unit": "%",
                                       "tester": TESTER, "tested_at": "2026-11-23T09:40"}, token)
    site.client.session.cookie_jar.clear()  # the public, signed out
    board = await site.page(f"/market/{SITE}/tests")
    rows = words(section(board, "board"))
    assert "2026-11-23 检测 2 项" in rows and "阴性 1 · 待复检 1" in rows
    assert "A03" in rows and "西红柿" in rows and "疑似阳性（待实验室复检）" in rows and "61 %" in rows
    assert TESTER not in board, "who tested is not published"
    yesterday = await site.page(f"/market/{SITE}/tests?day=2026-11-22")
    assert "2026-11-22" in yesterday and "这一天没有快检记录" in yesterday
    await site.page(f"/market/{SITE}/tests?day=2025-01-01", status=400)
    await site.page(f"/market/{SITE}/tests?day=garbage", status=400)
    await site.page("/market/nowhere/tests", status=404)
    stall = await site.page(f"/market/{SITE}/stalls/A03")
    recent = words(section(stall, "recent-tests"))
    assert "有机磷和氨基甲酸酯类农药 疑似阳性（待实验室复检）" in recent and "农药残留 阴性" in recent
    screen = await site.page(f"/market/{SITE}/stalls/A03/screen")
    assert "今日快检 2 项：阴性 1 · 疑似阳性 1" in words(screen)
    display = await site.client.get(f"/api/markets/{SITE}/stalls/A03/display")
    tests = (await display.json())["recent_tests"]
    assert [t["outcome"] for t in tests] == ["suspected_positive", "negative"] and "tester" not in tests[0]
    api_board = await site.client.get(f"/api/markets/{SITE}/tests/board?day=2026-11-23")
    assert api_board.status == 200 and (await api_board.json())["waiting"] == 1
