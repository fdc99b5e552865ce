"""The console in Debian's Chromium when its live feed has a gap it cannot fill: the stream is dropped for falling
behind while more happens than the feed keeps, the browser reconnects by itself, and the console says
"有遗漏，请刷新" instead of looking complete."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from accounts.demo import DEMO_PASSWORD
from community.access.live_feed import FeedItem
from tests.browser.access_compound import MANAGER, SITE, AccessSite
from tests.browser.test_resident_votes import VIEWPORTS, shoot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


async def test_the_console_says_when_it_missed_what_cannot_be_replayed(
    access_site: AccessSite, browser: Browser, screenshots: Path
) -> None:
    site = access_site
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS["desktop"])  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(site.url + "/access/console")
    await sign_in(page, MANAGER, DEMO_PASSWORD)
    await expect(page.locator("[data-live-status]")).to_have_text("实时更新中")
    await page.evaluate("window.notReloaded = true")

    feed = site.service.feed
    # more than the console's queue at once (it is dropped and reconnects), and more than the feed keeps for replay
    for _ in range(feed.replay_size + feed.queue_size):
        feed.publish(FeedItem("gate", SITE, "gate-01", {"whitelist_version": 1, "in_sync": True}))

    await expect(page.locator("[data-live-status]")).to_have_text("有遗漏，请刷新", timeout=20_000)
    gap = page.locator("[data-feed-gap]")
    await expect(gap).to_contain_text("有遗漏，请刷新")
    await expect(gap.get_by_role("link", name="刷新页面")).to_be_visible()
    assert await page.evaluate("window.notReloaded === true"), "said on the page, not by reloading it"
    await shoot(page, screenshots, "desktop-access-09-console-gap")
    await context.close()
