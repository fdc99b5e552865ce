"""The compound import's use case: a checked sheet planned against both registers and — unless it is a dry run or
anything is refused — written to both, in one transaction.

The access service opens the transaction (:meth:`AccessService.compound_work`); the ownership register's records are
read and written on its connection through the ownership register's repository, after the community's row is locked
(PostgreSQL) as the ownership service's own writers lock it, so the register's rule that one developer holds the
unsold units is checked against what is committed. Planning happens inside the transaction: what the dry run showed
is re-planned against the registers as they are at the moment of writing, so a change made meanwhile (a card enrolled
by hand) is refused rather than overwritten.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from community.access.service import AccessService
from community.onboarding.plan import ImportPlan, Outcome, RowReport, Totals, plan_import
from community.onboarding.sheet import CompoundSheet, Problem
from community.ownership.register import OwnershipEntry
from community.ownership.storage import OwnershipRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportReport:
    """What a dry run would do, or what an import did: ``applied`` only when it wrote (nothing refused, not a dry
    run). ``rows``: one report per data row of the file, none when the file is refused as a whole."""

    community_id: str
    dry_run: bool
    applied: bool
    rows: tuple[RowReport, ...]
    problems: tuple[Problem, ...]
    totals: Totals

    @property
    def refused(self) -> bool:
        return bool(self.problems)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for row in self.rows if row.outcome is outcome)

    @property
    def file_problems(self) -> tuple[Problem, ...]:
        """The problems that are not one data row's: the file's format, columns or size."""
        rows = {row.row for row in self.rows}
        return tuple(problem for problem in self.problems if problem.row not in rows)


class CompoundImport:
    """Imports compound sheets into the communities of the access service (and their ownership register)."""

    def __init__(self, access: AccessService) -> None:
        self._access = access

    async def run(self, community_id: str, sheet: CompoundSheet, by: str, *, dry_run: bool) -> ImportReport:
        """Plan ``sheet`` against the community and, unless ``dry_run`` or anything is refused, write it — all of
        it or nothing. NotFound (the access service's) when there is no such community."""
        async with self._access.compound_work(community_id) as work:
            if sheet.refused_whole:
                return ImportReport(community_id, dry_run, False, (), sheet.problems, Totals())
            ownership = OwnershipRepository(work.connection)
            if not dry_run:
                await ownership.lock_community(community_id)
            view = await work.view(sheet.buildings, sheet.units, sheet.residents)
            current = {unit_id: entry.ownership for unit_id, entry in (await ownership.entries(community_id)).items()}
            # a 20,000-unit plan takes a moment: in a worker thread, not on the event loop (the transaction waits)
            plan = await asyncio.to_thread(plan_import, sheet, view, current, work.card_hash)
            applied = not dry_run and not plan.refused
            if applied:
                await work.apply(plan.directory)
                await ownership.add([OwnershipEntry(record, work.now, by) for record in plan.ownership])
        _log(community_id, by, plan, dry_run, applied)
        return ImportReport(community_id, dry_run, applied, plan.rows, plan.problems, plan.totals)


def _log(community_id: str, by: str, plan: ImportPlan, dry_run: bool, applied: bool) -> None:
    totals = plan.totals
    log.info("compound import planned" if not applied else "compound imported", extra={
        "community_id": community_id, "by": by, "dry_run": dry_run, "rows": len(plan.rows),
        "refused_rows": plan.count(Outcome.REFUSED), "units_created": totals.units_created,
        "units_changed": totals.units_changed, "residents_created": totals.residents_created,
        "residents_changed": totals.residents_changed, "cards_created": totals.cards_created,
        "ownership_recorded": totals.ownership_recorded})
