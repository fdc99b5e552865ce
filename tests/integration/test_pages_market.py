"""The market's pages over HTTP, on both databases: what each page shows, the guard by role, CSRF,
publishing prices through a confirmation to the scales and their acks, exact yuan → fen, batches,
rapid tests and recall with the forward trace, findings, the public board and trace lookup (and what
they must not reveal), and every refusal as a message on a page."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from devices.contract import CommandAck, Payment, ScaleRecord
from devices.scale_commands import BLOCK_BATCH, SET_PRICES, UNBLOCK_BATCH
from devices.topics import Channel, DeviceKind, parse_topic, topic_for
from gateway.outputs import StoreRejected, StoreUnavailable
from gateway.outputs.embedded import EmbeddedStore
from gateway.processors.points import CredentialHasher, point_for
from market.findings import FindingKind
from market.licences import Document, DocumentKind, LicencePolicy, StaffMember, StallType
from market.pages import mount_market_pages
from market.rapid_tests import TestOutcome
from market.rate_limit import RateLimit
from market.service import MarketService, MarketSettings, NotFound, PriceItem
from market.stalls import Market, Stall, Vendor
from market.tracing import Batch, BlockCause, Certificate, CertificateType, RapidTest
from messaging.downlink import RecordingDownlink
from tests.integration.helpers import HTML, PageSession
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TODAY = date(2026, 11, 23)
AUTHORITY = TokenAuthority(b"k" * 32)
PASSWORD = "market-pages-test"
SITE = "xinfadi"
MANAGE = f"/market/{SITE}/manage"
BATCH_ID = "B20261123-A03-01"
SUPPLIER_PHONE = "13900000000"
VENDOR_PHONE = "13800000000"
TESTER = "快检员周敏"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = f"/market/{SITE}/prices"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    clock: Clock
    service: MarketService
    downlink: RecordingDownlink
    store: EmbeddedStore

    async def sell(self, scale: str, record: ScaleRecord) -> None:
        """A sale as the gateway sees it: into the time series, and to the market service."""
        topic = parse_topic(topic_for(SITE, DeviceKind.SCALE, scale, Channel.RECORD))
        await self.store.write([point_for(topic, record, 0, CredentialHasher(b"k"))])
        await self.service.handle([(topic, record)])

    async def ack(self, scale: str, cmd_id: str, ok: bool = True, **fields: Any) -> None:
        topic = parse_topic(topic_for(SITE, DeviceKind.SCALE, scale, Channel.ACK))
        await self.service.handle([(topic, CommandAck(cmd_id=cmd_id, ok=ok, **fields))])


def words(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def field_problem(page: str, field_id: str) -> str:
    """What the page says is wrong next to the field ``field_id`` (``<form prefix>-<name>``)."""
    found = re.search(rf'id="{re.escape(field_id)}-problem">(.*?)</div>', page, re.S)
    assert found is not None, f"no problem shown next to {field_id}"
    return words(found[1])


def section(page: str, element_id: str) -> str:
    """The element with ``element_id``, up to its own closing tag (same-name tags inside counted)."""
    start = page.rindex("<", 0, page.index(f'id="{element_id}"'))
    tag = re.match(r"<(\w+)", page[start:])
    assert tag is not None
    depth = 0
    for found in re.finditer(rf"<(/?){tag[1]}\b", page[start:]):
        depth += -1 if found[1] else 1
        if depth == 0:
            return page[start:start + found.end()]
    return page[start:]


def record(n: int, at: datetime, fen: int = 680, stall: str = "A03", plu: str = "1001", product: str = "西红柿",
           net_g: int = 1250, amount_fen: int | None = None, batch: str | None = None) -> ScaleRecord:
    return ScaleRecord(record_id=f"r-{n}", ts=at, stall=stall, plu=plu, product=product, net_g=net_g,
                       unit_price_fen=fen, amount_fen=amount_fen if amount_fen is not None else (net_g * fen + 500)
                       // 1000, trace_code=f"{SITE}-{stall}-{n:04d}", batch=batch, payment=Payment.WECHAT)


async def seed(service: MarketService) -> None:
    """A market asking a health certificate of everyone at every stall (beyond the law), three stalls: A03
    (vegetables) complete, its one person's certificate expiring in 8 days; A04 (pre-packaged food) without its
    filing and its person's certificate expired; B01 (meat) with no vendor and nobody on its roster; two scales at
    A03; prices; one batch with a passing test."""
    await service.create_market(Market(SITE, "新发地农贸市场", "北京市丰台区新发地", "12315",
                                       LicencePolicy(health_certificate_every_stall=True)), NOW)
    await service.add_vendor(SITE, Vendor("v-wang", "王建国", None, VENDOR_PHONE), NOW)
    for document in (Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T", date(2020, 1, 1)),
                     Document(DocumentKind.FOOD_FILING, "YB11010600012345", date(2024, 1, 1)),
                     Document(DocumentKind.HEALTH_CERTIFICATE, "JK-2026-0042", date(2025, 12, 2), date(2026, 12, 1),
                              holder="王建国")):
        await service.add_document(SITE, "v-wang", document, "op-liu", NOW)
    await service.add_vendor(SITE, Vendor("v-li", "李秀英", None, None), NOW)
    for document in (Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T", date(2021, 3, 1)),
                     Document(DocumentKind.HEALTH_CERTIFICATE, "JK-2025-0007", date(2025, 11, 2), date(2026, 11, 1),
                              holder="李秀英")):
        await service.add_document(SITE, "v-li", document, "op-liu", NOW)
    await service.add_stall(SITE, Stall("A03", "王记蔬菜", StallType.VEGETABLES, "v-wang"))
    await service.add_stall(SITE, Stall("A04", "老李副食", StallType.PREPACKAGED_FOOD, "v-li"))
    await service.add_stall(SITE, Stall("B01", "鲜肉铺", StallType.MEAT, None))
    await service.set_staff(SITE, "A03", [StaffMember("王建国", handles_ready_to_eat=False)], "op-liu", NOW)
    await service.set_staff(SITE, "A04", [StaffMember("李秀英", handles_ready_to_eat=False)], "op-liu", NOW)
    await service.publish_prices(SITE, "A03", [PriceItem("1001", "西红柿", 680), PriceItem("1002", "大白菜", 200)],
                                 None, "op-liu", NOW - timedelta(hours=4))
    await service.publish_prices(SITE, "A04", [PriceItem("1001", "西红柿", 700)], None, "op-liu",
                                 NOW - timedelta(hours=4))
    await service.register_scale(SITE, "scale-01", "A03", NOW - timedelta(hours=3))
    await service.register_scale(SITE, "scale-02", "A03", NOW - timedelta(hours=3))
    await service.receive_batch(SITE, Batch(BATCH_ID, "A03", "1001", "西红柿", "寿光蔬菜合作社", "370783",
                                            "山东省寿光市", 50_000,
                                            (Certificate(CertificateType.COMMITMENT, "CD-2026-1123"),),
                                            NOW - timedelta(hours=5), SUPPLIER_PHONE), "op-liu", NOW)
    await service.record_test(SITE, RapidTest(BATCH_ID, "农药残留", "酶抑制率法", TestOutcome.NEGATIVE, "抑制率 12%",
                                              TESTER, NOW - timedelta(hours=4)), "op-liu", NOW)


@pytest.fixture
async def site(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Site]:
    async with opened_site(engine, tmp_path) as opened:
        yield opened


@asynccontextmanager
async def opened_site(engine: AsyncEngine, tmp_path: Path, **settings: Any) -> AsyncIterator[Site]:
    """The market pages on a seeded market (:func:`seed`), with an operator, a resident and an administrator;
    ``settings``: the market's settings beyond the defaults here."""
    clock, downlink = Clock(), RecordingDownlink()
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    accounts = AccountService(engine)
    for account, name, roles in (("op-liu", "刘主任", (Role.MARKET_OPERATOR,)), ("wang", "王芳", (Role.RESIDENT,)),
                                 ("root", "管理员", (Role.ADMIN,))):
        await accounts.create_account(account, name, roles, PASSWORD, NOW)
    async with engine.begin() as connection:  # the operator runs this market (the pages check the scope)
        await AccountRepository(connection).assign("op-liu", Scope(markets=frozenset({SITE})))
    service = MarketService(engine, downlink, store, clock, MarketSettings(**{
        "trace_rate": RateLimit(capacity=5, refill_per_minute=1), "public_base_url": "https://market.example.cn",
        **settings}))
    await seed(service)
    downlink.sent.clear()  # the pushes of the seeded prices: each test watches what it sends itself
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_market_pages(app, service, SITE, AUTHORITY, clock)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, clock, service, downlink, store)
    await store.close()


# --- who may see what ----------------------------------------------------------------------------

async def test_operator_pages_need_a_market_operator_and_public_pages_need_nobody(site: Site) -> None:
    redirect = await site.client.get(MANAGE, headers=HTML, allow_redirects=False)
    assert redirect.status == 303 and redirect.headers["Location"] == f"/signin?next={quote(MANAGE)}"
    for path in (f"/market/{SITE}/prices", f"/market/{SITE}/trace"):
        page = await site.page(path)
        assert "市场管理" not in page, "the operator's link is not shown to the public"
    await site.sign_in("wang")
    refused = await site.page(MANAGE, status=403)
    assert "没有权限" in refused
    await site.page(f"{MANAGE}/batches/{BATCH_ID}", status=403)
    await site.sign_in("root")
    await site.page(MANAGE)
    await site.sign_in("op-liu")
    landing = await site.page(MANAGE)
    assert f'href="{MANAGE}" aria-current="page"' in landing and "价格公示" in landing and "溯源查询" in landing


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    await site.sign_in("op-liu")
    for path, data in ((f"{MANAGE}/stalls/A03/prices", {"action": "confirm", "plu.0": "1001", "product.0": "西红柿",
                                                        "price.0": "9.90"}),
                       (f"{MANAGE}/batches/{BATCH_ID}/recall", {"reason": "test", "confirm": "yes"})):
        for token in (None, "forged"):
            fields = [("csrf_token", token)] if token else []
            response = await site.client.post(path, data=[*fields, *data.items()], headers=HTML,
                                              allow_redirects=False)
            assert response.status == 403
            assert "表单已失效" in await response.text()
    assert [p.unit_price_fen for p in await site.service.price_history(SITE, "A03", "1001", 10, 0)] == [680]
    assert (await site.service.batch_detail(SITE, BATCH_ID)).batch.block is None
    assert site.downlink.sent == []


# --- stalls and licences -------------------------------------------------------------------------

async def test_the_stall_list_highlights_missing_expired_and_expiring_licences(site: Site) -> None:
    await site.sign_in("op-liu")
    page = await site.page(MANAGE)
    stalls = section(page, "stalls")
    a03 = stalls[stalls.index('id="stall-A03"') - 40:stalls.index('id="stall-A04"')]
    assert 'class="warn"' in a03 and "健康证明 · 剩 8 天" in words(a03)
    a04 = stalls[stalls.index('id="stall-A04"') - 40:stalls.index('id="stall-B01"')]
    assert 'class="bad"' in a04
    assert "食品经营备案凭证 · 缺失" in words(a04) and "健康证明 · 已过期 22 天" in words(a04)
    b01 = stalls[stalls.index('id="stall-B01"') - 40:]
    assert "营业执照 · 缺失" in words(b01) and "未登记" in words(b01)
    assert f'href="/market/{SITE}/stalls/A03/screen"' in stalls
    summary = words(section(page, "summary"))
    assert "摊位 3" in summary and "30 天内到期（含 7 天） 1" in summary and "缺失、过期或今天到期 2" in summary
    problems = words(section(page, "licence-problems"))
    assert problems.index("B01") < problems.index("A03"), "missing documents first, then by days left"
    assert "JK-2026-0042" in problems and "2026-12-01" in problems


async def test_the_stall_page_shows_vendor_documents_scales_and_batches(site: Site) -> None:
    await site.sign_in("op-liu")
    page = await site.page(f"{MANAGE}/stalls/A03")
    assert VENDOR_PHONE in section(page, "vendor"), "operators see the vendor's contact"
    documents = words(section(page, "documents"))
    assert "91440300708461136T" in documents and "剩 8 天" in documents
    scales = section(page, "scales")
    assert "scale-01" in scales and "scale-02" in scales
    assert scales.count('data-delivery="pending"') == 2, "the pushes since registration wait for acks"
    assert "发送 1 次" in words(scales)
    assert "6.80" in section(page, "prices") and "2.00" in section(page, "prices")
    assert BATCH_ID in section(page, "batches") and "农药残留 阴性" in words(section(page, "batches"))
    await site.page(f"{MANAGE}/stalls/Z99", status=404)
    await site.page("/market/nowhere/manage", status=404)


# --- publishing prices ---------------------------------------------------------------------------

async def test_publishing_goes_through_a_confirmation_to_the_scales_and_shows_their_acks(site: Site) -> None:
    token = await site.sign_in("op-liu")
    form = await site.page(f"{MANAGE}/stalls/A03/prices")
    assert 'name="price.0" value="6.80"' in form and 'name="price.1" value="2.00"' in form, "prefilled"
    fields = {"plu.0": "1001", "product.0": "西红柿", "price.0": "7.2", "plu.1": "1002", "product.1": "大白菜",
              "price.1": "2.00", "plu.2": "1003", "product.2": "黄瓜", "price.2": "4.35", "plu.3": "", "product.3": "",
              "price.3": "", "effective_from": ""}
    preview = await site.post(f"{MANAGE}/stalls/A03/prices", {**fields, "action": "preview"}, token)
    body = await preview.text()
    assert preview.status == 200, body
    changes = words(section(body, "changes"))
    assert "西红柿 1001 6.80 7.20 720" in changes and "黄瓜 新商品 1003 4.35 435" in changes
    assert "大白菜" not in changes, "an unchanged price is not published again"
    table = words(section(body, "scale-table"))
    assert "西红柿 本次 1001 7.20" in table and "大白菜 1002 2.00" in table and "黄瓜 本次 1003 4.35" in table
    assert site.downlink.sent == [], "nothing is sent before the operator confirms"

    done = await site.post(f"{MANAGE}/stalls/A03/prices", {**fields, "action": "confirm"}, token)
    assert done.status == 303 and done.headers["Location"] == f"{MANAGE}/stalls/A03?published=1#scales"
    published = {p.plu: p.unit_price_fen for p in await site.service.price_history(SITE, "A03", None, 10, 0)
                 if p.published_by == "op-liu" and p.published_at == NOW}
    assert published == {"1001": 720, "1003": 435}
    commands = {topic.device: command for topic, command in site.downlink.sent}
    assert set(commands) == {"scale-01", "scale-02"} and {c.op for c in commands.values()} == {SET_PRICES}
    table_sent = {p["plu"]: p["unit_price_fen"] for p in commands["scale-01"].args["prices"]}
    assert table_sent == {"1001": 720, "1002": 200, "1003": 435}

    waiting = await site.page(f"{MANAGE}/stalls/A03?published=1")
    assert f'<meta http-equiv="refresh" content="5; url={MANAGE}/stalls/A03?published=1">' in waiting, \
        "the page follows the acks by itself"
    assert section(waiting, "scales").count('data-delivery="pending"') == 2

    await site.ack("scale-01", commands["scale-01"].cmd_id, result={"prices_loaded": 3})
    site.clock.now = NOW + timedelta(seconds=40)
    await site.service.tick(site.clock.now)  # scale-02 has not answered: sent again
    one_acked = section(await site.page(f"{MANAGE}/stalls/A03?published=1"), "scales")
    row_01 = one_acked[one_acked.index('id="scale-scale-01"'):one_acked.index('id="scale-scale-02"')]
    row_02 = one_acked[one_acked.index('id="scale-scale-02"'):]
    assert 'data-delivery="acked"' in row_01 and "已确认" in row_01
    assert 'data-delivery="pending"' in row_02 and "发送 2 次（重试 1 次）" in words(row_02)

    await site.ack("scale-02", commands["scale-02"].cmd_id, ok=False, error="PLU table full")
    settled = await site.page(f"{MANAGE}/stalls/A03?published=1")
    assert "http-equiv=\"refresh\"" not in settled, "nothing left to wait for"
    row_02 = section(settled, "scales")[section(settled, "scales").index('id="scale-scale-02"'):]
    assert 'data-delivery="failed"' in row_02 and "失败" in row_02 and "PLU table full" in row_02

    screen = await site.page(f"/market/{SITE}/stalls/A03/screen")
    assert "7.20" in screen and "4.35" in screen and "黄瓜" in screen


@pytest.mark.parametrize(("typed", "message"), [
    ("12.345", "价格最多两位小数（精确到分）"), ("-1", "价格必须大于 0"), ("abc", "请输入数字，例如 6.80"),
    ("0", "价格必须大于 0"), ("", "请填写价格"),
])
async def test_a_bad_price_is_shown_on_its_row_and_nothing_is_published(site: Site, typed: str,
                                                                        message: str) -> None:
    token = await site.sign_in("op-liu")
    for action in ("preview", "confirm"):
        response = await site.post(f"{MANAGE}/stalls/A03/prices", {
            "plu.0": "1001", "product.0": "西红柿", "price.0": typed, "action": action}, token)
        body = await response.text()
        assert response.status == 422, body
        assert "Traceback" not in body
        assert f"第 1 行：{message}" in words(body)
        assert f'<div class="row-problem">{message}</div>' in body
        assert f'value="{html.escape(typed)}"' in body, "what was typed stays in the form"
    assert [p.unit_price_fen for p in await site.service.price_history(SITE, "A03", "1001", 10, 0)] == [680]
    assert site.downlink.sent == []


async def test_other_price_form_refusals_are_messages(site: Site) -> None:
    token = await site.sign_in("op-liu")
    cases = [
        ({"plu.0": "1001", "product.0": "西红柿", "price.0": "6.80"}, "价格没有变化"),
        ({"plu.0": "1001", "product.0": "西红柿", "price.0": "7", "plu.1": "1001", "product.1": "番茄",
          "price.1": "8"}, "商品编码 1001 重复"),
        ({"plu.0": "10 01", "product.0": "西红柿", "price.0": "7"}, "商品编码（PLU）"),
        ({"plu.0": "1001", "product.0": "", "price.0": "7"}, "请填写品名"),
        ({"plu.0": "1001", "product.0": "西红柿", "price.0": "7", "effective_from": "2026-11-22T08:00"},
         "生效时间不能早于现在"),
        ({"plu.0": "1001", "product.0": "西红柿", "price.0": "7", "effective_from": "tomorrow"}, "时间格式应为"),
    ]
    for fields, message in cases:
        response = await site.post(f"{MANAGE}/stalls/A03/prices", {**fields, "action": "confirm"}, token)
        body = await response.text()
        assert response.status == 422 and message in words(body), (fields, words(body)[:600])
    later = await site.post(f"{MANAGE}/stalls/A03/prices", {
        "plu.0": "1001", "product.0": "西红柿", "price.0": "6.50", "effective_from": "2026-11-23T16:00",
        "action": "confirm"}, token)
    assert later.status == 303
    scheduled = (await site.service.price_history(SITE, "A03", "1001", 1, 0))[0]
    assert scheduled.unit_price_fen == 650 and scheduled.effective_from == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


# --- batches, rapid tests, recall ----------------------------------------------------------------

async def test_a_batch_is_registered_and_a_failed_rapid_test_recalls_it_at_once(site: Site) -> None:
    token = await site.sign_in("op-liu")
    batch = {"batch_id": "B20261123-A03-02", "stall": "A03", "plu": "1002", "product": "大白菜",
             "supplier": "张家口蔬菜基地", "supplier_contact": "13700000000", "origin_code": "130700",
             "origin_name": "", "quantity_kg": "120.5", "cert_kind_0": "commitment",
             "cert_number_0": "CD-2026-7788", "cert_kind_1": "origin", "cert_number_1": "产地-77",
             "arrived_at": "2026-11-23T06:30"}
    created = await site.post(f"{MANAGE}/batches", batch, token)
    assert created.status == 303
    assert created.headers["Location"] == f"{MANAGE}/batches/B20261123-A03-02?notice=received"
    detail = await site.service.batch_detail(SITE, "B20261123-A03-02")
    assert detail.batch.quantity_g == 120_500 and detail.batch.arrived_at == datetime(2026, 11, 22, 22, 30,
                                                                                       tzinfo=UTC)
    assert [c.kind.value for c in detail.batch.certificates] == ["commitment", "origin"]
    assert detail.batch.origin_name == "河北省张家口市", "left blank: the division's name in the list"
    again = await site.post(f"{MANAGE}/batches", batch, token)
    assert again.status == 409
    assert field_problem(await again.text(), "batch-batch_id") == "批次号 B20261123-A03-02 已经登记过，请换一个批次号"

    meat = {**batch, "batch_id": "", "stall": "B01", "quantity_kg": "1.2345", "origin_code": "12345"}
    refused = await site.post(f"{MANAGE}/batches", meat, token)
    html = await refused.text()
    assert refused.status == 422
    assert field_problem(html, "batch-quantity_kg") == "数量最多三位小数（精确到克）"
    assert field_problem(html, "batch-origin_code").startswith("产地代码为 6 位行政区划代码")
    assert field_problem(html, "batch-category").startswith("肉禽摊位的批次请选择类别")
    assert 'value="1.2345"' in html, "what was typed stays in the form"
    assert '<details class="card" id="new" open>' in html, "the form is open to correct it"
    listed = await site.page(f"{MANAGE}/batches?stall=A03")
    assert '<details class="card" id="new">' in listed, "the form stays folded away until it is wanted"
    assert "B20261123-A03-02" in section(listed, "batches") and BATCH_ID in section(listed, "batches")
    assert "B20261123-A03-02" not in section(await site.page(f"{MANAGE}/batches?stall=A04"), "batches")

    page = await site.page(f"{MANAGE}/batches/B20261123-A03-02?notice=received")
    assert "批次已登记" in page and "13700000000" in page
    failed = await site.post(f"{MANAGE}/batches/B20261123-A03-02/tests", {
        "item": "organophosphate_carbamate", "value": "62", "unit": "%", "seller_accepts": "yes", "tester": TESTER,
        "tested_at": "2026-11-23T09:40"}, token)
    assert failed.status == 303 and "notice=failed_test" in failed.headers["Location"]
    assert {(topic.device, command.op) for topic, command in site.downlink.sent} == {
        ("scale-01", BLOCK_BATCH), ("scale-02", BLOCK_BATCH)}
    recalled = await site.page(f"{MANAGE}/batches/B20261123-A03-02?notice=failed_test")
    assert "快检不合格，批次已自动封控" in recalled
    assert "已封控 · 停止销售" in words(section(recalled, "blocked"))
    assert "快检不合格：有机磷和氨基甲酸酯类农药（62 %）" in words(recalled)
    blocks = section(recalled, "recall")
    assert blocks.count("data-scale=") == 2 and "等待确认" in blocks
    tests = words(section(recalled, "tests"))
    assert f"有机磷和氨基甲酸酯类农药 酶抑制率法 · {TESTER} 阳性 62 %（判定值 50 %）" in tests


async def test_a_rapid_test_form_with_gaps_is_refused_with_messages(site: Site) -> None:
    token = await site.sign_in("op-liu")
    response = await site.post(f"{MANAGE}/batches/{BATCH_ID}/tests", {
        "item": "", "value": "", "unit": "", "tester": "", "tested_at": "2026-11-24T09:00"}, token)
    body = words(await response.text())
    assert response.status == 422
    assert "请填写检测项目" in body and "请填写检测人" in body and "请填写检测值" in body
    assert "检测时间不能晚于现在" in body
    missing = await site.post(f"{MANAGE}/batches/B-nope/tests", {
        "item": "clenbuterol", "value": "0", "unit": "μg/kg", "tester": "z"}, token)
    assert missing.status == 404 and "批次不存在" in await missing.text()


def chosen(page: str, select_id: str) -> str:
    """The option chosen in the select ``select_id``."""
    found = re.search(r'<option value="([^"]*)" selected>', section(page, select_id))
    return found[1] if found else ""


INTAKE = {"batch_id": "B-intake", "stall": "A03", "plu": "1002", "product": "大白菜", "supplier": "张家口蔬菜基地",
          "origin_code": "130700", "quantity_kg": "80", "arrived_at": "2026-11-23T06:30",
          "cert_kind_0": "commitment", "cert_number_0": "CD-2026-9001",
          "test_item_0": "organophosphate_carbamate", "test_method_0": "enzyme_inhibition", "test_value_0": "12.5",
          "test_unit_0": "%", "test_tester": TESTER, "test_tested_at": "2026-11-23T07:10"}


async def test_intake_rapid_tests_are_offered_by_category_and_checked_row_by_row_all_or_nothing(site: Site) -> None:
    token = await site.sign_in("op-liu")
    offered = await site.page(f"{MANAGE}/batches?stall=A03&register")
    assert (chosen(offered, "batch-test_item_0"), chosen(offered, "batch-test_method_0"),
            chosen(offered, "batch-test_unit_0")) == ("organophosphate_carbamate", "enzyme_inhibition", "%")
    assert chosen(offered, "batch-test_item_1") == "", "vegetables are screened for one item"
    pork = await site.page(f"{MANAGE}/batches?category=pork&register")
    assert [chosen(pork, f"batch-test_item_{row}") for row in range(3)] == ["clenbuterol", "ractopamine",
                                                                          "salbutamol"]
    assert chosen(pork, "batch-test_unit_2") == "μg/kg" and chosen(pork, "batch-category") == "pork"

    wrong = {**INTAKE, "test_item_1": "clenbuterol", "test_value_1": "0.2", "test_unit_1": "μg/kg",
             "test_item_2": "organophosphate_carbamate", "test_value_2": "12", "test_unit_2": "",
             "supplier": "<script>alert(1)</script>"}
    refused = await site.post(f"{MANAGE}/batches", wrong, token)
    page = await refused.text()
    assert refused.status == 422
    assert "不检克伦特罗" in field_problem(page, "batch-test_item_1")
    assert field_problem(page, "batch-test_unit_2").startswith("检测值缺少单位")
    assert 'id="batch-test_value_0-problem"' not in page, "a good row has nothing beside it"
    assert 'value="12.5"' in page and 'value="0.2"' in page and chosen(page, "batch-test_item_1") == "clenbuterol"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    late = await site.post(f"{MANAGE}/batches", {**INTAKE, "test_tested_at": "2026-11-23T06:00",
                                                 "test_value_0": "abc"}, token)
    late_page = await late.text()
    assert late.status == 422 and field_problem(late_page, "batch-test_tested_at") == "检测时间不能早于到货时间"
    assert field_problem(late_page, "batch-test_value_0") == "检测值填写有误"
    with pytest.raises(NotFound):
        await site.service.batch_detail(SITE, "B-intake")  # nothing stored
    assert site.downlink.sent == []

    suspected = await site.post(f"{MANAGE}/batches", {**INTAKE, "test_value_0": "62"}, token)
    assert suspected.status == 303
    assert suspected.headers["Location"] == f"{MANAGE}/batches/B-intake?notice=received_suspected#tests"
    detail = await site.service.batch_detail(SITE, "B-intake")
    assert detail.batch.block is not None and detail.batch.block.cause is BlockCause.SUSPECTED_TEST
    (test,) = detail.tests
    assert test.outcome is TestOutcome.SUSPECTED_POSITIVE and test.tester == TESTER and test.value == "62 %"
    assert {(topic.device, command.op) for topic, command in site.downlink.sent} == {
        ("scale-01", BLOCK_BATCH), ("scale-02", BLOCK_BATCH)}, "held at the scales as a test recorded later is"
    shown = words(await site.page(suspected.headers["Location"].split("#")[0]))
    assert "入场快检疑似阳性：批次已暂停销售" in shown and "疑似阳性（待实验室复检）" in shown

    bare = {**INTAKE, "batch_id": "B-bare", "cert_kind_0": "", "cert_number_0": "", "test_value_0": "55"}
    not_admitted = await site.post(f"{MANAGE}/batches", bare, token)
    assert not_admitted.status == 422
    assert "不得入场" in field_problem(await not_admitted.text(), "batch-test_value_0")
    admitted = await site.post(f"{MANAGE}/batches", {**bare, "test_value_0": "8"}, token)
    assert admitted.status == 303 and "notice=received_tested" in admitted.headers["Location"]
    entered = await site.service.batch_detail(SITE, "B-bare")
    assert entered.batch.admitted_by_test and entered.batch.block is None and len(entered.tests) == 1


async def test_an_operator_recall_needs_a_reason_and_confirmation_and_lists_every_sale(site: Site) -> None:
    token = await site.sign_in("op-liu")
    for n in range(3):
        await site.sell("scale-01", record(n, NOW - timedelta(minutes=50 - n), batch=BATCH_ID, net_g=1000 + n * 250))
    unconfirmed = await site.post(f"{MANAGE}/batches/{BATCH_ID}/recall", {"reason": "供货商通报农残超标"}, token)
    assert unconfirmed.status == 422 and "请勾选确认" in await unconfirmed.text()
    no_reason = await site.post(f"{MANAGE}/batches/{BATCH_ID}/recall", {"reason": " ", "confirm": "yes"}, token)
    assert no_reason.status == 422 and "请填写召回原因" in await no_reason.text()
    assert (await site.service.batch_detail(SITE, BATCH_ID)).batch.block is None

    done = await site.post(f"{MANAGE}/batches/{BATCH_ID}/recall", {"reason": "供货商通报农残超标",
                                                                   "confirm": "yes"}, token)
    assert done.status == 303
    page = await site.page(done.headers["Location"].split("#")[0])
    assert "批次已封控" in page and "管理方召回" in words(section(page, "recall"))
    sales = words(section(page, "sales"))
    assert "全部销售 3 笔" in sales
    for n, grams in ((0, "1 公斤"), (1, "1.25 公斤"), (2, "1.5 公斤")):
        assert f"{SITE}-A03-{n:04d}" in sales and grams in sales
    assert "3.75 公斤" in words(section(page, "balance"))
    again = await site.post(f"{MANAGE}/batches/{BATCH_ID}/recall", {"reason": "再次", "confirm": "yes"}, token)
    assert again.status == 409 and "该批次已经封控过了" in await again.text()

    trace = await site.page(f"/market/{SITE}/trace/{SITE}-A03-0001")
    assert "该批次已召回，请停止食用" in trace and "供货商通报农残超标" in trace


async def test_the_batch_page_shows_mass_balance_and_an_oversold_batch(site: Site) -> None:
    await site.sign_in("op-liu")
    await site.sell("scale-01", record(1, NOW - timedelta(minutes=30), batch=BATCH_ID, net_g=30_000))
    await site.sell("scale-01", record(2, NOW - timedelta(minutes=20), batch=BATCH_ID, net_g=25_000))
    page = await site.page(f"{MANAGE}/batches/{BATCH_ID}")
    assert "超出进货量 5 公斤" in words(page)
    assert 'class="fill over" style="width: 100.00%"' in page
    findings = await site.page(f"{MANAGE}/findings?kind=oversold")
    assert "批次销售量超过进货量" in findings and "超出 5 公斤" in words(findings)
    await site.page(f"{MANAGE}/batches/B-nope", status=404)
    epcis = await site.client.get(f"{MANAGE}/batches/{BATCH_ID}/epcis")
    assert epcis.status == 200 and epcis.content_type == "application/ld+json"
    assert (await epcis.json())["type"] == "EPCISDocument"


# --- findings ------------------------------------------------------------------------------------

async def test_findings_are_filtered_and_resolved_with_a_note(site: Site) -> None:
    token = await site.sign_in("op-liu")
    await site.sell("scale-01", record(1, NOW - timedelta(minutes=30), fen=750))  # published 6.80
    await site.sell("scale-01", record(2, NOW - timedelta(minutes=20), amount_fen=700))  # 1.25 kg × 6.80 = 8.50
    page = await site.page(f"{MANAGE}/findings")
    shown = words(section(page, "findings"))
    assert "售价与公示价格不符" in shown and "金额与重量单价不符" in shown
    assert "实收单价 7.50 元/公斤" in shown and "公示单价 6.80 元/公斤" in shown and "差价 0.70 元/公斤" in shown
    assert "收款金额 7.00 元" in shown and "应收金额 8.50 元" in shown
    assert f'href="/market/{SITE}/trace/{SITE}-A03-0001"' in page
    only = words(section(await site.page(f"{MANAGE}/findings?kind=price_differs"), "findings"))
    assert "售价与公示价格不符" in only and "金额与重量单价不符" not in only
    assert "没有未处理的问题线索" in await site.page(f"{MANAGE}/findings?stall=A04")

    (price_finding,) = await site.service.findings(SITE, FindingKind.PRICE_DIFFERS, None, True, 10, 0)
    resolve = f"{MANAGE}/findings/{price_finding.finding_id}/resolve"
    back = f"{MANAGE}/findings?kind=price_differs"
    empty = await site.post(resolve, {"resolution": "  ", "back": back}, token)
    assert empty.status == 422 and "请填写处理说明" in await empty.text()
    done = await site.post(resolve, {"resolution": "已约谈摊主，电子秤价格已更正", "back": back}, token)
    assert done.status == 303 and done.headers["Location"] == f"{back}#finding-{price_finding.finding_id}"
    assert "售价与公示价格不符" not in words(section(await site.page(f"{MANAGE}/findings"), "findings"))
    closed = words(section(await site.page(f"{MANAGE}/findings?state=closed"), "findings"))
    assert "售价与公示价格不符" in closed and "已约谈摊主，电子秤价格已更正" in closed
    assert "金额与重量单价不符" not in closed
    assert "金额与重量单价不符" in words(section(await site.page(f"{MANAGE}/findings?state=all"), "findings"))
    twice = await site.post(resolve, {"resolution": "again", "back": "https://evil.example/"}, token)
    assert twice.status == 409 and "已经处理过了" in await twice.text()
    unknown = await site.post(f"{MANAGE}/findings/99999/resolve", {"resolution": "x"}, token)
    assert unknown.status == 404


# --- the public pages ----------------------------------------------------------------------------

async def test_the_price_board_shows_todays_range_and_a_trend_chart_from_the_sales(site: Site) -> None:
    for back, fen in ((3, 620), (2, 650), (1, 660)):  # earlier days, in the time series only
        at = NOW - timedelta(days=back)
        topic = parse_topic(topic_for(SITE, DeviceKind.SCALE, "scale-01", Channel.RECORD))
        await site.store.write([point_for(topic, record(100 + back, at, fen=fen), 0, CredentialHasher(b"k"))])
    await site.sell("scale-01", record(1, NOW - timedelta(minutes=30), net_g=1000))
    await site.sell("scale-01", record(2, NOW - timedelta(minutes=20), fen=700, stall="A04", net_g=3000))
    page = await site.page(f"/market/{SITE}/prices")
    board = words(section(page, "board"))
    assert "西红柿 2 6.80 6.90 7.00" in board and "大白菜 1 2.00 2.00 2.00" in board
    tomato = page[page.index('id="product-1001"'):page.index('id="product-1002"')]
    assert "<svg" in tomato and "<script" not in tomato
    assert "最高价" in tomato and "成交均价" in tomato and "最低价" in tomato
    assert "11月23日成交均价 6.95" in words(tomato), "weighted by weight: (6.80 × 1 + 7.00 × 3) / 4"
    assert "近 7 天暂无成交记录" in words(page[page.index('id="product-1002"'):])
    month = await site.page(f"/market/{SITE}/prices?days=30")
    assert 'href="?days=30#trends" aria-current="true"' in month
    await site.page(f"/market/{SITE}/prices?days=999")  # an unknown range falls back to 7 days
    await site.page("/market/nowhere/prices", status=404)


async def test_a_shopper_looks_up_a_trace_code_and_sees_the_batch_and_nothing_private(site: Site) -> None:
    await site.sell("scale-01", record(7, NOW - timedelta(minutes=30), batch=BATCH_ID))
    code = f"{SITE}-A03-0007"
    typed = await site.client.get(f"/market/{SITE}/trace", params={"code": f" {code} "}, headers=HTML,
                                  allow_redirects=False)
    assert typed.status == 303 and typed.headers["Location"] == f"/market/{SITE}/trace/{code}"
    scanned = await site.client.get(f"/market/{SITE}/trace", params={
        "code": f"https://market.example.cn/market/{SITE}/trace/{code}"}, headers=HTML, allow_redirects=False)
    assert scanned.headers["Location"] == f"/market/{SITE}/trace/{code}"
    page = await site.page(f"/market/{SITE}/trace/{code}")
    sale = words(section(page, "sale"))
    assert "西红柿" in sale and "A03 王记蔬菜" in sale and "经营者 王建国" in sale
    assert "2026-11-23 09:30:00" in sale and "1.25 公斤" in sale and "6.80 元/公斤" in sale and "8.50 元" in sale
    batch = words(section(page, "batch"))
    assert "山东省寿光市 370783" in batch and "寿光蔬菜合作社" in batch and "承诺达标合格证 CD-2026-1123" in batch
    tests = words(section(page, "tests"))
    assert "农药残留 酶抑制率法 阴性 抑制率 12%" in tests
    for private in (SUPPLIER_PHONE, VENDOR_PHONE, TESTER, "scale-01", "r-7", "wechat", "微信"):
        assert private not in page, private


async def test_unknown_codes_bad_codes_and_too_many_lookups_get_clear_messages(site: Site) -> None:
    empty = await site.client.get(f"/market/{SITE}/trace", params={"code": "  "}, headers=HTML)
    assert empty.status == 400 and "请输入小票上的追溯码" in await empty.text()
    unknown = await site.page(f"/market/{SITE}/trace/no-such-code", status=404)
    assert "没有找到追溯码 no-such-code" in words(section(unknown, "result"))
    assert 'value="no-such-code"' in unknown, "the code stays in the form to correct it"
    for _ in range(4):  # five lookups in the bucket, then one a minute
        await site.page(f"/market/{SITE}/trace/no-such-code", status=404)
    limited = await site.client.get(f"/market/{SITE}/trace/no-such-code", headers=HTML)
    assert limited.status == 429 and limited.headers["Retry-After"] == "60"
    assert "查询过于频繁，请 60 秒后再试" in words(await limited.text())
    api = await site.client.get(f"/api/markets/{SITE}/trace/no-such-code")
    assert api.status == 429, "the page and the API share one budget per client address"
    site.clock.now = NOW + timedelta(minutes=1)
    await site.page(f"/market/{SITE}/trace/no-such-code", status=404)
    await site.page("/market/nowhere/trace", status=404)


# --- corrections -------------------------------------------------------------------------------------

async def test_a_sale_naming_a_batch_of_another_product_is_shown_as_such(site: Site) -> None:
    await site.sign_in("op-liu")
    await site.service.receive_batch(SITE, Batch("B-cabbage", "A03", "1002", "大白菜", "张家口蔬菜基地", "130700",
                                                 "河北省张家口市", 10_000,
                                                 (Certificate(CertificateType.COMMITMENT, "CD-7"),),
                                                 NOW - timedelta(hours=2)), "op-liu", NOW)
    await site.sell("scale-01", record(1, NOW - timedelta(minutes=10), batch="B-cabbage"))  # tomatoes
    page = await site.page(f"{MANAGE}/findings?kind=batch_mismatch")
    shown = words(section(page, "findings"))
    assert "销售记录所指批次是其他商品" in shown
    assert "批次 B-cabbage" in shown and "该批次商品编码 1002" in shown and "商品编码 1001" in shown
    assert f"已关联批次 {BATCH_ID}" in shown
    assert f'href="{MANAGE}/batches/B-cabbage"' in page
    assert 'value="batch_mismatch"' in page, "a kind to filter by"


async def test_a_recalled_batch_is_released_from_its_page_once_its_retest_passed(site: Site) -> None:
    token = await site.sign_in("op-liu")
    batch_path = f"{MANAGE}/batches/{BATCH_ID}"
    failed = await site.post(f"{batch_path}/tests", {"item": "organophosphate_carbamate", "value": "62", "unit": "%",
                                                     "seller_accepts": "yes", "tester": TESTER,
                                                     "tested_at": "2026-11-23T09:40"}, token)
    assert failed.status == 303
    page = await site.page(batch_path)
    assert "快检不合格项目（有机磷和氨基甲酸酯类农药）尚未复检合格" in words(section(page, "recall"))
    assert f'action="{batch_path}/release"' not in page, "no release form while the failure stands"
    forced = await site.post(f"{batch_path}/release", {"reason": "复检合格", "confirm": "yes"}, token)
    assert forced.status == 422 and "未被接受" in words(await forced.text())
    await site.post(f"{batch_path}/tests", {"item": "organophosphate_carbamate", "value": "11", "unit": "%",
                                            "tester": TESTER, "tested_at": "2026-11-23T09:55"}, token)
    unconfirmed = await site.post(f"{batch_path}/release", {"reason": "复检合格"}, token)
    assert unconfirmed.status == 422 and "请勾选确认" in await unconfirmed.text()
    no_reason = await site.post(f"{batch_path}/release", {"reason": "", "confirm": "yes"}, token)
    assert no_reason.status == 422 and "请填写解除原因" in await no_reason.text()
    site.downlink.sent.clear()
    done = await site.post(f"{batch_path}/release", {"reason": "复检合格", "confirm": "yes"}, token)
    assert done.status == 303 and done.headers["Location"] == f"{batch_path}?notice=released#recall"
    assert {(topic.device, command.op) for topic, command in site.downlink.sent} == {
        ("scale-01", UNBLOCK_BATCH), ("scale-02", UNBLOCK_BATCH)}
    released = await site.page(f"{batch_path}?notice=released")
    assert "已解除封控" in released and "已封控 · 停止销售" not in words(released)
    assert section(released, "recall").count('data-op="unblock_batch"') == 2
    audit = words(section(released, "corrections"))
    assert "解除封控" in audit and "op-liu" in audit and "复检合格" in audit and "快检不合格自动封控" in audit
    twice = await site.post(f"{batch_path}/release", {"reason": "again", "confirm": "yes"}, token)
    assert twice.status == 409 and "该批次没有封控" in await twice.text()


async def test_a_batchs_received_quantity_is_corrected_from_its_page(site: Site) -> None:
    token = await site.sign_in("op-liu")
    batch_path = f"{MANAGE}/batches/{BATCH_ID}"
    page = await site.page(batch_path)
    assert 'name="quantity_kg" value="50"' in page, "prefilled with what was received"
    for fields, message, status in (({"quantity_kg": "abc", "reason": "x"}, "请输入数字", 422),
                                    ({"quantity_kg": "500", "reason": ""}, "请填写更正原因", 422),
                                    ({"quantity_kg": "50", "reason": "x"}, "进货量与原登记相同", 422)):
        refused = await site.post(f"{batch_path}/quantity", fields, token)
        body = await refused.text()
        assert refused.status == status and message in words(body), words(body)[:400]
        assert "<details id=\"quantity\" open" in body, "the form is open to correct it"
    done = await site.post(f"{batch_path}/quantity", {"quantity_kg": "500", "reason": "进货单为 500 公斤"}, token)
    assert done.status == 303 and done.headers["Location"] == f"{batch_path}?notice=corrected#balance"
    corrected = await site.page(f"{batch_path}?notice=corrected")
    assert "500 公斤" in words(section(corrected, "balance"))
    audit = words(section(corrected, "corrections"))
    assert "更正进货量" in audit and "原进货量 50 公斤" in audit and "更正为 500 公斤" in audit
    assert "进货单为 500 公斤" in audit


async def test_a_mistyped_document_is_voided_from_the_stall_page(site: Site) -> None:
    token = await site.sign_in("op-liu")
    page = await site.page(f"{MANAGE}/stalls/A03")
    recorded = section(page, "recorded")
    assert recorded.count('data-voided="false"') == 3
    ((licence, document_id),) = [(d, d.document_id) for d in await site.service.vendor_documents(SITE, "v-wang")
                                 if d.document.kind is DocumentKind.BUSINESS_LICENCE]
    void = f"{MANAGE}/stalls/A03/documents/{document_id}/void"
    unconfirmed = await site.post(void, {"reason": "证号录错"}, token)
    assert unconfirmed.status == 422 and "请勾选确认" in words(await unconfirmed.text())
    done = await site.post(void, {"reason": "证号录错", "confirm": "yes"}, token)
    assert done.status == 303 and done.headers["Location"] == f"{MANAGE}/stalls/A03?voided=1#recorded"
    after = await site.page(f"{MANAGE}/stalls/A03?voided=1")
    row = section(after, f"document-{document_id}")
    assert 'data-voided="true"' in row and "已作废" in row and "证号录错" in row and "op-liu" in row
    assert "营业执照 《中华人民共和国市场主体登记管理条例》第三条 缺失" in words(section(after, "documents")), \
        "the voided licence no longer counts"
    twice = await site.post(void, {"reason": "again", "confirm": "yes"}, token)
    assert twice.status == 409 and "已经作废过了" in await twice.text()
    other = await site.post(f"{MANAGE}/stalls/B01/documents/{document_id}/void", {"reason": "x", "confirm": "yes"},
                            token)
    assert other.status == 404, "B01 has no vendor: no document of it to void"
    assert licence.document.number == "91440300708461136T"


async def test_the_price_board_asks_the_time_series_once_and_reuses_its_trends_briefly(site: Site) -> None:
    await site.sell("scale-01", record(1, NOW - timedelta(minutes=30)))
    queries: list[Any] = []
    summarise = site.store.summarise

    async def counted(query: Any) -> Any:
        queries.append(query)
        return await summarise(query)

    site.store.summarise = counted  # type: ignore[method-assign]
    first = await site.page(f"/market/{SITE}/prices?days=30")
    assert len(queries) == 1, "one query for every product and day of the board"
    again = await site.page(f"/market/{SITE}/prices?days=30")
    assert len(queries) == 1 and section(first, "trends") == section(again, "trends"), "reused"
    await site.page(f"/market/{SITE}/prices?days=14")
    assert len(queries) == 2, "another range is another board"
    site.clock.now = NOW + timedelta(seconds=61)
    await site.page(f"/market/{SITE}/prices?days=30")
    assert len(queries) == 3, "after a minute the time series is asked again"


@pytest.mark.parametrize("failure", [StoreUnavailable("connection refused"), StoreRejected("unsupported query")])
async def test_the_price_board_still_shows_todays_prices_when_the_time_series_cannot_answer(
        site: Site, failure: Exception) -> None:
    await site.sell("scale-01", record(1, NOW - timedelta(minutes=30)))

    async def failing(_query: Any) -> Any:
        raise failure

    site.store.summarise = failing  # type: ignore[method-assign]
    page = await site.page(f"/market/{SITE}/prices")  # a 200, not an error page
    assert "西红柿" in words(section(page, "board"))
    assert "成交记录暂时无法读取" in words(page)


async def test_the_trace_page_names_the_vendor_the_shopper_bought_from(site: Site) -> None:
    await site.sell("scale-01", record(7, NOW - timedelta(minutes=30), batch=BATCH_ID))
    await site.service.add_vendor(SITE, Vendor("v-zhao", "赵六", None, None), NOW)
    await site.service.update_stall(SITE, Stall("A03", "赵家菜摊", StallType.VEGETABLES, "v-zhao"), NOW)
    page = await site.page(f"/market/{SITE}/trace/{SITE}-A03-0007")
    sale = words(section(page, "sale"))
    assert "A03 王记蔬菜" in sale and "经营者 王建国" in sale and "赵" not in sale


async def test_a_rapid_test_dated_before_its_batch_arrived_is_refused_on_the_page(site: Site) -> None:
    token = await site.sign_in("op-liu")  # the batch arrived at 05:00
    early = await site.post(f"{MANAGE}/batches/{BATCH_ID}/tests", {
        "item": "organophosphate_carbamate", "value": "80", "unit": "%", "seller_accepts": "yes", "tester": TESTER,
        "tested_at": "2026-11-23T04:59"}, token)
    body = words(await early.text())
    assert early.status == 422 and "检测时间不能早于该批次到货时间（2026-11-23 05:00）" in body
    assert (await site.service.batch_detail(SITE, BATCH_ID)).batch.block is None, "nothing recorded, nothing recalled"
