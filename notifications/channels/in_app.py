"""In-app: the notification centre's row, once per idempotency key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from notifications.channels import DeliveryFailed, Outgoing
from notifications.storage import CentreRepository


class InAppSender:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    async def send(self, outgoing: Outgoing) -> None:
        if outgoing.account_id is None:
            raise DeliveryFailed("in-app delivery without an account")
        async with self._engine.begin() as connection:
            await CentreRepository(connection).add(outgoing.account_id, outgoing.event_id, outgoing.event,
                                                   outgoing.idempotency_key, self._clock())
