"""The market service against real databases (SQLite and PostgreSQL), with scales simulated through a
RecordingDownlink: price pushes acked or never acked, findings from sales, recall, tracing, history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devices.contract import CommandAck, DeviceState, ScaleRecord, UplinkModel
from devices.scale_commands import BlockBatchArgs, SetPricesArgs, UnblockBatchArgs
from devices.topics import Channel, DeviceKind, DeviceTopic, parse_topic, topic_for
from gateway.outputs.embedded import EmbeddedStore
from gateway.processors.points import CredentialHasher, point_for
from market.corrections import CorrectionKind
from market.findings import FindingKind
from market.licences import Document, DocumentKind, LicencePolicy, Offering, StaffMember, StallType, Validity
from market.rapid_tests import TestOutcome
from market.scale_delivery import DeliveryPolicy, DeliveryStatus
from market.service import (
    Conflict,
    FieldsRefused,
    MarketService,
    MarketSettings,
    NotFound,
    PriceItem,
    Refused,
    Unchanged,
)
from market.stalls import Market, Stall, Vendor
from market.tracing import Batch, BlockCause, Certificate, CertificateType, ProductCategory, RapidTest
from messaging.downlink import RecordingDownlink
from relational.database import migrate

pytestmark = pytest.mark.integration

SITE = "xinfadi"
OPENING = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)  # 06:00 in Shanghai
POLICY = DeliveryPolicy(retry_after=timedelta(seconds=30), max_retry_interval=timedelta(minutes=2), max_attempts=4)


class Clock:
    def __init__(self) -> None:
        self.now = OPENING

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Market_:
    """The service under test with its simulated scales, time series and clock."""

    def __init__(self, service: MarketService, downlink: RecordingDownlink, store: EmbeddedStore,
                 clock: Clock) -> None:
        self.service, self.downlink, self.store, self.clock = service, downlink, store, clock
        self.sequence = 0

    async def uplink(self, scale: str, message: UplinkModel, channel: Channel) -> None:
        topic = parse_topic(topic_for(SITE, DeviceKind.SCALE, scale, channel))
        await self.service.handle([(topic, message)])

    async def ack(self, scale: str, cmd_id: str, ok: bool = True, error: str | None = None,
                  result: dict[str, Any] | None = None) -> None:
        await self.uplink(scale, CommandAck(cmd_id=cmd_id, ok=ok, error=error, result=result), Channel.ACK)

    async def state(self, scale: str, online: bool) -> None:
        await self.uplink(scale, DeviceState(online=online, ts=self.clock.now), Channel.STATE)

    def record(self, stall: str = "A03", plu: str = "1001", fen: int = 680, net_g: int = 1250,
               amount: int | None = None, batch: str | None = None, minutes: float = 0) -> ScaleRecord:
        self.sequence += 1
        return ScaleRecord(record_id=f"r-{self.sequence:04d}", ts=self.clock.now + timedelta(minutes=minutes),
                           stall=stall, plu=plu, product="西红柿", net_g=net_g, unit_price_fen=fen,
                           amount_fen=(net_g * fen + 500) // 1000 if amount is None else amount,
                           trace_code=f"{SITE}-{stall}-{self.sequence:04d}", batch=batch)

    async def sell(self, scale: str, *records: ScaleRecord) -> None:
        topic = parse_topic(topic_for(SITE, DeviceKind.SCALE, scale, Channel.RECORD))
        burst: list[tuple[DeviceTopic, UplinkModel]] = [(topic, record) for record in records]
        await self.service.handle(burst)
        hasher = CredentialHasher(b"k")
        received = int(self.clock.now.timestamp()) * 10**9
        await self.store.write([point_for(topic, record, received, hasher) for record in records])

    def sent_to(self, scale: str, op: str) -> list[Any]:
        return [command for command in self.downlink.commands_to(scale) if command.op == op]


@pytest.fixture
async def market(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Market_]:
    await migrate(engine, "market")
    clock, downlink = Clock(), RecordingDownlink()
    store = EmbeddedStore(tmp_path / "ts.sqlite")
    await store.open()
    service = MarketService(engine, downlink, store, clock, MarketSettings(delivery=POLICY))
    await service.create_market(Market(SITE, "新发地农贸市场", "北京市丰台区", "010-12345678"), clock.now)
    await service.add_vendor(SITE, Vendor("v-wang", "王建国", None, "13800000000"), clock.now)
    await service.add_stall(SITE, Stall("A03", "王记蔬菜", StallType.VEGETABLES, "v-wang"))
    await service.add_stall(SITE, Stall("A04", "老李蔬菜", StallType.VEGETABLES))
    for scale in ("scale-01", "scale-02"):
        await service.register_scale(SITE, scale, "A03", clock.now)
    await service.register_scale(SITE, "scale-03", "A04", clock.now)
    yield Market_(service, downlink, store, clock)
    await store.close()


async def publish(market: Market_, stall: str = "A03", fen: int = 680, effective: datetime | None = None) -> Any:
    return await market.service.publish_prices(
        SITE, stall, [PriceItem("1001", "西红柿", fen), PriceItem("1002", "大白菜", 200)], effective, "op-1",
        market.clock.now)


COMMITMENT = (Certificate(CertificateType.COMMITMENT, "CD-2026-1"),)


async def receive(market: Market_, batch_id: str, grams: int = 20_000, stall: str = "A03", hours: float = -1,
                  plu: str = "1001", certificates: tuple[Certificate, ...] = COMMITMENT,
                  category: ProductCategory | None = None, origin: str = "370783") -> Batch:
    batch = Batch(batch_id, stall, plu, "西红柿", "寿光蔬菜合作社", origin, "山东省寿光市", grams, certificates,
                  market.clock.now + timedelta(hours=hours), "13900000000", category=category)
    return await market.service.receive_batch(SITE, batch, "op-1", market.clock.now)


# -- price publication and pushes ---------------------------------------------------------------


async def test_a_price_push_reaches_every_scale_of_the_stall_and_is_tracked_per_scale(market: Market_) -> None:
    publication = await publish(market)
    assert {d.scale for d in publication.deliveries} == {"scale-01", "scale-02"}
    assert all(d.status is DeliveryStatus.PENDING and d.attempts == 1 for d in publication.deliveries)
    (command,) = market.sent_to("scale-01", "set_prices")
    table = SetPricesArgs.model_validate(command.args)
    assert [(p.plu, p.unit_price_fen) for p in table.prices] == [("1001", 680), ("1002", 200)]
    assert market.sent_to("scale-03", "set_prices") == []
    await market.ack("scale-01", command.cmd_id, result={"prices_loaded": 2})
    pushes = {d.scale: d for d in await market.service.deliveries(SITE, None, None, 10, 0)}
    assert pushes["scale-01"].status is DeliveryStatus.ACKED and pushes["scale-02"].status is DeliveryStatus.PENDING


async def test_a_scale_that_never_acks_is_retried_with_backoff_then_given_up(market: Market_) -> None:
    await publish(market)
    (acked,) = market.sent_to("scale-01", "set_prices")
    await market.ack("scale-01", acked.cmd_id)
    sends_at = [market.clock.now]
    for _ in range(12):  # ten minutes in 50 s steps
        await market.service.tick(market.clock.advance(seconds=50))
        if len(market.sent_to("scale-02", "set_prices")) > len(sends_at):
            sends_at.append(market.clock.now)
    silent = market.sent_to("scale-02", "set_prices")
    assert len(silent) == POLICY.max_attempts and len({c.cmd_id for c in silent}) == 1, "the same command again"
    gaps = [later - earlier for earlier, later in pairwise(sends_at)]
    assert gaps == sorted(gaps) and gaps[0] >= timedelta(seconds=30)
    assert len(market.sent_to("scale-01", "set_prices")) == 1, "an acked scale is left alone"
    (given_up,) = await market.service.deliveries(SITE, [DeliveryStatus.GIVEN_UP], None, 10, 0)
    assert given_up.scale == "scale-02" and given_up.error == f"no ack after {POLICY.max_attempts} sends"
    await market.service.tick(market.clock.advance(hours=1))
    assert len(market.sent_to("scale-02", "set_prices")) == POLICY.max_attempts


async def test_a_scale_back_online_gets_the_prices_again_if_its_last_push_was_not_acked(market: Market_) -> None:
    await market.state("scale-02", online=False)
    await publish(market)
    assert market.sent_to("scale-02", "set_prices") == [], "an offline scale is not sent to"
    await market.service.tick(market.clock.advance(minutes=30))
    assert market.sent_to("scale-02", "set_prices") == []
    await publish(market, fen=700)
    await market.state("scale-02", online=True)
    (resent,) = market.sent_to("scale-02", "set_prices")
    assert [p.unit_price_fen for p in SetPricesArgs.model_validate(resent.args).prices] == [700, 200]
    statuses = sorted(d.status.value for d in await market.service.deliveries(SITE, None, "scale-02", 10, 0))
    assert statuses == ["pending", "superseded", "superseded"]
    await market.ack("scale-02", resent.cmd_id)
    await market.state("scale-02", online=False)
    await market.state("scale-02", online=True)
    assert len(market.sent_to("scale-02", "set_prices")) == 1, "acked: nothing to re-send"


async def test_a_broker_that_cannot_take_commands_costs_no_attempt(market: Market_) -> None:
    market.downlink.unavailable = True
    publication = await publish(market)
    assert all(d.attempts == 0 and d.status is DeliveryStatus.PENDING for d in publication.deliveries)
    market.downlink.unavailable = False
    await market.service.tick(market.clock.advance(seconds=31))
    assert len(market.sent_to("scale-01", "set_prices")) == 1 and len(market.sent_to("scale-02", "set_prices")) == 1


async def test_a_refused_or_partial_push_is_failed_with_the_scales_reason(market: Market_) -> None:
    await publish(market)
    (first,) = market.sent_to("scale-01", "set_prices")
    (second,) = market.sent_to("scale-02", "set_prices")
    await market.ack("scale-01", first.cmd_id, ok=False, error="PLU table full")
    await market.ack("scale-02", second.cmd_id, result={"prices_loaded": 1})
    await market.ack("scale-03", second.cmd_id)  # another scale echoing a command not sent to it: ignored
    failed = {d.scale: d.error for d in await market.service.deliveries(SITE, [DeliveryStatus.FAILED], None, 10, 0)}
    assert failed == {"scale-01": "PLU table full", "scale-02": "the scale loaded 1 of 2 prices"}


async def test_prices_cannot_be_backdated_and_unknown_stalls_are_not_found(market: Market_) -> None:
    with pytest.raises(Refused, match="past"):
        await publish(market, effective=market.clock.now - timedelta(hours=1))
    with pytest.raises(NotFound):
        await publish(market, stall="Z99")
    with pytest.raises(Refused, match="each PLU once"):
        await market.service.publish_prices(SITE, "A03", [PriceItem("1001", "西红柿", 1)] * 2, None, "op",
                                            market.clock.now)


async def test_a_price_effective_later_is_pushed_now_and_counts_from_its_time(market: Market_) -> None:
    await publish(market)
    await publish(market, fen=720, effective=market.clock.now + timedelta(hours=2))
    latest = market.sent_to("scale-01", "set_prices")[-1]
    assert [(p.plu, p.unit_price_fen) for p in SetPricesArgs.model_validate(latest.args).prices] == [
        ("1001", 680), ("1001", 720), ("1002", 200), ("1002", 200)]
    await market.sell("scale-01", market.record(fen=680, minutes=60), market.record(fen=720, minutes=150))
    assert await market.service.findings(SITE, FindingKind.PRICE_DIFFERS, None, False, 10, 0) == []


# -- compliance findings ------------------------------------------------------------------------


async def test_sales_off_the_published_price_or_amount_raise_findings_once(market: Market_) -> None:
    await publish(market)
    await receive(market, "B1")
    overpriced, short = market.record(fen=700), market.record(amount=900)
    await market.sell("scale-01", market.record(), overpriced, short)
    await market.sell("scale-01", overpriced, short)  # redelivered
    found = await market.service.findings(SITE, None, None, True, 50, 0)
    kinds = sorted(f.finding.kind.value for f in found)
    assert kinds == ["amount_mismatch", "price_differs"]
    differs = next(f for f in found if f.finding.kind is FindingKind.PRICE_DIFFERS)
    assert differs.finding.detail["difference_fen"] == 20 and differs.finding.detail["trace_code"] == (
        overpriced.trace_code)
    trace = await market.service.forward_trace(SITE, "B1", 10, 0)
    assert trace.sales_count == 3, "a redelivered record is one sale"


async def test_a_scale_reporting_another_stall_or_unregistered_is_a_finding(market: Market_) -> None:
    await publish(market)
    await publish(market, stall="A04")
    await market.sell("scale-01", market.record(stall="A04"))
    await market.sell("scale-99", market.record())
    kinds = {f.finding.kind for f in await market.service.findings(SITE, None, None, True, 50, 0)}
    assert {FindingKind.STALL_MISMATCH, FindingKind.UNREGISTERED_SCALE} <= kinds


async def test_selling_without_a_published_price_is_reported(market: Market_) -> None:
    await market.sell("scale-03", market.record(stall="A04"), market.record(stall="A04"))
    (finding,) = await market.service.findings(SITE, FindingKind.NO_PUBLISHED_PRICE, None, True, 50, 0)
    assert finding.finding.stall == "A04"
    resolved = await market.service.resolve_finding(SITE, finding.finding_id, "op-2", "已督促公示", market.clock.now)
    assert resolved.resolved_by == "op-2"
    with pytest.raises(Conflict):
        await market.service.resolve_finding(SITE, finding.finding_id, "op-2", "again", market.clock.now)
    closed = await market.service.findings(SITE, None, "A04", False, 50, 0, resolved_only=True)
    assert [f.finding_id for f in closed] == [finding.finding_id]
    assert finding.finding_id not in {f.finding_id for f in await market.service.findings(SITE, None, "A04", True,
                                                                                           50, 0)}


async def test_a_stalls_scales_are_listed_alone(market: Market_) -> None:
    everyone = await market.service.scales(SITE, 50, 0)
    stall = everyone[0].registration.stall
    at_stall = await market.service.scales(SITE, 50, 0, stall=stall)
    assert at_stall and {s.registration.stall for s in at_stall} == {stall}
    assert [s.registration.scale for s in at_stall] == sorted(
        s.registration.scale for s in everyone if s.registration.stall == stall)


# -- tracing, recall, mass balance ----------------------------------------------------------------


async def test_a_trace_code_leads_to_the_sale_the_batch_and_its_tests(market: Market_) -> None:
    await publish(market)
    await receive(market, "B1")
    test = RapidTest("B1", "农药残留", "酶抑制法", TestOutcome.NEGATIVE, "抑制率 12%", "刘*", market.clock.now)
    recorded = await market.service.record_test(SITE, test, "op-1", market.clock.now)
    assert recorded.recall is None and recorded.test == replace(test, test_id=recorded.test.test_id)
    test = recorded.test
    record = market.record(batch="B1")
    await market.sell("scale-01", record)
    trace = await market.service.trace(SITE, record.trace_code)
    assert trace is not None and trace.sale.net_g == 1250 and trace.vendor_name == "王建国"
    assert trace.batch is not None and trace.batch.origin_name == "山东省寿光市" and trace.tests == [test]
    assert await market.service.trace(SITE, "nope") is None


async def test_sales_without_a_batch_named_go_to_the_stalls_current_batch(market: Market_) -> None:
    await publish(market)
    await receive(market, "B-old", hours=-30)
    await receive(market, "B-new", hours=-2)
    await market.sell("scale-01", market.record(), market.record(batch="B20261123-A03-01"))
    assert (await market.service.forward_trace(SITE, "B-new", 10, 0)).sales_count == 2
    (unknown,) = await market.service.findings(SITE, FindingKind.UNKNOWN_BATCH, None, True, 10, 0)
    assert unknown.finding.detail["batch"] == "B20261123-A03-01"


async def test_a_recall_stops_the_batch_on_every_scale_that_sells_it_and_lists_its_sales(market: Market_) -> None:
    await publish(market)
    await receive(market, "B1")
    await market.sell("scale-01", market.record(batch="B1"), market.record(batch="B1", net_g=800))
    await market.sell("scale-03", market.record(stall="A04", batch="B1"))  # from a neighbour's counter
    recall = await market.service.recall(SITE, "B1", "供货商通报农药残留超标", "op-1", market.clock.now)
    assert {d.scale for d in recall.deliveries} == {"scale-01", "scale-02", "scale-03"}
    (command,) = market.sent_to("scale-02", "block_batch")
    assert BlockBatchArgs.model_validate(command.args).batch == "B1"
    trace = recall.trace
    assert trace.sales_count == 3 and trace.balance.sold_g == 1250 + 800 + 1250
    assert [s.trace_code for s in trace.sales] == [f"{SITE}-A03-0001", f"{SITE}-A03-0002", f"{SITE}-A04-0003"]
    assert trace.batch.block is not None and trace.batch.block.cause is BlockCause.OPERATOR
    with pytest.raises(Conflict):
        await market.service.recall(SITE, "B1", "again", "op-1", market.clock.now)
    market.clock.advance(minutes=5)
    await market.sell("scale-01", market.record(batch="B1"))
    (sold_anyway,) = await market.service.findings(SITE, FindingKind.SALE_OF_BLOCKED_BATCH, None, True, 10, 0)
    assert sold_anyway.finding.detail["batch"] == "B1"


async def test_a_failed_rapid_test_recalls_the_batch_by_itself(market: Market_) -> None:
    await receive(market, "B1")
    failed = RapidTest("B1", "克伦特罗", "胶体金法", TestOutcome.POSITIVE, None, "刘*", market.clock.now)
    recorded = await market.service.record_test(SITE, failed, "op-1", market.clock.now)
    assert recorded.recall is not None and {d.scale for d in recorded.recall.deliveries} == {"scale-01", "scale-02"}
    block = recorded.recall.trace.batch.block
    assert block is not None and block.cause is BlockCause.FAILED_TEST and block.reason == "快检不合格：克伦特罗"
    again = await market.service.record_test(SITE, failed, "op-1", market.clock.now)
    assert again.recall is None, "a batch is stopped once"


async def test_a_recall_waits_for_an_offline_scale_and_reaches_it_when_it_returns(market: Market_) -> None:
    await receive(market, "B1")
    await market.state("scale-02", online=False)
    await market.service.recall(SITE, "B1", "召回", "op-1", market.clock.now)
    assert market.sent_to("scale-02", "block_batch") == []
    await market.state("scale-02", online=True)
    assert len(market.sent_to("scale-02", "block_batch")) == 1


async def test_selling_more_than_was_received_is_one_oversold_finding(market: Market_) -> None:
    await publish(market)
    await receive(market, "B1", grams=2_000)
    await market.sell("scale-01", market.record(batch="B1", net_g=1_500))
    assert await market.service.findings(SITE, FindingKind.OVERSOLD, None, True, 10, 0) == []
    await market.sell("scale-01", market.record(batch="B1", net_g=600), market.record(batch="B1", net_g=100))
    (oversold,) = await market.service.findings(SITE, FindingKind.OVERSOLD, None, True, 10, 0)
    assert oversold.finding.detail == {"batch": "B1", "received_g": 2_000, "sold_g": 2_200, "oversold_g": 200}
    detail = await market.service.batch_detail(SITE, "B1")
    assert (detail.balance.sold_g, detail.balance.oversold_g, detail.sales_count) == (2_200, 200, 3)


async def test_a_batch_enters_with_the_certificates_its_product_needs_and_is_received_once(market: Market_) -> None:
    """Pork with its quarantine and its meat quality certificate; other meat with its quarantine certificate; a
    meat stall's batch says which meat it is. Each refusal names its field; nothing is written."""
    await market.service.add_stall(SITE, Stall("B01", "李家肉铺", StallType.MEAT))
    quarantine = Certificate(CertificateType.QUARANTINE, "3200123456")
    quality = Certificate(CertificateType.MEAT_QUALITY, "RP-2026-1123")
    refusals = [
        (dict(stall="B01", certificates=(quarantine, quality)), ["category"]),
        (dict(stall="B01", certificates=(quarantine,), category=ProductCategory.PORK), ["certificates"]),
        (dict(certificates=(quarantine,)), ["certificates.0.kind", "certificates"]),
        (dict(origin="999999"), ["origin_code"]),
    ]
    for change, fields in refusals:
        with pytest.raises(FieldsRefused) as refused:
            await receive(market, "M1", **change)  # type: ignore[arg-type]
        assert [p.field for p in refused.value.problems] == fields
        with pytest.raises(NotFound):
            await market.service.batch_detail(SITE, "M1")
    pork = await receive(market, "M1", stall="B01", plu="2001", certificates=(quarantine, quality),
                         category=ProductCategory.PORK)
    beef = await receive(market, "M2", stall="B01", plu="2003", certificates=(quarantine,),
                         category=ProductCategory.LIVESTOCK_MEAT)
    assert (await market.service.batch_detail(SITE, "M1")).batch == pork and pork.certificates == (quarantine, quality)
    assert beef.category is ProductCategory.LIVESTOCK_MEAT
    vegetables = await receive(market, "B1")
    assert vegetables.category is ProductCategory.VEGETABLES, "the stall's type says it"
    with pytest.raises(Conflict):
        await receive(market, "B1")


# -- what the stall shows, and history from the time series ---------------------------------------


async def test_the_stall_display_has_licences_prices_and_current_batches(market: Market_) -> None:
    """A vegetables stall shows its business licence, and no filing or health certificate: the law asks neither of a
    stall selling edible farm produce (the earlier rules flagged both missing)."""
    today = date(2026, 11, 23)
    await market.service.add_document(SITE, "v-wang", Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T",
                                                               date(2020, 1, 1)), "op-1", market.clock.now)
    await market.service.add_document(SITE, "v-wang", Document(DocumentKind.HEALTH_CERTIFICATE, "HC-1",
                                                               date(2026, 1, 1), today + timedelta(days=6),
                                                               holder="王*"), "op-1", market.clock.now)
    await market.service.set_staff(SITE, "A03", [StaffMember("王*")], "op-1", market.clock.now)
    await publish(market)
    await publish(market, fen=650, effective=market.clock.now + timedelta(hours=4))
    await receive(market, "B1")
    await market.service.record_test(SITE, RapidTest("B1", "农药残留", "酶抑制法", TestOutcome.NEGATIVE, "12%", "刘*",
                                                     market.clock.now), "op-1", market.clock.now)
    display = await market.service.stall_display(SITE, "A03", market.clock.now)
    assert display.day == today and display.vendor is not None and display.vendor.name == "王建国"
    assert [(s.required.value, s.validity) for s in display.licences.required] == [
        ("business_licence", Validity.VALID)] and display.licences.compliant
    assert display.staff == (StaffMember("王*"),) and display.licences.health_certificates == ()
    assert [(p.plu, p.unit_price_fen) for p in display.prices] == [("1001", 680), ("1001", 650), ("1002", 200)]
    assert [(b.batch.batch_id, [t.item for t in b.tests]) for b in display.batches] == [("B1", ["农药残留"])]
    problems = await market.service.licence_problems(SITE, market.clock.now, 50, 0)
    assert [(p.stall.stall, p.status.required.value, p.status.validity.value) for p in problems] == [
        ("A04", "business_licence", "missing")]

    # the market's own rule: every stall's staff with a certificate (audited; the same rule again changes nothing)
    every_stall = LicencePolicy(health_certificate_every_stall=True)
    changed = await market.service.set_licence_policy(SITE, every_stall, "全员持证上岗", "op-1", market.clock.now)
    assert changed.policy == every_stall and (await market.service.market(SITE)).policy == every_stall
    with pytest.raises(Unchanged):
        await market.service.set_licence_policy(SITE, every_stall, "again", "op-1", market.clock.now)
    (audit,) = await market.service.corrections(SITE, [CorrectionKind.LICENCE_POLICY], SITE, 10, 0)
    assert audit.correction.detail["health_certificate_every_stall"] is True
    assert audit.correction.reason == "全员持证上岗"
    problems = await market.service.licence_problems(SITE, market.clock.now, 50, 0)
    assert [(p.stall.stall, p.status.required.value, p.status.validity.value, p.status.warning_days, p.status.person)
            for p in problems] == [
        ("A04", "business_licence", "missing", None, None), ("A04", "health_certificate", "missing", None, None),
        ("A03", "health_certificate", "expiring", 7, "王*")]


async def test_a_farmer_selling_their_own_produce_shows_their_identity_instead_of_a_licence(market: Market_) -> None:
    farmer = await market.service.set_self_producing(SITE, "v-wang", True)
    assert farmer.self_producing and (await market.service.vendor(SITE, "v-wang")).self_producing
    display = await market.service.stall_display(SITE, "A03", market.clock.now)
    assert [(s.required.value, s.validity) for s in display.licences.required] == [
        ("farmer_identity", Validity.MISSING)]
    await market.service.add_document(SITE, "v-wang", Document(
        DocumentKind.VILLAGE_CERTIFICATE, "寿村证12号", date(2026, 1, 1), date(2026, 12, 31), holder="王建国"), "op-1",
        market.clock.now)
    display = await market.service.stall_display(SITE, "A03", market.clock.now)
    assert display.licences.compliant
    # selling pre-packaged food too, the farmer is a business like any other
    await market.service.update_stall(SITE, Stall("A03", "王记蔬菜", StallType.VEGETABLES, "v-wang",
                                                  frozenset({Offering.FARM_PRODUCE, Offering.PREPACKAGED_FOOD})))
    display = await market.service.stall_display(SITE, "A03", market.clock.now)
    assert [(s.required.value, s.validity) for s in display.licences.required] == [
        ("business_licence", Validity.MISSING), ("food_filing", Validity.MISSING)]
    with pytest.raises(NotFound):
        await market.service.set_self_producing(SITE, "v-nobody", True)


async def test_an_uncertified_handler_of_ready_to_eat_food_is_found_on_the_roster(market: Market_) -> None:
    today = date(2026, 11, 23)
    await market.service.add_stall(SITE, Stall("F01", "王记熟食", StallType.COOKED_FOOD, "v-wang"))
    for document in (Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T", date(2020, 1, 1)),
                     Document(DocumentKind.FOOD_BUSINESS_PERMIT, "JY13701020012345", date(2024, 1, 1),
                              date(2029, 1, 1), scope="熟食类食品销售"),
                     Document(DocumentKind.HEALTH_CERTIFICATE, "HC-1", date(2026, 1, 1), today + timedelta(days=200),
                              holder="王建国")):
        await market.service.add_document(SITE, "v-wang", document, "op-1", market.clock.now)
    await market.service.set_staff(SITE, "F01", [StaffMember("王建国"), StaffMember("赵强"),
                                                 StaffMember("收银员", handles_ready_to_eat=False)], "op-1",
                                   market.clock.now)
    display = await market.service.stall_display(SITE, "F01", market.clock.now)
    assert not display.licences.compliant
    assert [(s.person, s.validity) for s in display.licences.health_certificates] == [
        ("王建国", Validity.VALID), ("赵强", Validity.MISSING)]
    problems = await market.service.licence_problems(SITE, market.clock.now, 50, 0)
    assert ("F01", "health_certificate", "赵强") in [(p.stall.stall, p.status.required.value, p.status.person)
                                                     for p in problems]
    with pytest.raises(Refused, match="twice"):
        await market.service.set_staff(SITE, "F01", [StaffMember("赵强"), StaffMember("赵强")], "op-1",
                                       market.clock.now)
    with pytest.raises(NotFound):
        await market.service.set_staff(SITE, "Z99", [], "op-1", market.clock.now)
    await market.service.set_staff(SITE, "F01", [StaffMember("王建国")], "op-1", market.clock.now)
    assert (await market.service.stall_display(SITE, "F01", market.clock.now)).licences.compliant


async def test_price_history_comes_from_the_time_series_by_market_day(market: Market_) -> None:
    await market.sell("scale-01", market.record(fen=600, net_g=1000), market.record(fen=900, net_g=500))
    market.clock.advance(days=1)
    await market.sell("scale-01", market.record(fen=700, net_g=100), market.record(plu="1002", fen=200))
    history = await market.service.sales_price_history(SITE, "1001", 3, market.clock.now)
    assert [(d.day.isoformat(), d.sales, d.min_fen, d.avg_fen, d.max_fen) for d in history.days] == [
        ("2026-11-23", 2, 600, 700, 900), ("2026-11-24", 1, 700, 700, 700)]
    with pytest.raises(Refused):
        await market.service.sales_price_history(SITE, "1001", 400, market.clock.now)


async def test_prices_of_every_product_come_from_one_query_over_the_period(market: Market_) -> None:
    await market.sell("scale-01", market.record(fen=600, net_g=1000), market.record(plu="1002", fen=200))
    market.clock.advance(days=1)
    await market.sell("scale-01", market.record(fen=700, net_g=100))
    queries: list[Any] = []
    summarise, select = market.store.summarise, market.store.select

    async def counted_summarise(query: Any) -> Any:
        queries.append(query)
        return await summarise(query)

    async def counted_select(query: Any) -> Any:
        queries.append(query)
        return await select(query)

    market.store.summarise, market.store.select = counted_summarise, counted_select  # type: ignore[method-assign]
    histories = await market.service.price_histories(SITE, 31, market.clock.now)
    assert len(queries) == 1, "one query for the board, whatever the number of days and products"
    assert {plu: [(d.day.isoformat(), d.sales, d.avg_fen) for d in h.days] for plu, h in histories.items()} == {
        "1001": [("2026-11-23", 1, 600), ("2026-11-24", 1, 700)], "1002": [("2026-11-23", 1, 200)]}
    one = await market.service.sales_price_history(SITE, "1002", 31, market.clock.now)
    assert len(queries) == 2 and [d.min_fen for d in one.days] == [200]
    assert (await market.service.sales_price_history(SITE, "9999", 7, market.clock.now)).days == []


# -- corrections and the trail they leave -----------------------------------------------------------


async def test_a_sale_naming_a_batch_of_another_product_goes_to_its_own_products_batch(market: Market_) -> None:
    await publish(market)
    tomatoes = await receive(market, "B-tomato", grams=1_000)
    await receive(market, "B-cabbage", grams=500, plu="1002")
    await market.sell("scale-01", market.record(batch="B-cabbage", net_g=800))  # a tomato sale
    assert (await market.service.forward_trace(SITE, "B-cabbage", 10, 0)).sales_count == 0
    assert (await market.service.forward_trace(SITE, tomatoes.batch_id, 10, 0)).sales_count == 1
    assert await market.service.findings(SITE, FindingKind.OVERSOLD, None, True, 10, 0) == [], \
        "800 g of tomatoes are not counted against 500 g of cabbage"
    (mismatch,) = await market.service.findings(SITE, FindingKind.BATCH_MISMATCH, None, True, 10, 0)
    assert mismatch.finding.detail == {"batch": "B-cabbage", "batch_plu": "1002", "plu": "1001",
                                       "trace_code": f"{SITE}-A03-0001", "linked_to": "B-tomato"}
    trace = await market.service.trace(SITE, f"{SITE}-A03-0001")
    assert trace is not None and trace.batch is not None and trace.batch.batch_id == "B-tomato"


async def test_the_trace_names_the_stall_and_vendor_of_the_time_of_sale(market: Market_) -> None:
    await publish(market)
    before = market.record()
    await market.sell("scale-01", before)
    await market.service.add_vendor(SITE, Vendor("v-li", "李秀英", None, None), market.clock.now)
    market.clock.advance(hours=2)
    await market.service.update_stall(SITE, Stall("A03", "李家果蔬", StallType.VEGETABLES, "v-li"))
    after = market.record()
    late = market.record(minutes=-60)  # made under 王建国, reported only now (the scale was offline)
    await market.sell("scale-01", after, late)
    found = {code: await market.service.trace(SITE, code) for code in (before.trace_code, after.trace_code,
                                                                        late.trace_code)}
    assert {code: (t.stall_name, t.vendor_name) for code, t in found.items() if t} == {
        before.trace_code: ("王记蔬菜", "王建国"), after.trace_code: ("李家果蔬", "李秀英"),
        late.trace_code: ("王记蔬菜", "王建国")}
    await market.sell("scale-03", market.record(stall="A04"))  # a stall with no vendor: no name to show
    nobody = await market.service.trace(SITE, f"{SITE}-A04-0004")
    assert nobody is not None and (nobody.stall_name, nobody.vendor_name) == ("老李蔬菜", None)


async def test_a_failed_batch_is_released_only_after_a_passing_retest_and_every_scale_is_told(
        market: Market_) -> None:
    await publish(market)
    await receive(market, "B1")
    await market.sell("scale-03", market.record(stall="A04", batch="B1"))  # a neighbour sold from it
    failed = RapidTest("B1", "农药残留", "酶抑制法", TestOutcome.POSITIVE, "抑制率 62%", "刘*", market.clock.now)
    await market.service.record_test(SITE, failed, "op-1", market.clock.now)
    with pytest.raises(Refused, match="农药残留"):
        await market.service.release(SITE, "B1", "复检合格", "op-2", market.clock.now)
    retest = RapidTest("B1", "农药残留", "酶抑制法", TestOutcome.NEGATIVE, "抑制率 12%", "刘*",
                       market.clock.advance(hours=1))
    await market.service.record_test(SITE, retest, "op-1", market.clock.now)
    assert (await market.service.batch_detail(SITE, "B1")).batch.block is not None, "a retest does not release"
    release = await market.service.release(SITE, "B1", "复检合格", "op-2", market.clock.now)
    assert release.batch.block is None
    assert {d.scale for d in release.deliveries} == {"scale-01", "scale-02", "scale-03"}
    (command,) = market.sent_to("scale-03", "unblock_batch")
    assert UnblockBatchArgs.model_validate(command.args).batch == "B1"
    assert (await market.service.batch_detail(SITE, "B1")).batch.block is None
    (audit,) = await market.service.corrections(SITE, None, "B1", 10, 0)
    assert audit.correction.kind is CorrectionKind.RELEASE_BATCH and audit.correction.by == "op-2"
    assert audit.correction.reason == "复检合格" and audit.correction.at == market.clock.now
    assert audit.correction.detail["block_reason"] == "快检不合格：农药残留（抑制率 62%）"
    assert audit.correction.detail["block_cause"] == "failed_test"
    market.clock.advance(minutes=5)
    await market.sell("scale-01", market.record(batch="B1"))
    assert await market.service.findings(SITE, FindingKind.SALE_OF_BLOCKED_BATCH, None, True, 10, 0) == []
    with pytest.raises(Conflict, match="not blocked"):
        await market.service.release(SITE, "B1", "again", "op-2", market.clock.now)
    again = await market.service.recall(SITE, "B1", "供货商再次通报", "op-1", market.clock.now)
    assert again.trace.batch.block is not None, "a released batch can be stopped again"


async def test_nonsensical_releases_are_refused(market: Market_) -> None:
    await receive(market, "B1")
    with pytest.raises(NotFound):
        await market.service.release(SITE, "B-none", "x", "op", market.clock.now)
    with pytest.raises(Conflict):
        await market.service.release(SITE, "B1", "x", "op", market.clock.now)
    await market.service.recall(SITE, "B1", "供货商通报", "op-1", market.clock.now)
    with pytest.raises(Refused, match="why"):
        await market.service.release(SITE, "B1", "  ", "op", market.clock.now)
    assert (await market.service.release(SITE, "B1", "通报有误", "op", market.clock.now)).batch.block is None


async def test_a_release_supersedes_a_block_an_offline_scale_never_got(market: Market_) -> None:
    await receive(market, "B1")
    await market.state("scale-02", online=False)
    await market.service.recall(SITE, "B1", "召回", "op-1", market.clock.now)
    await market.service.release(SITE, "B1", "通报有误", "op-1", market.clock.now)
    await market.state("scale-02", online=True)
    assert market.sent_to("scale-02", "block_batch") == [], "the block it missed is lifted already"
    assert len(market.sent_to("scale-02", "unblock_batch")) == 1
    statuses = {d.op: d.status for d in await market.service.deliveries(SITE, None, "scale-02", 10, 0)
                if d.op != "set_prices"}
    assert statuses == {"block_batch": DeliveryStatus.SUPERSEDED, "unblock_batch": DeliveryStatus.PENDING}


async def test_a_release_finds_the_block_to_supersede_among_many_waiting_commands(
        market: Market_, monkeypatch: pytest.MonkeyPatch) -> None:
    from market.service import command_delivery as market_service

    monkeypatch.setattr(market_service, "SUPERSEDE_PAGE", 2)  # the block sought is beyond the first pages
    await market.state("scale-02", online=False)
    await receive(market, "B1")
    await market.service.recall(SITE, "B1", "召回", "op-1", market.clock.now)
    for other in ("B2", "B3", "B4", "B5"):
        await receive(market, other)
        await market.service.recall(SITE, other, "召回", "op-1", market.clock.now)
    await market.service.release(SITE, "B1", "通报有误", "op-1", market.clock.now)

    blocks = {d.args["batch"]: d.status for d in await market.service.deliveries(SITE, None, "scale-02", 50, 0)
              if d.op == "block_batch"}
    assert blocks == {"B1": DeliveryStatus.SUPERSEDED, **{b: DeliveryStatus.PENDING for b in ("B2", "B3", "B4", "B5")}}


async def test_a_voided_document_no_longer_counts_and_the_voiding_is_kept(market: Market_) -> None:
    typo = Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T", date(2020, 1, 1))
    document_id = await market.service.add_document(SITE, "v-wang", typo, "op-1", market.clock.now)
    display = await market.service.stall_display(SITE, "A03", market.clock.now)
    assert display.licences.required[0].validity is Validity.VALID
    voided = await market.service.void_document(SITE, "v-wang", document_id, "证号录错", "op-2", market.clock.now)
    assert voided.voided and voided.voided_by == "op-2" and voided.void_reason == "证号录错"
    display = await market.service.stall_display(SITE, "A03", market.clock.now)
    assert display.licences.required[0].validity is Validity.MISSING
    (documents,) = [docs for vendor, docs in await market.service.vendors(SITE, 10, 0) if vendor.vendor_id == "v-wang"]
    assert [(d.document_id, d.voided) for d in documents] == [(document_id, True)], "still listed, as voided"
    with pytest.raises(Conflict):
        await market.service.void_document(SITE, "v-wang", document_id, "again", "op-2", market.clock.now)
    with pytest.raises(NotFound):
        await market.service.void_document(SITE, "v-other", document_id, "x", "op-2", market.clock.now)
    with pytest.raises(NotFound):
        await market.service.void_document(SITE, "v-wang", 99_999, "x", "op-2", market.clock.now)
    (audit,) = await market.service.corrections(SITE, [CorrectionKind.VOID_DOCUMENT], None, 10, 0)
    assert audit.correction.subject == str(document_id) and audit.correction.detail["number"] == typo.number


async def test_a_received_quantity_is_corrected_with_an_audit_entry_and_the_balance_follows(
        market: Market_) -> None:
    await publish(market)
    await receive(market, "B1", grams=20_000)
    await market.sell("scale-01", market.record(batch="B1", net_g=3_000))
    detail = await market.service.correct_quantity(SITE, "B1", 2_000, "进货单为 2 公斤", "op-2", market.clock.now)
    assert (detail.balance.received_g, detail.balance.oversold_g) == (2_000, 1_000)
    (oversold,) = await market.service.findings(SITE, FindingKind.OVERSOLD, None, True, 10, 0)
    assert oversold.finding.detail["received_g"] == 2_000
    assert (await market.service.batch_detail(SITE, "B1")).batch.quantity_g == 2_000
    (audit,) = await market.service.corrections(SITE, [CorrectionKind.CORRECT_QUANTITY], "B1", 10, 0)
    assert audit.correction.detail == {"before_g": 20_000, "after_g": 2_000, "sold_g": 3_000}
    with pytest.raises(Refused, match="nothing to correct"):
        await market.service.correct_quantity(SITE, "B1", 2_000, "again", "op-2", market.clock.now)
    with pytest.raises(Refused):
        await market.service.correct_quantity(SITE, "B1", 0, "zero", "op-2", market.clock.now)
    with pytest.raises(NotFound):
        await market.service.correct_quantity(SITE, "B-none", 10, "x", "op-2", market.clock.now)


async def test_a_rapid_test_dated_before_its_batch_arrived_is_refused(market: Market_) -> None:
    batch = await receive(market, "B1", hours=-1)
    early = RapidTest("B1", "农药残留", "酶抑制法", TestOutcome.POSITIVE, None, "刘*",
                      batch.arrived_at - timedelta(minutes=1))
    with pytest.raises(Refused, match="before it arrived"):
        await market.service.record_test(SITE, early, "op-1", market.clock.now)
    assert (await market.service.batch_detail(SITE, "B1")).tests == []
    on_arrival = RapidTest("B1", "农药残留", "酶抑制法", TestOutcome.NEGATIVE, None, "刘*", batch.arrived_at)
    assert (await market.service.record_test(SITE, on_arrival, "op-1", market.clock.now)).recall is None


async def test_licence_problems_are_paged_most_urgent_first_across_every_stall(market: Market_) -> None:
    today = date(2026, 11, 23)
    for n in range(450):  # more stalls than one chunk is read at a time, most of them with no problem
        vendor = f"v-{n:03d}"
        await market.service.add_vendor(SITE, Vendor(vendor, f"经营者{n}"), market.clock.now)
        ending = today + timedelta(days=400 if n % 90 else n // 90 + 1)
        for document in (Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T", date(2020, 1, 1)),
                         Document(DocumentKind.FOOD_BUSINESS_PERMIT, f"JY1370102{n:07d}", date(2024, 1, 1),
                                  date(2030, 1, 1), scope="熟食类食品销售"),
                         Document(DocumentKind.HEALTH_CERTIFICATE, f"HC-{n}", date(2026, 1, 1), ending, holder="王")):
            await market.service.add_document(SITE, vendor, document, "op", market.clock.now)
        await market.service.add_stall(SITE, Stall(f"C{n:03d}", f"摊位{n}", StallType.COOKED_FOOD, vendor))
        await market.service.set_staff(SITE, f"C{n:03d}", [StaffMember("王")], "op", market.clock.now)
    everything = [(p.stall.stall, p.status.required.value, p.status.days_to_expiry) for p in
                  await market.service.licence_problems(SITE, market.clock.now, 1_000, 0)]
    assert everything == [
        ("A03", "business_licence", None), ("A04", "business_licence", None),
        ("C000", "health_certificate", 1), ("C090", "health_certificate", 2), ("C180", "health_certificate", 3),
        ("C270", "health_certificate", 4), ("C360", "health_certificate", 5)]
    pages = [await market.service.licence_problems(SITE, market.clock.now, 4, offset) for offset in (0, 4, 8)]
    assert [(p.stall.stall, p.status.required.value, p.status.days_to_expiry) for page in pages
            for p in page] == everything
    assert await market.service.licence_problems(SITE, market.clock.now, 4, 100) == []
