"""Rapid tests as data against real databases (SQLite and PostgreSQL): a suspected positive stops its batch at the
scales and waits for the laboratory (pass: released, fail: recalled), a positive recalls at once, a reading that does
not fit is refused with nothing written, produce without a certificate enters on the market's negative tests, the
day's board, and the migration that back-fills the old pass/fail tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Column, MetaData, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from devices.scale_commands import BLOCK_BATCH, UNBLOCK_BATCH
from market.corrections import CorrectionKind
from market.market_time import market_day
from market.rapid_tests import LaboratoryResult, LaboratoryVerdict, TestItem, TestOutcome, TypedTest
from market.service import Conflict, FieldsRefused, NotFound, Refused
from market.storage import MarketRepository
from market.storage.tables import batches, rapid_tests
from market.tracing import Batch, BlockCause, ProductCategory
from relational.database import migrate
from tests.integration.test_market_service import COMMITMENT, SITE, Market_, publish, receive
from tests.integration.test_market_service import market as service_market
from tests.integration.test_market_storage import downgrade, seeded

pytestmark = pytest.mark.integration
market = service_market  # the service with its simulated scales, as test_market_service has it

OLD_TEST_COLUMNS = {"test_id", "site", "batch_id", "item", "method", "result", "value", "tester", "tested_at",
                    "recorded_at"}


def pesticides(value: str, accepts: bool = False, unit: str | None = "%", minutes: float = 0,
               at: datetime | None = None, batch_id: str = "B1") -> TypedTest:
    return TypedTest(batch_id, "organophosphate_carbamate", None, value, unit, "刘*",
                     (at or datetime(2026, 11, 22, 22, 0, tzinfo=UTC)) + timedelta(minutes=minutes), accepts)


def laboratory(verdict: LaboratoryVerdict, at: datetime) -> LaboratoryResult:
    return LaboratoryResult(verdict, "市食品药品检验所", "JC-2026-118", at, "op-1")


def sent(market: Market_, op: str) -> set[str]:
    return {topic.device for topic, command in market.downlink.sent if command.op == op}


async def test_a_suspected_positive_holds_the_batch_until_the_laboratory_passes_it(market: Market_) -> None:
    await publish(market)
    await receive(market, "B1")
    now = market.clock.now
    recorded = await market.service.record_test(SITE, pesticides("62.5", at=now), "op-1", now)
    assert recorded.test.outcome is TestOutcome.SUSPECTED_POSITIVE and recorded.recall is not None
    assert sent(market, BLOCK_BATCH) == {"scale-01", "scale-02"}, "stopped at the scales, as a recall is"
    batch = (await market.service.batch_detail(SITE, "B1")).batch
    assert batch.block is not None and batch.block.cause is BlockCause.SUSPECTED_TEST
    assert batch.block.reason == "快检疑似阳性，待实验室复检：有机磷和氨基甲酸酯类农药（62.5 %）"
    with pytest.raises(Refused):
        await market.service.release(SITE, "B1", "看着没问题", "op-1", now)  # the laboratory decides
    test_id = recorded.test.test_id
    assert test_id is not None
    market.downlink.sent.clear()
    later = market.clock.advance(hours=5)
    outcome = await market.service.record_laboratory(SITE, "B1", test_id, laboratory(LaboratoryVerdict.PASS, later),
                                                     later)
    assert outcome.batch.block is None and outcome.test.cleared
    assert sent(market, UNBLOCK_BATCH) == {"scale-01", "scale-02"}
    (release,) = await market.service.corrections(SITE, [CorrectionKind.RELEASE_BATCH], "B1", 10, 0)
    assert "实验室复检合格" in release.correction.reason and release.correction.detail["test_id"] == test_id
    detail = await market.service.batch_detail(SITE, "B1")
    (test,) = detail.tests
    assert test.laboratory is not None and test.laboratory.report_number == "JC-2026-118"
    with pytest.raises(Conflict):
        await market.service.record_laboratory(SITE, "B1", test_id, laboratory(LaboratoryVerdict.FAIL, later), later)


async def test_a_suspected_positive_the_laboratory_confirms_stays_stopped_as_a_recall(market: Market_) -> None:
    await receive(market, "B1")
    now = market.clock.now
    recorded = await market.service.record_test(SITE, pesticides("70", at=now), "op-1", now)
    assert recorded.test.test_id is not None
    market.downlink.sent.clear()
    outcome = await market.service.record_laboratory(SITE, "B1", recorded.test.test_id,
                                                     laboratory(LaboratoryVerdict.FAIL, now), now)
    assert outcome.deliveries == [] and market.downlink.sent == [], "blocked already: nothing more to send"
    batch = (await market.service.batch_detail(SITE, "B1")).batch
    assert batch.block is not None and batch.block.cause is BlockCause.FAILED_TEST
    assert batch.block.reason.startswith("实验室复检不合格：有机磷和氨基甲酸酯类农药")
    with pytest.raises(Refused):
        await market.service.release(SITE, "B1", "复检", "op-1", now)


async def test_a_positive_the_seller_accepts_recalls_at_once_and_takes_no_laboratory(market: Market_) -> None:
    await receive(market, "B1")
    now = market.clock.now
    recorded = await market.service.record_test(SITE, pesticides("55", accepts=True, at=now), "op-1", now)
    assert recorded.test.outcome is TestOutcome.POSITIVE and recorded.recall is not None
    batch = (await market.service.batch_detail(SITE, "B1")).batch
    assert batch.block is not None and batch.block.cause is BlockCause.FAILED_TEST
    assert recorded.test.test_id is not None
    with pytest.raises(Conflict):
        await market.service.record_laboratory(SITE, "B1", recorded.test.test_id,
                                               laboratory(LaboratoryVerdict.PASS, now), now)
    with pytest.raises(NotFound):
        await market.service.record_laboratory(SITE, "B1", 999_999, laboratory(LaboratoryVerdict.PASS, now), now)


@pytest.mark.parametrize(("typed", "field"), [
    (pesticides("12", unit=None), "unit"),
    (pesticides("12", unit="mg/kg"), "unit"),
    (pesticides("150"), "value"),
    (TypedTest("B1", "clenbuterol", None, Decimal("0.1"), "μg/kg", "刘*", datetime(2026, 11, 22, 22, tzinfo=UTC)),
     "item"),
])
async def test_a_reading_that_does_not_fit_is_refused_and_nothing_is_written(market: Market_, typed: TypedTest,
                                                                             field: str) -> None:
    await receive(market, "B1")
    with pytest.raises(FieldsRefused) as refused:
        await market.service.record_test(SITE, typed, "op-1", market.clock.now)
    assert [p.field for p in refused.value.problems] == [field]
    detail = await market.service.batch_detail(SITE, "B1")
    assert detail.tests == [] and detail.batch.block is None and market.downlink.sent == []


async def test_produce_without_a_certificate_enters_on_the_markets_negative_test_only(market: Market_) -> None:
    now = market.clock.now
    arrived = now - timedelta(hours=1)
    bare = Batch("B9", "A03", "1001", "小白菜", "本地农户", "370783", "山东省寿光市", 8_000, (), arrived,
                 admitted_by_test=True)
    with pytest.raises(FieldsRefused) as refused:
        await market.service.receive_batch(SITE, bare, "op-1", now)
    assert [p.field for p in refused.value.problems] == ["certificates"]
    with pytest.raises(FieldsRefused) as suspected:
        await market.service.receive_batch(SITE, bare, "op-1", now, [pesticides("51", at=arrived, batch_id="B9")])
    assert [p.field for p in suspected.value.problems] == ["tests.0.value"]
    with pytest.raises(FieldsRefused) as unitless:
        await market.service.receive_batch(SITE, bare, "op-1", now,
                                           [pesticides("5", unit=None, at=arrived, batch_id="B9")])
    assert [p.field for p in unitless.value.problems] == ["tests.0.unit"]
    with pytest.raises(NotFound):
        await market.service.batch_detail(SITE, "B9")  # nothing half-written
    received = await market.service.receive_batch(SITE, bare, "op-1", now,
                                                  [pesticides("8.2", at=arrived, minutes=20, batch_id="B9")])
    assert received.admitted_by_test and received.certificates == ()
    detail = await market.service.batch_detail(SITE, "B9")
    assert detail.batch.admitted_by_test and [t.value for t in detail.tests] == ["8.2 %"]
    assert detail.batch.category is ProductCategory.VEGETABLES


async def test_a_batch_with_its_certificates_and_a_suspected_positive_at_intake_is_received_held(
        market: Market_) -> None:
    now = market.clock.now
    arrived = now - timedelta(hours=1)
    batch = Batch("B7", "A03", "1001", "小白菜", "寿光蔬菜合作社", "370783", "山东省寿光市", 8_000, COMMITMENT, arrived)
    received = await market.service.receive_batch(SITE, batch, "op-1", now, [
        pesticides("12", at=arrived, minutes=10, batch_id="B7"),
        pesticides("63.5", at=arrived, minutes=20, batch_id="ignored: the batch's own id is used")])
    assert received.block is not None and received.block.cause is BlockCause.SUSPECTED_TEST
    assert sent(market, BLOCK_BATCH) == {"scale-01", "scale-02"}, "stopped at its stall's scales, as a test is"
    detail = await market.service.batch_detail(SITE, "B7")
    assert detail.batch.block is not None and detail.batch.block.reason.startswith("快检疑似阳性，待实验室复检")
    suspected = [t for t in detail.tests if t.outcome is TestOutcome.SUSPECTED_POSITIVE]
    assert len(detail.tests) == 2 and len(suspected) == 1 and suspected[0].test_id is not None
    later = market.clock.advance(hours=3)
    outcome = await market.service.record_laboratory(SITE, "B7", suspected[0].test_id,
                                                     laboratory(LaboratoryVerdict.PASS, later), later)
    assert outcome.batch.block is None, "the laboratory's pass lets it go, as for a test recorded later"


async def test_the_board_lists_the_days_tests_newest_first_with_stall_and_product(market: Market_) -> None:
    await receive(market, "B1")
    await receive(market, "B2", stall="A04")
    now = market.clock.now
    await market.service.record_test(SITE, pesticides("12", at=now), "op-1", now)
    await market.service.record_test(SITE, pesticides("66", at=now, minutes=5, batch_id="B2"), "op-1",
                                     now + timedelta(minutes=5))
    board = await market.service.test_board(SITE, market_day(now))
    assert [(line.batch.stall, line.test.outcome) for line in board.lines] == [
        ("A04", TestOutcome.SUSPECTED_POSITIVE), ("A03", TestOutcome.NEGATIVE)]
    assert board.counts == {"total": 2, "negative": 1, "waiting": 1, "failed": 0}
    assert (await market.service.test_board(SITE, market_day(now) - timedelta(days=1))).lines == []
    lines = await market.service.stall_tests(SITE, "A03", now - timedelta(days=1), now + timedelta(days=1), 5)
    assert [line.test.item for line in lines] == ["有机磷和氨基甲酸酯类农药"]


async def test_the_migration_backfills_old_pass_and_fail_tests(engine: AsyncEngine) -> None:
    await migrate(engine, "market")
    await seeded(engine)
    await downgrade(engine, "0004_h4_licence_rules")
    now = datetime(2026, 11, 23, tzinfo=UTC)
    # the tables as revision 0004 has them: without the columns 0005 adds
    old = MetaData()
    old_batches = Table("market_batches", old, *(Column(c.name, c.type) for c in batches.c
                                                  if c.name != "admitted_by_test"))
    old_tests = Table("market_rapid_tests", old, *(Column(c.name, c.type) for c in rapid_tests.c
                                                   if c.name in OLD_TEST_COLUMNS))
    async with engine.begin() as connection:
        await connection.execute(old_batches.insert().values(
            site=SITE, batch_id="B1", stall="A03", plu="1001", product="西红柿", supplier="合作社",
            origin_code="370783", origin_name="寿光", quantity_g=1000, certificate_type="commitment",
            certificate_number="CD-1", arrived_at=now - timedelta(hours=3), recorded_at=now, recorded_by="op",
            category="vegetables"))
        for result, value in (("pass", "抑制率 12%"), ("fail", "抑制率 65%")):
            await connection.execute(old_tests.insert().values(
                site=SITE, batch_id="B1", item="农药残留", method="酶抑制法", result=result, value=value,
                tester="刘*", tested_at=now, recorded_at=now))
    await migrate(engine, "market")
    async with engine.connect() as connection:
        outcomes = (await connection.execute(select(rapid_tests.c.result, rapid_tests.c.outcome)
                                             .order_by(rapid_tests.c.test_id))).all()
        tests = (await MarketRepository(connection).tests(SITE, ["B1"]))["B1"]
        batch = await MarketRepository(connection).batch(SITE, "B1")
    assert [tuple(row) for row in outcomes] == [("pass", "negative"), ("fail", "positive")]
    assert [(t.outcome, t.reading, t.value) for t in tests] == [
        (TestOutcome.NEGATIVE, None, "抑制率 12%"), (TestOutcome.POSITIVE, None, "抑制率 65%")]
    assert batch is not None and not batch.admitted_by_test
    assert TestItem.ORGANOPHOSPHATE_CARBAMATE.label_zh == "有机磷和氨基甲酸酯类农药"
