"""Storage reads of the district view: the problems of several markets at once, since a moment, as the plain facts
:mod:`market.district` counts — rapid tests that were not negative, batches stopped (still, or released since),
findings, complaints — and the names of the markets' stalls. Each kind is read newest first, at most ``limit`` of
it for all the markets together; one more tells that there were more."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

from sqlalchemy import and_, or_, select

from market.complaints import ComplaintCategory, ComplaintState
from market.corrections import CorrectionKind
from market.district import ComplaintFact, FindingFact, RecallFact, TestFact
from market.findings import FindingKind
from market.rapid_tests import RapidTestResult, TestOutcome
from market.storage.repository import Repository
from market.storage.tables import batches, complaints, corrections, findings, rapid_tests, stalls
from market.storage.tracing import read_test, utc_time
from market.tracing import BlockCause

OPEN_STATES: Final = sorted(state.value for state in ComplaintState if not state.closed)
NOT_NEGATIVE: Final = sorted(outcome.value for outcome in TestOutcome if outcome is not TestOutcome.NEGATIVE)
Fact = TypeVar("Fact")
Found = dict[str, list[Fact]]
"""Facts by market (site id)."""


class DistrictRepository(Repository):
    """The district's facts of ``sites``, by site; each read answers whether it left some out (``limit`` reached)."""

    async def stall_names(self, sites: Collection[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {site: {} for site in sites}
        rows = await self._rows(select(stalls.c.site, stalls.c.stall, stalls.c.name)
                                .where(stalls.c.site.in_(sorted(sites))))
        for row in rows:
            found[row["site"]][row["stall"]] = row["name"]
        return found

    async def problem_tests(self, sites: Collection[str], since: datetime, limit: int
                            ) -> tuple[Found[TestFact], bool]:
        """Tests done since ``since`` that were not negative (positive, suspected positive — whatever the
        laboratory said of it since), newest first."""
        not_negative = or_(rapid_tests.c.outcome.in_(NOT_NEGATIVE),
                           and_(rapid_tests.c.outcome.is_(None), rapid_tests.c.result == RapidTestResult.FAIL.value))
        rows = await self._rows(
            select(rapid_tests, batches.c.stall, batches.c.product)
            .join(batches, (batches.c.site == rapid_tests.c.site) & (batches.c.batch_id == rapid_tests.c.batch_id))
            .where(rapid_tests.c.site.in_(sorted(sites)), rapid_tests.c.tested_at >= since, not_negative)
            .order_by(rapid_tests.c.tested_at.desc(), rapid_tests.c.test_id.desc()).limit(limit + 1))
        found: Found[TestFact] = {site: [] for site in sites}
        for row in rows[:limit]:
            test = read_test(row)
            found[row["site"]].append(TestFact(
                int(row["test_id"]), row["stall"], test.batch_id, row["product"], test.item, test.outcome,
                test.verdict_zh, test.tested_at, test.failed, test.awaiting_laboratory))
        return found, len(rows) > limit

    async def recalls(self, sites: Collection[str], since: datetime, limit: int) -> tuple[Found[RecallFact], bool]:
        """Batches stopped since ``since`` (held for the laboratory too: the caller tells them by cause): those
        still stopped, and those released since, as the release's audit entry remembers the stop."""
        stopped = await self._rows(
            select(batches.c.site, batches.c.stall, batches.c.batch_id, batches.c.product, batches.c.blocked_at,
                   batches.c.block_cause, batches.c.block_reason)
            .where(batches.c.site.in_(sorted(sites)), batches.c.blocked_at >= since)
            .order_by(batches.c.blocked_at.desc()).limit(limit + 1))
        released = await self._rows(
            select(corrections.c.site, corrections.c.corrected_at, corrections.c.detail, batches.c.stall,
                   batches.c.batch_id, batches.c.product)
            .join(batches, (batches.c.site == corrections.c.site) & (batches.c.batch_id == corrections.c.subject))
            .where(corrections.c.site.in_(sorted(sites)), corrections.c.kind == CorrectionKind.RELEASE_BATCH.value,
                   corrections.c.corrected_at >= since)
            .order_by(corrections.c.corrected_at.desc()).limit(limit + 1))
        found: Found[RecallFact] = {site: [] for site in sites}
        for row in stopped[:limit]:
            found[row["site"]].append(RecallFact(row["stall"], row["batch_id"], row["product"], row["blocked_at"],
                                                 BlockCause(row["block_cause"]), row["block_reason"] or ""))
        for row in released[:limit]:
            fact = _released(row)
            if fact is not None and fact.at >= since:
                found[row["site"]].append(fact)
        return found, len(stopped) > limit or len(released) > limit

    async def findings(self, sites: Collection[str], since: datetime, limit: int) -> tuple[Found[FindingFact], bool]:
        """Findings about what happened since ``since``, and every one still open, newest first."""
        rows = await self._rows(
            select(findings.c.site, findings.c.finding_id, findings.c.stall, findings.c.kind, findings.c.at,
                   findings.c.resolved_at)
            .where(findings.c.site.in_(sorted(sites)), or_(findings.c.at >= since, findings.c.resolved_at.is_(None)))
            .order_by(findings.c.at.desc(), findings.c.finding_id.desc()).limit(limit + 1))
        found: Found[FindingFact] = {site: [] for site in sites}
        for row in rows[:limit]:
            found[row["site"]].append(FindingFact(int(row["finding_id"]), row["stall"], FindingKind(row["kind"]),
                                                  row["at"], row["resolved_at"]))
        return found, len(rows) > limit

    async def complaints(self, sites: Collection[str], since: datetime, limit: int
                         ) -> tuple[Found[ComplaintFact], bool]:
        """Complaints open now, filed since ``since`` or closed since then, the latest filed first."""
        rows = await self._rows(
            select(complaints.c.site, complaints.c.complaint_id, complaints.c.reference, complaints.c.stall,
                   complaints.c.category, complaints.c.state, complaints.c.filed_at, complaints.c.deadline,
                   complaints.c.closed_at)
            .where(complaints.c.site.in_(sorted(sites)),
                   or_(complaints.c.state.in_(OPEN_STATES), complaints.c.filed_at >= since,
                       complaints.c.closed_at >= since))
            .order_by(complaints.c.filed_at.desc(), complaints.c.complaint_id.desc()).limit(limit + 1))
        found: Found[ComplaintFact] = {site: [] for site in sites}
        for row in rows[:limit]:
            found[row["site"]].append(ComplaintFact(
                int(row["complaint_id"]), row["reference"], row["stall"], ComplaintCategory(row["category"]),
                ComplaintState(row["state"]), row["filed_at"], row["deadline"], row["closed_at"]))
        return found, len(rows) > limit


def _released(row: Mapping[str, Any]) -> RecallFact | None:
    """The stop a release lifted, from its audit entry; None for an entry that does not say when it was."""
    detail = row["detail"] or {}
    blocked_at = utc_time(detail.get("blocked_at"))
    cause = detail.get("block_cause")
    if blocked_at is None or cause not in {c.value for c in BlockCause}:
        return None
    return RecallFact(row["stall"], row["batch_id"], row["product"], blocked_at, BlockCause(cause),
                      str(detail.get("block_reason") or ""), row["corrected_at"])
