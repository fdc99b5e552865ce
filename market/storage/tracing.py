"""Storage of what tracing follows: batches received with their certificates, rapid tests and blocks, and the sales
the scales recorded, each linked to the batch it came from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, tuple_, update

from market.rapid_tests import LaboratoryResult, LaboratoryVerdict, Reading, TestItem, TestMethod, TestOutcome
from market.storage.prices import PricePair
from market.storage.repository import Repository
from market.storage.tables import batch_certificates, batches, rapid_tests, sales
from market.tracing import (
    Batch,
    Block,
    BlockCause,
    Certificate,
    CertificateType,
    ProductCategory,
    RapidTest,
    RapidTestResult,
    Sale,
)

SaleKey = tuple[str, str]  # scale, record id


class BatchRepository(Repository):
    """Batches as received (corrected quantities, blocks and releases in place) and their rapid tests."""

    async def add_batch(self, site: str, batch: Batch, by: str, now: datetime) -> None:
        # the row's first certificate, as the first schema kept it (none: a batch admitted on the market's tests)
        first = batch.certificates[0] if batch.certificates else None
        await self._connection.execute(batches.insert().values(
            site=site, batch_id=batch.batch_id, stall=batch.stall, plu=batch.plu, product=batch.product,
            supplier=batch.supplier, supplier_contact=batch.supplier_contact, origin_code=batch.origin_code,
            origin_name=batch.origin_name, quantity_g=batch.quantity_g,
            certificate_type=first.kind.value if first else "", certificate_number=first.number if first else "",
            arrived_at=batch.arrived_at, recorded_at=now, recorded_by=by,
            category=batch.category.value if batch.category else None, admitted_by_test=batch.admitted_by_test))
        if batch.certificates:
            await self._connection.execute(batch_certificates.insert(), [
                {"site": site, "batch_id": batch.batch_id, "position": position, "kind": certificate.kind.value,
                 "number": certificate.number} for position, certificate in enumerate(batch.certificates)])

    async def batch(self, site: str, batch_id: str) -> Batch | None:
        rows = await self._rows(select(batches).where(batches.c.site == site, batches.c.batch_id == batch_id))
        return (await self._batches(site, rows))[0] if rows else None

    async def batches_by_id(self, site: str, batch_ids: Iterable[str]) -> dict[str, Batch]:
        wanted = sorted(set(batch_ids))
        if not wanted:
            return {}
        rows = await self._rows(select(batches).where(batches.c.site == site, batches.c.batch_id.in_(wanted)))
        return {batch.batch_id: batch for batch in await self._batches(site, rows)}

    async def _batches(self, site: str, rows: Sequence[Mapping[str, Any]]) -> list[Batch]:
        """The batches of ``rows``, each with its certificates (in the order they were recorded)."""
        held: dict[str, list[Certificate]] = {row["batch_id"]: [] for row in rows}
        if held:
            found = await self._rows(select(batch_certificates).where(
                batch_certificates.c.site == site, batch_certificates.c.batch_id.in_(sorted(held)))
                .order_by(batch_certificates.c.batch_id, batch_certificates.c.position))
            for row in found:
                held[row["batch_id"]].append(Certificate(CertificateType(row["kind"]), row["number"]))
        return [_batch(row, held[row["batch_id"]]) for row in rows]

    async def batches(self, site: str, *, stall: str | None = None, plu: str | None = None,
                      pairs: Iterable[PricePair] | None = None, arrived_since: datetime | None = None,
                      arrived_until: datetime | None = None, limit: int | None = 100, offset: int = 0
                      ) -> list[Batch]:
        """Newest arrival first."""
        statement = select(batches).where(batches.c.site == site)
        if stall is not None:
            statement = statement.where(batches.c.stall == stall)
        if plu is not None:
            statement = statement.where(batches.c.plu == plu)
        if pairs is not None:
            wanted = sorted(set(pairs))
            if not wanted:
                return []
            statement = statement.where(tuple_(batches.c.stall, batches.c.plu).in_(wanted))
        if arrived_since is not None:
            statement = statement.where(batches.c.arrived_at >= arrived_since)
        if arrived_until is not None:
            statement = statement.where(batches.c.arrived_at <= arrived_until)
        rows = await self._rows(statement.order_by(batches.c.arrived_at.desc(), batches.c.batch_id)
                                .limit(limit).offset(offset))
        return await self._batches(site, rows)

    async def block(self, site: str, batch: Batch) -> bool:
        """Record the batch's block, unless it was blocked meanwhile."""
        if batch.block is None:
            raise ValueError("nothing to record: the batch is not blocked")
        result = await self._connection.execute(
            update(batches).where(batches.c.site == site, batches.c.batch_id == batch.batch_id,
                                  batches.c.blocked_at.is_(None))
            .values(blocked_at=batch.block.at, block_reason=batch.block.reason[:200], blocked_by=batch.block.by,
                    block_cause=batch.block.cause.value))
        return bool(result.rowcount)

    async def release(self, site: str, batch: Batch) -> bool:
        """Lift the batch's block, unless it changed meanwhile (lifted, or lifted and blocked again)."""
        if batch.block is None:
            raise ValueError("nothing to lift: the batch is not blocked")
        result = await self._connection.execute(
            update(batches).where(batches.c.site == site, batches.c.batch_id == batch.batch_id,
                                  batches.c.blocked_at == batch.block.at)
            .values(blocked_at=None, block_reason=None, blocked_by=None, block_cause=None))
        return bool(result.rowcount)

    async def set_quantity(self, site: str, batch_id: str, quantity_g: int, expected_g: int) -> bool:
        """Correct the received grams, unless someone corrected them meanwhile."""
        result = await self._connection.execute(
            update(batches).where(batches.c.site == site, batches.c.batch_id == batch_id,
                                  batches.c.quantity_g == expected_g).values(quantity_g=quantity_g))
        return bool(result.rowcount)

    async def add_test(self, site: str, test: RapidTest, now: datetime) -> int:
        """Record the test; answers its id."""
        reading = test.reading
        result = await self._connection.execute(rapid_tests.insert().values(
            site=site, batch_id=test.batch_id, item=test.item[:64], method=test.method[:64],
            result=test.result.value, value=test.value, tester=test.tester, tested_at=test.tested_at,
            recorded_at=now, outcome=test.outcome.value,
            item_code=reading.item.value if reading else None, method_code=reading.method.value if reading else None,
            measured=str(reading.value) if reading else None, unit=reading.unit if reading else None,
            cutoff=str(reading.cutoff) if reading else None).returning(rapid_tests.c.test_id))
        return int(result.scalar_one())

    async def test(self, site: str, batch_id: str, test_id: int) -> RapidTest | None:
        rows = await self._rows(select(rapid_tests).where(rapid_tests.c.site == site,
                                                          rapid_tests.c.batch_id == batch_id,
                                                          rapid_tests.c.test_id == test_id))
        return _test(rows[0]) if rows else None

    async def set_laboratory(self, site: str, test_id: int, laboratory: LaboratoryResult, result: str) -> bool:
        """Record the laboratory's result on a suspected positive, unless one was recorded meanwhile."""
        done = await self._connection.execute(
            update(rapid_tests).where(rapid_tests.c.site == site, rapid_tests.c.test_id == test_id,
                                      rapid_tests.c.lab_verdict.is_(None))
            .values(lab_verdict=laboratory.verdict.value, lab_name=laboratory.laboratory,
                    lab_report=laboratory.report_number, lab_reported_at=laboratory.reported_at,
                    lab_recorded_by=laboratory.recorded_by, result=result))
        return bool(done.rowcount)

    async def set_block_cause(self, site: str, batch: Batch, cause: BlockCause, reason: str) -> bool:
        """Say why a blocked batch stays blocked (a suspected positive the laboratory confirmed: a recall now)."""
        if batch.block is None:
            raise ValueError("the batch is not blocked")
        done = await self._connection.execute(
            update(batches).where(batches.c.site == site, batches.c.batch_id == batch.batch_id,
                                  batches.c.blocked_at == batch.block.at)
            .values(block_cause=cause.value, block_reason=reason[:200]))
        return bool(done.rowcount)

    async def tests_between(self, site: str, since: datetime, until: datetime, *, stall: str | None = None,
                            limit: int = 200) -> list[tuple[RapidTest, Batch]]:
        """The tests done in [since, until) with their batches, newest first (a stall's only, when given)."""
        statement = (select(rapid_tests).join(batches, (batches.c.site == rapid_tests.c.site)
                                              & (batches.c.batch_id == rapid_tests.c.batch_id))
                     .where(rapid_tests.c.site == site, rapid_tests.c.tested_at >= since,
                            rapid_tests.c.tested_at < until))
        if stall is not None:
            statement = statement.where(batches.c.stall == stall)
        rows = await self._rows(statement.order_by(rapid_tests.c.tested_at.desc(), rapid_tests.c.test_id.desc())
                                .limit(limit))
        tests = [_test(row) for row in rows]
        found = await self.batches_by_id(site, [test.batch_id for test in tests])
        return [(test, found[test.batch_id]) for test in tests]

    async def tests(self, site: str, batch_ids: Iterable[str]) -> dict[str, list[RapidTest]]:
        wanted = sorted(set(batch_ids))
        found: dict[str, list[RapidTest]] = {batch_id: [] for batch_id in wanted}
        if not wanted:
            return found
        rows = await self._rows(select(rapid_tests).where(rapid_tests.c.site == site,
                                                          rapid_tests.c.batch_id.in_(wanted))
                                .order_by(rapid_tests.c.tested_at, rapid_tests.c.test_id))
        for row in rows:
            found[row["batch_id"]].append(_test(row))
        return found


class SaleRepository(Repository):
    """Sales as the scales recorded them, each once, and what was sold of each batch."""

    async def known_sales(self, site: str, keys: Iterable[SaleKey]) -> set[SaleKey]:
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        rows = (await self._connection.execute(
            select(sales.c.scale_id, sales.c.record_id).where(
                sales.c.site == site, tuple_(sales.c.scale_id, sales.c.record_id).in_(wanted)))).all()
        return {(row[0], row[1]) for row in rows}

    async def add_sales(self, site: str, new_sales: Sequence[Sale], now: datetime) -> None:
        if new_sales:
            await self._connection.execute(sales.insert(), [
                {"site": site, "scale_id": s.scale, "record_id": s.record_id, "ts": s.ts, "stall": s.stall,
                 "plu": s.plu, "product": s.product, "net_g": s.net_g, "unit_price_fen": s.unit_price_fen,
                 "amount_fen": s.amount_fen, "trace_code": s.trace_code, "claimed_batch": s.claimed_batch,
                 "batch_id": s.batch_id, "received_at": now, "stall_name": s.stall_name, "vendor_id": s.vendor_id,
                 "vendor_name": s.vendor_name} for s in new_sales])

    async def sale_by_trace_code(self, site: str, trace_code: str) -> Sale | None:
        """The sale printed with ``trace_code``; the latest if a scale ever printed one twice."""
        rows = await self._rows(select(sales).where(sales.c.site == site, sales.c.trace_code == trace_code)
                                .order_by(sales.c.ts.desc()).limit(1))
        return _sale(rows[0]) if rows else None

    async def sales_of_batch(self, site: str, batch_id: str, limit: int | None, offset: int = 0) -> list[Sale]:
        """Oldest first: the order of a forward trace."""
        rows = await self._rows(select(sales).where(sales.c.site == site, sales.c.batch_id == batch_id)
                                .order_by(sales.c.ts, sales.c.scale_id, sales.c.record_id).limit(limit).offset(offset))
        return [_sale(row) for row in rows]

    async def batch_totals(self, site: str, batch_ids: Iterable[str]
                           ) -> dict[str, tuple[int, int, datetime | None, datetime | None]]:
        """Per batch: number of sales, grams sold, first and last sale."""
        wanted = sorted(set(batch_ids))
        totals: dict[str, tuple[int, int, datetime | None, datetime | None]] = {
            batch_id: (0, 0, None, None) for batch_id in wanted}
        if not wanted:
            return totals
        rows = (await self._connection.execute(
            select(sales.c.batch_id, func.count(), func.sum(sales.c.net_g), func.min(sales.c.ts), func.max(sales.c.ts))
            .where(sales.c.site == site, sales.c.batch_id.in_(wanted)).group_by(sales.c.batch_id))).all()
        for batch_id, count, grams, first, last in rows:
            totals[batch_id] = (int(count), int(grams or 0), _utc(first), _utc(last))
        return totals


def _utc(value: datetime | str | None) -> datetime | None:
    """Aggregates of a time column, as an aware UTC time whatever the driver hands back."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _batch(row: Mapping[str, Any], certificates: Sequence[Certificate]) -> Batch:
    block = None
    if row["blocked_at"] is not None:
        block = Block(row["blocked_at"], row["block_reason"], row["blocked_by"], BlockCause(row["block_cause"]))
    # a batch whose certificates are not in their table (written by code older than the table, after its
    # migration): the one the batch row keeps
    admitted_by_test = bool(row["admitted_by_test"])
    held = tuple(certificates)
    if not held and not admitted_by_test:
        held = (Certificate(CertificateType(row["certificate_type"]), row["certificate_number"]),)
    return Batch(row["batch_id"], row["stall"], row["plu"], row["product"], row["supplier"], row["origin_code"],
                 row["origin_name"], int(row["quantity_g"]), held, row["arrived_at"], row["supplier_contact"], block,
                 ProductCategory(row["category"]) if row["category"] else None, admitted_by_test)


def _test(row: Mapping[str, Any]) -> RapidTest:
    reading = None
    if row["item_code"] is not None:
        reading = Reading(TestItem(row["item_code"]), TestMethod(row["method_code"]), Decimal(row["measured"]),
                          row["unit"], Decimal(row["cutoff"]))
    outcome = TestOutcome(row["outcome"]) if row["outcome"] else RapidTestResult(row["result"]).outcome
    laboratory = None
    if row["lab_verdict"] is not None:
        laboratory = LaboratoryResult(LaboratoryVerdict(row["lab_verdict"]), row["lab_name"], row["lab_report"],
                                      row["lab_reported_at"], row["lab_recorded_by"])
    return RapidTest(row["batch_id"], row["item"], row["method"], outcome, row["value"], row["tester"],
                     row["tested_at"], reading, laboratory, int(row["test_id"]))


def _sale(row: Mapping[str, Any]) -> Sale:
    return Sale(row["scale_id"], row["record_id"], row["ts"], row["stall"], row["plu"], row["product"], row["net_g"],
                int(row["unit_price_fen"]), int(row["amount_fen"]), row["trace_code"], row["claimed_batch"],
                row["batch_id"], row["stall_name"], row["vendor_id"], row["vendor_name"])


read_test = _test
"""A rapid test from a row of market_rapid_tests (the district view reads them with their batch's columns)."""
utc_time = _utc
"""A stored time (or one kept as ISO text in an audit entry's detail) as an aware UTC time."""
