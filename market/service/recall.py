"""Stopping a batch and letting it go again: a failed rapid test stops its batch at once, an operator may
recall one on their word, and a block is lifted only once no failed test stands. Every stop and release
goes to each scale that may sell the batch, after the transaction committed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from market.corrections import Correction, CorrectionKind, RecordedCorrection
from market.scale_delivery import Delivery
from market.service.command_delivery import CommandDelivery, Outbox
from market.service.errors import Conflict, Refused, TestBeforeArrival
from market.service.lookup import existing_batch
from market.service.notices import MarketNotices
from market.service.trace_queries import TraceQueries
from market.storage import MarketRepository
from market.tracing import (
    Batch,
    BlockCause,
    ForwardTrace,
    RapidTest,
    ReleaseRefusal,
    block_batch,
    predates_arrival,
    release_batch,
    release_refusal,
    standing_failures,
    stop_cause,
    stop_reason,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recall:
    trace: ForwardTrace
    deliveries: list[Delivery]


@dataclass(frozen=True)
class RecordedTest:
    test: RapidTest
    recall: Recall | None


@dataclass(frozen=True)
class Release:
    """A block lifted: the batch open again and the ``unblock_batch`` deliveries to its scales."""

    batch: Batch
    deliveries: list[Delivery]
    correction: RecordedCorrection


class Recalls:
    """Rapid tests, recalls and releases; a stop answers with the batch's forward trace."""

    def __init__(self, engine: AsyncEngine, commands: CommandDelivery, traces: TraceQueries,
                 notices: MarketNotices | None = None) -> None:
        self._engine = engine
        self._notices = notices or MarketNotices(None)
        self._commands = commands
        self._traces = traces

    async def record_test(self, site: str, test: RapidTest, by: str, now: datetime) -> RecordedTest:
        """Record a rapid test; a failed one stops the batch at once (recall, ``block_batch`` to scales)."""
        if test.tested_at > now + timedelta(minutes=5):
            raise Refused("a test cannot be done in the future")
        outbox = Outbox()
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            batch = await existing_batch(repository, site, test.batch_id)
            if predates_arrival(test, batch):
                raise TestBeforeArrival(batch)
            test = replace(test, test_id=await repository.add_test(site, test, now))
            stopped = await self.stop_for_test(repository, site, batch, test, by, now)
            blocks = stopped is not None
            outbox.deliveries.extend(stopped[1] if stopped else [])
        log.info("rapid test recorded", extra={"site": site, "batch": test.batch_id, "item": test.key,
                                               "outcome": test.outcome.value})
        if not blocks:
            return RecordedTest(test, None)
        deliveries = await self._commands.dispatch(outbox.deliveries, now)
        return RecordedTest(test, Recall(await self._traces.forward_trace(site, test.batch_id, 100, 0), deliveries))

    async def stop_for_test(self, repository: MarketRepository, site: str, batch: Batch, test: RapidTest, by: str,
                            now: datetime) -> tuple[Batch, list[Delivery]] | None:
        """Inside the caller's transaction: stop an open ``batch`` that ``test`` stops (a positive recalls it, a
        suspected positive holds it for the laboratory), tell whoever is notified; the batch as stopped and the
        ``block_batch`` deliveries to send once the transaction committed. None: the test stops nothing, or the
        batch was stopped already."""
        cause = stop_cause(test)
        if cause is None or batch.block is not None:
            return None
        reason = stop_reason(test)
        deliveries = await self._block(repository, site, batch, reason, by, cause, now)
        await self._notices.test_failed(repository, site, batch, test, now)
        return block_batch(batch, now, reason, by, cause), deliveries

    async def dispatch(self, deliveries: list[Delivery], now: datetime) -> list[Delivery]:
        """Send the deliveries of a committed transaction."""
        return await self._commands.dispatch(deliveries, now)

    async def recall(self, site: str, batch_id: str, reason: str, by: str, now: datetime) -> Recall:
        """Stop a batch on the operator's word: block it, tell the scales, and list every sale of it."""
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            batch = await existing_batch(repository, site, batch_id)
            if batch.block is not None:
                raise Conflict(f"batch {batch_id!r} was stopped already at {batch.block.at.isoformat()}")
            pushes = await self._block(repository, site, batch, reason, by, BlockCause.OPERATOR, now)
            await self._notices.recalled(repository, site, batch, reason, by, now)
        deliveries = await self._commands.dispatch(pushes, now)
        return Recall(await self._traces.forward_trace(site, batch_id, 100, 0), deliveries)

    async def release(self, site: str, batch_id: str, reason: str, by: str, now: datetime) -> Release:
        """Lift a batch's block (a recall withdrawn, a failed test overturned by a passing retest): the
        batch may be sold again, and every scale that was told to block it is told it may sell it
        (``unblock_batch``). Refused (409) when the batch is not blocked; refused (422) while a failed
        rapid test stands, i.e. its item has not passed a later retest, whoever blocked the batch."""
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            batch = await existing_batch(repository, site, batch_id)
            tests = (await repository.tests(site, [batch_id]))[batch_id]
            refusal = release_refusal(batch, tests, reason)
            if refusal is ReleaseRefusal.NOT_BLOCKED:
                raise Conflict(f"batch {batch_id!r} is not blocked: nothing to lift")
            if refusal is ReleaseRefusal.NO_REASON:
                raise Refused("say why the block is lifted")
            if refusal is ReleaseRefusal.FAILED_TEST_STANDS:
                items = ", ".join(test.item for test in standing_failures(tests))
                raise Refused(f"batch {batch_id!r} failed a rapid test or waits for a laboratory result ({items}) "
                              "and no later test of it passed: retest first")
            block = batch.block
            assert block is not None
            if not await repository.release(site, batch):
                raise Conflict(f"batch {batch_id!r} changed meanwhile: look again")
            released = release_batch(batch)
            pushes = await self._commands.unblock_on_scales(repository, site, released, reason, now)
            correction = Correction(CorrectionKind.RELEASE_BATCH, batch_id, reason, by, now, {
                "blocked_at": block.at.isoformat(), "block_reason": block.reason, "blocked_by": block.by,
                "block_cause": block.cause.value, "scales": len(pushes)})
            correction_id = await repository.add_correction(site, correction)
            await self._notices.released(repository, site, batch, reason, by, now)
        log.warning("batch released", extra={"site": site, "batch": batch_id, "scales": len(pushes), "by": by})
        deliveries = await self._commands.dispatch(pushes, now)
        return Release(released, deliveries, RecordedCorrection(correction_id, correction))

    async def _block(self, repository: MarketRepository, site: str, batch: Batch, reason: str, by: str,
                     cause: BlockCause, now: datetime) -> list[Delivery]:
        """Mark the batch blocked and create a ``block_batch`` delivery to every scale that may sell it:
        those at its stall and any other that has sold from it."""
        try:
            blocked = block_batch(batch, now, reason, by, cause)
        except ValueError as invalid:
            raise Refused(str(invalid)) from None
        if not await repository.block(site, blocked):
            raise Conflict(f"batch {batch.batch_id!r} was stopped already")
        created = await self._commands.block_on_scales(repository, site, batch, reason, now)
        log.warning("batch stopped", extra={"site": site, "batch": batch.batch_id, "cause": cause.value,
                                            "scales": len(created), "by": by})
        return created
