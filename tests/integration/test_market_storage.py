"""Market storage on SQLite and PostgreSQL: the migration matches the tables, and what is written
comes back as it went in (aware UTC times, integer fen and grams, dates)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from devices.scale_commands import ScalePrice, SetPricesArgs, set_prices_command
from market.findings import Finding, FindingKind
from market.licences import Document, DocumentKind, LicencePolicy, Offering, StaffMember, StallType
from market.pricing import PublishedPrice, prices_in_force
from market.rapid_tests import TestOutcome
from market.scale_delivery import DeliveryStatus, new_delivery, sent
from market.stalls import Market, Stall, Vendor
from market.storage import MarketRepository
from market.storage.tables import batches, documents, markets, metadata, sales, stalls, vendors
from market.tracing import (
    Batch,
    BlockCause,
    Certificate,
    CertificateType,
    ProductCategory,
    RapidTest,
    Sale,
    block_batch,
)
from relational.database import migrate, version_table
from tests.integration.conftest import empty_engine

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
SITE = "xinfadi"


@pytest.fixture
async def market_engine(engine: AsyncEngine) -> AsyncEngine:
    """conftest's engine (SQLite, then PostgreSQL), every schema migrated, the market's again (a no-op)."""
    await migrate(engine, "market")
    return engine


async def seeded(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        repository = MarketRepository(connection)
        await repository.add_market(Market(SITE, "新发地农贸市场", "北京市丰台区", "12315"), NOW)
        await repository.add_vendor(SITE, Vendor("v-wang", "王建国", "photos/v-wang.jpg", "13800000000"), NOW)
        await repository.add_stall(SITE, Stall("A03", "王记蔬菜", StallType.VEGETABLES, "v-wang"))
        await repository.add_stall(SITE, Stall("B01", "李家肉铺", StallType.MEAT))
        await repository.register_scale(SITE, "scale-01", "A03", NOW)


def market_differences(sync: Connection) -> list[Any]:
    """What autogenerate would change in the market's tables (the others belong to other contexts)."""
    def ours(name: str | None, kind: str, _parent: Any) -> bool:
        return kind != "table" or bool(name and name.startswith("market_"))

    return list(compare_metadata(MigrationContext.configure(sync, opts={"include_name": ours}), metadata))


async def test_the_migration_creates_exactly_the_tables_the_code_uses(market_engine: AsyncEngine) -> None:
    async with market_engine.connect() as connection:
        differences = await connection.run_sync(market_differences)
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert differences == []
    assert {version_table("market"), version_table("community"), "market_sales", "voting_proposals"} <= tables


async def test_migrating_again_changes_nothing(market_engine: AsyncEngine) -> None:
    await migrate(market_engine, "market")
    async with market_engine.connect() as connection:
        differences = await connection.run_sync(market_differences)
    assert differences == []


async def test_directory_and_documents_round_trip(market_engine: AsyncEngine) -> None:
    await seeded(market_engine)
    licence = Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T", date(2020, 1, 1))
    health = Document(DocumentKind.HEALTH_CERTIFICATE, "HC-1", date(2026, 1, 1), date(2026, 12, 31), holder="王*")
    async with market_engine.begin() as connection:
        repository = MarketRepository(connection)
        await repository.add_document(SITE, "v-wang", licence, "op-1", NOW)
        await repository.add_document(SITE, "v-wang", health, "op-1", NOW)
        await repository.register_scale(SITE, "scale-01", "B01", NOW)  # moved to another stall
        await repository.set_online(SITE, "scale-01", True, NOW)
    async with market_engine.connect() as connection:
        repository = MarketRepository(connection)
        assert await repository.market(SITE) == Market(SITE, "新发地农贸市场", "北京市丰台区", "12315")
        assert (await repository.vendor(SITE, "v-wang")) == Vendor("v-wang", "王建国", "photos/v-wang.jpg",
                                                                   "13800000000")
        assert await repository.documents(SITE, ["v-wang", "v-none"]) == {"v-wang": [licence, health], "v-none": []}
        assert [s.stall for s in await repository.stalls(SITE, 10, 0)] == ["A03", "B01"]
        (scale,) = await repository.scales(SITE)
        assert (scale.scale, scale.stall, scale.online, scale.state_changed_at) == ("scale-01", "B01", True, NOW)


async def test_a_stall_of_an_unknown_vendor_is_refused(market_engine: AsyncEngine) -> None:
    await seeded(market_engine)
    with pytest.raises(IntegrityError):
        async with market_engine.begin() as connection:
            await MarketRepository(connection).add_stall(SITE, Stall("A09", "?", StallType.FRUIT, "v-nobody"))


async def test_prices_in_force_and_later_ones_come_back_per_stall_and_pair(market_engine: AsyncEngine) -> None:
    await seeded(market_engine)

    def price(plu: str, fen: int, hours: float, stall: str = "A03") -> PublishedPrice:
        return PublishedPrice(stall, plu, "西红柿", fen, NOW + timedelta(hours=hours), NOW, "op-1")

    published = [price("1001", 650, -48), price("1001", 680, -1), price("1001", 720, 5), price("1002", 200, -3),
                 price("1001", 3000, -2, stall="B01")]
    async with market_engine.begin() as connection:
        await MarketRepository(connection).add_prices(SITE, published)
    async with market_engine.connect() as connection:
        repository = MarketRepository(connection)
        table = await repository.prices_from(SITE, NOW, stall="A03")
        assert sorted(p.unit_price_fen for p in table) == [200, 680, 720]
        assert {p.unit_price_fen for p in prices_in_force(await repository.prices_from(SITE, NOW), NOW)} == {
            680, 200, 3000}
        window = await repository.prices_from(SITE, NOW - timedelta(hours=1.5), pairs=[("A03", "1001")],
                                              until=NOW + timedelta(hours=1))
        assert sorted(p.unit_price_fen for p in window) == [650, 680]
        history = await repository.price_history(SITE, "A03", "1001", 2, 0)
        assert [p.unit_price_fen for p in history] == [720, 680]
        assert history[0].effective_from == NOW + timedelta(hours=5)


async def test_a_delivery_is_saved_only_if_nobody_changed_it_meanwhile(market_engine: AsyncEngine) -> None:
    await seeded(market_engine)
    args = SetPricesArgs(stall="A03", prices=[ScalePrice(plu="1001", product="西红柿", unit_price_fen=680,
                                                         effective_from=NOW)])
    fresh = new_delivery("sp-1", SITE, "scale-01", "A03", set_prices_command("sp-1", args, NOW), NOW)
    async with market_engine.begin() as connection:
        repository = MarketRepository(connection)
        await repository.add_delivery(fresh)
        assert [d.cmd_id for d, online in await repository.due_deliveries(NOW, 10)] == ["sp-1"]
        assert await repository.save_delivery(sent(fresh, NOW), expected=fresh)
        assert not await repository.save_delivery(sent(fresh, NOW), expected=fresh)  # attempts moved on
        assert await repository.due_deliveries(NOW, 10) == []
        await repository.set_online(SITE, "scale-01", False, NOW)
        later = NOW + timedelta(hours=1)
        assert await repository.due_deliveries(later, 10) == [], "an offline scale is not sent to"
        await repository.set_online(SITE, "scale-01", True, later)
        ((due, online),) = await repository.due_deliveries(later, 10)
    assert online is True and due.attempts == 1 and due.status is DeliveryStatus.PENDING
    assert SetPricesArgs.model_validate(due.args) == args and due.last_sent_at == NOW


async def test_batches_tests_blocks_sales_and_totals(market_engine: AsyncEngine) -> None:
    await seeded(market_engine)
    batch = Batch("B1", "A03", "1001", "西红柿", "寿光蔬菜合作社", "370783", "山东省寿光市", 1_000_000_000,
                  (Certificate(CertificateType.COMMITMENT, "CD-1"), Certificate(CertificateType.TEST_REPORT, "TR-9")),
                  NOW - timedelta(hours=3), "13900000000", category=ProductCategory.VEGETABLES)
    test = RapidTest("B1", "农药残留", "酶抑制法", TestOutcome.NEGATIVE, "抑制率 12%", "刘*", NOW - timedelta(hours=2))
    sold = [Sale("scale-01", f"r-{n}", NOW + timedelta(minutes=n), "A03", "1001", "西红柿", 1250, 680,
                 50_000_000_000, f"T-{n}", "B1", "B1") for n in range(3)]
    async with market_engine.begin() as connection:
        repository = MarketRepository(connection)
        await repository.add_batch(SITE, batch, "op-1", NOW)
        test = replace(test, test_id=await repository.add_test(SITE, test, NOW))
        await repository.add_sales(SITE, sold, NOW)
        blocked = block_batch(batch, NOW + timedelta(hours=1), "召回", "op-1", BlockCause.OPERATOR)
        assert await repository.block(SITE, blocked)
        assert not await repository.block(SITE, blocked), "blocked once"
    async with market_engine.connect() as connection:
        repository = MarketRepository(connection)
        assert await repository.batch(SITE, "B1") == blocked, "with both certificates, in order, and the category"
        assert await repository.tests(SITE, ["B1"]) == {"B1": [test]}
        assert await repository.known_sales(SITE, [("scale-01", "r-1"), ("scale-01", "r-9")]) == {("scale-01", "r-1")}
        assert await repository.sale_by_trace_code(SITE, "T-2") == sold[2]
        assert await repository.sales_of_batch(SITE, "B1", 2, 1) == sold[1:]
        assert await repository.batch_totals(SITE, ["B1", "B2"]) == {
            "B1": (3, 3750, sold[0].ts, sold[2].ts), "B2": (0, 0, None, None)}
        current = await repository.batches(SITE, pairs=[("A03", "1001")], arrived_until=NOW)
        assert [b.batch_id for b in current] == ["B1"]
        with pytest.raises(IntegrityError):
            async with connection.begin_nested():
                await repository.add_sales(SITE, sold[:1], NOW)


async def test_findings_are_kept_once_per_key_and_resolved_once(market_engine: AsyncEngine) -> None:
    finding = Finding(FindingKind.OVERSOLD, "oversold:B1", "A03", NOW, {"batch": "B1", "oversold_g": 250})
    async with market_engine.begin() as connection:
        repository = MarketRepository(connection)
        await repository.add_findings(SITE, [finding], NOW)
        assert await repository.known_findings(SITE, ["oversold:B1", "oversold:B2"]) == {"oversold:B1"}
        with pytest.raises(IntegrityError):
            async with connection.begin_nested():
                await repository.add_findings(SITE, [replace(finding, at=NOW + timedelta(hours=1))], NOW)
    async with market_engine.begin() as connection:
        repository = MarketRepository(connection)
        (recorded,) = await repository.findings(SITE, open_only=True)
        assert recorded.finding == finding and recorded.raised_at == NOW
        assert await repository.resolve_finding(SITE, recorded.finding_id, "op-2", "已核实", NOW)
        assert not await repository.resolve_finding(SITE, recorded.finding_id, "op-2", "again", NOW)
        assert await repository.findings(SITE, open_only=True) == []
        assert [f.finding_id for f in await repository.findings(SITE, resolved_only=True)] == [recorded.finding_id]
        resolved = await repository.finding(SITE, recorded.finding_id)
    assert resolved is not None and (resolved.resolved_by, resolved.resolution) == ("op-2", "已核实")


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_at_0001(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    await migrate(made, "market", "0001_market")
    yield made
    await made.dispose()


async def test_upgrading_keeps_old_sales_traceable_to_the_stall_and_vendor_as_they_are(
        engine_at_0001: AsyncEngine) -> None:
    engine = engine_at_0001
    async with engine.begin() as connection:  # what the code of revision 0001 wrote
        await connection.execute(markets.insert().values(site=SITE, name="新发地农贸市场", address="北京市丰台区",
                                                         complaint_hotline="12315", created_at=NOW))
        await connection.execute(vendors.insert().values(site=SITE, vendor_id="v-wang", name="王建国",
                                                         created_at=NOW))
        await connection.execute(stalls.insert(), [
            {"site": SITE, "stall": "A03", "name": "王记蔬菜", "stall_type": "vegetables", "vendor_id": "v-wang"},
            {"site": SITE, "stall": "A04", "name": "空摊", "stall_type": "fruit", "vendor_id": None}])
        await connection.execute(sales.insert(), [
            {"site": SITE, "scale_id": "scale-01", "record_id": f"r-{stall}", "ts": NOW, "stall": stall,
             "plu": "1001", "product": "西红柿", "net_g": 1250, "unit_price_fen": 680, "amount_fen": 850,
             "trace_code": f"T-{stall}", "received_at": NOW} for stall in ("A03", "A04", "Z99")])
        await connection.execute(documents.insert().values(
            site=SITE, vendor_id="v-wang", kind="food_filing", number="YB1", valid_from=date(2024, 1, 1),
            recorded_at=NOW, recorded_by="op-1"))
    await migrate(engine, "market")
    async with engine.connect() as connection:
        repository = MarketRepository(connection)
        found = {code: await repository.sale_by_trace_code(SITE, f"T-{code}") for code in ("A03", "A04", "Z99")}
        tenures = await repository.tenures(SITE, ["A03", "A04"])
        held = await repository.recorded_documents(SITE, ["v-wang"])
        differences = await connection.run_sync(market_differences)
    assert differences == []
    assert {code: (s.stall_name, s.vendor_id, s.vendor_name) for code, s in found.items() if s} == {
        "A03": ("王记蔬菜", "v-wang", "王建国"), "A04": ("空摊", None, None), "Z99": (None, None, None)}
    assert [(t.name, t.vendor_id, t.since) for t in tenures["A03"]] == [
        ("王记蔬菜", "v-wang", datetime(1970, 1, 1, tzinfo=UTC))], "as far back as anything is known"
    assert [t.name for t in tenures["A04"]] == ["空摊"]
    assert [(d.document.number, d.voided) for d in held["v-wang"]] == [("YB1", False)]


async def test_policy_farmers_offerings_and_rosters_round_trip(market_engine: AsyncEngine) -> None:
    await seeded(market_engine)
    cooked = Stall("F01", "张记熟食", StallType.COOKED_FOOD, "v-wang", frozenset({Offering.READY_TO_EAT,
                                                                                   Offering.PREPACKAGED_FOOD}))
    async with market_engine.begin() as connection:
        repository = MarketRepository(connection)
        await repository.add_stall(SITE, cooked)
        assert await repository.set_policy(SITE, LicencePolicy(health_certificate_every_stall=True))
        assert await repository.set_self_producing(SITE, "v-wang", True)
        await repository.replace_staff(SITE, "F01", [StaffMember("王芳"), StaffMember("收银员", False)], "op-1", NOW)
        await repository.replace_staff(SITE, "F01", [StaffMember("王芳", False), StaffMember("赵强")], "op-2",
                                       NOW + timedelta(hours=1))
    async with market_engine.connect() as connection:
        repository = MarketRepository(connection)
        market = await repository.market(SITE)
        assert market is not None and market.policy == LicencePolicy(health_certificate_every_stall=True)
        vendor = await repository.vendor(SITE, "v-wang")
        assert vendor is not None and vendor.self_producing
        assert await repository.stall(SITE, "F01") == cooked
        assert (await repository.stall(SITE, "A03")) == Stall("A03", "王记蔬菜", StallType.VEGETABLES, "v-wang",
                                                             frozenset({Offering.FARM_PRODUCE}))
        assert await repository.staff(SITE, ["F01", "A03"]) == {
            "F01": [StaffMember("王芳", False), StaffMember("赵强")], "A03": []}


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_at_0003(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    await migrate(made, "market", "0003_h8_document_scans")
    yield made
    await made.dispose()


async def test_upgrading_backfills_offerings_rosters_certificates_and_categories(
        engine_at_0003: AsyncEngine) -> None:
    """What revision 0003 wrote reads under the rules of 0004: each stall sells what its type did, the holders of
    its vendor's health certificates are its roster, each batch has its one certificate and, where the stall's type
    says it, its category (a meat stall's batch never said which meat: none)."""
    engine = engine_at_0003
    async with engine.begin() as connection:
        await connection.execute(markets.insert().values(site=SITE, name="新发地农贸市场", address="北京市丰台区",
                                                         complaint_hotline="12315", created_at=NOW))
        await connection.execute(vendors.insert().values(site=SITE, vendor_id="v-wang", name="王建国",
                                                         created_at=NOW))
        await connection.execute(stalls.insert(), [
            {"site": SITE, "stall": "A03", "name": "王记蔬菜", "stall_type": "vegetables", "vendor_id": "v-wang"},
            {"site": SITE, "stall": "B01", "name": "王记肉铺", "stall_type": "meat", "vendor_id": "v-wang"},
            {"site": SITE, "stall": "F01", "name": "空熟食摊", "stall_type": "cooked_food", "vendor_id": None},
            {"site": SITE, "stall": "F02", "name": "王记熟食", "stall_type": "cooked_food", "vendor_id": "v-wang"},
            {"site": SITE, "stall": "E01", "name": "王记豆腐", "stall_type": "soy_products", "vendor_id": "v-wang"}])
        await connection.execute(documents.insert(), [
            {"site": SITE, "vendor_id": "v-wang", "kind": "health_certificate", "number": f"HC-{n}",
             "valid_from": date(2026, 1, 1), "valid_to": date(2026, 12, 31), "holder": holder,
             "recorded_at": NOW + timedelta(minutes=n), "recorded_by": "op-1",
             "voided_at": NOW if holder == "作废人" else None}
            for n, holder in enumerate(["王建国", "李秀英", "王建国", "作废人"])])
        await connection.execute(batches.insert(), [
            {"site": SITE, "batch_id": batch_id, "stall": stall, "plu": "1001", "product": "货", "supplier": "供",
             "origin_code": "999999", "origin_name": "旧码", "quantity_g": 1000, "certificate_type": kind,
             "certificate_number": f"N-{batch_id}", "arrived_at": NOW, "recorded_at": NOW, "recorded_by": "op-1"}
            for batch_id, stall, kind in [("B-veg", "A03", "origin"), ("B-pork", "B01", "quarantine"),
                                          ("B-tofu", "E01", "market_entry")]])
    await migrate(engine, "market")
    async with engine.connect() as connection:
        repository = MarketRepository(connection)
        sells = {code: (await repository.stall(SITE, code)) for code in ("A03", "B01", "F01", "E01")}
        rosters = await repository.staff(SITE, ["A03", "B01", "F01", "F02", "E01"])
        received = await repository.batches_by_id(SITE, ["B-veg", "B-pork", "B-tofu"])
        market = await repository.market(SITE)
        vendor = await repository.vendor(SITE, "v-wang")
        differences = await connection.run_sync(market_differences)
    assert differences == []
    assert {code: stall.offerings for code, stall in sells.items() if stall} == {
        "A03": {Offering.FARM_PRODUCE}, "B01": {Offering.FARM_PRODUCE}, "F01": {Offering.READY_TO_EAT},
        "E01": {Offering.BULK_FOOD}}
    produce_staff = [StaffMember("李秀英", False), StaffMember("王建国", False)]
    cooked_staff = [StaffMember("李秀英"), StaffMember("王建国")]  # handling ready-to-eat food at a cooked-food stall
    assert rosters == {"A03": produce_staff, "B01": produce_staff, "F01": [], "E01": produce_staff,
                       "F02": cooked_staff}
    assert {b.batch_id: (b.certificates, b.category, b.origin_code) for b in received.values()} == {
        "B-veg": ((Certificate(CertificateType.ORIGIN, "N-B-veg"),), ProductCategory.VEGETABLES, "999999"),
        "B-pork": ((Certificate(CertificateType.QUARANTINE, "N-B-pork"),), None, "999999"),
        "B-tofu": ((Certificate(CertificateType.MARKET_ENTRY, "N-B-tofu"),), ProductCategory.SOY_PRODUCTS, "999999"),
    }, "what was recorded stays readable, even an origin code that is no division"
    assert market is not None and market.policy == LicencePolicy()
    assert vendor is not None and not vendor.self_producing


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", "market:migrations")
        config.attributes["connection"] = connection
        config.attributes["version_table"] = version_table("market")
        command.downgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def test_the_licence_rules_migration_goes_down_and_up_again_keeping_what_was_there(
        market_engine: AsyncEngine) -> None:
    await seeded(market_engine)
    async with market_engine.begin() as connection:
        await MarketRepository(connection).add_batch(SITE, Batch(
            "B1", "A03", "1001", "西红柿", "寿光蔬菜合作社", "370783", "山东省寿光市", 1000,
            (Certificate(CertificateType.COMMITMENT, "CD-1"), Certificate(CertificateType.ORIGIN, "OR-1")), NOW,
            category=ProductCategory.VEGETABLES), "op-1", NOW)
    await downgrade(market_engine, "0003_h8_document_scans")
    async with market_engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        row = (await connection.execute(select(batches.c.certificate_type, batches.c.certificate_number))).one()
    assert "market_batch_certificates" not in tables and "market_stall_staff" not in tables
    assert tuple(row) == ("commitment", "CD-1"), "the first certificate is kept in the batch's row"
    await migrate(market_engine, "market")
    async with market_engine.connect() as connection:
        batch = await MarketRepository(connection).batch(SITE, "B1")
        assert await connection.run_sync(market_differences) == []
    assert batch is not None and batch.certificates == (Certificate(CertificateType.COMMITMENT, "CD-1"),)
    assert batch.category is ProductCategory.VEGETABLES, "backfilled again from the stall's type"
