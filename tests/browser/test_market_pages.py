"""The market's pages in Debian's Chromium, against the demo market as `smartcity run` seeds it, with
a week and a half of the simulated scales' trading behind it (prices re-published each morning, the
simulated scales loading them and selling at them): an operator signs in, publishes a price, sees the
scales acknowledge it, and the stall screen shows it; a failed rapid test recalls a batch; a shopper
looks up a receipt's trace code and reads the price board; and a new market's first day: an operator registers a
vendor, a licence with its photo (a file that is none refused first), a stall and its scale, and publishes prices.
A screenshot of every page, at a desktop
and a phone viewport (the stall screen at its 1280×800), goes to test-artifacts/screenshots/."""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from devices.contract import ScaleRecord, UplinkModel, expected_amount_fen
from devices.simulator import SimulatedStall, TrafficGenerator
from devices.topics import Channel, DeviceKind, DeviceTopic, parse_topic, topic_for
from gateway.outputs.embedded import EmbeddedStore
from gateway.processors.decoding import Accepted, decode
from gateway.processors.points import CredentialHasher, point_for
from market.demo import seed_demo_market
from market.licences import Document, DocumentKind, StaffMember
from market.market_time import MARKET_TZ
from market.rapid_tests import TestOutcome
from market.service import MarketService, MarketSettings, PriceItem
from market.stalls import Market
from market.tracing import Batch, Certificate, CertificateType, ProductCategory, RapidTest, RapidTestResult
from messaging.downlink import RecordingDownlink, command_payload
from tests.browser.conftest import Clock
from tests.browser.market_site import market_backend, serving_market_pages
from webkit.identity import Role

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SITE = "demo"
NOW = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai, market in full swing
HISTORY_DAYS = 10
SALES_PER_DAY = 160
OPERATOR, OPERATOR_NAME, PASSWORD = "op-liu", "刘主任（市场）", "market-browser-test"
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2, "is_mobile": True,
              "has_touch": True},
}


@dataclass
class MarketSite:
    url: str
    clock: Clock
    service: MarketService
    downlink: RecordingDownlink
    generator: TrafficGenerator
    sales: list[ScaleRecord]
    """Today's sales, oldest first."""

    async def answer_pushes(self, since: int) -> int:
        """The simulated scales answer the commands sent from index ``since`` on; returns how many."""
        sent = self.downlink.sent[since:]
        answers = [self.generator.answer(topic.kind, topic.device, command_payload(command), self.clock.now)
                   for topic, command in sent]
        await self.service.handle(_accepted([(a.topic, a.payload) for a in answers if a is not None]))
        return len(sent)


def _accepted(messages: Sequence[tuple[str, bytes]]) -> list[tuple[DeviceTopic, UplinkModel]]:
    """What the gateway's decoder lets through, as the service feed hands it to the service."""
    return [(d.topic, d.message) for d in (decode(topic, payload) for topic, payload in messages)
            if isinstance(d, Accepted)]


def _drifted(price_fen: int, plu: str, day: int) -> int:
    """A price that moves from day to day (whole jiao, as price boards show)."""
    phase = int(plu) % 7 if plu.isdigit() else len(plu)
    factor = 1 + 0.07 * math.sin(day * 0.8 + phase) + 0.02 * math.cos(day * 2.1 + phase)
    return max(10, round(price_fen * factor / 10) * 10)


async def _trade(site: MarketSite, store: EmbeddedStore, opening: datetime, closing: datetime, count: int,
                 keep: bool) -> None:
    """``count`` publications of the simulated scales between opening and closing: sales into the time
    series (as the gateway stores them) and, in bursts, to the market service."""
    hasher = CredentialHasher(b"browser-test")
    step = (closing - opening) / count
    burst: list[tuple[DeviceTopic, UplinkModel]] = []
    for n in range(count):
        message = site.generator.next_message(opening + step * n)
        burst.extend(_accepted([(message.topic, message.payload)]))
        if len(burst) >= 80 or n == count - 1:
            records = [(topic, m) for topic, m in burst if isinstance(m, ScaleRecord)]
            await store.write([point_for(topic, m, 0, hasher) for topic, m in records])
            await site.service.handle(burst)
            if keep:
                site.sales.extend(m for _, m in records)
            burst = []


async def _simulate_history(site: MarketSite, store: EmbeddedStore) -> None:
    """The demo market opened HISTORY_DAYS ago; each morning it re-publishes its prices, which the
    simulated scales load and sell at until the evening."""
    for back in range(HISTORY_DAYS - 1, -1, -1):
        day = (NOW - timedelta(days=back)).astimezone(MARKET_TZ).date()
        opening = datetime.combine(day, datetime.min.time(), MARKET_TZ).replace(hour=6).astimezone(UTC)
        closing = opening + timedelta(hours=12) if back else NOW - timedelta(minutes=5)
        site.clock.now = opening
        roster = site.generator.market_roster(opening)
        sent = len(site.downlink.sent)
        await seed_demo_market(site.service, SITE, opening, roster)
        if back != HISTORY_DAYS - 1:
            items: dict[str, dict[str, PriceItem]] = {}
            for entry in roster:
                for item in entry.items:
                    items.setdefault(entry.stall, {})[item.plu] = PriceItem(
                        item.plu, item.product, _drifted(item.price_fen_per_kg, item.plu, HISTORY_DAYS - back))
            for stall, priced in sorted(items.items()):
                await site.service.publish_prices(SITE, stall, list(priced.values()), None, OPERATOR, opening)
        await site.answer_pushes(sent)
        await _trade(site, store, opening + timedelta(minutes=1), closing, SALES_PER_DAY, keep=back == 0)
    site.clock.now = NOW
    await _overcharge(site, store, site.generator.market_roster(NOW)[0])
    await _expiring_certificate(site.service)


async def _expiring_certificate(service: MarketService) -> None:
    """A helper whose health certificate runs out next week, joining the roster of the first stall with nothing
    else due (the demo market asks a certificate of everyone at every stall)."""
    overview = next(o for o in await service.stalls(SITE, NOW, 50, 0)
                    if o.vendor and o.licences.compliant and not o.licences.attention)
    assert overview.vendor is not None
    today = NOW.astimezone(MARKET_TZ).date()
    await service.add_document(SITE, overview.vendor.vendor_id, Document(
        DocumentKind.HEALTH_CERTIFICATE, "JK2025118806", today - timedelta(days=359), today + timedelta(days=6),
        holder="赵小红"), OPERATOR, NOW)
    await service.set_staff(SITE, overview.stall.stall, [*overview.staff, StaffMember("赵小红")], OPERATOR, NOW)


async def _overcharge(site: MarketSite, store: EmbeddedStore, entry: SimulatedStall) -> None:
    """One sale this morning at half a yuan above the published price: a finding for the operator."""
    item = entry.items[0]
    charged = (await site.service.price_history(SITE, entry.stall, item.plu, 1, 0))[0].unit_price_fen + 50
    at = NOW - timedelta(minutes=12)
    record = ScaleRecord(record_id="overcharged-1", ts=at, stall=entry.stall, plu=item.plu, product=item.product,
                         net_g=1500, unit_price_fen=charged, amount_fen=expected_amount_fen(1500, charged),
                         trace_code=f"{SITE}-{entry.stall}-{at.astimezone(MARKET_TZ):%Y%m%d%H%M%S}-9001",
                         batch=item.batch)
    topic = parse_topic(topic_for(SITE, DeviceKind.SCALE, entry.scale_id, Channel.RECORD))
    await store.write([point_for(topic, record, 0, CredentialHasher(b"browser-test"))])
    await site.service.handle([(topic, record)])


@pytest.fixture
async def market_site(tmp_path: Path) -> AsyncIterator[MarketSite]:
    async with market_backend(tmp_path, NOW) as backend:
        # the operator runs this market (its pages check the scope)
        await backend.add_account(OPERATOR, OPERATOR_NAME, Role.MARKET_OPERATOR, PASSWORD, markets={SITE})
        await backend.add_account("wang", "王芳", Role.RESIDENT, PASSWORD)
        service = backend.market_service()
        site = MarketSite("", backend.clock, service, backend.downlink,
                          TrafficGenerator(SITE, gates=0, scales=8, seed=7), [])
        await _simulate_history(site, backend.store)
        async with serving_market_pages(backend, service, SITE) as url:
            site.url = url
            yield site


async def shoot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"market-{name}.png"), full_page=True)


async def sign_in(page: Page, account: str, password: str) -> None:
    await page.get_by_label("账号").fill(account)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
async def test_an_operator_publishes_a_price_the_scales_ack_it_and_the_stall_screen_shows_it(
    market_site: MarketSite, browser: Browser, screenshots: Path, device: str
) -> None:
    site = market_site
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    manage = f"{site.url}/market/{SITE}/manage"

    await page.goto(manage)
    await expect(page).to_have_url(re.compile(r"/signin\?next=/market/demo/manage$"))
    await sign_in(page, OPERATOR, PASSWORD)
    await expect(page).to_have_url(manage)
    await expect(page.locator("header .who")).to_have_text(OPERATOR_NAME)
    stalls = page.locator("#stalls tbody tr")
    overviews = await site.service.stalls(SITE, NOW, 50, 0)
    await expect(stalls).to_have_count(len(overviews))
    problems = await site.service.licence_problems(SITE, NOW, 50, 0)
    assert problems, "the demo market has missing, expired or expiring documents on purpose"
    await expect(page.locator("#licence-problems tbody tr")).to_have_count(len(problems))
    await expect(page.locator("#stalls tr.bad, #stalls tr.warn").first).to_be_visible()
    await shoot(page, screenshots, f"{device}-01-stalls")

    stall = overviews[0].stall
    await page.locator(f"#stall-{stall.stall} td.name a").click()
    await expect(page).to_have_url(f"{manage}/stalls/{stall.stall}")
    await expect(page.locator("#scales [data-delivery='acked']").first).to_be_visible()
    await shoot(page, screenshots, f"{device}-02-stall")

    await page.get_by_role("link", name="发布价格").first.click()
    await expect(page).to_have_url(f"{manage}/stalls/{stall.stall}/prices")
    price = page.get_by_label("第 1 行 单价")
    product = await page.get_by_label("第 1 行 品名").input_value()
    old = await price.input_value()
    yuan, fen = old.split(".")
    new_fen = int(yuan) * 100 + int(fen) + 55
    new = f"{new_fen // 100}.{new_fen % 100:02d}"
    await price.fill(new)
    await shoot(page, screenshots, f"{device}-03-publish-form")
    await page.get_by_role("button", name="下一步：确认").click()
    await expect(page.locator("#changes")).to_contain_text(new)
    await expect(page.locator("#changes")).to_contain_text(str(new_fen))
    await shoot(page, screenshots, f"{device}-04-publish-confirm")
    sent = len(site.downlink.sent)
    await page.get_by_role("button", name="确认发布").click()
    await expect(page).to_have_url(re.compile(rf"/stalls/{stall.stall}\?published=1#scales$"))
    await expect(page.locator("[role=status]")).to_contain_text("价格已发布")
    await expect(page.locator("#scales [data-delivery='pending']").first).to_be_visible()
    await shoot(page, screenshots, f"{device}-05-published-pending")
    assert await site.answer_pushes(sent) >= 1, "the publication was pushed to the stall's scales"
    # the page refreshes itself every 5 s while a push is unanswered
    await expect(page.locator("#scales [data-delivery='pending']")).to_have_count(0, timeout=15_000)
    await expect(page.locator("#scales [data-delivery='acked']").first).to_be_visible()
    await expect(page.locator("#prices")).to_contain_text(new)
    await shoot(page, screenshots, f"{device}-06-published-acked")

    screen = await context.new_page() if device == "phone" else await browser.new_page(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 800})
    # the screen at the stall on the desktop run; its public page (the QR code's target) on the phone
    await screen.goto(f"{site.url}/market/{SITE}/stalls/{stall.stall}" + ("/screen" if device == "desktop" else ""))
    row = screen.locator("section.prices tr", has_text=product)
    await expect(row.locator(".price")).to_contain_text(new)
    if device == "desktop":
        await screen.screenshot(path=str(screenshots / "market-stall-screen.png"))
    else:
        await shoot(screen, screenshots, f"{device}-07-stall-page")
    await screen.close()

    await page.get_by_role("link", name="进货与快检").click()
    await expect(page.locator("#batches tbody tr").first).to_be_visible()
    await shoot(page, screenshots, f"{device}-08-batches")
    batch = next(b for b in await site.service.batches(SITE, stall.stall, 50, 0) if b.block is None)
    await page.goto(f"{manage}/batches/{batch.batch_id}")
    await expect(page.locator("#balance")).to_contain_text("已售")
    item = page.get_by_label("检测项目")
    await item.select_option(index=1)  # the first standard item of the batch's category
    cutoff = re.search(r"判定值 ([0-9.]+) (\S+)）", await page.locator("#test-item option:checked").inner_text())
    assert cutoff is not None
    value, unit = str(Decimal(cutoff[1]) * 2), cutoff[2]  # twice the cutoff: positive
    await page.get_by_label("检测值").fill(value)
    await page.get_by_label("单位").select_option(unit)
    await page.get_by_label("检测人").fill("快检员周敏")
    await page.get_by_text("经营者对阳性结果无异议").click()
    await page.get_by_role("button", name="记录快检结果").click()
    await expect(page.locator("[role=status]")).to_contain_text("快检不合格，批次已自动封控")
    await expect(page.locator("#blocked")).to_contain_text("已封控 · 停止销售")
    await expect(page.locator("#recall [data-scale]").first).to_be_visible()
    assert (await site.service.batch_detail(SITE, batch.batch_id)).batch.block is not None
    await shoot(page, screenshots, f"{device}-09-batch-recalled")

    await page.get_by_role("link", name=re.compile("问题线索")).click()
    await expect(page.locator("#findings .finding").first).to_be_visible()
    await shoot(page, screenshots, f"{device}-10-findings")
    await context.close()


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
async def test_a_shopper_looks_up_a_receipt_and_reads_the_price_board(
    market_site: MarketSite, browser: Browser, screenshots: Path, device: str
) -> None:
    site = market_site
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    sale = next(s for s in reversed(site.sales) if s.batch)
    found = await site.service.trace(SITE, sale.trace_code)
    assert found is not None and found.batch is not None and found.tests

    await page.goto(site.url + "/")
    await page.get_by_role("link", name="溯源查询").first.click()
    await expect(page).to_have_url(f"{site.url}/market/{SITE}/trace")
    await page.get_by_label("追溯码").fill(sale.trace_code)
    await page.get_by_role("button", name="查询").click()
    await expect(page).to_have_url(f"{site.url}/market/{SITE}/trace/{sale.trace_code}")
    await expect(page.locator("#sale")).to_contain_text(sale.product or sale.plu)
    await expect(page.locator("#batch")).to_contain_text(found.batch.supplier)
    await expect(page.locator("#batch")).to_contain_text(found.batch.origin_name)
    tested = found.tests[0]
    assert tested.result is RapidTestResult.PASS, "the demo's batches passed their rapid tests"
    result = page.locator(f'#tests tr[data-item="{tested.item}"] [data-result]')
    await expect(result).to_have_text("阴性")  # a rapid test's outcome (negative), as the test board words it
    await expect(result).to_have_attribute("data-result", "pass")
    await expect(page.locator("#result .verdict").nth(1)).to_contain_text(re.compile(r"快检\s*合格$"))
    await shoot(page, screenshots, f"{device}-11-trace")

    await page.get_by_label("追溯码").fill("demo-X99-00000000000000-0000")
    await page.get_by_role("button", name="查询").click()
    await expect(page.locator("#result [role=alert]")).to_contain_text("没有找到追溯码")
    await shoot(page, screenshots, f"{device}-12-trace-unknown")

    await page.get_by_role("link", name="价格公示").first.click()
    await expect(page).to_have_url(f"{site.url}/market/{SITE}/prices")
    board = page.locator("#board tbody tr")
    lines = (await site.service.price_board(SITE, NOW))[1]
    await expect(board).to_have_count(len(lines))
    await expect(page.locator(".product .chart svg").first).to_be_visible()
    assert await page.locator(".product .chart svg").count() >= len(lines) // 2, "most products have a trend"
    await shoot(page, screenshots, f"{device}-13-price-board")
    await page.get_by_role("link", name="近 14 天").click()
    await expect(page).to_have_url(re.compile(r"/prices\?days=14#trends$"))
    await expect(page.locator(".choices a[aria-current=true]")).to_have_text("近 14 天")
    await page.locator("#trends").scroll_into_view_if_needed()
    await page.evaluate("window.scrollBy(0, -24)")
    await page.screenshot(path=str(screenshots / f"market-{device}-14-price-trends.png"))
    await context.close()


LONG_SUPPLIER = "寿光市洛城街道三元朱村蔬菜种植专业合作社联合社第二生产基地"
TEST_ITEMS = ("农药残留", "克伦特罗", "莱克多巴胺", "沙丁胺醇", "孔雀石绿", "氯霉素")


async def _crowd_the_stall(site: MarketSite, stall: str) -> tuple[int, int]:
    """More prices and batches than the 1280×800 screen holds (batches with several tests, one recalled);
    returns how many prices and batches the stall then shows."""
    await site.service.publish_prices(SITE, stall, [PriceItem(f"0{n:03d}", f"时令蔬菜第{n}号（山东寿光大棚直供精选）",
                                                              300 + n * 7) for n in range(24)], None, OPERATOR, NOW)
    for n in range(9):
        batch = Batch(f"B-crowd-{n}", stall, f"0{n:03d}", f"时令蔬菜第{n}号", LONG_SUPPLIER, "370783",
                      "山东省潍坊市寿光市", 20_000, (Certificate(CertificateType.COMMITMENT, f"SC-2026-{n:04d}"),),
                      NOW - timedelta(hours=3, minutes=n), category=ProductCategory.VEGETABLES)
        await site.service.receive_batch(SITE, batch, OPERATOR, NOW)
        for item in TEST_ITEMS[: 1 + 5 * (n == 0) + n % 3]:  # the first batch with six tests
            result = TestOutcome.POSITIVE if n == 4 and item == "农药残留" else TestOutcome.NEGATIVE
            await site.service.record_test(SITE, RapidTest(batch.batch_id, item, "胶体金法", result, "阴性", "周敏",
                                                           NOW - timedelta(hours=2)), OPERATOR, NOW)
    display = await site.service.stall_display(SITE, stall, NOW)
    return len(display.prices), len(display.batches)


async def test_the_stall_screen_counts_what_it_cannot_show_and_its_qr_code_fits_its_box(
    market_site: MarketSite, browser: Browser, screenshots: Path
) -> None:
    site = market_site
    stall = site.generator.market_roster(NOW)[0].stall
    prices, batches = await _crowd_the_stall(site, stall)
    page = await browser.new_page(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 800})
    await page.goto(f"{site.url}/market/{SITE}/stalls/{stall}/screen")

    qr = page.locator("footer .qr svg")
    await expect(qr).to_have_attribute("viewBox", re.compile(r"^0 0 (\d+) \1$"))
    box = await qr.bounding_box()
    assert box is not None and (box["width"], box["height"]) == (104, 104)
    drawn = await qr.evaluate("""svg => {
        const view = svg.viewBox.baseVal, shown = svg.getBoundingClientRect(), code = svg.getBBox();
        return {view: [view.width, view.height], code: [code.x, code.y, code.width, code.height],
                scale: shown.width / view.width};
    }""")
    side = drawn["view"][0]
    assert drawn["code"] == [0, 0, side, side], "the code and its quiet zone fill the view box, nothing outside"
    assert abs(drawn["scale"] * side - 104) < 0.5, "the whole code is scaled into the box, not cropped"

    await page.screenshot(path=str(screenshots / "market-stall-screen-crowded.png"))
    for column, total in (("prices", prices), ("tests", batches)):
        section = page.locator(f"section.{column}")
        more = section.locator(".more")
        shown = await section.locator("tr:has(td)").count()
        assert 0 < shown < total
        await expect(more).to_have_text(re.compile(rf"^另有 {total - shown} 项"))
        limit = await section.evaluate("s => s.getBoundingClientRect().bottom")
        bottoms = await section.locator("tr:has(td), .more").evaluate_all(
            "nodes => nodes.map(n => n.getBoundingClientRect().bottom)")
        assert max(bottoms) <= limit, f"{column}: every row shown is whole ({bottoms} within {limit})"
        assert await section.evaluate("s => s.scrollWidth <= s.clientWidth"), f"{column}: nothing cut at the side"

    await page.goto(f"{site.url}/market/{SITE}/stalls/{stall}")  # the QR code's target shows everything
    await expect(page.locator("section.prices tr:has(td)")).to_have_count(prices)
    await expect(page.locator("section.tests tr:has(td)")).to_have_count(batches)
    await expect(page.locator(".more")).to_have_count(0)
    await page.close()


# --- a new market's first day: vendor, licence with its scan, stall, scale, prices --------------------------

NEW_SITE = "xinshi"


def _png(width: int = 48, height: int = 32) -> bytes:
    """A real PNG (a grey card with a darker band), standing in for a photo of a licence."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([0x50 if 10 <= y < 16 else 0xd0]) * width for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@dataclass
class NewMarket:
    url: str
    service: MarketService
    downlink: RecordingDownlink
    scans: Path


@pytest.fixture
async def new_market(tmp_path: Path) -> AsyncIterator[NewMarket]:
    """A market just created, with nothing in it, and its operator."""
    async with market_backend(tmp_path, NOW) as backend:
        await backend.add_account(OPERATOR, OPERATOR_NAME, Role.MARKET_OPERATOR, PASSWORD, markets={NEW_SITE})
        scans = tmp_path / "var" / "market-scans"
        service = backend.market_service(MarketSettings(scan_dir=scans))
        await service.create_market(Market(NEW_SITE, "新市农贸市场", "北京市海淀区新市路 1 号", "12315"), NOW)
        async with serving_market_pages(backend, service, NEW_SITE) as url:
            yield NewMarket(url, service, backend.downlink, scans)


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
async def test_an_operator_opens_a_new_market_vendor_licence_scan_stall_scale_and_prices(
    new_market: NewMarket, browser: Browser, screenshots: Path, device: str, tmp_path: Path
) -> None:
    site = new_market
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    manage = f"{site.url}/market/{NEW_SITE}/manage"
    shot = f"{device}-20"
    await page.goto(manage)
    await sign_in(page, OPERATOR, PASSWORD)
    await expect(page).to_have_url(manage)
    await expect(page.locator("#stalls")).to_contain_text("还没有登记摊位")

    await page.get_by_role("link", name="登记经营者").click()
    await expect(page.locator("#new-vendor")).to_have_attribute("open", "")
    await page.get_by_label("姓名或名称").fill("张小梅")
    await page.get_by_label("联系电话（选填，不公开）").fill("13912345678")
    await shoot(page, screenshots, f"{shot}-01-add-vendor")
    await page.get_by_role("button", name="登记经营者").click()
    await expect(page.locator("[role=status]")).to_contain_text("经营者已登记")
    await expect(page.locator("#vendor [data-phone]")).to_contain_text("13912345678")

    photo, not_a_photo = tmp_path / "营业执照.png", tmp_path / "licence.png"
    photo.write_bytes(_png())
    not_a_photo.write_text("这不是图片")
    await page.get_by_label("证照类型").select_option("business_licence")
    await page.get_by_label("证照编号").fill("91440300708461136T")
    await page.get_by_label("生效日期").fill("2025-03-01")
    await page.get_by_label("扫描件或照片").set_input_files(not_a_photo)
    await page.get_by_role("button", name="录入证照").click()
    await expect(page.locator("#document-scan-problem")).to_contain_text("只接受 JPEG、PNG 照片或 PDF 文件")
    await expect(page.get_by_label("证照编号")).to_have_value("91440300708461136T")
    await shoot(page, screenshots, f"{shot}-02-scan-refused")
    assert not any(site.scans.rglob("*.*")), "a refused file is not kept"
    await page.get_by_label("扫描件或照片").set_input_files(photo)
    await page.get_by_role("button", name="录入证照").click()
    await expect(page.locator("[role=status]")).to_contain_text("证照已登记")
    row = page.locator("#documents tbody tr").first
    await expect(row.locator("[data-scan]")).to_have_attribute("data-scan", "image/png")
    await expect(row.locator("img.scan-thumb")).to_be_visible()
    assert await row.locator("img.scan-thumb").evaluate("img => img.naturalWidth") == 48, "the kept scan is shown"
    await shoot(page, screenshots, f"{shot}-03-vendor-with-licence")

    await page.get_by_role("link", name="为该经营者登记摊位").click()
    await expect(page.locator("#new-stall")).to_have_attribute("open", "")
    await expect(page.locator("#stall-vendor_id")).to_have_value(re.compile(r"^V[0-9A-F]{6}$"))
    await page.get_by_label("摊位编号").fill("A01")
    await page.get_by_label("摊位名称").fill("小梅蔬菜")
    await page.get_by_label("经营类别").select_option("vegetables")
    await shoot(page, screenshots, f"{shot}-04-add-stall")
    await page.get_by_role("button", name="登记摊位").click()
    await expect(page).to_have_url(re.compile(r"/stalls/A01\?notice=added$"))
    await expect(page.locator("#vendor")).to_contain_text("张小梅")

    await page.get_by_label("登记电子秤：设备编号").fill("scale-a01")
    await page.get_by_role("button", name="登记电子秤").click()
    await expect(page.locator("[role=status]")).to_contain_text("电子秤已登记")
    await expect(page.locator("#scale-scale-a01")).to_contain_text("尚未下发")
    await shoot(page, screenshots, f"{shot}-05-scale-registered")

    await page.locator("#scales").get_by_role("link", name="发布价格").click()
    await page.get_by_label("第 1 行 商品编码").fill("1001")
    await page.get_by_label("第 1 行 品名").fill("西红柿")
    await page.get_by_label("第 1 行 单价").fill("6.80")
    await page.get_by_role("button", name="下一步：确认").click()
    await expect(page.locator("#changes")).to_contain_text("680")
    await page.get_by_role("button", name="确认发布").click()
    await expect(page.locator("[role=status]").first).to_contain_text("价格已发布")
    await expect(page.locator("#scale-scale-a01 [data-delivery='pending']")).to_be_visible()
    await shoot(page, screenshots, f"{shot}-06-prices-published")
    assert [command.op for command in site.downlink.commands_to("scale-a01")] == ["set_prices"]
    await context.close()
