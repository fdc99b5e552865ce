"""What follows a rapid test beyond recording it (:mod:`market.service.recall` records it and stops its batch): the
laboratory's result on a suspected positive — pass: the batch is let go again, unless something else still stands
against it; fail: it stays stopped, now as a recall — and the market's daily test board (农残检测公示) and a
stall's latest tests, which the public pages and the stall screen show."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from market.corrections import Correction, CorrectionKind
from market.market_time import day_bounds
from market.rapid_tests import (
    LaboratoryRefusal,
    LaboratoryResult,
    LaboratoryVerdict,
    RapidTest,
    TypedTest,
    judged_test,
    laboratory_refusal,
)
from market.scale_delivery import Delivery
from market.service.command_delivery import CommandDelivery
from market.service.errors import Conflict, FieldsRefused, NotFound, Refused
from market.service.lookup import existing_batch, existing_market, existing_stall
from market.stalls import Market
from market.storage import MarketRepository
from market.tracing import Batch, BlockCause, release_batch, standing_failures

log = logging.getLogger(__name__)

BOARD_MAX_TESTS = 500
"""A day's board shows at most this many tests (a large market does a few hundred a day)."""


@dataclass(frozen=True)
class LaboratoryOutcome:
    """A laboratory result recorded: the test as it is now, the batch as it is now, and the ``unblock_batch``
    deliveries when the result let the batch go."""

    test: RapidTest
    batch: Batch
    deliveries: list[Delivery]


@dataclass(frozen=True)
class TestLine:
    """One test on the board: the test, and its batch's stall and product."""

    test: RapidTest
    batch: Batch


@dataclass(frozen=True)
class TestBoard:
    """A market day's tests, newest first."""

    __test__ = False

    market: Market
    day: date
    lines: list[TestLine]

    @property
    def counts(self) -> dict[str, int]:
        """How many were negative, suspected positive (waiting), failed — for the board's heading."""
        return {"total": len(self.lines),
                "negative": sum(1 for line in self.lines if line.test.cleared),
                "waiting": sum(1 for line in self.lines if line.test.awaiting_laboratory),
                "failed": sum(1 for line in self.lines if line.test.failed)}


class RapidTesting:
    """Laboratory results and the test boards."""

    def __init__(self, engine: AsyncEngine, commands: CommandDelivery) -> None:
        self._engine = engine
        self._commands = commands

    async def record_laboratory(self, site: str, batch_id: str, test_id: int, laboratory: LaboratoryResult,
                                now: datetime) -> LaboratoryOutcome:
        """Record the laboratory's result on a suspected positive. Pass: when the batch was held for it and nothing
        else stands against it (another item's failure or wait), its block is lifted (``unblock_batch`` to its
        scales, an audit entry). Fail: the batch stays blocked, as a recall now. 404 unknown test, 409 a test that
        is no suspected positive or has its result already, 422 a report dated before the test or in the future."""
        if laboratory.reported_at > now:
            raise Refused("a laboratory cannot report in the future")
        pushes: list[Delivery] = []
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            batch = await existing_batch(repository, site, batch_id)
            test = await repository.test(site, batch_id, test_id)
            if test is None:
                raise NotFound(f"no rapid test {test_id} of batch {batch_id!r}")
            refusal = laboratory_refusal(test, laboratory.reported_at)
            if refusal is LaboratoryRefusal.NOT_SUSPECTED:
                raise Conflict(f"test {test_id} is {test.outcome.value}: a laboratory result answers a suspected "
                               "positive")
            if refusal is LaboratoryRefusal.ALREADY_REPORTED:
                raise Conflict(f"test {test_id} has its laboratory result already")
            if refusal is LaboratoryRefusal.BEFORE_TEST:
                raise Refused("a laboratory result cannot be dated before the rapid test")
            reported = replace(test, laboratory=laboratory)
            if not await repository.set_laboratory(site, test_id, laboratory, reported.result.value):
                raise Conflict(f"test {test_id} has its laboratory result already")
            tests = [reported if t.test_id == test_id else t
                     for t in (await repository.tests(site, [batch_id]))[batch_id]]
            block = batch.block
            if laboratory.verdict is LaboratoryVerdict.FAIL:
                reason = f"实验室复检不合格：{test.item}（{laboratory.laboratory} {laboratory.report_number}）"
                if block is not None and block.cause is BlockCause.SUSPECTED_TEST:
                    await repository.set_block_cause(site, batch, BlockCause.FAILED_TEST, reason)
                    batch = replace(batch, block=replace(block, cause=BlockCause.FAILED_TEST, reason=reason[:200]))
            elif block is not None and block.cause is BlockCause.SUSPECTED_TEST and not standing_failures(tests):
                if not await repository.release(site, batch):
                    raise Conflict(f"batch {batch_id!r} changed meanwhile: look again")
                reason = f"实验室复检合格：{test.item}（{laboratory.laboratory} {laboratory.report_number}）"
                batch = release_batch(batch)
                pushes = await self._commands.unblock_on_scales(repository, site, batch, reason[:128], now)
                await repository.add_correction(site, Correction(
                    CorrectionKind.RELEASE_BATCH, batch_id, reason, laboratory.recorded_by, now, {
                        "blocked_at": block.at.isoformat(), "block_reason": block.reason, "blocked_by": block.by,
                        "block_cause": block.cause.value, "scales": len(pushes), "test_id": test_id}))
        log.warning("laboratory result recorded", extra={"site": site, "batch": batch_id, "test": test_id,
                                                         "verdict": laboratory.verdict.value,
                                                         "released": bool(pushes)})
        deliveries = await self._commands.dispatch(pushes, now) if pushes else []
        return LaboratoryOutcome(reported, batch, deliveries)

    async def read_test(self, site: str, typed: TypedTest) -> RapidTest:
        """The test ``typed`` says, judged against its batch's category; :class:`FieldsRefused` with each field's
        problem (an item that does not fit the product, a value without its unit or out of range...)."""
        async with self._engine.connect() as connection:
            batch = await existing_batch(MarketRepository(connection), site, typed.batch_id)
        read = judged_test(batch.category, typed)
        if isinstance(read, list):
            raise FieldsRefused(read)
        return read

    async def test_board(self, site: str, day: date) -> TestBoard:
        """The tests done at the market on ``day`` (a market day in Shanghai), newest first."""
        since, until = day_bounds(day)
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            market = await existing_market(repository, site)
            found = await repository.tests_between(site, since, until, limit=BOARD_MAX_TESTS)
        return TestBoard(market, day, [TestLine(test, batch) for test, batch in found])

    async def stall_tests(self, site: str, stall: str, since: datetime, until: datetime, limit: int
                          ) -> list[TestLine]:
        """A stall's tests in [since, until), newest first."""
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_stall(repository, site, stall)
            found = await repository.tests_between(site, since, until, stall=stall, limit=limit)
        return [TestLine(test, batch) for test, batch in found]
