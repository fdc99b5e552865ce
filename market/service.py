"""Market use cases: each opens one transaction, loads what the domain needs, lets the domain decide,
stores the outcome, and then sends the commands it produced to the scales.

The same service hears the scales (:meth:`MarketService.handle`, fed by a ``ServiceFeed`` with their
records, acks and states) and does its periodic work in :meth:`MarketService.tick` (command retries).
Both are idempotent: a redelivered record is one sale, a redelivered ack changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from devices.contract import Command, CommandAck, DeviceState, ScaleRecord, UplinkModel
from devices.scale_commands import (
    BLOCK_BATCH,
    MAX_PRICES_PER_TABLE,
    SET_PRICES,
    UNBLOCK_BATCH,
    BlockBatchArgs,
    ScalePrice,
    SetPricesArgs,
    UnblockBatchArgs,
    block_batch_command,
    set_prices_command,
    unblock_batch_command,
)
from devices.topics import DeviceKind, DeviceTopic
from gateway.outputs import Aggregate, Summary, TimeSeriesStore, WindowQuery
from gateway.processors.points import Measurement
from market.corrections import Correction, CorrectionKind, RecordedCorrection
from market.epcis import MarketIdentifiers, batch_document
from market.findings import Finding, FindingKind, RecordedFinding
from market.licences import (
    DEFAULT_WARNING_DAYS,
    Document,
    DocumentStatus,
    RecordedDocument,
    StallLicenceStatus,
    StallType,
    assess_stall,
)
from market.market_time import day_bounds, day_start, market_day
from market.pricing import (
    BoardLine,
    DailyPrice,
    PublishedPrice,
    daily_price,
    price_board,
    price_in_force,
    prices_in_force,
    pricing_findings,
    scale_price_table,
)
from market.rate_limit import Network, RateLimit, trusted_networks
from market.scale_delivery import (
    DEFAULT_POLICY,
    Delivery,
    DeliveryPolicy,
    DeliveryStatus,
    acknowledged,
    given_up,
    new_delivery,
    not_sent,
    out_of_attempts,
    rearmed,
    sent,
    superseded,
)
from market.stalls import Market, ScaleRegistration, Stall, Vendor, tenure_at
from market.storage import MarketRepository
from market.tracing import (
    Batch,
    BlockCause,
    ForwardTrace,
    MassBalance,
    RapidTest,
    RapidTestResult,
    ReleaseRefusal,
    Sale,
    UnchangedQuantity,
    accepted_certificates,
    block_batch,
    current_batch,
    failed_test_reason,
    latest_tests,
    link_sale,
    oversold_finding,
    predates_arrival,
    release_batch,
    release_refusal,
    standing_failures,
    tracing_findings,
    with_quantity,
)
from messaging.downlink import Downlink, DownlinkUnavailable

log = logging.getLogger(__name__)

NS_PER_US: Final = 1_000
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
DAY: Final = timedelta(days=1)
MARKET_DAY_OFFSET: Final = (day_start(date(1970, 1, 2)) - EPOCH) % DAY
"""Where a market day begins past midnight UTC (16:00 for UTC+8): the time series' daily windows."""
DAILY_PRICE_SUMMARIES: Final = (
    Summary("sales", Aggregate.COUNT, "unit_price_fen"),
    Summary("grams", Aggregate.SUM, "net_g"),
    Summary("min_fen", Aggregate.MIN, "unit_price_fen"),
    Summary("max_fen", Aggregate.MAX, "unit_price_fen"),
    Summary("fen_grams", Aggregate.SUM, "unit_price_fen", times="net_g"),
)
LICENCE_REVIEW_CHUNK: Final = 200
SUPERSEDE_PAGE: Final = 200  # undelivered commands of a scale read at a time, when a block or release replaces one
"""Stalls read at a time while looking for licence problems."""


@dataclass(frozen=True)
class MarketSettings:
    """Tunables of the market service, each bounded."""

    delivery: DeliveryPolicy = DEFAULT_POLICY
    warning_days: tuple[int, ...] = DEFAULT_WARNING_DAYS
    trace_rate: RateLimit = field(default_factory=RateLimit)
    oversold_tolerance_g: int = 0
    current_batch_lookback: timedelta = timedelta(days=30)
    """How far back a stall's batches are looked at to find the one a sale came from."""
    price_backdating: timedelta = timedelta(minutes=5)
    """How long before publication a price may take effect (a clock a little behind); no more."""
    history_max_days: int = 31
    board_trend_ttl: timedelta = timedelta(seconds=60)
    """How long the public price board's trend charts are reused before the time series is asked again."""
    deliveries_per_tick: int = 200
    epcis_max_sales: int = 10_000
    public_base_url: str | None = None
    """Where the public pages are reached (QR codes, EPCIS identifiers); else the request's own origin."""
    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies (addresses or networks, e.g. ``10.0.0.0/8``) whose ``X-Forwarded-For`` names the
    client for the trace lookup's rate limit. Empty: every client is the address it connects from."""
    trusted_proxy_networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not timedelta(0) <= self.board_trend_ttl <= timedelta(hours=1):
            raise ValueError("board_trend_ttl: 0 to 1 hour")
        object.__setattr__(self, "trusted_proxy_networks", trusted_networks(self.trusted_proxies))


class NotFound(Exception):
    """The market, stall, vendor, batch or finding named does not exist."""


class Conflict(Exception):
    """It exists already, or its state forbids the change (a batch blocked twice)."""


class Refused(Exception):
    """The request breaks a rule of the market (a meat batch without quarantine certificate...)."""


class Unchanged(Refused):
    """A correction that changes nothing (the quantity on record typed again)."""


class TestBeforeArrival(Refused):
    """A rapid test dated before its batch arrived (it tested something else, or the time is mistyped)."""

    __test__ = False  # a name pytest would otherwise collect

    def __init__(self, batch: Batch) -> None:
        super().__init__(f"a test of batch {batch.batch_id!r} cannot be done before it arrived "
                         f"({batch.arrived_at.isoformat()})")
        self.arrived_at = batch.arrived_at


@dataclass(frozen=True)
class PriceItem:
    plu: str
    product: str
    unit_price_fen: int


@dataclass(frozen=True)
class StallOverview:
    stall: Stall
    vendor: Vendor | None
    licences: StallLicenceStatus


@dataclass(frozen=True)
class ScaleOverview:
    registration: ScaleRegistration
    last_price_push: Delivery | None


@dataclass(frozen=True)
class Publication:
    prices: list[PublishedPrice]
    deliveries: list[Delivery]


@dataclass(frozen=True)
class BatchDetail:
    batch: Batch
    tests: list[RapidTest]
    balance: MassBalance
    sales_count: int
    first_sale_at: datetime | None
    last_sale_at: datetime | None


@dataclass(frozen=True)
class Recall:
    trace: ForwardTrace
    deliveries: list[Delivery]


@dataclass(frozen=True)
class RecordedTest:
    test: RapidTest
    recall: Recall | None


@dataclass(frozen=True)
class PublicTrace:
    """What a shopper may learn from a receipt's trace code: nothing about anyone's contact, payment,
    or who tested the produce. The stall's name and vendor are those of the time of sale."""

    market: Market | None
    sale: Sale
    stall_name: str | None
    vendor_name: str | None
    batch: Batch | None
    tests: list[RapidTest]


@dataclass(frozen=True)
class Release:
    """A block lifted: the batch open again and the ``unblock_batch`` deliveries to its scales."""

    batch: Batch
    deliveries: list[Delivery]
    correction: RecordedCorrection


@dataclass(frozen=True)
class DisplayBatch:
    batch: Batch
    tests: list[RapidTest]


@dataclass(frozen=True)
class StallDisplay:
    market: Market
    stall: Stall
    vendor: Vendor | None
    licences: StallLicenceStatus
    prices: list[PublishedPrice]
    batches: list[DisplayBatch]
    day: date


@dataclass(frozen=True)
class LicenceProblem:
    stall: Stall
    vendor: Vendor | None
    status: DocumentStatus


@dataclass(frozen=True)
class PriceHistory:
    plu: str
    days: list[DailyPrice]


@dataclass
class _Outbox:
    """Commands to send once the transaction that produced them has committed."""

    deliveries: list[Delivery] = field(default_factory=list)


class MarketService:
    def __init__(
        self,
        engine: AsyncEngine,
        downlink: Downlink,
        timeseries: TimeSeriesStore,
        clock: Callable[[], datetime],
        settings: MarketSettings | None = None,
    ) -> None:
        self._engine = engine
        self._downlink = downlink
        self._timeseries = timeseries
        self._clock = clock
        self.settings = settings or MarketSettings()

    # -- the market's directory -------------------------------------------------------------

    async def create_market(self, market: Market, now: datetime) -> None:
        try:
            async with self._engine.begin() as connection:
                await MarketRepository(connection).add_market(market, now)
        except IntegrityError:
            raise Conflict(f"market {market.site!r} exists already") from None

    async def market(self, site: str) -> Market:
        async with self._engine.connect() as connection:
            return await self._market(MarketRepository(connection), site)

    async def markets(self, limit: int, offset: int) -> list[Market]:
        async with self._engine.connect() as connection:
            return await MarketRepository(connection).markets(limit, offset)

    async def add_vendor(self, site: str, vendor: Vendor, now: datetime) -> None:
        try:
            async with self._engine.begin() as connection:
                repository = MarketRepository(connection)
                await self._market(repository, site)
                await repository.add_vendor(site, vendor, now)
        except IntegrityError:
            raise Conflict(f"vendor {vendor.vendor_id!r} exists already") from None

    async def vendors(self, site: str, limit: int, offset: int) -> list[tuple[Vendor, list[RecordedDocument]]]:
        """Vendors with every document recorded for them, voided ones too (marked)."""
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await self._market(repository, site)
            found = await repository.vendors(site, limit, offset)
            held = await repository.recorded_documents(site, [vendor.vendor_id for vendor in found])
        return [(vendor, held[vendor.vendor_id]) for vendor in found]

    async def vendor_documents(self, site: str, vendor_id: str) -> list[RecordedDocument]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            if await repository.vendor(site, vendor_id) is None:
                raise NotFound(f"no vendor {vendor_id!r} at market {site!r}")
            return (await repository.recorded_documents(site, [vendor_id]))[vendor_id]

    async def void_document(self, site: str, vendor_id: str, document_id: int, reason: str, by: str,
                            now: datetime) -> RecordedDocument:
        """Void a mistyped document: it no longer counts for the vendor's stalls, and stays listed as
        voided, with who voided it, when and why (also an audit entry)."""
        if not reason.strip():
            raise Refused("say why the document is voided")
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            found = await repository.recorded_document(site, document_id)
            if found is None or found.vendor_id != vendor_id:
                raise NotFound(f"no document {document_id} of vendor {vendor_id!r} at market {site!r}")
            if found.voided or not await repository.void_document(site, document_id, by, reason, now):
                raise Conflict(f"document {document_id} was voided already")
            await repository.add_correction(site, Correction(
                CorrectionKind.VOID_DOCUMENT, str(document_id), reason, by, now,
                {"vendor_id": vendor_id, "kind": found.document.kind.value, "number": found.document.number}))
        log.info("vendor document voided", extra={"site": site, "vendor": vendor_id, "document": document_id,
                                                  "by": by})
        return replace(found, voided_at=now, voided_by=by, void_reason=reason)

    async def add_document(self, site: str, vendor_id: str, document: Document, by: str, now: datetime) -> int:
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            if await repository.vendor(site, vendor_id) is None:
                raise NotFound(f"no vendor {vendor_id!r} at market {site!r}")
            document_id = await repository.add_document(site, vendor_id, document, by, now)
        log.info("vendor document recorded",
                 extra={"site": site, "vendor": vendor_id, "kind": document.kind.value, "by": by})
        return document_id

    async def add_stall(self, site: str, stall: Stall, now: datetime | None = None) -> None:
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            await self._market(repository, site)
            await self._vendor_exists(repository, site, stall.vendor_id)
            if await repository.stall(site, stall.stall) is not None:
                raise Conflict(f"stall {stall.stall!r} exists already")
            await repository.add_stall(site, stall)
            await repository.add_tenure(site, stall, now or self._clock())

    async def update_stall(self, site: str, stall: Stall, now: datetime | None = None) -> None:
        """Change a stall; a new name or vendor begins a new tenure, so the sales made before keep the
        name and vendor they were made under."""
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            await self._vendor_exists(repository, site, stall.vendor_id)
            before = await repository.stall(site, stall.stall)
            if before is None or not await repository.update_stall(site, stall):
                raise NotFound(f"no stall {stall.stall!r} at market {site!r}")
            if (before.name, before.vendor_id) != (stall.name, stall.vendor_id):
                await repository.add_tenure(site, stall, now or self._clock())

    async def stalls(self, site: str, now: datetime, limit: int, offset: int) -> list[StallOverview]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await self._market(repository, site)
            found = await repository.stalls(site, limit, offset)
            return await self._overviews(repository, site, found, market_day(now))

    async def register_scale(self, site: str, scale: str, stall: str, now: datetime) -> list[Delivery]:
        """Put a scale at a stall; it is sent the stall's price table at once."""
        outbox = _Outbox()
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            await self._stall(repository, site, stall)
            await repository.register_scale(site, scale, stall, now)
            outbox.deliveries.extend(await self._push_price_table(repository, site, stall, now, only=scale))
        log.info("scale registered", extra={"site": site, "scale": scale, "stall": stall})
        return await self._dispatch(outbox.deliveries, now)

    async def scales(self, site: str, limit: int, offset: int, stall: str | None = None) -> list[ScaleOverview]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await self._market(repository, site)
            found = await repository.scales(site, stall=stall, limit=limit, offset=offset)
            overviews = []
            for registration in found:
                last = await repository.deliveries(site, scale=registration.scale, op=SET_PRICES, limit=1)
                overviews.append(ScaleOverview(registration, last[0] if last else None))
        return overviews

    # -- prices --------------------------------------------------------------------------------

    async def publish_prices(self, site: str, stall: str, items: Sequence[PriceItem], effective_from: datetime | None,
                             by: str, now: datetime) -> Publication:
        """Publish a stall's prices (effective now unless said otherwise) and push its table to its scales."""
        effective = effective_from or now
        if effective < now - self.settings.price_backdating:
            raise Refused("a price cannot take effect in the past: sales already made were made at the old one")
        plus = [item.plu for item in items]
        if not items or len(set(plus)) != len(plus):
            raise Refused("publish at least one price, each PLU once")
        try:
            published = [PublishedPrice(stall, item.plu, item.product, item.unit_price_fen, effective, now, by)
                         for item in items]
        except ValueError as invalid:
            raise Refused(str(invalid)) from None
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            await self._stall(repository, site, stall)
            await repository.add_prices(site, published)
            pushes = await self._push_price_table(repository, site, stall, now)
        log.info("prices published", extra={"site": site, "stall": stall, "prices": len(published), "by": by,
                                            "scales": len(pushes)})
        return Publication(published, await self._dispatch(pushes, now))

    async def price_history(self, site: str, stall: str, plu: str | None, limit: int, offset: int
                            ) -> list[PublishedPrice]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await self._stall(repository, site, stall)
            return await repository.price_history(site, stall, plu, limit, offset)

    async def price_board(self, site: str, now: datetime) -> tuple[Market, list[BoardLine]]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            market = await self._market(repository, site)
            in_force = prices_in_force(await repository.prices_from(site, now), now)
        return market, price_board(in_force)

    async def sales_price_history(self, site: str, plu: str, days: int, now: datetime) -> PriceHistory:
        """Daily lowest, weighted mean and highest price paid for ``plu`` over the last ``days`` market
        days, from the time series: one query, summed per market day by the store over every sale."""
        histories = await self.price_histories(site, days, now, plu=plu)
        return histories.get(plu, PriceHistory(plu, []))

    async def price_histories(self, site: str, days: int, now: datetime, plu: str | None = None
                              ) -> dict[str, PriceHistory]:
        """:meth:`sales_price_history` of every product sold at the market in the period (or just
        ``plu``), by PLU, from one query grouped by product and market day."""
        if not 1 <= days <= self.settings.history_max_days:
            raise Refused(f"days: 1 to {self.settings.history_max_days}")
        await self.market(site)
        today = market_day(now)
        start, _ = day_bounds(today - timedelta(days=days - 1))
        _, end = day_bounds(today)
        tags = {"site": site} if plu is None else {"site": site, "plu": plu}
        rows = await self._timeseries.summarise(WindowQuery(
            Measurement.SCALE_RECORD, _ns(start), _ns(end), _ns_of(DAY), DAILY_PRICE_SUMMARIES, tags,
            group_by=("plu",), offset_ns=_ns_of(MARKET_DAY_OFFSET)))
        found: dict[str, list[DailyPrice]] = {}
        for row in rows:
            if not all(isinstance(row.get(s.name), int) for s in DAILY_PRICE_SUMMARIES) or not row["grams"]:
                continue  # a day whose points lack a field: nothing sound to show
            product = str(row["plu"])
            found.setdefault(product, []).append(daily_price(
                market_day(_from_ns(int(row["time"]))), product, int(row["sales"]), int(row["grams"]),
                int(row["min_fen"]), int(row["max_fen"]), int(row["fen_grams"])))
        return {product: PriceHistory(product, sorted(days_, key=lambda d: d.day))
                for product, days_ in sorted(found.items())}

    async def deliveries(self, site: str, statuses: Iterable[DeliveryStatus] | None, scale: str | None,
                         limit: int, offset: int) -> list[Delivery]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await self._market(repository, site)
            return await repository.deliveries(site, scale=scale, statuses=statuses, limit=limit, offset=offset)

    # -- tracing -------------------------------------------------------------------------------

    async def receive_batch(self, site: str, batch: Batch, by: str, now: datetime) -> None:
        if batch.block is not None:
            raise Refused("a batch is received open; recall it afterwards")
        if batch.arrived_at > now + timedelta(minutes=5):
            raise Refused("a batch cannot arrive in the future")
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            stall = await self._stall(repository, site, batch.stall)
            if batch.certificate_type not in accepted_certificates(stall.stall_type):
                wanted = ", ".join(sorted(c.value for c in accepted_certificates(stall.stall_type)))
                raise Refused(f"a {stall.stall_type.value} batch enters the market with: {wanted}")
            if await repository.batch(site, batch.batch_id) is not None:
                raise Conflict(f"batch {batch.batch_id!r} was received already")
            await repository.add_batch(site, batch, by, now)
        log.info("batch received", extra={"site": site, "batch": batch.batch_id, "stall": batch.stall,
                                          "quantity_g": batch.quantity_g})

    async def batches(self, site: str, stall: str | None, limit: int, offset: int) -> list[Batch]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await self._market(repository, site)
            return await repository.batches(site, stall=stall, limit=limit, offset=offset)

    async def batch_detail(self, site: str, batch_id: str) -> BatchDetail:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            batch = await self._batch(repository, site, batch_id)
            tests = (await repository.tests(site, [batch_id]))[batch_id]
            count, grams, first, last = (await repository.batch_totals(site, [batch_id]))[batch_id]
        return BatchDetail(batch, tests, MassBalance(batch.quantity_g, grams), count, first, last)

    async def record_test(self, site: str, test: RapidTest, by: str, now: datetime) -> RecordedTest:
        """Record a rapid test; a failed one stops the batch at once (recall, ``block_batch`` to scales)."""
        if test.tested_at > now + timedelta(minutes=5):
            raise Refused("a test cannot be done in the future")
        outbox = _Outbox()
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            batch = await self._batch(repository, site, test.batch_id)
            if predates_arrival(test, batch):
                raise TestBeforeArrival(batch)
            await repository.add_test(site, test, now)
            blocks = test.result is RapidTestResult.FAIL and batch.block is None
            if blocks:
                outbox.deliveries.extend(await self._block(repository, site, batch, failed_test_reason(test), by,
                                                           BlockCause.FAILED_TEST, now))
        log.info("rapid test recorded", extra={"site": site, "batch": test.batch_id, "item": test.item,
                                               "result": test.result.value})
        if not blocks:
            return RecordedTest(test, None)
        deliveries = await self._dispatch(outbox.deliveries, now)
        return RecordedTest(test, Recall(await self.forward_trace(site, test.batch_id, 100, 0), deliveries))

    async def recall(self, site: str, batch_id: str, reason: str, by: str, now: datetime) -> Recall:
        """Stop a batch on the operator's word: block it, tell the scales, and list every sale of it."""
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            batch = await self._batch(repository, site, batch_id)
            if batch.block is not None:
                raise Conflict(f"batch {batch_id!r} was stopped already at {batch.block.at.isoformat()}")
            pushes = await self._block(repository, site, batch, reason, by, BlockCause.OPERATOR, now)
        deliveries = await self._dispatch(pushes, now)
        return Recall(await self.forward_trace(site, batch_id, 100, 0), deliveries)

    async def release(self, site: str, batch_id: str, reason: str, by: str, now: datetime) -> Release:
        """Lift a batch's block (a recall withdrawn, a failed test overturned by a passing retest): the
        batch may be sold again, and every scale that was told to block it is told it may sell it
        (``unblock_batch``). Refused (409) when the batch is not blocked; refused (422) while a failed
        rapid test stands, i.e. its item has not passed a later retest, whoever blocked the batch."""
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            batch = await self._batch(repository, site, batch_id)
            tests = (await repository.tests(site, [batch_id]))[batch_id]
            refusal = release_refusal(batch, tests, reason)
            if refusal is ReleaseRefusal.NOT_BLOCKED:
                raise Conflict(f"batch {batch_id!r} is not blocked: nothing to lift")
            if refusal is ReleaseRefusal.NO_REASON:
                raise Refused("say why the block is lifted")
            if refusal is ReleaseRefusal.FAILED_TEST_STANDS:
                items = ", ".join(test.item for test in standing_failures(tests))
                raise Refused(f"batch {batch_id!r} failed a rapid test ({items}) and no later test of it passed: "
                              "retest first")
            block = batch.block
            assert block is not None
            if not await repository.release(site, batch):
                raise Conflict(f"batch {batch_id!r} changed meanwhile: look again")
            released = release_batch(batch)
            pushes = await self._unblock(repository, site, released, reason, now)
            correction = Correction(CorrectionKind.RELEASE_BATCH, batch_id, reason, by, now, {
                "blocked_at": block.at.isoformat(), "block_reason": block.reason, "blocked_by": block.by,
                "block_cause": block.cause.value, "scales": len(pushes)})
            correction_id = await repository.add_correction(site, correction)
        log.warning("batch released", extra={"site": site, "batch": batch_id, "scales": len(pushes), "by": by})
        deliveries = await self._dispatch(pushes, now)
        return Release(released, deliveries, RecordedCorrection(correction_id, correction))

    async def correct_quantity(self, site: str, batch_id: str, quantity_g: int, reason: str, by: str,
                               now: datetime) -> BatchDetail:
        """Correct a batch's received grams (a typing error at receiving), with an audit entry. The mass
        balance follows: a batch now oversold raises its ``oversold`` finding (if it never had one)."""
        if not reason.strip():
            raise Refused("say why the quantity is corrected")
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            batch = await self._batch(repository, site, batch_id)
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
            finding = oversold_finding(corrected, balance, now, self.settings.oversold_tolerance_g)
            if finding is not None:
                await self._raise(repository, site, [finding], now)
            tests = (await repository.tests(site, [batch_id]))[batch_id]
        log.info("batch quantity corrected", extra={"site": site, "batch": batch_id, "before_g": batch.quantity_g,
                                                    "after_g": quantity_g, "by": by})
        return BatchDetail(corrected, tests, balance, count, first, last)

    async def corrections(self, site: str, kinds: Iterable[CorrectionKind] | None, subject: str | None, limit: int,
                          offset: int) -> list[RecordedCorrection]:
        """Operators' corrections, newest first: of ``kinds`` (all if None), of ``subject`` (a batch id,
        a document id) if given."""
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await self._market(repository, site)
            return await repository.corrections(site, kinds=kinds, subject=subject, limit=limit, offset=offset)

    async def forward_trace(self, site: str, batch_id: str, limit: int, offset: int) -> ForwardTrace:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            batch = await self._batch(repository, site, batch_id)
            count, grams, first, last = (await repository.batch_totals(site, [batch_id]))[batch_id]
            page = await repository.sales_of_batch(site, batch_id, limit, offset)
        return ForwardTrace(batch, MassBalance(batch.quantity_g, grams), count, page, first, last)

    async def trace(self, site: str, trace_code: str) -> PublicTrace | None:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            sale = await repository.sale_by_trace_code(site, trace_code)
            if sale is None:
                return None
            batch = await repository.batch(site, sale.batch_id) if sale.batch_id else None
            tests = (await repository.tests(site, [batch.batch_id]))[batch.batch_id] if batch else []
            market = await repository.market(site)
        # the stall and vendor as they were at the sale: a stall handed on since is someone else's now
        return PublicTrace(market, sale, sale.stall_name, sale.vendor_name, batch, latest_tests(tests))

    async def batch_epcis(self, site: str, batch_id: str, identifier_base: str, now: datetime) -> dict[str, Any]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            batch = await self._batch(repository, site, batch_id)
            count, _, _, _ = (await repository.batch_totals(site, [batch_id]))[batch_id]
            if count > self.settings.epcis_max_sales:
                raise Refused(f"batch {batch_id!r} has {count} sales, more than one document holds "
                              f"({self.settings.epcis_max_sales})")
            tests = (await repository.tests(site, [batch_id]))[batch_id]
            sold = await repository.sales_of_batch(site, batch_id, None)
        return batch_document(batch, tests, sold, MarketIdentifiers(identifier_base), now)

    # -- what the stall and the operator see ----------------------------------------------------

    async def stall_display(self, site: str, stall_code: str, now: datetime) -> StallDisplay:
        """The stall screen: vendor, licences, today's prices, the current batches and their tests."""
        today = market_day(now)
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            market = await self._market(repository, site)
            stall = await self._stall(repository, site, stall_code)
            (overview,) = await self._overviews(repository, site, [stall], today)
            _, end_of_day = day_bounds(today)
            todays = await repository.prices_from(site, now, stall=stall_code, until=end_of_day)
            recent = await repository.batches(site, stall=stall_code, arrived_since=now - self.settings.
                                              current_batch_lookback, arrived_until=now, limit=500)
            current = [batch for plu in sorted({b.plu for b in recent})
                       if (batch := current_batch(recent, stall_code, plu, now)) is not None]
            tests = await repository.tests(site, [b.batch_id for b in current])
        prices = sorted(todays, key=lambda p: (p.plu, p.effective_from))
        return StallDisplay(market, stall, overview.vendor, overview.licences, _current_and_later(prices, now),
                            [DisplayBatch(b, latest_tests(tests[b.batch_id])) for b in current], today)

    async def licence_problems(self, site: str, now: datetime, limit: int, offset: int) -> list[LicenceProblem]:
        """A page of the documents of every stall that are missing, expired, not yet valid or about to
        expire, the most urgent first (missing ones, then by days left). Only stalls that may have a
        problem are read (the database tells them), a chunk at a time, and only the ``offset + limit``
        most urgent problems are kept while reading."""
        today = market_day(now)
        horizon = max(self.settings.warning_days, default=0)
        permit_types = [stall_type for stall_type in StallType if stall_type.needs_food_permit]
        kept: list[LicenceProblem] = []
        after: str | None = None
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await self._market(repository, site)
            while True:
                chunk = await repository.stalls_to_review(site, today, horizon, permit_types, after,
                                                          LICENCE_REVIEW_CHUNK)
                overviews = await self._overviews(repository, site, chunk, today)
                found = [LicenceProblem(o.stall, o.vendor, status) for o in overviews
                         for status in o.licences.attention]
                # a stable sort over stalls read in code order: ties stay in the order of a sort of all
                kept = sorted([*kept, *found], key=_urgency)[:offset + limit]
                if len(chunk) < LICENCE_REVIEW_CHUNK:
                    break
                after = chunk[-1].stall
        return kept[offset:]

    async def findings(self, site: str, kind: FindingKind | None, stall: str | None, open_only: bool,
                       limit: int, offset: int, resolved_only: bool = False) -> list[RecordedFinding]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await self._market(repository, site)
            return await repository.findings(site, kind=kind, stall=stall, open_only=open_only,
                                             resolved_only=resolved_only, limit=limit, offset=offset)

    async def resolve_finding(self, site: str, finding_id: int, by: str, resolution: str,
                              now: datetime) -> RecordedFinding:
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            found = await repository.finding(site, finding_id)
            if found is None:
                raise NotFound(f"no finding {finding_id} at market {site!r}")
            if not await repository.resolve_finding(site, finding_id, by, resolution, now):
                raise Conflict(f"finding {finding_id} was resolved already")
        return replace(found, resolved_at=now, resolved_by=by, resolution=resolution)

    # -- the scales' side ------------------------------------------------------------------------

    async def handle(self, messages: Sequence[tuple[DeviceTopic, UplinkModel]]) -> None:
        """Apply a burst of scale uplinks: records become sales (once each), acks settle deliveries,
        states track availability and catch a returning scale up."""
        now = self._clock()
        by_site: dict[str, list[tuple[DeviceTopic, UplinkModel]]] = {}
        for topic, message in messages:
            if topic.kind is DeviceKind.SCALE:
                by_site.setdefault(topic.site, []).append((topic, message))
        for site, burst in by_site.items():
            outbox = _Outbox()
            async with self._engine.begin() as connection:
                repository = MarketRepository(connection)
                await self._record_sales(repository, site, [(t.device, m) for t, m in burst
                                                            if isinstance(m, ScaleRecord)], now)
                await self._apply_acks(repository, site, [(t.device, m) for t, m in burst
                                                          if isinstance(m, CommandAck)], now)
                outbox.deliveries.extend(await self._apply_states(
                    repository, site, [(t.device, m) for t, m in burst if isinstance(m, DeviceState)], now))
            await self._dispatch(outbox.deliveries, now)

    async def tick(self, now: datetime) -> None:
        """Send the deliveries whose time has come (retries), give up those out of attempts."""
        async with self._engine.connect() as connection:
            due = await MarketRepository(connection).due_deliveries(now, self.settings.deliveries_per_tick)
        if due:
            await self._dispatch([delivery for delivery, _ in due], now)

    # -- inside ----------------------------------------------------------------------------------

    async def _record_sales(self, repository: MarketRepository, site: str,
                            records: Sequence[tuple[str, ScaleRecord]], now: datetime) -> None:
        unique: dict[tuple[str, str], Sale] = {}
        for scale, record in records:
            unique.setdefault((scale, record.record_id), Sale.from_record(scale, record))
        known = await repository.known_sales(site, unique)
        fresh = [sale for key, sale in unique.items() if key not in known]
        if not fresh:
            return
        registered = {r.scale: r.stall for r in await repository.scales(site, ids={s.scale for s in fresh})}
        pairs = {(s.stall, s.plu) for s in fresh}
        earliest, latest = min(s.ts for s in fresh), max(s.ts for s in fresh)
        published: dict[tuple[str, str], list[PublishedPrice]] = {}
        for price in await repository.prices_from(site, earliest, pairs=pairs, until=latest):
            published.setdefault((price.stall, price.plu), []).append(price)
        named = await repository.batches_by_id(site, {s.claimed_batch for s in fresh if s.claimed_batch})
        nearby = await repository.batches(site, pairs=pairs, arrived_since=earliest - self.settings.
                                          current_batch_lookback, arrived_until=latest, limit=None)
        tenures = await repository.tenures(site, {s.stall for s in fresh})
        holders = await repository.vendors_by_id(site, {t.vendor_id for ts in tenures.values() for t in ts
                                                        if t.vendor_id})
        linked, findings = [], []
        for sale in fresh:
            link = link_sale(sale, named, nearby)
            tenure = tenure_at(tenures.get(sale.stall, ()), sale.ts)
            holder = holders.get(tenure.vendor_id) if tenure and tenure.vendor_id else None
            sale = replace(sale, batch_id=link.batch.batch_id if link.batch else None,
                           stall_name=tenure.name if tenure else None, vendor_id=holder.vendor_id if holder else None,
                           vendor_name=holder.name if holder else None)
            linked.append(sale)
            findings.extend(tracing_findings(sale, link))
            in_force = price_in_force(published.get((sale.stall, sale.plu), ()), sale.stall, sale.plu, sale.ts)
            findings.extend(pricing_findings(sale, in_force, registered.get(sale.scale)))
        await repository.add_sales(site, linked, now)
        findings.extend(await self._mass_balance(repository, site, linked, {**{b.batch_id: b for b in nearby},
                                                                             **named}))
        raised = await self._raise(repository, site, findings, now)
        log.debug("sales recorded", extra={"site": site, "sales": len(linked), "findings": raised})

    async def _mass_balance(self, repository: MarketRepository, site: str, linked: Sequence[Sale],
                            batches: dict[str, Batch]) -> list[Finding]:
        last_sale: dict[str, datetime] = {}
        for sale in linked:
            if sale.batch_id is not None:
                last_sale[sale.batch_id] = max(sale.ts, last_sale.get(sale.batch_id, sale.ts))
        totals = await repository.batch_totals(site, last_sale)
        found = []
        for batch_id, at in last_sale.items():
            batch = batches[batch_id]
            finding = oversold_finding(batch, MassBalance(batch.quantity_g, totals[batch_id][1]), at,
                                       self.settings.oversold_tolerance_g)
            if finding is not None:
                found.append(finding)
        return found

    async def _raise(self, repository: MarketRepository, site: str, findings: Sequence[Finding],
                     now: datetime) -> int:
        unique: dict[str, Finding] = {}
        for finding in findings:
            unique.setdefault(finding.key, finding)
        known = await repository.known_findings(site, unique)
        new = [finding for key, finding in unique.items() if key not in known]
        await repository.add_findings(site, new, now)
        for finding in new:
            log.info("finding raised", extra={"site": site, "kind": finding.kind.value, "stall": finding.stall})
        return len(new)

    async def _apply_acks(self, repository: MarketRepository, site: str, acks: Sequence[tuple[str, CommandAck]],
                          now: datetime) -> None:
        if not acks:
            return
        found = await repository.deliveries_by_id(ack.cmd_id for _, ack in acks)
        for scale, ack in acks:
            delivery = found.get(ack.cmd_id)
            if delivery is None or delivery.site != site or delivery.scale != scale:
                log.info("ack of no command of ours", extra={"site": site, "scale": scale, "cmd_id": ack.cmd_id})
                continue
            settled = acknowledged(delivery, ack.ok, ack.error, ack.result, now)
            if settled != delivery:
                await repository.save_delivery(settled)
                found[ack.cmd_id] = settled
                log.info("scale answered", extra={"site": site, "scale": scale, "cmd_id": ack.cmd_id,
                                                  "op": delivery.op, "status": settled.status.value})

    async def _apply_states(self, repository: MarketRepository, site: str,
                            states: Sequence[tuple[str, DeviceState]], now: datetime) -> list[Delivery]:
        if not states:
            return []
        registered = {r.scale: r for r in await repository.scales(site, ids={scale for scale, _ in states})}
        pushes: list[Delivery] = []
        for scale, state in states:
            registration = registered.get(scale)
            if registration is None or registration.online is state.online:
                continue
            await repository.set_online(site, scale, state.online, state.ts or now)
            registered[scale] = replace(registration, online=state.online)
            log.info("scale availability", extra={"site": site, "scale": scale, "online": state.online})
            if state.online:
                pushes.extend(await self._catch_up(repository, site, registration, now))
        return pushes

    async def _catch_up(self, repository: MarketRepository, site: str, registration: ScaleRegistration,
                        now: datetime) -> list[Delivery]:
        """A scale back online: its price table again if the last one was not acknowledged, and every
        unanswered recall and release at once."""
        due: list[Delivery] = []
        for op in (BLOCK_BATCH, UNBLOCK_BATCH):
            for waiting in await repository.deliveries(site, scale=registration.scale, op=op,
                                                       statuses=(DeliveryStatus.PENDING, DeliveryStatus.GIVEN_UP),
                                                       limit=100):
                again = rearmed(waiting, now)
                await repository.save_delivery(again)
                due.append(again)
        last = await repository.deliveries(site, scale=registration.scale, op=SET_PRICES, limit=1)
        if not last or last[0].status is not DeliveryStatus.ACKED:
            due.extend(await self._push_price_table(repository, site, registration.stall, now,
                                                    only=registration.scale))
        return due

    async def _push_price_table(self, repository: MarketRepository, site: str, stall: str, now: datetime,
                                only: str | None = None) -> list[Delivery]:
        """A new ``set_prices`` delivery of the stall's table to each of its scales (or just ``only``),
        superseding the unanswered older ones."""
        table = scale_price_table(await repository.prices_from(site, now, stall=stall), stall, now)
        if not table:
            return []
        if len(table) > MAX_PRICES_PER_TABLE:
            raise Refused(f"a scale holds at most {MAX_PRICES_PER_TABLE} prices; stall {stall!r} has {len(table)}")
        args = SetPricesArgs(stall=stall, prices=[
            ScalePrice(plu=p.plu, product=p.product, unit_price_fen=p.unit_price_fen, effective_from=p.effective_from)
            for p in table])
        created = []
        for registration in await repository.scales(site, stall=stall):
            if only is not None and registration.scale != only:
                continue
            for older in await repository.deliveries(site, scale=registration.scale, op=SET_PRICES,
                                                     statuses=(DeliveryStatus.PENDING, DeliveryStatus.GIVEN_UP),
                                                     limit=100):
                await repository.save_delivery(superseded(older, now))
            cmd_id = _command_id("sp")
            delivery = new_delivery(cmd_id, site, registration.scale, stall, set_prices_command(cmd_id, args, now), now)
            await repository.add_delivery(delivery)
            created.append(delivery)
        return created

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
        args = BlockBatchArgs(batch=batch.batch_id, plu=batch.plu, reason=reason[:128], blocked_at=now)
        created = await self._to_each_scale(repository, site, batch, UNBLOCK_BATCH, now,
                                            lambda: block_batch_command(_command_id("bb"), args, now))
        log.warning("batch stopped", extra={"site": site, "batch": batch.batch_id, "cause": cause.value,
                                            "scales": len(created), "by": by})
        return created

    async def _unblock(self, repository: MarketRepository, site: str, batch: Batch, reason: str,
                       now: datetime) -> list[Delivery]:
        """An ``unblock_batch`` delivery to every scale a block would go to, superseding the block not
        yet delivered (a scale offline all along need not hear of it at all)."""
        args = UnblockBatchArgs(batch=batch.batch_id, plu=batch.plu, reason=reason[:128], released_at=now)
        return await self._to_each_scale(repository, site, batch, BLOCK_BATCH, now,
                                         lambda: unblock_batch_command(_command_id("ub"), args, now))

    async def _to_each_scale(self, repository: MarketRepository, site: str, batch: Batch, superseded_op: str,
                             now: datetime, new_command: Callable[[], Command]) -> list[Delivery]:
        """A delivery of a new command to every scale that may sell the batch, each superseding that
        scale's undelivered ``superseded_op`` for the batch (a block and its release cancel out)."""
        created = []
        for scale, stall in sorted((await self._scales_of_batch(repository, site, batch)).items()):
            await self._supersede(repository, site, scale, superseded_op, batch.batch_id, now)
            command = new_command()
            delivery = new_delivery(command.cmd_id, site, scale, stall, command, now)
            await repository.add_delivery(delivery)
            created.append(delivery)
        return created

    async def _scales_of_batch(self, repository: MarketRepository, site: str, batch: Batch) -> dict[str, str]:
        """The scales that may sell the batch, with their stalls: those at its stall and any other that
        has sold from it."""
        scales = {r.scale: r.stall for r in await repository.scales(site, stall=batch.stall)}
        for sale in await repository.sales_of_batch(site, batch.batch_id, None):
            scales.setdefault(sale.scale, sale.stall)
        return scales

    async def _supersede(self, repository: MarketRepository, site: str, scale: str, op: str, batch_id: str,
                         now: datetime) -> None:
        """Settle as superseded every undelivered ``op`` of the batch to the scale, however many other
        commands wait for that scale (read page by page, all of them before any is changed)."""
        unsettled: list[Delivery] = []
        while True:
            page = await repository.deliveries(site, scale=scale, op=op, limit=SUPERSEDE_PAGE, offset=len(unsettled),
                                               statuses=(DeliveryStatus.PENDING, DeliveryStatus.GIVEN_UP))
            unsettled += page
            if len(page) < SUPERSEDE_PAGE:
                break
        for older in unsettled:
            if older.args.get("batch") == batch_id:
                await repository.save_delivery(superseded(older, now))

    async def _dispatch(self, deliveries: Sequence[Delivery], now: datetime) -> list[Delivery]:
        """Send what is due (give up what is out of attempts) and store each outcome, unless someone
        settled that delivery meanwhile (an ack that came in, a newer table)."""
        if not deliveries:
            return []
        policy = self.settings.delivery
        offline = await self._offline_scales(deliveries)
        outcomes: list[tuple[Delivery, Delivery]] = []
        waiting: list[Delivery] = []
        broker_down: str | None = None
        for delivery in deliveries:
            if (delivery.site, delivery.scale) in offline:
                waiting.append(delivery)  # sent when the scale says it is back
                continue
            if out_of_attempts(delivery, policy):
                outcomes.append((delivery, given_up(delivery, now)))
                log.warning("scale never answered; given up",
                            extra={"site": delivery.site, "scale": delivery.scale, "cmd_id": delivery.cmd_id,
                                   "op": delivery.op, "attempts": delivery.attempts})
                continue
            if broker_down is None:
                try:
                    await self._downlink.send(delivery.site, DeviceKind.SCALE, delivery.scale, delivery.command())
                except DownlinkUnavailable as unavailable:
                    broker_down = str(unavailable) or "downlink unavailable"
            if broker_down is None:
                outcomes.append((delivery, sent(delivery, now, policy)))
            else:
                outcomes.append((delivery, not_sent(delivery, now, broker_down, policy)))
        if broker_down is not None:
            log.warning("commands wait for the broker", extra={"commands": len(deliveries), "error": broker_down})
        stored = list(waiting)
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            for before, after in outcomes:
                if await repository.save_delivery(after, expected=before):
                    stored.append(after)
                else:
                    current = await repository.delivery(before.cmd_id)
                    stored.append(current or after)
        return stored

    async def _offline_scales(self, deliveries: Sequence[Delivery]) -> set[tuple[str, str]]:
        offline: set[tuple[str, str]] = set()
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            for site in {delivery.site for delivery in deliveries}:
                scales = await repository.scales(site, ids={d.scale for d in deliveries if d.site == site})
                offline.update((site, r.scale) for r in scales if r.online is False)
        return offline

    async def _overviews(self, repository: MarketRepository, site: str, found: Sequence[Stall],
                         today: date) -> list[StallOverview]:
        vendor_ids = [stall.vendor_id for stall in found if stall.vendor_id]
        held = await repository.documents(site, vendor_ids)
        vendors = await repository.vendors_by_id(site, vendor_ids)
        return [StallOverview(stall, vendors.get(stall.vendor_id) if stall.vendor_id else None,
                              assess_stall(stall.stall_type, held.get(stall.vendor_id, []) if stall.vendor_id else [],
                                           today, self.settings.warning_days))
                for stall in found]

    async def _market(self, repository: MarketRepository, site: str) -> Market:
        market = await repository.market(site)
        if market is None:
            raise NotFound(f"no market {site!r}")
        return market

    async def _stall(self, repository: MarketRepository, site: str, code: str) -> Stall:
        stall = await repository.stall(site, code)
        if stall is None:
            raise NotFound(f"no stall {code!r} at market {site!r}")
        return stall

    async def _batch(self, repository: MarketRepository, site: str, batch_id: str) -> Batch:
        batch = await repository.batch(site, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id!r} at market {site!r}")
        return batch

    async def _vendor_exists(self, repository: MarketRepository, site: str, vendor_id: str | None) -> None:
        if vendor_id is not None and await repository.vendor(site, vendor_id) is None:
            raise Refused(f"no vendor {vendor_id!r} at market {site!r}: add the vendor first")


def _urgency(problem: LicenceProblem) -> tuple[int, str]:
    days = problem.status.days_to_expiry
    return (days if days is not None else -10**6), problem.stall.stall


def _current_and_later(prices: Sequence[PublishedPrice], now: datetime) -> list[PublishedPrice]:
    """Today's board: each product's price in force now, then the changes taking effect later today
    (a later price equal to the one before it is no change)."""
    board = []
    for plu in sorted({p.plu for p in prices}):
        own = [p for p in prices if p.plu == plu]
        current = prices_in_force(own, now)
        board.extend(current)
        previous = current[0].unit_price_fen if current else None
        for moment in sorted({p.effective_from for p in own if p.effective_from > now}):
            (change,) = prices_in_force([p for p in own if p.effective_from == moment], moment)
            if change.unit_price_fen != previous:
                board.append(change)
                previous = change.unit_price_fen
    return board


def _command_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _ns(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1) * NS_PER_US


def _ns_of(span: timedelta) -> int:
    return span // timedelta(microseconds=1) * NS_PER_US


def _from_ns(time_ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=time_ns // NS_PER_US)
