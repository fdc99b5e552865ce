"""The property manager's console in Debian's Chromium, on the demo community: a gate event and an alarm published
over MQTT (a real Mosquitto, the access service's own session) appear in the live feed without a reload; the alarm
is acknowledged from the page; a door is opened remotely after a confirmation and shown opened when the gate acks;
the access log and the alarm list. Desktop and phone, with a screenshot of every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from accounts.demo import DEMO_PASSWORD
from devices.contract import CommandAck
from devices.gate_commands import OPEN
from gateway.processors.points import epoch_millis
from tests.browser.access_compound import MANAGER, NOW, AccessSite, Broker
from tests.browser.test_resident_votes import VIEWPORTS, shoot, sign_in
from tests.integration.helpers import gate_event, publish

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
async def test_a_gate_event_published_over_mqtt_appears_in_the_console_live_feed(
    access_site: AccessSite, access_broker: Broker, browser: Browser, screenshots: Path, device: str
) -> None:
    site = access_site
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    shots = f"{device}-access-"

    await page.goto(site.url + "/access/console")
    await expect(page).to_have_url(re.compile(r"/signin\?next=/access/console$"))
    await sign_in(page, MANAGER, DEMO_PASSWORD)
    await expect(page).to_have_url(site.url + "/access/console")
    await expect(page.locator("[data-live-status]")).to_have_text("实时更新中")
    await expect(page.locator('[data-gate="gate-06"]')).to_contain_text("离线")
    await expect(page.locator("[data-open-alarms]")).to_contain_text("门禁离线")
    await expect(page.locator("#entries svg:visible")).to_have_count(2)  # bars and hours, wide or narrow
    await shoot(page, screenshots, shots + "01-console")

    await page.evaluate("window.notReloaded = true")
    resident = site.controllers["gate-02"].gate.residents[0]
    now_ms = epoch_millis(NOW)
    publish(access_broker.mosquitto.port, [("sc/v1/demo/gate/gate-02/event", gate_event(
        "live-granted", ts=now_ms + 1_000, door=2, kind="granted", method="card", credential=resident.card,
        direction="in"))])
    newest = page.locator("[data-live-feed] > li").first
    await expect(newest).to_contain_text(site.names[resident.card])
    await expect(newest).to_contain_text("2栋门禁 · 2栋单元门 · 进 · 刷卡")
    await expect(page.locator('[data-gate="gate-02"] [data-last-seen]')).to_contain_text("18:40:01")

    publish(access_broker.mosquitto.port, [("sc/v1/demo/gate/gate-04/event", gate_event(
        "live-forced", ts=now_ms + 2_000, door=1, kind="forced", method=None))])
    await expect(newest).to_contain_text("强行开门")
    alarm = page.locator("[data-open-alarms] > li").first
    await expect(alarm).to_contain_text("强行开门")
    await expect(alarm).to_contain_text("4栋门禁")
    assert await page.evaluate("window.notReloaded === true"), "the rows arrived without a reload"
    await page.locator("#live").scroll_into_view_if_needed()
    await shoot(page, screenshots, shots + "02-console-live")

    await alarm.get_by_role("textbox").fill("已通知保安前往 4 栋")
    await alarm.get_by_role("button", name="确认收到").click()
    acknowledged = page.locator("[data-open-alarms] > li", has_text="已通知保安前往 4 栋")
    await expect(acknowledged).to_contain_text("处理中")
    await expect(acknowledged).to_contain_text("张经理（物业） 确认")

    await page.locator('[data-gate="gate-01"]').get_by_role("link", name="远程开门").click()
    await expect(page.locator("label.door-choice")).to_have_count(4)  # the doors of the gate whose tile it was
    await page.locator("label.door-choice", has=page.locator('input[value="gate-01:1"]')).click()
    await page.get_by_label("开门原因").fill("快递员送大件家具，住户电话确认")
    await shoot(page, screenshots, shots + "03-open-form")
    await page.get_by_role("button", name="下一步：确认").click()
    await expect(page.get_by_role("heading", name="确定要打开这扇门吗？")).to_be_visible()
    assert [c for c in site.downlink.commands_to("gate-01") if c.op == OPEN] == [], "not before the confirmation"
    await shoot(page, screenshots, shots + "04-open-confirm")
    await page.get_by_role("button", name="确认开门").click()
    await expect(page.locator("#outcome")).to_contain_text("等待门禁回应")
    await shoot(page, screenshots, shots + "05-open-pending")
    [command] = [c for c in site.downlink.commands_to("gate-01") if c.op == OPEN]
    await site.send("gate-01", CommandAck(cmd_id=command.cmd_id, ok=True))
    await expect(page.locator("#outcome")).to_contain_text("已开门", timeout=10_000)  # the page refreshes itself
    await shoot(page, screenshots, shots + "06-open-done")

    await page.get_by_role("link", name="通行记录").first.click()
    await page.get_by_label("事件").select_option("denied")
    await page.get_by_role("button", name="查询").click()
    await expect(page.locator("#results tbody tr").first).to_contain_text("拒绝")
    await expect(page.locator("#results")).to_contain_text("已过期")
    await shoot(page, screenshots, shots + "07-log")

    await page.locator(".tabs").get_by_role("link", name="告警").click()
    await expect(page.locator("#alarm-list")).to_contain_text("保安已到场查看")
    await shoot(page, screenshots, shots + "08-alarms")
    await context.close()
