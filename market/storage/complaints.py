"""Storage of shoppers' complaints: filed, looked up by the complainant's reference or the operator's id, listed by
state, moved on by the operator (unless someone else did meanwhile), and a stall's closed ones for its page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from market.complaints import Complaint, ComplaintCategory, ComplaintConclusion, ComplaintState
from market.scans import Scan, ScanType
from market.storage.repository import Repository
from market.storage.tables import complaints


class ComplaintRepository(Repository):
    async def add_complaint(self, site: str, complaint: Complaint) -> int:
        photo = complaint.photo
        result = await self._connection.execute(complaints.insert().values(
            site=site, reference=complaint.reference, stall=complaint.stall, trace_code=complaint.trace_code,
            category=complaint.category.value, text=complaint.text, photo_name=photo.name if photo else None,
            photo_type=photo.media_type.value if photo else None, photo_bytes=photo.size if photo else None,
            filed_at=complaint.filed_at, deadline=complaint.deadline, state=complaint.state.value)
            .returning(complaints.c.complaint_id))
        return int(result.scalar_one())

    async def complaint(self, site: str, complaint_id: int) -> Complaint | None:
        rows = await self._rows(select(complaints).where(complaints.c.site == site,
                                                         complaints.c.complaint_id == complaint_id))
        return _complaint(rows[0]) if rows else None

    async def complaint_by_reference(self, site: str, reference: str) -> Complaint | None:
        rows = await self._rows(select(complaints).where(complaints.c.site == site,
                                                         complaints.c.reference == reference))
        return _complaint(rows[0]) if rows else None

    async def complaints(self, site: str, states: frozenset[ComplaintState] | None, stall: str | None = None,
                         limit: int = 50, offset: int = 0) -> list[Complaint]:
        """Oldest deadline first (what is due soonest on top), then by id."""
        statement = select(complaints).where(complaints.c.site == site)
        if states is not None:
            statement = statement.where(complaints.c.state.in_(sorted(s.value for s in states)))
        if stall is not None:
            statement = statement.where(complaints.c.stall == stall)
        rows = await self._rows(statement.order_by(complaints.c.deadline, complaints.c.complaint_id)
                                .limit(limit).offset(offset))
        return [_complaint(row) for row in rows]

    async def closed_complaints(self, site: str, stall: str, limit: int) -> list[Complaint]:
        """A stall's closed complaints, latest closed first."""
        rows = await self._rows(select(complaints).where(
            complaints.c.site == site, complaints.c.stall == stall, complaints.c.closed_at.is_not(None))
            .order_by(complaints.c.closed_at.desc(), complaints.c.complaint_id.desc()).limit(limit))
        return [_complaint(row) for row in rows]

    async def move_complaint(self, site: str, before: Complaint, after: Complaint) -> bool:
        """Store the operator's step, unless the complaint moved meanwhile."""
        result = await self._connection.execute(
            update(complaints).where(complaints.c.site == site, complaints.c.complaint_id == before.complaint_id,
                                     complaints.c.state == before.state.value)
            .values(state=after.state.value, handled_by=after.handled_by, outcome=after.outcome,
                    updated_at=after.updated_at, closed_at=after.closed_at,
                    conclusion=after.conclusion.value if after.conclusion else None))
        return bool(result.rowcount)


def _complaint(row: Mapping[str, Any]) -> Complaint:
    photo = None
    if row["photo_name"] is not None:
        photo = Scan(row["photo_name"], ScanType(row["photo_type"]), int(row["photo_bytes"]))
    return Complaint(row["reference"], row["stall"], row["trace_code"], ComplaintCategory(row["category"]),
                     row["text"], row["filed_at"], row["deadline"], ComplaintState(row["state"]), photo,
                     row["handled_by"], row["outcome"], row["updated_at"], row["closed_at"], int(row["complaint_id"]),
                     ComplaintConclusion(row["conclusion"]) if row["conclusion"] else None)
