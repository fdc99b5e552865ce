"""Gathering the district view's facts (:mod:`market.district` counts them): for the markets asked — a supervision
office's, an operator's, every one for an administrator — their stalls' names and, in one read per kind for all of
them, the rapid tests that were not negative, the batches stopped, the findings and the complaints of the window;
and each market's licences needing attention today, as the operators' licence review finds them, and the credit
grades of the vendors holding its stalls, as the vendor's page rates them (one read of each kind per market for all
its vendors, :meth:`VendorCredit.market_ratings`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from market.district import CreditFact, LicenceFact, MarketFacts, Period, Window, window_of
from market.service.credit import MarketRatings, VendorCredit
from market.service.lookup import existing_market
from market.service.oversight import LicenceProblem, Oversight
from market.stalls import Market
from market.storage import MarketRepository
from market.storage.district import DistrictRepository

MAX_MARKETS: Final = 200
"""Markets in one district view at most (a district office oversees a few dozen)."""
FACTS_PER_KIND: Final = 5_000
"""Tests, stops, findings or complaints read at most for one view, all its markets together."""
LICENCE_PROBLEMS_PER_MARKET: Final = 2_000
NO_RATINGS: Final = MarketRatings([], truncated=False)


@dataclass(frozen=True)
class DistrictFacts:
    window: Window
    markets: list[MarketFacts]
    more_markets: bool
    """More markets in scope than one view shows (the first :data:`MAX_MARKETS` by site id are)."""


class District:
    """The facts of the district view, read for the markets a caller may see."""

    def __init__(self, engine: AsyncEngine, oversight: Oversight, credit: VendorCredit) -> None:
        self._engine = engine
        self._oversight = oversight
        self._credit = credit

    async def facts(self, sites: Collection[str] | None, period: Period, now: datetime, credit: bool = True
                    ) -> DistrictFacts:
        """The facts of the markets ``sites`` (None: every market), by site id; ``credit``: with their vendors'
        grades."""
        window = window_of(period, now)
        async with self._engine.connect() as connection:
            markets = await MarketRepository(connection).markets(MAX_MARKETS + 1, 0, sites)
        gathered = await self._gather(markets[:MAX_MARKETS], window, credit)
        return DistrictFacts(window, gathered, len(markets) > MAX_MARKETS)

    async def market_facts(self, site: str, period: Period, now: datetime, credit: bool = True
                           ) -> tuple[Window, MarketFacts]:
        """One market's facts (:class:`NotFound` when there is no such market)."""
        window = window_of(period, now)
        async with self._engine.connect() as connection:
            market = await existing_market(MarketRepository(connection), site)
        [facts] = await self._gather([market], window, credit)
        return window, facts

    async def _gather(self, markets: list[Market], window: Window, credit: bool) -> list[MarketFacts]:
        sites = [market.site for market in markets]
        if not sites:
            return []
        async with self._engine.connect() as connection:
            repository = DistrictRepository(connection)
            names = await repository.stall_names(sites)
            tests, more_tests = await repository.problem_tests(sites, window.since, FACTS_PER_KIND)
            recalls, more_recalls = await repository.recalls(sites, window.since, FACTS_PER_KIND)
            findings, more_findings = await repository.findings(sites, window.since, FACTS_PER_KIND)
            complaints, more_complaints = await repository.complaints(sites, window.since, FACTS_PER_KIND)
        truncated = more_tests or more_recalls or more_findings or more_complaints
        gathered: list[MarketFacts] = []
        for market in markets:
            site = market.site
            problems = await self._oversight.licence_problems(site, window.now, LICENCE_PROBLEMS_PER_MARKET + 1, 0)
            ratings = await self._credit.market_ratings(market, window.now) if credit else NO_RATINGS
            gathered.append(MarketFacts(
                site, market.name, names[site],
                tuple(_licence_fact(problem) for problem in problems[:LICENCE_PROBLEMS_PER_MARKET]),
                tuple(tests[site]), tuple(recalls[site]), tuple(findings[site]), tuple(complaints[site]),
                truncated or len(problems) > LICENCE_PROBLEMS_PER_MARKET or ratings.truncated,
                _credit_facts(ratings)))
        return gathered


def _credit_facts(ratings: MarketRatings) -> tuple[CreditFact, ...]:
    return tuple(CreditFact(held.stall, held.vendor.vendor_id, held.vendor.name, held.rating.grade,
                            held.rating.score) for held in ratings.stalls)


def _licence_fact(problem: LicenceProblem) -> LicenceFact:
    status, document = problem.status, problem.status.document
    return LicenceFact(
        problem.stall.stall, status.required.label_zh, status.validity,
        document.valid_to if document else None, status.days_to_expiry,
        None if document is None or document.kind.personal else document.number,
        status.person, problem.vendor.name if problem.vendor else None)
