"""The embedded time-series store: SQLite, with InfluxDB's point semantics.

A point's identity is (measurement, tag set, time); writing the same identity again merges the
fields, as InfluxDB does. SQLite calls run on one worker thread so the event loop never blocks.

A retention per measurement (``retention``) does what an InfluxDB retention policy does: points older than it are
deleted when the store opens and then at most hourly, after a write (the gateway writes all the time; an hour's
overshoot is within the purpose of a retention period counted in days).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from config.private_files import private_directory, private_file
from gateway.outputs import Aggregate, PointQuery, Row, StoreUnavailable, Summary, WindowQuery
from gateway.processors.points import Point

log = logging.getLogger(__name__)

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


EXPIRE_EVERY_NS = 3600 * 10**9
EXPIRE_CHUNK_ROWS = 10_000
EXPIRE_CHUNK = """
DELETE FROM points WHERE (measurement, series, time_ns) IN (
    SELECT measurement, series, time_ns FROM points WHERE measurement = ? AND time_ns < ? LIMIT ?)
"""


class EmbeddedStore:
    name = "embedded"

    def __init__(self, path: Path, retention: Mapping[str, timedelta] | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        """``retention``: how long each measurement named in it is kept (the others: forever)."""
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-ts")
        self._db: sqlite3.Connection | None = None
        self._retention = {measurement: int(kept.total_seconds() * 10**9)
                           for measurement, kept in (retention or {}).items()}
        self._clock_ns = clock_ns
        self._expired_at_ns = 0

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        private_directory(self._path.parent)
        # created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the database's mode
        private_file(self._path)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        self._db = db
        self._expire_logged()

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
        if self._clock_ns() - self._expired_at_ns >= EXPIRE_EVERY_NS:
            self._expire_logged()

    async def expire(self) -> int:
        """Delete the points past their measurement's retention now; how many went."""
        deleted: int = await self._run(self._expire)
        return deleted

    def _expire_logged(self) -> None:
        """:meth:`_expire`, its failure logged: the store works on (the points are stored; a full disk or a lock
        held too long costs the expiry, which is tried again at the next write)."""
        try:
            self._expire()
        except sqlite3.OperationalError:
            log.warning("embedded store: expiring old points failed", exc_info=True)

    def _expire(self) -> int:
        now_ns = self._clock_ns()
        deleted = 0
        db = self._connection()
        for measurement, kept_ns in self._retention.items():
            while True:  # in bounded transactions: years of a first expiry neither block writes nor swell the WAL
                with db:
                    db.execute("BEGIN")
                    gone = db.execute(EXPIRE_CHUNK, (measurement, now_ns - kept_ns, EXPIRE_CHUNK_ROWS)).rowcount
                deleted += gone
                if gone < EXPIRE_CHUNK_ROWS:
                    break
        self._expired_at_ns = now_ns
        if deleted:
            log.info("embedded store: points past their retention deleted", extra={"points": deleted})
        return deleted

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

    async def summarise(self, query: WindowQuery) -> list[Row]:
        where, args = _where(PointQuery(query.measurement, query.start_ns, query.end_ns, query.tags))
        # the window's start: floor((t - offset) / window) · window + offset, for times before the epoch too
        window = "(time_ns - (((time_ns - ?) % ?) + ?) % ?)"
        window_args: list[Any] = [query.offset_ns, query.window_ns, query.window_ns, query.window_ns]
        groups = [f"json_extract(tags, {_path_literal(tag)})" for tag in query.group_by]
        columns = [_summary_sql(summary) for summary in query.summaries]
        present = " + ".join(f"COUNT(json_extract(fields, {_path_literal(s.field)}))" for s in query.summaries)
        keys = ", ".join([*groups, "window_start"])
        sql = (f"SELECT {window} AS window_start, {', '.join([*groups, *columns])} FROM points {where} "
               f"GROUP BY {keys} HAVING {present} > 0 ORDER BY {keys}")
        found = await self._run(self._fetch, sql, [*window_args, *args])
        rows: list[Row] = []
        for values in found:
            row: Row = {"time": values[0]}
            row.update(zip(query.group_by, values[1:1 + len(groups)], strict=True))
            row.update((summary.name, value) for summary, value in zip(query.summaries, values[1 + len(groups):],
                                                                       strict=True) if value is not None)
            rows.append(row)
        return rows

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


def _path_literal(key: str) -> str:
    """A JSON path as an SQL string literal: names come from the code, but quote them all the same."""
    return "'" + ("$." + json.dumps(key)).replace("'", "''") + "'"


def _summary_sql(summary: Summary) -> str:
    value = f"json_extract(fields, {_path_literal(summary.field)})"
    if summary.times is not None:
        value = f"({value} * json_extract(fields, {_path_literal(summary.times)}))"
    function = {Aggregate.COUNT: "COUNT", Aggregate.MIN: "MIN", Aggregate.MAX: "MAX", Aggregate.SUM: "SUM"}
    return f"{function[summary.function]}({value})"
