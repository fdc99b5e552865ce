"""The remote-open audit: every request to open a door from afar, its deadline and outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.remote_open import RemoteOpen, RemoteOpenStatus
from community.access.storage.tables import gates, remote_opens


class RemoteOpenRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, request: RemoteOpen) -> None:
        await self._connection.execute(remote_opens.insert().values(**_remote_open_values(request)))

    async def update(self, request: RemoteOpen) -> None:
        await self._connection.execute(update(remote_opens).where(remote_opens.c.cmd_id == request.cmd_id)
                                       .values(**_remote_open_values(request)))

    async def get(self, cmd_id: str) -> RemoteOpen | None:
        row = (await self._connection.execute(
            select(remote_opens).where(remote_opens.c.cmd_id == cmd_id))).mappings().first()
        return None if row is None else _remote_open(row)

    async def due(self, now: datetime) -> list[RemoteOpen]:
        rows = await self._connection.execute(select(remote_opens).where(
            remote_opens.c.status == RemoteOpenStatus.PENDING.value, remote_opens.c.deadline <= now))
        return [_remote_open(row) for row in rows.mappings()]

    async def listed(self, community_id: str, gate_id: str | None = None, limit: int = 100) -> list[RemoteOpen]:
        query = (select(remote_opens).join(gates, remote_opens.c.gate_id == gates.c.gate_id)
                 .where(gates.c.community_id == community_id))
        if gate_id is not None:
            query = query.where(remote_opens.c.gate_id == gate_id)
        rows = await self._connection.execute(query.order_by(remote_opens.c.requested_at.desc()).limit(limit))
        return [_remote_open(row) for row in rows.mappings()]


def _remote_open_values(request: RemoteOpen) -> dict[str, Any]:
    return {
        "cmd_id": request.cmd_id, "gate_id": request.gate_id, "door": request.door,
        "requested_by": request.requested_by, "reason": request.reason, "requested_at": request.requested_at,
        "deadline": request.deadline, "status": request.status.value, "finished_at": request.finished_at,
        "error": request.error,
    }


def _remote_open(row: Any) -> RemoteOpen:
    return RemoteOpen(row["cmd_id"], row["gate_id"], row["door"], row["requested_by"], row["reason"],
                      row["requested_at"], row["deadline"], RemoteOpenStatus(row["status"]), row["finished_at"],
                      row["error"])
