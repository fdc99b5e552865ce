"""A vendor's credit rating (信用评价), made from the market's records each time it is asked for: the facts of the
stalls the vendor held over the window, each kept only when the vendor held its stall then, and the licence state of
the stalls they hold now, rated by :func:`market.credit.rate`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from market.credit import CreditRating, CreditRules, LicenceFact, VendorFacts, held_by, rate, window
from market.market_time import market_day
from market.service.directory import stall_overviews
from market.service.errors import NotFound
from market.service.lookup import existing_market, existing_stall
from market.service.settings import MarketSettings
from market.stalls import StallTenure, Vendor
from market.storage import MarketRepository
from market.storage.credit import CreditRepository

FACTS_PER_SOURCE: Final = 2_000
"""Records of each kind read at most for one rating, newest first (every source's cap is reached long before)."""


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

        def theirs(stall: str | None, at: datetime) -> bool:
            return stall is not None and held_by(tenures.get(stall, _NONE), vendor_id, at)

        facts = VendorFacts(
            vendor_id, since, until,
            licences=[LicenceFact(o.stall.stall, status) for o in overviews for status in o.licences.required
                      + o.licences.health_certificates],
            findings=[f for f in findings if theirs(f.finding.stall, f.finding.at)],
            # a batch is the vendor's who held its stall when it came in
            tests=[(t, b) for t, b in tests if theirs(b.stall, b.arrived_at)],
            complaints=[c for c in complaints if theirs(c.stall, c.filed_at)],
            recalls=[b for b in stopped if theirs(b.stall, b.arrived_at)])
        return rate(facts, rules)

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


_NONE: Final[Sequence[StallTenure]] = ()
