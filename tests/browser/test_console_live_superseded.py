"""The console in Debian's Chromium when one manager opens it once more than their share of the live feed allows:
the newest tab gets the feed, the oldest says so and stops — it does not reconnect, which would end the next tab's
stream, and that one the next, round and round the open tabs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from accounts.demo import DEMO_PASSWORD
from tests.browser.access_compound import MANAGER, AccessSite
from tests.browser.test_resident_votes import VIEWPORTS, shoot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SUPERSEDED_NOTICE = "实时动态已在您的另一个窗口打开，此处已停止更新"
RECONNECT_WAIT_S = 6.0
"""Longer than EventSource waits before it reconnects (about 3 s in Chromium)."""


async def test_the_oldest_console_of_an_account_over_its_share_stops_and_the_newest_keeps_the_feed(
    access_site: AccessSite, browser: Browser, screenshots: Path
) -> None:
    site = access_site
    site.service.feed.max_per_subscriber = 1  # the share is 4 by default: 1 shows the same with two tabs
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS["desktop"])  # type: ignore[arg-type]
    oldest = await context.new_page()
    await oldest.goto(site.url + "/access/console")
    await sign_in(oldest, MANAGER, DEMO_PASSWORD)
    await expect(oldest.locator("[data-live-status]")).to_have_text("实时更新中")
    await oldest.evaluate("window.notReloaded = true")

    newest = await context.new_page()  # the same browser, signed in: the same account
    await newest.goto(site.url + "/access/console")
    await expect(newest.locator("[data-live-status]")).to_have_text("实时更新中")

    await expect(oldest.locator("[data-live-status]")).to_have_text(SUPERSEDED_NOTICE)
    ended = oldest.locator("[data-feed-superseded]")
    await expect(ended).to_contain_text(SUPERSEDED_NOTICE)
    await expect(ended.get_by_role("link", name="刷新页面")).to_be_visible()
    assert await oldest.evaluate("window.notReloaded === true"), "said on the page, not by reloading it"

    await asyncio.sleep(RECONNECT_WAIT_S)
    await expect(newest.locator("[data-live-status]")).to_have_text("实时更新中")
    await expect(oldest.locator("[data-live-status]")).to_have_text(SUPERSEDED_NOTICE)
    assert site.service.feed.subscribers == 1 and site.service.feed.stats.superseded == 1, "no tab reconnected"
    await shoot(oldest, screenshots, "desktop-access-10-console-superseded")
    await context.close()
