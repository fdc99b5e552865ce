"""The embedded time-series store: SQLite, with InfluxDB's point semantics.

A point's identity is (measurement, tag set, time); writing the same identity again merges the
fields, as InfluxDB does. SQLite calls run on one worker thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gateway.points import Point
from gateway.sinks import PointQuery, Row, StoreUnavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    series TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    tags TEXT NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (measurement, series, time_ns)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_by_time ON points (measurement, time_ns);
"""

UPSERT = """
INSERT INTO points (measurement, series, time_ns, tags, fields) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (measurement, series, time_ns) DO UPDATE SET fields = json_patch(points.fields, excluded.fields)
"""


class EmbeddedStore:
    name = "embedded"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-ts")
        self._db: sqlite3.Connection | None = None

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def write(self, points: Sequence[Point]) -> None:
        if points:
            rows = [
                (
                    point.measurement,
                    ",".join(f"{key}={value}" for key, value in point.tags),
                    point.time_ns,
                    json.dumps(dict(point.tags), ensure_ascii=False),
                    json.dumps(dict(point.fields), ensure_ascii=False),
                )
                for point in points
            ]
            await self._run(self._write, rows)

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        db = self._connection()
        try:
            with db:
                db.execute("BEGIN")
                db.executemany(UPSERT, rows)
        except sqlite3.OperationalError as error:  # disk full, locked: worth retrying later
            raise StoreUnavailable(f"embedded store write failed: {error}") from error

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreUnavailable("embedded store is not open")
        return self._db

    async def select(self, query: PointQuery) -> list[Row]:
        where, args = _where(query)
        order = "DESC" if query.newest_first else "ASC"
        sql = f"SELECT time_ns, tags, fields FROM points {where} ORDER BY time_ns {order} LIMIT ?"
        found = await self._run(self._fetch, sql, [*args, query.limit])
        return [{"time": time_ns, **json.loads(tags), **json.loads(fields)} for time_ns, tags, fields in found]

    async def count(self, query: PointQuery) -> int:
        where, args = _where(query)
        found = await self._run(self._fetch, f"SELECT COUNT(*) FROM points {where}", args)
        return int(found[0][0])

    def _fetch(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        return self._connection().execute(sql, args).fetchall()

    async def ping(self) -> bool:
        return self._db is not None


def _where(query: PointQuery) -> tuple[str, list[Any]]:
    conditions = ["measurement = ?"]
    args: list[Any] = [query.measurement]
    if query.start_ns is not None:
        conditions.append("time_ns >= ?")
        args.append(query.start_ns)
    if query.end_ns is not None:
        conditions.append("time_ns < ?")
        args.append(query.end_ns)
    for key, value in sorted(query.tags.items()):
        # a name is either a tag or a field, as in InfluxQL's WHERE
        conditions.append("coalesce(json_extract(tags, ?), json_extract(fields, ?)) = ?")
        path = "$." + json.dumps(key)
        args.extend([path, path, value])
    return "WHERE " + " AND ".join(conditions), args
