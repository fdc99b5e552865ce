"""The compound's register in the manager's console, in Debian's Chromium on the demo community: the buildings and a
building's units; a unit added (an area of "八十" refused next to its field first); a resident moved into it (a
ten-digit phone refused first), found by their phone's last four digits; a card enrolled and shown by its hint,
revoked after a confirmation; the resident moved out after a confirmation. Desktop and phone — no page scrolls
sideways — with a screenshot of every page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from accounts.demo import DEMO_PASSWORD
from community.access.directory import ResidentStatus
from tests.browser.access_compound import MANAGER, AccessSite
from tests.browser.test_resident_votes import VIEWPORTS, shoot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def fits(page: Page) -> None:
    """Nothing of the page lies beyond the screen's width (wide tables scroll inside their own box)."""
    assert await page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), \
        f"{page.url} scrolls sideways"


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
async def test_a_manager_adds_a_unit_moves_a_resident_in_enrols_a_card_and_moves_them_out(
    access_site: AccessSite, browser: Browser, screenshots: Path, device: str
) -> None:
    site = access_site
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    shots = f"{device}-register-"

    await page.goto(site.url + "/access/console/buildings")
    await sign_in(page, MANAGER, DEMO_PASSWORD)
    await expect(page).to_have_url(site.url + "/access/console/buildings")
    await expect(page.locator("#buildings tbody tr").first).to_contain_text("套")
    await fits(page)
    await shoot(page, screenshots, shots + "01-buildings")

    await page.locator("#buildings tbody a").first.click()
    await expect(page.locator("#units tbody tr").first).to_contain_text("m²")
    await fits(page)
    await shoot(page, screenshots, shots + "02-building")
    building = page.url.rsplit("/", 1)[1]

    await page.get_by_role("link", name="在本楼添加房屋").click()
    form = page.locator("#new-unit")
    await expect(form.get_by_label("楼栋", exact=True)).to_have_value(building)
    await form.get_by_label("单元", exact=True).fill("9单元")
    await form.get_by_label("房号", exact=True).fill("901")
    await form.get_by_label("专有面积（m²）").fill("八十")
    await form.get_by_label("房屋编号", exact=True).fill(f"{building}-9-901")
    await form.get_by_role("button", name="添加房屋").click()
    await expect(page.locator("#unit-area_m2-problem")).to_have_text(
        "专有面积应是大于 0 的数字（平方米），最多两位小数，如 89.37")
    await fits(page)
    await shoot(page, screenshots, shots + "03-unit-refused")
    await page.locator("#new-unit").get_by_label("专有面积（m²）").fill("80.5")
    await page.locator("#new-unit").get_by_role("button", name="添加房屋").click()
    marked = page.locator("tr.marked")
    await expect(marked).to_contain_text("80.50 m²")
    await expect(marked).to_contain_text("空置")

    await marked.get_by_role("link", name="＋ 登记住户").click()
    move_in = page.locator("#move-in")
    await expect(move_in.get_by_label("房屋编号")).to_have_value(f"{building}-9-901")
    await move_in.get_by_label("姓名").fill("测试住户")
    await move_in.get_by_label("身份").select_option(label="租户")
    await move_in.get_by_label("手机号（选填）").fill("1380013800")
    await move_in.locator('input[name="group_ids"]').first.check()
    await move_in.get_by_role("button", name="登记住户").click()
    await expect(page.locator("#resident-phone-problem")).to_have_text("手机号应是 11 位数字的手机号，如 13800138000")
    await expect(page.locator('#move-in input[name="group_ids"]').first).to_be_checked()
    await fits(page)
    await shoot(page, screenshots, shots + "04-move-in-refused")
    await page.locator("#move-in").get_by_label("手机号（选填）").fill("138 0013 8000")
    await page.locator("#move-in").get_by_role("button", name="登记住户").click()
    await expect(page.locator(".success")).to_contain_text("住户已登记")
    await expect(page.locator("#unit")).to_contain_text("138****8000")
    resident_id = page.url.split("/residents/")[1].split("?")[0]

    enrol = page.locator("#enrol")
    await enrol.get_by_label("类型").select_option(label="门禁卡")
    await enrol.get_by_label("卡号、密码或编号").fill("0066778899")
    await enrol.get_by_role("button", name="登记凭证").click()
    card = page.locator("#credentials tbody tr").first
    await expect(card).to_contain_text("尾号 8899")
    await expect(page.locator("body")).not_to_contain_text("0066778899")
    await fits(page)
    await shoot(page, screenshots, shots + "05-resident")

    await page.get_by_role("navigation", name="门禁页面").get_by_role("link", name="住户", exact=True).click()
    await page.get_by_label("查找住户").fill("8000")
    await page.get_by_role("button", name="查找").click()
    await expect(page.locator("#residents tbody tr")).to_have_count(1)
    await expect(page.locator("#residents tbody tr")).to_contain_text("测试住户")
    await fits(page)
    await shoot(page, screenshots, shots + "06-search")
    await page.get_by_role("link", name="测试住户").click()

    await page.locator("#credentials").get_by_role("button", name="停用…").click()
    await expect(page.get_by_role("heading", name="停用凭证？")).to_be_visible()
    await fits(page)
    await shoot(page, screenshots, shots + "07-confirm")
    await page.get_by_role("button", name="确认停用").click()
    await expect(page.locator("#credentials tbody tr").first).to_contain_text("已挂失/停用")

    await page.get_by_role("button", name="办理迁出…").click()
    await page.get_by_role("button", name="确认办理迁出").click()
    await expect(page.locator(".success")).to_contain_text("已办理迁出")
    await expect(page.locator(".page-title")).to_contain_text("已迁出")
    assert (await site.service.resident(resident_id))[0].status is ResidentStatus.MOVED_OUT
    await shoot(page, screenshots, shots + "08-moved-out")
    await context.close()
