"""A resident signs in, opens a proposal, votes, sees the receipt, and after close sees the result —
in Debian's Chromium, at a desktop and a phone viewport, with a screenshot of every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from accounts.demo import DEMO_PASSWORD
from community.voting.audit import ReceiptStatus
from tests.browser.compound import AFTER, LIFTS
from tests.browser.conftest import RunningSite

pytestmark = [pytest.mark.browser, pytest.mark.integration]

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2, "is_mobile": True,
              "has_touch": True},
}
RECEIPT = re.compile(r"^[0-9a-f]{4}(-[0-9a-f]{4}){3}$")


async def shoot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def sign_in(page: Page, account: str, password: str) -> None:
    await page.get_by_label("账号").fill(account)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
async def test_a_resident_votes_sees_the_receipt_and_later_the_result(
    running_site: RunningSite, browser: Browser, screenshots: Path, device: str
) -> None:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    shots = f"{device}-"

    await page.goto(running_site.url + "/voting")
    await expect(page).to_have_url(re.compile(r"/signin\?next=/voting$"))
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await shoot(page, screenshots, shots + "01-signin")
    await sign_in(page, "wang", "wrong password")
    await expect(page.get_by_role("alert")).to_have_text("账号或密码不正确。")
    await sign_in(page, "wang", DEMO_PASSWORD)

    await expect(page).to_have_url(running_site.url + "/voting")
    await expect(page.locator("header .who")).to_have_text("王芳")
    await expect(page.locator("#open")).to_contain_text("尚未投票")
    await expect(page.locator("#upcoming")).to_contain_text("充电桩")
    await expect(page.locator("#closed")).to_contain_text("第二届业主委员会选举")
    await shoot(page, screenshots, shots + "02-list")

    await page.get_by_role("link", name="使用维修资金更换 1、2 栋电梯").click()
    await expect(page).to_have_url(f"{running_site.url}/voting/proposals/{LIFTS}")
    await expect(page.locator("#matter")).to_contain_text("使用建筑物及其附属设施的维修资金")
    turnout = page.locator("#turnout")
    await expect(turnout).to_contain_text("715.00 m² / 950.00 m²")  # before wang: 1-201, 2-101, 1-202, 3-*, 2-102
    await expect(turnout).to_contain_text("5 人 / 7 人")
    await expect(page.locator("#deliberation")).to_contain_text("此条意见已被业主委员会隐藏。原因：与议题无关的广告")
    await expect(page.locator("#deliberation")).not_to_contain_text("138xxxx")
    await expect(page.locator("#ballot fieldset")).to_have_count(3)  # two own flats and sun's, by proxy
    await shoot(page, screenshots, shots + "03-proposal")

    for unit in ("1栋101", "1栋102", "2栋201"):
        await page.get_by_role("radiogroup", name=f"{unit} 的意见").get_by_text("同意").click()
    await page.get_by_role("button", name="提交选票").click()

    await expect(page).to_have_url(re.compile(rf"/voting/proposals/{LIFTS}/receipt\?code="))
    codes = await page.locator("[data-receipt]").all_inner_texts()
    assert len(codes) == 3 and all(RECEIPT.match(code) for code in codes), codes
    await expect(page.locator("#receipts")).to_contain_text("2026-12-05 20:00:00（北京时间）")
    for code in codes:
        assert await running_site.voting.receipt(LIFTS, code) is ReceiptStatus.COUNTED
    await shoot(page, screenshots, shots + "04-receipt")

    await page.get_by_role("link", name="核对回执").first.click()
    await page.get_by_label("回执码").fill(codes[0].upper().replace("-", " "))
    await page.get_by_role("button", name="核对").click()
    await expect(page.locator("#check")).to_contain_text("有效")
    await shoot(page, screenshots, shots + "05-check")

    running_site.clock.now = AFTER
    await running_site.voting.close(LIFTS, AFTER, "li")  # the committee counts and publishes
    await page.goto(f"{running_site.url}/voting/proposals/{LIFTS}/result")
    await expect(page.locator(".notice")).to_have_text("登录已过期，请重新登录。")  # days later: 12 h sessions
    await sign_in(page, "wang", DEMO_PASSWORD)
    await expect(page).to_have_url(f"{running_site.url}/voting/proposals/{LIFTS}/result")
    await expect(page.locator("#verdict")).to_contain_text("通过")
    ratios = page.locator("#ratios")
    await expect(ratios).to_contain_text("950.00 m² / 950.00 m²")  # everybody took part
    await expect(ratios).to_contain_text("7 人 / 7 人")
    await expect(ratios).to_contain_text("745.00 m² / 950.00 m²")  # all but zhao's 95 and liu's 110
    await expect(ratios).to_contain_text("5 人 / 7 人")
    await expect(ratios).to_contain_text("78.42%")
    published = await running_site.voting.published(LIFTS)
    assert published is not None
    await expect(page.locator("#chain-head")).to_have_text(published.head.head_hash)
    await shoot(page, screenshots, shots + "06-result")

    await page.goto(running_site.url + "/voting/proposals/p-committee-2026/result")
    await expect(page.locator(".verdicts")).to_contain_text("李明、赵丽")
    await shoot(page, screenshots, shots + "07-election-result")

    missing = await page.goto(running_site.url + "/voting/proposals/p-nope")
    assert missing is not None and missing.status == 404
    await expect(page.get_by_role("heading", name="表决不存在")).to_be_visible()
    await shoot(page, screenshots, shots + "08-not-found")
    await context.close()
