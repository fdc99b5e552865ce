"""Storage reads of a vendor's credit (信用评价): the stalls a vendor holds or held (with every tenure of them), and
what happened at those stalls over a window — findings, rapid tests with their batches, complaints, batches
stopped. Newest first and at most ``limit`` of each: a rating's caps are reached long before that.

Nothing is written here, and no table of its own: the rating is made from the market's records each time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select

from market.complaints import Complaint
from market.findings import RecordedFinding
from market.stalls import Stall, StallTenure
from market.storage.audit import _finding
from market.storage.complaints import _complaint
from market.storage.directory import _stall
from market.storage.tables import batches, complaints, findings, rapid_tests, stall_tenures, stalls
from market.storage.tracing import BatchRepository, _test
from market.tracing import Batch, RapidTest

# the row converters are the aggregates' own (each repository's module), so a record reads the same here


class CreditRepository(BatchRepository):
    """A vendor's records across the stalls they held, on one transaction's connection."""

    async def stalls_held_now(self, site: str, vendor_id: str) -> list[Stall]:
        rows = await self._rows(select(stalls).where(stalls.c.site == site, stalls.c.vendor_id == vendor_id)
                                .order_by(stalls.c.stall))
        return [_stall(row) for row in rows]

    async def stalls_with_vendors(self, site: str) -> list[Stall]:
        """The market's stalls held by a vendor now, by code."""
        rows = await self._rows(select(stalls).where(stalls.c.site == site, stalls.c.vendor_id.is_not(None))
                                .order_by(stalls.c.stall))
        return [_stall(row) for row in rows]

    async def tenures_of_stalls_held(self, site: str, vendor_id: str) -> dict[str, list[StallTenure]]:
        """Every tenure, oldest first, of each stall the vendor held at some time (theirs and the others')."""
        held = select(stall_tenures.c.stall).where(stall_tenures.c.site == site,
                                                   stall_tenures.c.vendor_id == vendor_id)
        return await self._tenures(select(stall_tenures).where(stall_tenures.c.site == site,
                                                               stall_tenures.c.stall.in_(held)))

    async def tenures_of_market(self, site: str) -> dict[str, list[StallTenure]]:
        """Every tenure, oldest first, of each of the market's stalls."""
        return await self._tenures(select(stall_tenures).where(stall_tenures.c.site == site))

    async def _tenures(self, statement: Select[Any]) -> dict[str, list[StallTenure]]:
        rows = await self._rows(statement.order_by(stall_tenures.c.stall, stall_tenures.c.since,
                                                   stall_tenures.c.tenure_id))
        found: dict[str, list[StallTenure]] = {}
        for row in rows:
            found.setdefault(row["stall"], []).append(StallTenure(row["stall"], row["name"], row["vendor_id"],
                                                                  row["since"]))
        return found

    async def findings_at(self, site: str, codes: Sequence[str], since: datetime, until: datetime, limit: int
                          ) -> list[RecordedFinding]:
        if not codes:
            return []
        rows = await self._rows(select(findings).where(
            findings.c.site == site, findings.c.stall.in_(sorted(codes)), findings.c.at >= since,
            findings.c.at <= until).order_by(findings.c.at.desc(), findings.c.finding_id.desc()).limit(limit))
        return [_finding(row) for row in rows]

    async def tests_at(self, site: str, codes: Sequence[str], since: datetime, until: datetime, limit: int
                       ) -> list[tuple[RapidTest, Batch]]:
        """Rapid tests done in [since, until] of batches received at the stalls, with their batches."""
        if not codes:
            return []
        rows = await self._rows(
            select(rapid_tests).join(batches, and_(batches.c.site == rapid_tests.c.site,
                                                   batches.c.batch_id == rapid_tests.c.batch_id))
            .where(rapid_tests.c.site == site, batches.c.stall.in_(sorted(codes)), rapid_tests.c.tested_at >= since,
                   rapid_tests.c.tested_at <= until)
            .order_by(rapid_tests.c.tested_at.desc(), rapid_tests.c.test_id.desc()).limit(limit))
        tests = [_test(row) for row in rows]
        found = await self.batches_by_id(site, [test.batch_id for test in tests])
        return [(test, found[test.batch_id]) for test in tests]

    async def complaints_at(self, site: str, codes: Sequence[str], since: datetime, until: datetime, limit: int
                            ) -> list[Complaint]:
        """Complaints about the stalls filed by ``until`` and closed in the window or still open then."""
        if not codes:
            return []
        rows = await self._rows(select(complaints).where(
            complaints.c.site == site, complaints.c.stall.in_(sorted(codes)), complaints.c.filed_at <= until,
            or_(complaints.c.closed_at >= since,
                and_(complaints.c.closed_at.is_(None), complaints.c.filed_at >= since)))
            .order_by(complaints.c.filed_at.desc(), complaints.c.complaint_id.desc()).limit(limit))
        return [_complaint(row) for row in rows]

    async def stopped_batches_at(self, site: str, codes: Sequence[str], since: datetime, until: datetime, limit: int
                                 ) -> list[Batch]:
        """Batches of the stalls stopped in [since, until] that stand stopped (a released one is lifted)."""
        if not codes:
            return []
        rows = await self._rows(select(batches).where(
            batches.c.site == site, batches.c.stall.in_(sorted(codes)), batches.c.blocked_at >= since,
            batches.c.blocked_at <= until).order_by(batches.c.blocked_at.desc(), batches.c.batch_id).limit(limit))
        return await self._batches(site, rows)
