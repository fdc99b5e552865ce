"""What every market repository shares: the connection of the one transaction it reads and writes on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


class Repository:
    """Reads and writes one transaction's worth of market data on ``connection``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    @property
    def connection(self) -> AsyncConnection:
        """The transaction's connection, for what is written beside the market's rows (a notification's event)."""
        return self._connection

    async def _rows(self, statement: Any) -> Sequence[Any]:
        return (await self._connection.execute(statement)).mappings().all()
