"""Prices: a stall publishes its prices (pushed to its scales as a table), the market shows its price board,
and the history of what was paid is read from the time series the gateway writes every sale to."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.outputs import Aggregate, Summary, TimeSeriesStore, WindowQuery
from gateway.processors.points import Measurement
from market.market_time import day_bounds, day_start, market_day
from market.pricing import BoardLine, DailyPrice, PublishedPrice, daily_price, price_board, prices_in_force
from market.scale_delivery import Delivery
from market.service.command_delivery import CommandDelivery
from market.service.errors import Refused
from market.service.lookup import existing_market, existing_stall
from market.service.settings import MarketSettings
from market.stalls import Market
from market.storage import MarketRepository

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


@dataclass(frozen=True)
class PriceItem:
    plu: str
    product: str
    unit_price_fen: int


@dataclass(frozen=True)
class Publication:
    prices: list[PublishedPrice]
    deliveries: list[Delivery]


@dataclass(frozen=True)
class PriceHistory:
    plu: str
    days: list[DailyPrice]


class Prices:
    """Publishing prices, and reading them back: as published, on the board, as paid."""

    def __init__(self, engine: AsyncEngine, commands: CommandDelivery, timeseries: TimeSeriesStore,
                 settings: MarketSettings) -> None:
        self._engine = engine
        self._commands = commands
        self._timeseries = timeseries
        self._settings = settings

    async def publish_prices(self, site: str, stall: str, items: Sequence[PriceItem], effective_from: datetime | None,
                             by: str, now: datetime) -> Publication:
        """Publish a stall's prices (effective now unless said otherwise) and push its table to its scales."""
        effective = effective_from or now
        if effective < now - self._settings.price_backdating:
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
            await existing_stall(repository, site, stall)
            await repository.add_prices(site, published)
            pushes = await self._commands.push_price_table(repository, site, stall, now)
        log.info("prices published", extra={"site": site, "stall": stall, "prices": len(published), "by": by,
                                            "scales": len(pushes)})
        return Publication(published, await self._commands.dispatch(pushes, now))

    async def price_history(self, site: str, stall: str, plu: str | None, limit: int, offset: int
                            ) -> list[PublishedPrice]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_stall(repository, site, stall)
            return await repository.price_history(site, stall, plu, limit, offset)

    async def price_board(self, site: str, now: datetime) -> tuple[Market, list[BoardLine]]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            market = await existing_market(repository, site)
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
        if not 1 <= days <= self._settings.history_max_days:
            raise Refused(f"days: 1 to {self._settings.history_max_days}")
        async with self._engine.connect() as connection:
            await existing_market(MarketRepository(connection), site)
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


def _ns(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1) * NS_PER_US


def _ns_of(span: timedelta) -> int:
    return span // timedelta(microseconds=1) * NS_PER_US


def _from_ns(time_ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=time_ns // NS_PER_US)
