"""The complaint journey in Debian's Chromium: a shopper on a phone opens a receipt's trace page, files a short-weight
complaint about that purchase (with a photo, a script in the text), and gets a reference; the operator, on a desktop,
finds it, sees the scale's record of the sale (weight, price, amount), resolves it; the outcome shows on the stall's
public page, anonymised. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from devices.contract import Payment, ScaleRecord
from devices.topics import Channel, DeviceKind, parse_topic, topic_for
from market.licences import StallType
from market.service import MarketService, MarketSettings, PriceItem
from market.stalls import Market, Stall, Vendor
from market.tracing import Batch, Certificate, CertificateType
from tests.browser.market_site import market_backend, serving_market_pages
from webkit.identity import Role

pytestmark = pytest.mark.browser

SITE = "demo"
NOW = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai
OPERATOR, PASSWORD = "op-liu", "market-browser-test"
TRACE_CODE = "demo-A03-20261123101500-0007"
SCRIPT = "<script>document.title='pwned'</script>"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 4000
PHONE = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@dataclass
class ComplaintSite:
    url: str
    service: MarketService
    photos: Path


@pytest.fixture
async def complaint_site(tmp_path: Path) -> AsyncIterator[ComplaintSite]:
    """A market with one stall, its scale, a price, a batch and one sale (the shopper's receipt)."""
    async with market_backend(tmp_path, NOW) as backend:
        await backend.add_account(OPERATOR, "刘主任（市场）", Role.MARKET_OPERATOR, PASSWORD, markets={SITE})
        photos = tmp_path / "var" / "market-complaints"
        service = backend.market_service(MarketSettings(complaint_dir=photos))
        await service.create_market(Market(SITE, "东风农贸市场", "北京市朝阳区东风路 8 号", "12315"), NOW)
        await service.add_vendor(SITE, Vendor("v-wang", "王建国", None, None), NOW)
        await service.add_stall(SITE, Stall("A03", "王记蔬菜", StallType.VEGETABLES, "v-wang"), NOW)
        await service.register_scale(SITE, "scale-01", "A03", NOW)
        await service.publish_prices(SITE, "A03", [PriceItem("1001", "西红柿", 680)], None, OPERATOR,
                                     NOW - timedelta(hours=3))
        certificate = Certificate(CertificateType.COMMITMENT, "CD-1")
        await service.receive_batch(SITE, Batch("B1", "A03", "1001", "西红柿", "寿光蔬菜合作社", "370783",
                                                "山东省寿光市", 50_000, (certificate,), NOW - timedelta(hours=5)),
                                    OPERATOR, NOW)
        sale = ScaleRecord(record_id="r-7", ts=NOW - timedelta(minutes=15), stall="A03", plu="1001", product="西红柿",
                           net_g=1250, unit_price_fen=680, amount_fen=850, trace_code=TRACE_CODE, batch="B1",
                           payment=Payment.WECHAT)
        await service.handle([(parse_topic(topic_for(SITE, DeviceKind.SCALE, "scale-01", Channel.RECORD)), sale)])
        async with serving_market_pages(backend, service, SITE) as url:
            yield ComplaintSite(url, service, photos)


async def shoot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"complaint-{name}.png"), full_page=True)


async def fits_the_width(page: Page) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


async def test_a_short_weight_complaint_from_a_receipt_is_resolved_and_published(
        complaint_site: ComplaintSite, browser: Browser, screenshots: Path, tmp_path: Path) -> None:
    site = complaint_site
    shopper = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **PHONE)  # type: ignore[arg-type]
    page = await shopper.new_page()
    await page.goto(f"{site.url}/market/{SITE}/trace/{TRACE_CODE}")
    await expect(page.locator("#sale")).to_contain_text("1.25 公斤")
    await page.locator("#complain").click()
    await expect(page.get_by_label("小票追溯码")).to_have_value(TRACE_CODE)
    assert await fits_the_width(page), "the form fits a phone"
    await page.get_by_label("投诉类别").select_option("short_weight")
    await page.get_by_label("情况说明").fill(f"回家复称只有 1.1 公斤，少了 150 克。{SCRIPT}")
    photo = tmp_path / "scale.jpg"
    photo.write_bytes(JPEG)
    await page.get_by_label("照片（可选）").set_input_files(str(photo))
    await shoot(page, screenshots, "01-form-phone")
    await page.get_by_role("button", name="提交投诉").click()
    await expect(page.locator("#filed")).to_contain_text("投诉已受理")
    reference = (await page.locator("[data-reference]").inner_text()).strip()
    assert re.fullmatch(r"TS[2-9A-HJ-NP-Z]{10}", reference)
    await expect(page.locator("#state [data-state]")).to_have_text("已受理")
    assert await page.title() != "pwned"
    await shoot(page, screenshots, "02-filed-phone")

    operator = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                         viewport={"width": 1280, "height": 900})
    desk = await operator.new_page()
    await desk.goto(f"{site.url}/market/{SITE}/manage/complaints")
    await desk.get_by_label("账号").fill(OPERATOR)
    await desk.get_by_label("密码").fill(PASSWORD)
    await desk.get_by_role("button", name="登录").click()
    await expect(desk.locator("#complaints")).to_contain_text(reference)
    await desk.get_by_role("link", name=reference).click()
    record = desk.locator("#scale-record")
    await expect(record.locator("[data-fact=weight]")).to_contain_text("1.25 公斤（1250 克）")
    await expect(record.locator("[data-fact=price]")).to_contain_text("6.80 元/公斤")
    await expect(record.locator("[data-fact=amount]")).to_contain_text("8.50 元")
    await expect(desk.locator(".complaint-text")).to_contain_text(SCRIPT)  # shown as text, not run
    assert await desk.title() != "pwned"
    await expect(desk.get_by_role("link", name=re.compile("下载照片"))).to_be_visible()
    await shoot(desk, screenshots, "03-operator-desktop")
    await desk.get_by_label("处理方式").select_option("start")
    await desk.get_by_role("button", name="保存").click()
    await expect(desk.locator("#complaint [data-state]")).to_contain_text("处理中")
    await desk.get_by_label("处理方式").select_option("resolve")
    await desk.get_by_role("button", name="保存").click()
    await expect(desk.locator("#handle-outcome-problem")).to_contain_text("请填写处理结果")
    outcome = "经复秤确认少 150 克，已退还差价 1.02 元，并对经营者进行约谈。"
    await desk.get_by_label(re.compile("处理结果")).fill(outcome)
    await desk.get_by_role("button", name="保存").click()
    await expect(desk.locator("#handle-conclusion-problem")).to_contain_text("请选择核实结论")
    await expect(desk.get_by_label(re.compile("处理结果"))).to_have_value(outcome)  # kept as typed
    await desk.get_by_label("核实结论").select_option("upheld")
    await desk.get_by_role("button", name="保存").click()
    await expect(desk.locator("#complaint [data-state]")).to_contain_text("已办结")
    await expect(desk.locator("#complaint [data-conclusion]")).to_have_text("投诉属实（查实）")
    await shoot(desk, screenshots, "04-resolved-desktop")

    await page.goto(f"{site.url}/market/{SITE}/stalls/A03")
    outcomes = page.locator("#complaint-outcomes")
    await expect(outcomes).to_contain_text("短斤少两")
    await expect(outcomes).to_contain_text("已退还差价 1.02 元")
    await expect(outcomes.locator("[data-conclusion=upheld]")).to_have_text("投诉属实（查实）")
    content = await page.content()
    assert "少了 150 克" not in content and reference not in content and TRACE_CODE not in content, "anonymised"
    assert await fits_the_width(page)
    await shoot(page, screenshots, "05-stall-page-phone")
    await page.goto(f"{site.url}/market/{SITE}/complaints/status/{reference}")
    await expect(page.locator("#state [data-state]")).to_have_text("已办结")
    await shopper.close()
    await operator.close()
    assert [p.suffix for p in site.photos.rglob("*.jpg")] == [".jpg"], "the photo is kept, named by the store"
