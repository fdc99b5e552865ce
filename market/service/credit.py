"""A vendor's credit rating (信用评价), made from the market's records each time it is asked for: the facts of the
stalls the vendor held over the window, each kept only when the vendor held its stall then, and the licence state of
the stalls they hold now, rated by :func:`market.credit.rate`.

The district view wants the grades of every vendor of a market at once (:meth:`VendorCredit.market_ratings`): the
market's records are read once for all its stalls, then each vendor's share of them — the very records a rating of
that vendor alone reads, in the same order and up to the same limit — is put together by the same
:func:`vendor_facts` and rated by the same :func:`market.credit.rate`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from market.complaints import Complaint
from market.credit import CreditRating, CreditRules, LicenceFact, VendorFacts, held_by, rate, window
from market.findings import RecordedFinding
from market.market_time import market_day
from market.service.directory import StallOverview, stall_overviews
from market.service.errors import NotFound
from market.service.lookup import existing_market, existing_stall
from market.service.settings import MarketSettings
from market.stalls import Market, StallTenure, Vendor
from market.storage import MarketRepository
from market.storage.credit import CreditRepository
from market.tracing import Batch, RapidTest

FACTS_PER_SOURCE: Final = 2_000
"""Records of each kind read at most for one rating, newest first (every source's cap is reached long before)."""
FACTS_PER_MARKET: Final = 20_000
"""Records of each kind read at most for the ratings of all of a market's vendors at once, newest first; beyond it
the oldest are left out, so a grade can only come out better than it is (the district view says the counts are a
floor)."""
Fact = TypeVar("Fact")


@dataclass(frozen=True)
class StallRating:
    """The vendor holding a stall now and their rating."""

    stall: str
    vendor: Vendor
    rating: CreditRating


@dataclass(frozen=True)
class MarketRatings:
    stalls: list[StallRating]
    """Each stall held by a vendor now, by code (a vendor holding two stalls is rated once, shown at both)."""
    truncated: bool
    """More records of some kind than :data:`FACTS_PER_MARKET`: the oldest were left out."""


class VendorCredit:
    """Vendors' credit ratings by the installation's :class:`CreditRules`."""

    def __init__(self, engine: AsyncEngine, settings: MarketSettings) -> None:
        self._engine = engine
        self._settings = settings
        self._rules = settings.credit_rules

    @property
    def rules(self) -> CreditRules:
        return self._rules

    async def vendor_credit(self, site: str, vendor_id: str, now: datetime, days: int | None = None) -> CreditRating:
        """The vendor's rating at ``now`` over the last ``days`` (the rules' window when None)."""
        rules = self._rules if days is None else replace(self._rules, window_days=days,
                                                         recent_days=min(self._rules.recent_days, days))
        since, until = window(now, rules)
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            market = await existing_market(repository, site)
            if await repository.vendor(site, vendor_id) is None:
                raise NotFound(f"no vendor {vendor_id!r} at market {site!r}")
            records = CreditRepository(connection)
            tenures = await records.tenures_of_stalls_held(site, vendor_id)
            codes = sorted(tenures)
            held_now = await records.stalls_held_now(site, vendor_id)
            overviews = await stall_overviews(repository, market, held_now, market_day(until),
                                              self._settings.warning_days)
            findings = await records.findings_at(site, codes, since, until, FACTS_PER_SOURCE)
            tests = await records.tests_at(site, codes, since, until, FACTS_PER_SOURCE)
            complaints = await records.complaints_at(site, codes, since, until, FACTS_PER_SOURCE)
            stopped = await records.stopped_batches_at(site, codes, since, until, FACTS_PER_SOURCE)
        return rate(vendor_facts(vendor_id, since, until, tenures, overviews, findings, tests, complaints, stopped),
                    rules)

    async def stall_vendor_credit(self, site: str, stall_code: str, now: datetime
                                  ) -> tuple[Vendor | None, CreditRating | None]:
        """The vendor holding the stall now and their rating (None, None for a stall without a vendor)."""
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_market(repository, site)
            stall = await existing_stall(repository, site, stall_code)
            vendor = await repository.vendor(site, stall.vendor_id) if stall.vendor_id else None
        if vendor is None:
            return None, None
        return vendor, await self.vendor_credit(site, vendor.vendor_id, now)

    async def market_ratings(self, market: Market, now: datetime) -> MarketRatings:
        """The rating at ``now`` (the rules' window) of each vendor holding one of ``market``'s stalls, each the
        rating :meth:`vendor_credit` makes of them, from one read of each kind of the market's records."""
        site = market.site
        since, until = window(now, self._rules)
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            records = CreditRepository(connection)
            held_now = await records.stalls_with_vendors(site)
            if not held_now:
                return MarketRatings([], False)
            tenures = await records.tenures_of_market(site)
            codes = sorted(tenures)
            overviews = await stall_overviews(repository, market, held_now, market_day(until),
                                              self._settings.warning_days)
            findings = await records.findings_at(site, codes, since, until, FACTS_PER_MARKET + 1)
            tests = await records.tests_at(site, codes, since, until, FACTS_PER_MARKET + 1)
            complaints = await records.complaints_at(site, codes, since, until, FACTS_PER_MARKET + 1)
            stopped = await records.stopped_batches_at(site, codes, since, until, FACTS_PER_MARKET + 1)
        truncated = any(len(found) > FACTS_PER_MARKET for found in (findings, tests, complaints, stopped))
        by_stall = (_by_stall(findings[:FACTS_PER_MARKET], lambda f: f.finding.stall),
                    _by_stall(tests[:FACTS_PER_MARKET], lambda pair: pair[1].stall),
                    _by_stall(complaints[:FACTS_PER_MARKET], lambda c: c.stall),
                    _by_stall(stopped[:FACTS_PER_MARKET], lambda b: b.stall))
        ratings: dict[str, CreditRating] = {}
        for vendor_id in sorted({o.vendor.vendor_id for o in overviews if o.vendor is not None}):
            held = {stall: own for stall, own in tenures.items() if any(t.vendor_id == vendor_id for t in own)}
            ratings[vendor_id] = rate(vendor_facts(
                vendor_id, since, until, held, [o for o in overviews if o.stall.vendor_id == vendor_id],
                _newest_at(by_stall[0], held), _newest_at(by_stall[1], held), _newest_at(by_stall[2], held),
                _newest_at(by_stall[3], held)), self._rules)
        return MarketRatings([StallRating(o.stall.stall, o.vendor, ratings[o.vendor.vendor_id])
                              for o in overviews if o.vendor is not None], truncated)


def vendor_facts(vendor_id: str, since: datetime, until: datetime, tenures: Mapping[str, Sequence[StallTenure]],
                 held_now: Sequence[StallOverview], findings: Sequence[RecordedFinding],
                 tests: Sequence[tuple[RapidTest, Batch]], complaints: Sequence[Complaint],
                 stopped: Sequence[Batch]) -> VendorFacts:
    """What a rating of the vendor reads, from the records of the stalls they held (``tenures``: every tenure of
    each) and the overviews of the stalls they hold now: each record kept when the vendor held its stall then."""

    def theirs(stall: str | None, at: datetime) -> bool:
        return stall is not None and held_by(tenures.get(stall, _NONE), vendor_id, at)

    return VendorFacts(
        vendor_id, since, until,
        licences=[LicenceFact(o.stall.stall, status) for o in held_now for status in o.licences.required
                  + o.licences.health_certificates],
        findings=[f for f in findings if theirs(f.finding.stall, f.finding.at)],
        # a batch is the vendor's who held its stall when it came in
        tests=[(t, b) for t, b in tests if theirs(b.stall, b.arrived_at)],
        complaints=[c for c in complaints if theirs(c.stall, c.filed_at)],
        recalls=[b for b in stopped if theirs(b.stall, b.arrived_at)])


Positioned = list[tuple[int, Fact]]


def _by_stall(records: Iterable[Fact], stall_of: Callable[[Fact], str | None]) -> dict[str, Positioned[Fact]]:
    """The records by stall, each with its place in the newest-first order they were read in."""
    found: dict[str, Positioned[Fact]] = {}
    for position, record in enumerate(records):
        stall = stall_of(record)
        if stall is not None:
            found.setdefault(stall, []).append((position, record))
    return found


def _newest_at(by_stall: Mapping[str, Positioned[Fact]], stalls: Iterable[str]) -> list[Fact]:
    """The records of ``stalls``, newest first and at most :data:`FACTS_PER_SOURCE`: what a read of those stalls
    alone answers."""
    picked = sorted((entry for stall in stalls for entry in by_stall.get(stall, ())), key=lambda entry: entry[0])
    return [record for _, record in picked[:FACTS_PER_SOURCE]]


_NONE: Final[Sequence[StallTenure]] = ()
