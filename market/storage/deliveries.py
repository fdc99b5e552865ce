"""Storage of the commands to the scales (the outbox): each command to each scale, its state and attempts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

from market.scale_delivery import Delivery, DeliveryStatus
from market.storage.repository import Repository
from market.storage.tables import deliveries, scales


class DeliveryRepository(Repository):
    """Deliveries of commands to scales, in the order they were created."""

    async def add_delivery(self, delivery: Delivery) -> None:
        await self._connection.execute(deliveries.insert().values(**_delivery_row(delivery)))

    async def save_delivery(self, delivery: Delivery, expected: Delivery | None = None) -> bool:
        """Store the delivery's new state; with ``expected``, only if nobody changed it meanwhile."""
        statement = update(deliveries).where(deliveries.c.cmd_id == delivery.cmd_id)
        if expected is not None:
            statement = statement.where(deliveries.c.status == expected.status.value,
                                        deliveries.c.attempts == expected.attempts)
        row = _delivery_row(delivery)
        del row["cmd_id"]
        result = await self._connection.execute(statement.values(**row))
        return bool(result.rowcount)

    async def delivery(self, cmd_id: str) -> Delivery | None:
        rows = await self._rows(select(deliveries).where(deliveries.c.cmd_id == cmd_id))
        return _delivery(rows[0]) if rows else None

    async def deliveries_by_id(self, cmd_ids: Iterable[str]) -> dict[str, Delivery]:
        wanted = sorted(set(cmd_ids))
        if not wanted:
            return {}
        rows = await self._rows(select(deliveries).where(deliveries.c.cmd_id.in_(wanted)))
        return {row["cmd_id"]: _delivery(row) for row in rows}

    async def deliveries(self, site: str, *, scale: str | None = None, op: str | None = None,
                         statuses: Iterable[DeliveryStatus] | None = None, limit: int = 100, offset: int = 0
                         ) -> list[Delivery]:
        """Newest first."""
        statement = select(deliveries).where(deliveries.c.site == site)
        if scale is not None:
            statement = statement.where(deliveries.c.scale_id == scale)
        if op is not None:
            statement = statement.where(deliveries.c.op == op)
        if statuses is not None:
            statement = statement.where(deliveries.c.status.in_([status.value for status in statuses]))
        rows = await self._rows(statement.order_by(deliveries.c.delivery_id.desc()).limit(limit).offset(offset))
        return [_delivery(row) for row in rows]

    async def due_deliveries(self, now: datetime, limit: int) -> list[tuple[Delivery, bool | None]]:
        """Pending deliveries whose time has come, oldest first, with their scale's availability."""
        statement = (select(deliveries, scales.c.online.label("scale_online"))
                     .outerjoin(scales, and_(scales.c.site == deliveries.c.site,
                                             scales.c.scale_id == deliveries.c.scale_id))
                     .where(deliveries.c.status == DeliveryStatus.PENDING.value,
                            deliveries.c.next_attempt_at <= now,
                            or_(scales.c.online.is_(None), scales.c.online.is_(True)))
                     .order_by(deliveries.c.next_attempt_at, deliveries.c.delivery_id).limit(limit))
        return [(_delivery(row), row["scale_online"]) for row in await self._rows(statement)]


def _delivery_row(delivery: Delivery) -> dict[str, Any]:
    return {"cmd_id": delivery.cmd_id, "site": delivery.site, "scale_id": delivery.scale, "stall": delivery.stall,
            "op": delivery.op, "args": dict(delivery.args), "created_at": delivery.created_at,
            "status": delivery.status.value, "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at, "last_sent_at": delivery.last_sent_at,
            "finished_at": delivery.finished_at, "error": delivery.error,
            "result": dict(delivery.result) if delivery.result is not None else None}


def _delivery(row: Mapping[str, Any]) -> Delivery:
    return Delivery(row["cmd_id"], row["site"], row["scale_id"], row["stall"], row["op"], row["args"],
                    row["created_at"], DeliveryStatus(row["status"]), row["attempts"], row["next_attempt_at"],
                    row["last_sent_at"], row["finished_at"], row["error"], row["result"])
