"""Batches of produce entering the market: received with the certificates their product's category requires, from
an origin that is a division of the GB/T 2260 list (each refusal at its field, nothing written), listed, shown with
their tests and mass balance, and their quantity corrected when mistyped."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from market.corrections import Correction, CorrectionKind
from market.rapid_tests import TypedTest, judged_test
from market.refusals import FieldProblem
from market.scale_delivery import Delivery
from market.service.errors import Conflict, FieldsRefused, Refused, Unchanged
from market.service.lookup import existing_batch, existing_market, existing_stall
from market.service.oversight import raise_findings
from market.service.recall import Recalls
from market.service.settings import MarketSettings
from market.storage import MarketRepository
from market.tracing import (
    Batch,
    MassBalance,
    RapidTest,
    UnchangedQuantity,
    by_test,
    default_category,
    intake_problems,
    oversold_finding,
    with_quantity,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchDetail:
    batch: Batch
    tests: list[RapidTest]
    balance: MassBalance
    sales_count: int
    first_sale_at: datetime | None
    last_sale_at: datetime | None


class Batches:
    """Receiving batches and keeping their record right."""

    def __init__(self, engine: AsyncEngine, settings: MarketSettings, recalls: Recalls) -> None:
        """``recalls``: stops a batch received with a test that does not pass, in the receiving transaction."""
        self._engine = engine
        self._settings = settings
        self._recalls = recalls

    async def receive_batch(self, site: str, batch: Batch, by: str, now: datetime,
                            typed_tests: Sequence[TypedTest] = ()) -> Batch:
        """Receive a batch: of the category it says, else its stall's trade's (a meat stall's batch says which
        meat); refused with each field's reason (:class:`FieldsRefused`) when its origin is no division or its
        certificates do not fit the product. ``tests``: the market's rapid tests done at intake, recorded with it
        (all negative); farm produce that came with neither a commitment certificate nor a test report enters on
        them. A batch received with its certificates is received whatever its tests read: one that is not negative
        stops it as a test recorded later would (a suspected positive holds it for the laboratory, a positive
        recalls it), in the same transaction. Answers the batch as received (stopped, then)."""
        if batch.block is not None:
            raise Refused("a batch is received open; recall it afterwards")
        if batch.arrived_at > now + timedelta(minutes=5):
            raise Refused("a batch cannot arrive in the future")
        for typed in typed_tests:
            if typed.tested_at > now + timedelta(minutes=5) or typed.tested_at < batch.arrived_at:
                raise FieldsRefused([FieldProblem("tests", "an intake test is done between arrival and now",
                                                  "入场快检时间须在到货之后、现在之前")])
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            stall = await existing_stall(repository, site, batch.stall)
            if batch.category is None:
                batch = replace(batch, category=default_category(stall.stall_type))
            tests: list[RapidTest] = []
            problems: list[FieldProblem] = []
            for index, typed in enumerate(typed_tests):
                read = judged_test(batch.category, replace(typed, batch_id=batch.batch_id), f"tests.{index}.")
                if isinstance(read, list):
                    problems.extend(read)
                else:
                    tests.append(read)
            problems = problems or intake_problems(batch, self._settings.divisions, tests)
            if problems:
                raise FieldsRefused(problems)
            if batch.category is not None and by_test(batch.category, batch.certificates):
                batch = replace(batch, admitted_by_test=True)
            if await repository.batch(site, batch.batch_id) is not None:
                raise Conflict(f"batch {batch.batch_id!r} was received already")
            await repository.add_batch(site, batch, by, now)
            stops: list[Delivery] = []
            for test in tests:
                test = replace(test, test_id=await repository.add_test(site, test, now))
                stopped = await self._recalls.stop_for_test(repository, site, batch, test, by, now)
                if stopped is not None:
                    batch, stops = stopped
        log.info("batch received", extra={"site": site, "batch": batch.batch_id, "stall": batch.stall,
                                          "quantity_g": batch.quantity_g,
                                          "certificates": [c.kind.value for c in batch.certificates]})
        await self._recalls.dispatch(stops, now)
        return batch

    async def batches(self, site: str, stall: str | None, limit: int, offset: int) -> list[Batch]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_market(repository, site)
            return await repository.batches(site, stall=stall, limit=limit, offset=offset)

    async def batch_detail(self, site: str, batch_id: str) -> BatchDetail:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            batch = await existing_batch(repository, site, batch_id)
            tests = (await repository.tests(site, [batch_id]))[batch_id]
            count, grams, first, last = (await repository.batch_totals(site, [batch_id]))[batch_id]
        return BatchDetail(batch, tests, MassBalance(batch.quantity_g, grams), count, first, last)

    async def correct_quantity(self, site: str, batch_id: str, quantity_g: int, reason: str, by: str,
                               now: datetime) -> BatchDetail:
        """Correct a batch's received grams (a typing error at receiving), with an audit entry. The mass
        balance follows: a batch now oversold raises its ``oversold`` finding (if it never had one)."""
        if not reason.strip():
            raise Refused("say why the quantity is corrected")
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            batch = await existing_batch(repository, site, batch_id)
            try:
                corrected = with_quantity(batch, quantity_g)
            except UnchangedQuantity as same:
                raise Unchanged(str(same)) from None
            except ValueError as invalid:
                raise Refused(str(invalid)) from None
            if not await repository.set_quantity(site, batch_id, quantity_g, batch.quantity_g):
                raise Conflict(f"batch {batch_id!r} changed meanwhile: look again")
            count, grams, first, last = (await repository.batch_totals(site, [batch_id]))[batch_id]
            await repository.add_correction(site, Correction(
                CorrectionKind.CORRECT_QUANTITY, batch_id, reason, by, now,
                {"before_g": batch.quantity_g, "after_g": quantity_g, "sold_g": grams}))
            balance = MassBalance(quantity_g, grams)
            finding = oversold_finding(corrected, balance, now, self._settings.oversold_tolerance_g)
            if finding is not None:
                await raise_findings(repository, site, [finding], now)
            tests = (await repository.tests(site, [batch_id]))[batch_id]
        log.info("batch quantity corrected", extra={"site": site, "batch": batch_id, "before_g": batch.quantity_g,
                                                    "after_g": quantity_g, "by": by})
        return BatchDetail(corrected, tests, balance, count, first, last)
