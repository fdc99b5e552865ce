"""The outbox's entry points for the services: record an event on the connection of the transaction that made
the change, so it commits or rolls back with it; the dispatcher takes it from there. A periodic check (a licence
nearing its end, a vote closing tomorrow) records its event *once* per key: the key and the event commit together,
so a check repeated after a restart, or twice in a day, records nothing more."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from notifications.events import MAX_ONCE_KEY_CHARS, EventInvalid, NotificationEvent
from notifications.storage import OutboxRepository


async def add(connection: AsyncConnection, event: NotificationEvent) -> int:
    """Record ``event`` in the outbox within ``connection``'s transaction; returns its id."""
    return await OutboxRepository(connection).add(event)


async def add_once(connection: AsyncConnection, key: str, event: NotificationEvent) -> int | None:
    """Record ``event`` within ``connection``'s transaction unless an event of ``key`` was recorded before; its id,
    or None."""
    if not 0 < len(key) <= MAX_ONCE_KEY_CHARS:
        raise EventInvalid(f"a once-key has 1 to {MAX_ONCE_KEY_CHARS} characters")
    return await OutboxRepository(connection).add_once(key, event, event.occurred_at)


class Outbox:
    """:func:`add` and :func:`add_once` as an object a service is given (constructor injection): a service without
    one notifies nobody, as in the tests of other contexts that do not migrate the notifications' tables."""

    async def add(self, connection: AsyncConnection, event: NotificationEvent) -> int:
        return await add(connection, event)

    async def add_once(self, connection: AsyncConnection, key: str, event: NotificationEvent) -> int | None:
        return await add_once(connection, key, event)

    async def recorded_once(self, connection: AsyncConnection, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` have had their event recorded (a check skips them without building the event)."""
        return await OutboxRepository(connection).recorded_once(keys)
