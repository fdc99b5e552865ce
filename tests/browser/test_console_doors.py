"""The console's pages for doors and permissions in Debian's Chromium, on the demo community: the manager creates an
access group from the form (a refused window row first, its reason next to it), registers a gate with its doors,
and revokes a visitor pass after the confirmation — on a desktop and on a phone, where no page scrolls sideways.
A screenshot of every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from accounts.demo import DEMO_PASSWORD
from community.access.visitors import PassStatus
from tests.browser.access_compound import MANAGER, SITE, AccessSite
from tests.browser.test_resident_votes import VIEWPORTS, shoot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def no_sideways_scroll(page: Page) -> None:
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
async def test_the_manager_runs_groups_gates_and_passes_from_the_console(
    access_site: AccessSite, browser: Browser, screenshots: Path, device: str
) -> None:
    site = access_site
    resident = site.resident
    groups = {record.group.group_id: record.group for record in await site.service.groups(SITE)}
    door = min(door for group_id in resident.group_ids for door in groups[group_id].doors)
    issued = await site.service.invite(resident.resident_id, frozenset({door}), visitor_name="李师傅",
                                       visitor_phone="13700001234")
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    shots = f"{device}-doors-"

    await page.goto(site.url + "/access/console/groups")
    await sign_in(page, MANAGER, DEMO_PASSWORD)
    await expect(page).to_have_url(site.url + "/access/console/groups")
    await expect(page.locator("#groups tbody tr").first).to_be_visible()
    await no_sideways_scroll(page)
    await shoot(page, screenshots, shots + "01-groups")

    await page.locator("#new-group summary").click()
    await page.get_by_label("权限组编号").fill("cleaners")
    await page.get_by_label("名称", exact=True).fill("保洁")
    await page.locator('#new-group-doors input[name="door"]').first.check()
    for day in "一二三四五":
        await page.get_by_label(f"时段 1 周{day}").check(force=True)
    await page.locator("#new-group-w0_start").fill("06:00")
    await page.locator("#new-group-w0_end").fill("10:00")
    await page.locator("#new-group-w1_start").fill("14:00")  # a second row without its days
    await page.locator("#new-group-w1_end").fill("18:00")
    await no_sideways_scroll(page)
    await shoot(page, screenshots, shots + "02-new-group")
    await page.get_by_role("button", name="创建权限组").click()
    await expect(page.locator("#new-group-w1_days-problem")).to_have_text("请选择星期几（可多选）")
    await expect(page.locator("#new-group-w0_start")).to_have_value("06:00")
    await no_sideways_scroll(page)
    await shoot(page, screenshots, shots + "03-refused")
    for day in "六日":
        await page.get_by_label(f"时段 2 周{day}").check(force=True)
    await page.get_by_role("button", name="创建权限组").click()
    await expect(page).to_have_url(re.compile(r"/access/console/groups\?saved=cleaners#group-cleaners$"))
    row = page.locator('[data-group="cleaners"]')
    await expect(row).to_contain_text("周一至周五 06:00–10:00；周末 14:00–18:00")
    await expect(page.locator("#saved")).to_contain_text("权限组“保洁”已保存")

    await page.get_by_role("navigation", name="门禁页面").get_by_role("link", name="门禁设备").click()
    await expect(page.locator('[data-gate="gate-01"]')).to_contain_text("已同步")
    await no_sideways_scroll(page)
    await shoot(page, screenshots, shots + "04-gates")
    await page.locator("#new-gate summary").click()
    await page.get_by_label("门禁编号").fill("gate-99")
    await page.get_by_label("门禁名称").fill("南门")
    await page.locator("#new-gate-d0_number").fill("1")
    await page.locator("#new-gate-d0_name").fill("南门")
    await page.locator("#new-gate-d1_number").fill("2")
    await page.locator("#new-gate-d1_name").fill("南门车道")
    await page.locator("#new-gate-d1_kind").select_option("garage")
    await no_sideways_scroll(page)
    await page.get_by_role("button", name="登记门禁").click()
    await expect(page.locator("#added")).to_contain_text("门禁“南门”已登记")
    await expect(page.locator('[data-gate="gate-99"]')).to_contain_text("1号 南门、2号 南门车道")
    await page.locator('[data-gate="gate-01"] a').first.click()
    await expect(page.locator("#whitelist")).to_contain_text("条凭证")
    await no_sideways_scroll(page)
    await shoot(page, screenshots, shots + "05-gate")

    await page.get_by_role("navigation", name="门禁页面").get_by_role("link", name="访客").click()
    visit = page.locator(f'[data-pass="{issued.record.pass_id}"]')
    await expect(visit).to_contain_text("李师傅")
    await expect(visit).to_contain_text("137****1234")
    await expect(visit).to_contain_text(resident.name)
    await no_sideways_scroll(page)
    await shoot(page, screenshots, shots + "06-passes")
    await visit.get_by_role("link", name="撤销").click()
    await expect(page.locator("#confirm")).to_contain_text("确定要撤销这张通行码吗")
    await no_sideways_scroll(page)
    await shoot(page, screenshots, shots + "07-revoke")
    await page.get_by_role("button", name="确认撤销").click()
    await expect(page.locator("#revoked")).to_contain_text("已撤销李师傅的通行码")
    await expect(page.locator(f'[data-pass="{issued.record.pass_id}"]')).to_contain_text("已撤销")
    record, _ = await site.service.visitor_pass(issued.record.pass_id)
    assert record.status(site.clock.now) is PassStatus.REVOKED and record.revoked_by == MANAGER
    await context.close()
