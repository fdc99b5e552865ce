"""What the screen at a stall shows shoppers: its vendor and licences, today's prices (those in force and
the changes still to come today), and the batches on sale with their latest rapid tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from market.complaints import PublishedOutcome, published
from market.licences import StaffMember, StallLicenceStatus
from market.market_time import day_bounds, market_day
from market.pricing import PublishedPrice, prices_in_force
from market.service.directory import stall_overviews
from market.service.lookup import existing_market, existing_stall
from market.service.settings import MarketSettings
from market.stalls import Market, Stall, Vendor
from market.storage import MarketRepository
from market.tracing import Batch, RapidTest, current_batch, latest_tests

RECENT_TESTS: Final = 10
PUBLISHED_OUTCOMES: Final = 10
"""The closed complaints a stall's page shows (latest first)."""
RECENT_TESTS_SPAN: Final = timedelta(days=7)


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
    staff: tuple[StaffMember, ...] = ()
    recent_tests: tuple[tuple[RapidTest, Batch], ...] = ()
    """The stall's latest rapid tests (the last week's, newest first), whatever batch they were of."""
    complaint_outcomes: tuple[PublishedOutcome, ...] = ()
    """The stall's closed complaints as published: anonymised, latest first."""


class StallScreen:
    """The stall screen's content, read in one transaction."""

    def __init__(self, engine: AsyncEngine, settings: MarketSettings) -> None:
        self._engine = engine
        self._settings = settings

    async def stall_display(self, site: str, stall_code: str, now: datetime) -> StallDisplay:
        """The stall screen: vendor, licences, today's prices, the current batches and their tests."""
        today = market_day(now)
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            market = await existing_market(repository, site)
            stall = await existing_stall(repository, site, stall_code)
            (overview,) = await stall_overviews(repository, market, [stall], today, self._settings.warning_days)
            _, end_of_day = day_bounds(today)
            todays = await repository.prices_from(site, now, stall=stall_code, until=end_of_day)
            recent = await repository.batches(site, stall=stall_code, arrived_since=now - self._settings.
                                              current_batch_lookback, arrived_until=now, limit=500)
            current = [batch for plu in sorted({b.plu for b in recent})
                       if (batch := current_batch(recent, stall_code, plu, now)) is not None]
            tests = await repository.tests(site, [b.batch_id for b in current])
            recent_tests = await repository.tests_between(site, now - RECENT_TESTS_SPAN, now + timedelta(minutes=5),
                                                          stall=stall_code, limit=RECENT_TESTS)
            closed = await repository.closed_complaints(site, stall_code, PUBLISHED_OUTCOMES)
        prices = sorted(todays, key=lambda p: (p.plu, p.effective_from))
        return StallDisplay(market, stall, overview.vendor, overview.licences, _current_and_later(prices, now),
                            [DisplayBatch(b, latest_tests(tests[b.batch_id])) for b in current], today,
                            overview.staff, tuple(recent_tests),
                            tuple(o for c in closed if (o := published(c, market_day)) is not None))


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
