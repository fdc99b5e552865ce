"""A resident signs in, sees their unit, invites a visitor and gets the QR pass, then revokes it — in Debian's
Chromium, desktop and phone, with a screenshot of every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from accounts.demo import DEMO_PASSWORD
from community.access.permissions import Door
from devices.gate_memory import GateMemory, PassAdmitted
from tests.browser.access_compound import NOW, PASS_KEY, SITE_KEY, AccessSite
from tests.browser.test_resident_votes import VIEWPORTS, shoot, sign_in
from webkit.qr_code import qr_svg

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
async def test_a_resident_invites_a_visitor_and_sees_the_qr_pass(
    access_site: AccessSite, browser: Browser, screenshots: Path, device: str
) -> None:
    site = access_site
    me = site.resident
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    shots = f"{device}-resident-"

    await page.goto(site.url + "/")
    await page.get_by_role("link", name="登录").first.click()
    await sign_in(page, me.resident_id, DEMO_PASSWORD)
    await expect(page).to_have_url(site.url + "/access/my")
    await expect(page.locator("header .who")).to_have_text(me.name)
    household = page.locator("#household")
    await expect(household.locator("tbody tr")).to_have_count(3)
    assert me.phone is not None
    await expect(household).to_contain_text(me.phone[:3] + "****" + me.phone[-4:])
    await expect(household).not_to_contain_text(me.phone)
    await expect(page.locator("#credentials")).to_contain_text("尾号")
    await shoot(page, screenshots, shots + "01-my-unit")

    await page.get_by_role("link", name="邀请访客").first.click()
    await expect(page).to_have_url(site.url + "/access/my/visitors/new")
    await page.get_by_label("1号门（1栋门禁）").check()
    await page.get_by_label("1栋单元门（1栋门禁）").check()
    await page.get_by_label("有效时长").select_option("8")
    await page.get_by_label("可用次数").fill("3")
    await page.get_by_label("访客称呼").fill("李师傅")
    await page.get_by_label("访客手机").fill("13700001234")
    await shoot(page, screenshots, shots + "02-invite")
    await page.get_by_role("button", name="生成通行码").click()

    await expect(page).to_have_url(re.compile(r"/access/my/visitors/vp-[0-9a-f]{16}\?new=1$"))
    card = page.locator("#pass")
    await expect(card).to_contain_text("李师傅")
    await expect(card).to_contain_text("剩余 3 次")
    await expect(card).to_contain_text("05-12 18:40 至 05-13 02:40 有效")
    await expect(card).to_contain_text("137****1234")
    qr = card.locator(".qr svg")
    await expect(qr).to_be_visible()
    box = await qr.bounding_box()
    assert box is not None and abs(box["width"] - box["height"]) < 1 and box["width"] >= 220, box
    [record] = await site.service.passes(resident_ids=[me.resident_id])
    text = site.service.pass_text(record)
    drawn = await qr.locator("path[stroke]").get_attribute("d")
    assert drawn is not None and f'd="{drawn}"' in qr_svg(text, "访客通行二维码"), "the QR code holds the signed pass"
    gate = GateMemory("gate-01", SITE_KEY, PASS_KEY, doors=4)
    assert isinstance(gate.admit_pass(text, 1, NOW), PassAdmitted)
    assert Door("gate-01", 1) in record.visitor_pass.doors
    await shoot(page, screenshots, shots + "03-pass")

    await page.get_by_role("link", name="我的访客").first.click()
    listed = page.locator(f'[data-pass="{record.pass_id}"]')
    await expect(listed).to_contain_text("有效")
    await shoot(page, screenshots, shots + "04-visitors")
    await listed.get_by_role("button", name="撤销").click()
    await expect(page.locator(".success")).to_contain_text("通行码已撤销")
    await expect(page.locator(f'[data-pass="{record.pass_id}"]')).to_contain_text("已撤销")
    await context.close()
