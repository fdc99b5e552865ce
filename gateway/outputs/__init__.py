"""Time-series stores behind one small interface: InfluxDB over HTTP, and an embedded SQLite store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from gateway.processors.points import FieldValue, Point

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


class Aggregate(StrEnum):
    COUNT = "count"
    MIN = "min"
    MAX = "max"
    SUM = "sum"


@dataclass(frozen=True, slots=True)
class Summary:
    """One column of a :class:`WindowQuery`'s answer: ``function`` of ``field`` over a window, named
    ``name``. With ``times``, of ``field`` × ``times`` point by point (a weighted sum: Σ price × grams)."""

    name: str
    function: Aggregate
    field: str
    times: str | None = None

    def __post_init__(self) -> None:
        if self.times is not None and self.function is not Aggregate.SUM:
            raise ValueError("a product of two fields is summed, nothing else")


@dataclass(frozen=True, slots=True)
class WindowQuery:
    """Points of ``measurement`` matching ``tags`` in [start, end), summarised per time window and per
    value of the ``group_by`` tags. Windows are ``window_ns`` long and begin at ``offset_ns`` past a
    multiple of ``window_ns`` since the epoch (a day in UTC+8 begins at 16:00 UTC: offset 16 h)."""

    measurement: str
    start_ns: int
    end_ns: int  # exclusive
    window_ns: int
    summaries: tuple[Summary, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    offset_ns: int = 0

    def __post_init__(self) -> None:
        if self.window_ns <= 0 or not 0 <= self.offset_ns < self.window_ns:
            raise ValueError("a window is positive and its offset shorter than it")
        if not self.summaries:
            raise ValueError("summarise at least one field")


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

    async def summarise(self, query: WindowQuery) -> list[Row]:
        """One row per window and group that has points, by group then time: ```time`` (the window's
        start, ns), the ``group_by`` tags, and each summary by its name (absent when none of the window's
        points has the field). Raises :class:`StoreUnavailable` or :class:`StoreRejected`."""

    async def ping(self) -> bool: ...
