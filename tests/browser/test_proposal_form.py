"""The property manager opens a proposal from the page (issue 13) — from the list's link, a mistake shown beside its
field first, then the proposal opened with its roll to be frozen from the register — in Debian's Chromium, at a
desktop and a phone viewport, with a screenshot of every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from accounts.demo import DEMO_PASSWORD
from community.voting.rules import Matter
from tests.browser.compound import COMMUNITY
from tests.browser.conftest import RunningSite
from tests.browser.test_resident_votes import VIEWPORTS, shoot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
async def test_the_property_manager_opens_a_proposal_from_the_page(
    running_site: RunningSite, browser: Browser, screenshots: Path, device: str
) -> None:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    shots = f"{device}-new-proposal-"

    await page.goto(running_site.url + "/voting")
    await sign_in(page, "pm-zhang", DEMO_PASSWORD)
    await page.get_by_role("link", name="发起表决").click()
    await expect(page).to_have_url(running_site.url + "/voting/new")
    await expect(page.get_by_label("小区")).to_have_value(COMMUNITY)  # their one community, chosen already
    await shoot(page, screenshots, shots + "01-form")

    await page.get_by_label("标题").fill("在地面停车场设置电动汽车充电桩")
    await page.get_by_label("表决事项").select_option(Matter.USE_OF_COMMON_PARTS.value)
    await page.get_by_label("议题说明").fill("拟在地面停车场东侧设置 12 个充电车位。\n收益归全体业主。")
    await page.get_by_label("开始时间").fill("2026-12-20T09:00")
    await page.get_by_label("截止时间").fill("2026-12-20T08:00")  # a mistake: it closes before it opens
    await page.get_by_role("button", name="发起表决").click()

    await expect(page.locator("#closes_at-problem")).to_have_text("截止时间必须晚于开始时间")
    await expect(page.get_by_label("标题")).to_have_value("在地面停车场设置电动汽车充电桩")  # kept, to be corrected
    await shoot(page, screenshots, shots + "02-refused")
    assert not [p for p in await running_site.voting.proposal_ids(20) if p.startswith("p-2026")], "nothing written"

    await page.get_by_label("截止时间").fill("2026-12-27T09:00")
    await page.get_by_role("button", name="发起表决").click()
    await expect(page).to_have_url(re.compile(r"/voting/proposals/p-20261205-[0-9a-f]{8}$"))
    await expect(page.get_by_role("heading", name="在地面停车场设置电动汽车充电桩")).to_be_visible()
    await shoot(page, screenshots, shots + "03-opened")
    proposal_id = page.url.rsplit("/", 1)[1]
    state = await running_site.voting.state(proposal_id, running_site.clock())
    assert state.community_id == COMMUNITY and state.roll_state.community_id == COMMUNITY
    assert state.proposal.matter is Matter.USE_OF_COMMON_PARTS
    await context.close()
