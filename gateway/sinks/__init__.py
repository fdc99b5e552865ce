"""Time-series stores behind one small interface: InfluxDB over HTTP, and an embedded SQLite store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.points import FieldValue, Point

Row = dict[str, FieldValue]
"""A stored point flattened: ``time`` (ns since the epoch), its tags and its fields."""


class StoreUnavailable(Exception):
    """The store could not take the write now (down, timeout, overloaded, auth): retry or spool."""


class StoreRejected(Exception):
    """The store refused the data itself; retrying the same write cannot succeed."""


@dataclass(frozen=True, slots=True)
class PointQuery:
    measurement: str
    start_ns: int | None = None
    end_ns: int | None = None  # exclusive
    tags: Mapping[str, str] = field(default_factory=dict)
    limit: int = 100
    newest_first: bool = True


class TimeSeriesStore(Protocol):
    """What the gateway and the services need of a time-series database."""

    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, points: Sequence[Point]) -> None:
        """Store the points; a point equal in measurement, tags and time to a stored one replaces
        (merges) it. Raises :class:`StoreUnavailable` or :class:`StoreRejected`."""

    async def select(self, query: PointQuery) -> list[Row]: ...

    async def count(self, query: PointQuery) -> int:
        """How many points match (``limit`` and order are ignored)."""

    async def ping(self) -> bool: ...
