"""The outbox's one entry point for the services: record an event on the connection of the transaction that made
the change, so it commits or rolls back with it; the dispatcher takes it from there."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from notifications.events import NotificationEvent
from notifications.storage import OutboxRepository


async def add(connection: AsyncConnection, event: NotificationEvent) -> int:
    """Record ``event`` in the outbox within ``connection``'s transaction; returns its id."""
    return await OutboxRepository(connection).add(event)


class Outbox:
    """:func:`add` as an object a service is given (constructor injection): a service without one notifies nobody,
    as in the tests of other contexts that do not migrate the notifications' tables."""

    async def add(self, connection: AsyncConnection, event: NotificationEvent) -> int:
        return await add(connection, event)
