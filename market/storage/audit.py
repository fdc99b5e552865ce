"""Storage of the market's oversight: findings raised against stalls and batches (each once, until
resolved) and the operators' corrections, the audit trail of every change made after the fact."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from market.corrections import Correction, CorrectionKind, RecordedCorrection
from market.findings import Finding, FindingKind, RecordedFinding
from market.storage.repository import Repository
from market.storage.tables import corrections, findings


class FindingRepository(Repository):
    """Findings, by the key that makes a finding the same one when raised again."""

    async def known_findings(self, site: str, keys: Iterable[str]) -> set[str]:
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        rows = (await self._connection.execute(select(findings.c.finding_key).where(
            findings.c.site == site, findings.c.finding_key.in_(wanted)))).scalars().all()
        return set(rows)

    async def add_findings(self, site: str, new: Sequence[Finding], now: datetime) -> None:
        if new:
            await self._connection.execute(findings.insert(), [
                {"site": site, "kind": f.kind.value, "finding_key": f.key, "stall": f.stall, "at": f.at,
                 "detail": dict(f.detail), "raised_at": now} for f in new])

    async def findings(self, site: str, *, kind: FindingKind | None = None, stall: str | None = None,
                       open_only: bool = False, resolved_only: bool = False, limit: int = 100,
                       offset: int = 0) -> list[RecordedFinding]:
        """Newest first."""
        statement = select(findings).where(findings.c.site == site)
        if kind is not None:
            statement = statement.where(findings.c.kind == kind.value)
        if stall is not None:
            statement = statement.where(findings.c.stall == stall)
        if open_only:
            statement = statement.where(findings.c.resolved_at.is_(None))
        if resolved_only:
            statement = statement.where(findings.c.resolved_at.is_not(None))
        rows = await self._rows(statement.order_by(findings.c.at.desc(), findings.c.finding_id.desc())
                                .limit(limit).offset(offset))
        return [_finding(row) for row in rows]

    async def finding(self, site: str, finding_id: int) -> RecordedFinding | None:
        rows = await self._rows(select(findings).where(findings.c.site == site, findings.c.finding_id == finding_id))
        return _finding(rows[0]) if rows else None

    async def resolve_finding(self, site: str, finding_id: int, by: str, resolution: str, now: datetime) -> bool:
        result = await self._connection.execute(
            update(findings).where(findings.c.site == site, findings.c.finding_id == finding_id,
                                   findings.c.resolved_at.is_(None))
            .values(resolved_at=now, resolved_by=by, resolution=resolution))
        return bool(result.rowcount)


class CorrectionRepository(Repository):
    """Operators' corrections (a voided document, a corrected quantity, a lifted block), never changed."""

    async def add_correction(self, site: str, correction: Correction) -> int:
        result = await self._connection.execute(corrections.insert().values(
            site=site, kind=correction.kind.value, subject=correction.subject, reason=correction.reason[:500],
            corrected_by=correction.by, corrected_at=correction.at, detail=dict(correction.detail)))
        key = result.inserted_primary_key
        if key is None:
            raise RuntimeError("the database returned no id for the correction")
        return int(key[0])

    async def corrections(self, site: str, *, kinds: Iterable[CorrectionKind] | None = None,
                          subject: str | None = None, limit: int = 100, offset: int = 0) -> list[RecordedCorrection]:
        """Newest first."""
        statement = select(corrections).where(corrections.c.site == site)
        if kinds is not None:
            statement = statement.where(corrections.c.kind.in_(sorted(kind.value for kind in kinds)))
        if subject is not None:
            statement = statement.where(corrections.c.subject == subject)
        rows = await self._rows(statement.order_by(corrections.c.corrected_at.desc(),
                                                   corrections.c.correction_id.desc()).limit(limit).offset(offset))
        return [RecordedCorrection(row["correction_id"], Correction(
            CorrectionKind(row["kind"]), row["subject"], row["reason"], row["corrected_by"], row["corrected_at"],
            row["detail"])) for row in rows]


def _finding(row: Mapping[str, Any]) -> RecordedFinding:
    finding = Finding(FindingKind(row["kind"]), row["finding_key"], row["stall"], row["at"], row["detail"])
    return RecordedFinding(row["finding_id"], finding, row["raised_at"], row["resolved_at"], row["resolved_by"],
                           row["resolution"])
