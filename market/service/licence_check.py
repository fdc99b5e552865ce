"""The daily licence check (issue 14): once a market day, and at the first tick after a start, each market's
stalls whose documents reached a warning threshold (30, 7, 0 days left) or expired — as the licence page computes
them (:meth:`Oversight.licence_problems`) — are told to the market's operators, once per document and threshold:
the event and its once-key commit together (:func:`notifications.outbox.add_once`), so a restart, or a second check
the same day, repeats nothing."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from market.market_time import market_day
from market.notices import licence_event, licence_once_key, licence_stage
from market.service.oversight import LicenceProblem, Oversight
from market.stalls import Market
from market.storage import MarketRepository
from notifications.events import NotificationEvent
from notifications.outbox import Outbox

log = logging.getLogger(__name__)

MARKETS_PER_PAGE: Final = 100
LICENCE_PROBLEMS_PER_MARKET: Final = 2000
"""Licence problems looked at per market and day at most (the most urgent first)."""


class LicenceCheck:
    """Once a market day (and at the first tick after a start), every market's licence problems: a document that
    reached a threshold or expired is told once (per document and threshold, by the outbox's once-keys)."""

    def __init__(self, engine: AsyncEngine, oversight: Oversight, outbox: Outbox | None) -> None:
        self._engine = engine
        self._oversight = oversight
        self._outbox = outbox
        self._checked: date | None = None

    async def tick(self, now: datetime) -> int:
        """The check, when today's has not run; how many notices it recorded."""
        today = market_day(now)
        if self._outbox is None or self._checked == today:
            return 0
        told, offset = 0, 0
        while True:
            async with self._engine.connect() as connection:
                page = await MarketRepository(connection).markets(MARKETS_PER_PAGE, offset)
            for market in page:
                told += await self._check(market, now)
            if len(page) < MARKETS_PER_PAGE:
                break
            offset += MARKETS_PER_PAGE
        self._checked = today
        if told:
            log.info("licence notices recorded", extra={"notices": told})
        return told

    async def _check(self, market: Market, now: datetime) -> int:
        assert self._outbox is not None
        problems = await self._oversight.licence_problems(market.site, now, LICENCE_PROBLEMS_PER_MARKET, 0)
        staged = [(problem, stage) for problem in problems if (stage := licence_stage(problem.status)) is not None]
        keyed = {licence_once_key(market.site, problem.stall.stall, problem.status, stage): (problem, stage)
                 for problem, stage in staged}
        if not keyed:
            return 0
        told = 0
        async with self._engine.begin() as connection:
            done = await self._outbox.recorded_once(connection, keyed)
            for key, (problem, stage) in keyed.items():
                if key not in done and await self._outbox.add_once(
                        connection, key, _licence_event(market, problem, stage, now)) is not None:
                    told += 1
        return told


def _licence_event(market: Market, problem: LicenceProblem, stage: str, now: datetime) -> NotificationEvent:
    return licence_event(market, problem.stall.stall, problem.status, stage, now,
                         problem.vendor.name if problem.vendor else None)
