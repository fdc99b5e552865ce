"""Storage of the one-time codes (SQLAlchemy Core, async): each kept as its digest with what using it does, used
at most once — :meth:`CodeRepository.use` marks it used in one conditional update, so two concurrent uses cannot
both succeed — and let go when revoked or replaced."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from accounts.one_time_codes import CodeKind, CodeRecord
from accounts.storage import one_time_codes
from webkit.identity import Role, Scope

_IN_BATCH = 500


class CodeRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, records: Iterable[CodeRecord]) -> None:
        rows = [_row(record) for record in records]
        if rows:
            await self._connection.execute(one_time_codes.insert(), rows)

    async def by_digest(self, kind: CodeKind, digest: str) -> CodeRecord | None:
        row = (await self._connection.execute(select(one_time_codes).where(and_(
            one_time_codes.c.kind == kind.value, one_time_codes.c.digest == digest)))).mappings().first()
        return None if row is None else _record(row)

    async def by_id(self, kind: CodeKind, code_id: str) -> CodeRecord | None:
        row = (await self._connection.execute(select(one_time_codes).where(and_(
            one_time_codes.c.kind == kind.value, one_time_codes.c.code_id == code_id)))).mappings().first()
        return None if row is None else _record(row)

    async def of_kind(self, kind: CodeKind) -> list[CodeRecord]:
        rows = (await self._connection.execute(select(one_time_codes).where(one_time_codes.c.kind == kind.value)
                                               .order_by(one_time_codes.c.created_at.desc(),
                                                         one_time_codes.c.code_id))).mappings()
        return [_record(row) for row in rows]

    async def pending_for(self, kind: CodeKind, account_ids: Iterable[str], now: datetime) -> dict[str, datetime]:
        """The expiry of the pending code of ``kind`` for each of ``account_ids`` that has one."""
        wanted = sorted(set(account_ids))
        found: dict[str, datetime] = {}
        for start in range(0, len(wanted), _IN_BATCH):
            rows = await self._connection.execute(
                select(one_time_codes.c.account_id, one_time_codes.c.expires_at).where(and_(
                    one_time_codes.c.kind == kind.value, _pending(now),
                    one_time_codes.c.account_id.in_(wanted[start:start + _IN_BATCH]))))
            for account_id, expires_at in rows:
                found[account_id] = max(expires_at, found.get(account_id, expires_at))
        return found

    async def use(self, kind: CodeKind, digest: str, now: datetime, account_id: str | None = None) -> bool:
        """Mark the code used, if it is still pending at ``now`` (recording ``account_id``, the account made
        with it, when given); False when it is not."""
        values: dict[str, Any] = {"used_at": now}
        if account_id is not None:
            values["account_id"] = account_id
        result = await self._connection.execute(update(one_time_codes).where(and_(
            one_time_codes.c.kind == kind.value, one_time_codes.c.digest == digest, _pending(now))).values(**values))
        return bool(result.rowcount)

    async def revoke(self, kind: CodeKind, code_id: str, now: datetime) -> bool:
        """Withdraw a pending code; False when it is not pending."""
        result = await self._connection.execute(update(one_time_codes).where(and_(
            one_time_codes.c.kind == kind.value, one_time_codes.c.code_id == code_id, _pending(now)))
            .values(revoked_at=now))
        return bool(result.rowcount)

    async def revoke_pending(self, kind: CodeKind, now: datetime, account_ids: Iterable[str] | None = None) -> int:
        """Withdraw every pending code of ``kind`` (for ``account_ids`` only, when given): the codes a new one
        replaces. Returns how many."""
        if account_ids is None:
            result = await self._connection.execute(update(one_time_codes).where(and_(
                one_time_codes.c.kind == kind.value, _pending(now))).values(revoked_at=now))
            return int(result.rowcount)
        wanted, revoked = sorted(set(account_ids)), 0
        for start in range(0, len(wanted), _IN_BATCH):
            result = await self._connection.execute(update(one_time_codes).where(and_(
                one_time_codes.c.kind == kind.value, _pending(now),
                one_time_codes.c.account_id.in_(wanted[start:start + _IN_BATCH]))).values(revoked_at=now))
            revoked += int(result.rowcount)
        return revoked


def _pending(now: datetime) -> Any:
    return and_(one_time_codes.c.used_at.is_(None), one_time_codes.c.revoked_at.is_(None),
                one_time_codes.c.expires_at > now)


def _row(record: CodeRecord) -> dict[str, Any]:
    return {
        "code_id": record.code_id, "digest": record.digest, "kind": record.kind.value,
        "account_id": record.account_id, "display_name": record.display_name,
        "role": None if record.role is None else record.role.value, "organisation_id": record.organisation_id,
        "communities": sorted(record.scope.communities), "markets": sorted(record.scope.markets),
        "created_by": record.created_by, "created_at": record.created_at, "expires_at": record.expires_at,
        "used_at": record.used_at, "revoked_at": record.revoked_at,
    }


def _record(row: Any) -> CodeRecord:
    return CodeRecord(
        row["code_id"], row["digest"], CodeKind(row["kind"]), row["created_at"], row["expires_at"],
        account_id=row["account_id"], display_name=row["display_name"],
        role=None if row["role"] is None else Role(row["role"]), organisation_id=row["organisation_id"],
        scope=Scope.of(row["communities"], row["markets"]), created_by=row["created_by"],
        used_at=row["used_at"], revoked_at=row["revoked_at"])
