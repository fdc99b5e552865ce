"""Today's entries per gate and hour, read from the time series for the console's tiles and charts: bounded per
hour, finished hours remembered and read again later, since an offline gate's backlog may arrive late.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from devices.contract import Direction, GateEventKind
from gateway.outputs import PointQuery, TimeSeriesStore
from gateway.processors.points import Measurement
from webkit.formatting import SHANGHAI

HOUR = timedelta(hours=1)
HOUR_ROWS = 20_000
"""Entry points read per hour for the chart; an hour with more is counted gate by gate instead."""
RECOUNT_AFTER = timedelta(minutes=5)
"""A finished hour's counts are read again after this long: an offline gate's backlog may arrive late."""
RECOUNT_OLD_AFTER = timedelta(hours=1)
"""For hours that ended more than an hour ago (late backlogs are rarer; a day at 5 events/s takes ~1 s to read)."""


@dataclass(frozen=True)
class TodayEntries:
    """People entering (granted, direction in) per gate and hour of today in Shanghai, up to the current hour."""

    day_start: datetime
    hours: int
    by_gate: Mapping[str, tuple[int, ...]]

    def total(self, gate_id: str) -> int:
        return sum(self.by_gate.get(gate_id, ()))

    @property
    def grand_total(self) -> int:
        return sum(sum(counts) for counts in self.by_gate.values())


class EntryCounter:
    """Reads today's entries from the time series (``gate_event`` points, tags site/device/kind/direction), one hour
    at a time and bounded: at most `hour_rows` points per hour are read, a busier hour is counted gate by gate.
    Finished hours are remembered (only today's, per site) and read again after `recount_after`, or
    :data:`RECOUNT_OLD_AFTER` once they ended more than an hour ago."""

    def __init__(self, store: TimeSeriesStore, recount_after: timedelta = RECOUNT_AFTER,
                 hour_rows: int = HOUR_ROWS) -> None:
        self._store = store
        self._recount_after = recount_after
        self._hour_rows = hour_rows
        self._hours: dict[tuple[str, datetime], tuple[datetime, Counter[str]]] = {}

    async def today(self, site: str, gate_ids: Sequence[str], now: datetime) -> TodayEntries:
        day_start = now.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        hours = min(24, (now - day_start) // HOUR + 1)
        self._hours = {key: value for key, value in self._hours.items() if key[1] >= day_start}
        by_gate = {gate_id: [0] * hours for gate_id in gate_ids}
        for index in range(hours):
            start = day_start + index * HOUR
            counts = await self._hour(site, gate_ids, start, now)
            for gate_id, counted in counts.items():
                if gate_id in by_gate:
                    by_gate[gate_id][index] = counted
        return TodayEntries(day_start, hours, {gate_id: tuple(counts) for gate_id, counts in by_gate.items()})

    async def _hour(self, site: str, gate_ids: Sequence[str], start: datetime, now: datetime) -> Counter[str]:
        end = start + HOUR
        remembered = self._hours.get((site, start))
        if remembered is not None:
            computed_at, counts = remembered
            if now < computed_at + (self._recount_after if now - end < HOUR else RECOUNT_OLD_AFTER):
                return counts
        tags = {"site": site, "kind": GateEventKind.GRANTED.value, "direction": Direction.IN.value}
        start_ns, end_ns = _ns(start), _ns(end)
        rows = await self._store.select(PointQuery(Measurement.GATE_EVENT, start_ns, end_ns, tags,
                                                   limit=self._hour_rows + 1, newest_first=False))
        if len(rows) <= self._hour_rows:
            counts = Counter(str(row.get("device")) for row in rows)
        else:
            counts = Counter({gate_id: await self._store.count(PointQuery(
                Measurement.GATE_EVENT, start_ns, end_ns, {**tags, "device": gate_id})) for gate_id in gate_ids})
        if end <= now:
            self._hours[(site, start)] = (now, counts)
        return counts


def _ns(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
