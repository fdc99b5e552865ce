"""What the market's operators watch over: stalls whose licences need attention, the findings raised
against stalls and batches (and their resolution), and the audit trail of corrections.

:func:`raise_findings` is how every use case that notices something (a sale, a corrected quantity)
records it: each finding once, however often it is noticed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from market.corrections import CorrectionKind, RecordedCorrection
from market.findings import Finding, FindingKind, RecordedFinding
from market.licences import DocumentStatus
from market.market_time import market_day
from market.service.directory import stall_overviews
from market.service.errors import Conflict, NotFound
from market.service.lookup import existing_market
from market.service.notices import MarketNotices
from market.service.settings import MarketSettings
from market.stalls import Stall, Vendor
from market.storage import MarketRepository

log = logging.getLogger(__name__)

LICENCE_REVIEW_CHUNK: Final = 200
"""Stalls read at a time while looking for licence problems."""


@dataclass(frozen=True)
class LicenceProblem:
    stall: Stall
    vendor: Vendor | None
    status: DocumentStatus


class Oversight:
    """Licence problems, findings and corrections, as the operators review them."""

    def __init__(self, engine: AsyncEngine, settings: MarketSettings) -> None:
        self._engine = engine
        self._settings = settings

    async def licence_problems(self, site: str, now: datetime, limit: int, offset: int) -> list[LicenceProblem]:
        """A page of the documents of every stall that are missing, expired, not yet valid or about to
        expire, the most urgent first (missing ones, then by days left). Only stalls that may have a
        problem are read (the database tells them), a chunk at a time, and only the ``offset + limit``
        most urgent problems are kept while reading."""
        today = market_day(now)
        horizon = max(self._settings.warning_days, default=0)
        kept: list[LicenceProblem] = []
        after: str | None = None
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            market = await existing_market(repository, site)
            while True:
                chunk = await repository.stalls_to_review(site, today, horizon, market.policy, after,
                                                          LICENCE_REVIEW_CHUNK)
                overviews = await stall_overviews(repository, market, chunk, today, self._settings.warning_days)
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
            await existing_market(repository, site)
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

    async def corrections(self, site: str, kinds: Iterable[CorrectionKind] | None, subject: str | None, limit: int,
                          offset: int) -> list[RecordedCorrection]:
        """Operators' corrections, newest first: of ``kinds`` (all if None), of ``subject`` (a batch id,
        a document id) if given."""
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_market(repository, site)
            return await repository.corrections(site, kinds=kinds, subject=subject, limit=limit, offset=offset)


async def raise_findings(repository: MarketRepository, site: str, findings: Sequence[Finding],
                         now: datetime, notices: MarketNotices | None = None) -> int:
    """Record the findings not raised before (by key), telling ``notices`` of the new ones; how many were new."""
    unique: dict[str, Finding] = {}
    for finding in findings:
        unique.setdefault(finding.key, finding)
    known = await repository.known_findings(site, unique)
    new = [finding for key, finding in unique.items() if key not in known]
    await repository.add_findings(site, new, now)
    if notices is not None:
        await notices.findings(repository, site, new)
    for finding in new:
        log.info("finding raised", extra={"site": site, "kind": finding.kind.value, "stall": finding.stall})
    return len(new)


def _urgency(problem: LicenceProblem) -> tuple[int, str]:
    days = problem.status.days_to_expiry
    return (days if days is not None else -10**6), problem.stall.stall
