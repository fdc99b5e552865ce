"""The district view in Debian's Chromium: a district market-supervision office's supervisor signs in, follows the
navigation's 辖区概览 to the table of both markets of the office (the third market, another office's, is not in
it) with each market's vendors graded C and D, drills down to a market — where the stall of a vendor graded D is
listed with its grade — to the stall with the failed rapid test, on to the batch's operator page, and downloads the
district's test list as CSV. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from market.service import MarketSettings
from tests.browser.market_site import market_backend, serving_market_pages
from tests.integration.district_markets import NAMES, NOW, A, B, C, seed, seed_failing_vendor
from webkit.identity import Role

pytestmark = pytest.mark.browser

SUPERVISOR, PASSWORD = "jianguan-wu", "district-browser-test"


@pytest.fixture
async def district_site(tmp_path: Path) -> AsyncIterator[str]:
    """Three markets, each with a vendor graded C; the supervisor's office oversees the first two, the first of
    which has a vendor graded D too."""
    async with market_backend(tmp_path, NOW) as backend:
        await backend.add_account(SUPERVISOR, "吴监管员", Role.SUPERVISOR, PASSWORD, markets={A, B})
        service = backend.market_service(MarketSettings(
            scan_dir=tmp_path / "var" / "scans", complaint_dir=tmp_path / "var" / "complaints"))
        for site in (A, B, C):
            await seed(service, site)
        await seed_failing_vendor(service, A)
        async with serving_market_pages(backend, service, A) as url:
            yield url


async def shoot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"district-{name}.png"), full_page=True)


async def test_a_supervisor_drills_down_from_the_district_to_a_failed_test_and_downloads_it(
        district_site: str, browser: Browser, screenshots: Path) -> None:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True,
                                        viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    await page.goto(f"{district_site}/signin")
    await page.get_by_label("账号").fill(SUPERVISOR)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.get_by_role("link", name="辖区概览").first.click()
    await expect(page.locator("h1")).to_have_text("辖区概览")
    markets = page.locator("#markets")
    await expect(markets.locator(f"#market-{A}")).to_contain_text(NAMES[A])
    await expect(markets.locator(f"#market-{B}")).to_contain_text(NAMES[B])
    await expect(markets).not_to_contain_text(NAMES[C])
    await expect(page.locator("#district-totals td[data-label=快检不合格]")).to_have_text("2")
    assert await page.locator("#trends svg").count() == 3
    for site, graded_c, graded_d in ((A, "1", "1"), (B, "1", "0")):
        await expect(markets.locator(f"#market-{site} td[data-label=信用C级经营者]")).to_have_text(graded_c)
        await expect(markets.locator(f"#market-{site} td[data-label=信用D级经营者]")).to_have_text(graded_d)
    await expect(page.locator("#district-totals td[data-label=信用C级经营者]")).to_have_text("2")  # not the third's
    await expect(page.locator("#district-totals td[data-label=信用D级经营者]")).to_have_text("1")
    await shoot(page, screenshots, "01-district")

    await page.get_by_role("link", name="近12周（按周）").click()
    await expect(page.locator(".choices a[aria-current=true]")).to_have_text("近12周（按周）")
    await markets.get_by_role("link", name=NAMES[A]).click()
    await expect(page.locator("h1")).to_have_text("监管概览")
    stall = page.locator("#stall-A01")
    await expect(stall.locator("td[data-label=快检不合格]")).to_have_text("1")
    await expect(stall.locator("td[data-label=经营者信用]")).to_have_text("C 诚信警示")
    await expect(page.locator("#stall-A03 td[data-label=经营者信用]")).to_have_text("D 失信经营")
    await expect(page.locator("#market-totals [data-grade-count=D]")).to_have_text("1")
    await shoot(page, screenshots, "02-market")
    await stall.get_by_role("link").click()
    failed = page.locator("#tests tr.bad")
    await expect(failed).to_contain_text("B-A1")
    await expect(failed).to_contain_text("阳性")
    await expect(page.locator("#licences")).to_contain_text("已过期")
    await shoot(page, screenshots, "03-stall")
    await failed.get_by_role("link", name="B-A1").click()
    await expect(page).to_have_url(f"{district_site}/market/{A}/manage/batches/B-A1")
    await expect(page.locator("h1")).to_contain_text("B-A1")

    await page.goto(f"{district_site}/market/district")
    async with page.expect_download() as started:
        await page.locator("#exports").get_by_role("link", name="快检问题").click()
    download = await started.value
    assert download.suggested_filename == "district-tests-30d-2026-11-23.csv"
    body = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:4] == ["市场编号", "市场名称", "摊位号", "摊位名称"]
    assert sorted((row[0], row[2], row[5]) for row in rows[1:]) == [
        (B, "N01", "B-N1"), (B, "N02", "B-N2"), (A, "A01", "B-A1"), (A, "A02", "B-A2")]
    await context.close()
