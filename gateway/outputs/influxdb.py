"""InfluxDB over the HTTP endpoints 1.x, 2.x (v1 compatibility) and 3.x all accept.

Writes are line protocol on ``/write?db=..&precision=ns``; reads are InfluxQL on ``/query``.
Authentication is a token (``Authorization: Token``) or a 1.x user and password (basic auth).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp

from gateway.outputs import PointQuery, Row, StoreRejected, StoreUnavailable, Summary, WindowQuery
from gateway.processors.points import COUNT_FIELD, Point

log = logging.getLogger(__name__)


class InfluxStore:
    name = "influxdb"

    def __init__(
        self,
        url: str,
        database: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        create_database: bool = True,
    ) -> None:
        self._url = url.rstrip("/")
        self._database = database
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._headers: dict[str, str] = {}
        if token:
            self._headers["Authorization"] = f"Token {token}"
        elif username:
            credentials = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {credentials}"
        self._create_database = create_database
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(limit=16),
        )
        if self._create_database:
            await self._ensure_database()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _ensure_database(self) -> None:
        try:
            await self._query(f'CREATE DATABASE "{_ident(self._database)}"', method="POST")
        except (StoreUnavailable, StoreRejected) as error:
            # 2.x and 3.x refuse CREATE DATABASE; buckets are made there by their own set-up.
            log.info("influxdb create database skipped", extra={"error": str(error)})

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise StoreUnavailable("store is not open")
        return self._session

    async def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        body = "\n".join(point.to_line() for point in points).encode()
        try:
            await self.write_lines(body)
        except BodyTooLarge:
            if len(points) == 1:
                raise StoreRejected("one point is larger than InfluxDB (or a proxy) accepts") from None
            # a proxy's or InfluxDB's body limit: halves go through where the whole does not
            middle = len(points) // 2
            await self.write(points[:middle])
            await self.write(points[middle:])

    async def write_lines(self, body: bytes) -> None:
        params = {"db": self._database, "precision": "ns"}
        try:
            async with self.session.post(f"{self._url}/write", params=params, data=body) as response:
                if response.status == 204:
                    return
                text = (await response.text())[:500]
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise StoreUnavailable(f"influxdb write failed: {error!r}") from error
        if response.status in (400, 422):
            # the data itself (a field type conflict, a bad line): InfluxDB kept the valid lines
            raise StoreRejected(f"influxdb refused the write ({response.status}): {text}")
        if response.status == 413:
            raise BodyTooLarge(text)
        # anything else (auth, missing database, overload, a proxy's error page, a redirect) may
        # be mended: keep the data and try again later
        raise StoreUnavailable(f"influxdb write answered {response.status}: {text}")

    async def select(self, query: PointQuery) -> list[Row]:
        order = "DESC" if query.newest_first else "ASC"
        text = f'SELECT * FROM "{_ident(query.measurement)}"{_where(query)} ORDER BY time {order} LIMIT {query.limit:d}'
        rows: list[Row] = []
        for series in await self._query(text):
            columns = series["columns"]
            for values in series.get("values", []):
                rows.append({key: value for key, value in zip(columns, values, strict=True) if value is not None})
        return rows

    async def count(self, query: PointQuery) -> int:
        field = COUNT_FIELD.get(query.measurement)
        if field is None:
            raise StoreRejected(f"unknown measurement {query.measurement!r}")
        text = f'SELECT COUNT("{_ident(field)}") FROM "{_ident(query.measurement)}"{_where(query)}'
        total = 0
        for series in await self._query(text):
            for values in series.get("values", []):
                total += int(values[1])
        return total

    async def summarise(self, query: WindowQuery) -> list[Row]:
        text = _window_query(query)
        rows: list[Row] = []
        for series in await self._query(text):
            tags = {tag: series.get("tags", {}).get(tag, "") for tag in query.group_by}
            columns = series["columns"]
            for values in series.get("values", []):
                row: Row = {"time": values[0], **tags}
                row.update((key, value) for key, value in zip(columns[1:], values[1:], strict=True)
                           if value is not None)
                rows.append(row)
        return sorted(rows, key=lambda row: (*(str(row[tag]) for tag in query.group_by), int(row["time"])))

    async def ping(self) -> bool:
        try:
            async with self.session.get(f"{self._url}/ping") as response:
                return response.status in (200, 204)
        except (aiohttp.ClientError, TimeoutError, OSError, StoreUnavailable):
            return False

    async def query_influxql(self, text: str) -> list[dict[str, Any]]:
        """Run InfluxQL as-is (dashboards' queries, tests); returns the result's series."""
        return await self._query(text)

    async def _query(self, text: str, method: str = "GET") -> list[dict[str, Any]]:
        params = {"db": self._database, "q": text, "epoch": "ns"}
        try:
            async with self.session.request(method, f"{self._url}/query", params=params) as response:
                if response.status >= 500 or response.status in (401, 403, 429):
                    raise StoreUnavailable(f"influxdb query answered {response.status}: {await response.text()}")
                payload = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
            raise StoreUnavailable(f"influxdb query failed: {error!r}") from error
        if "error" in payload:
            raise StoreRejected(str(payload["error"]))
        series: list[dict[str, Any]] = []
        for result in payload.get("results", []):
            if "error" in result:
                raise StoreRejected(str(result["error"]))
            series.extend(result.get("series", []))
        return series


class BodyTooLarge(Exception):
    """HTTP 413: the batch, not the data, is the problem."""


def _ident(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _where(query: PointQuery) -> str:
    conditions = []
    if query.start_ns is not None:
        conditions.append(f"time >= {query.start_ns:d}")
    if query.end_ns is not None:
        conditions.append(f"time < {query.end_ns:d}")
    for key, value in sorted(query.tags.items()):
        conditions.append(f'"{_ident(key)}" = {_literal(value)}')
    return (" WHERE " + " AND ".join(conditions)) if conditions else ""


_DURATION_UNITS = (("d", 86_400_000_000_000), ("h", 3_600_000_000_000), ("m", 60_000_000_000),
                   ("s", 1_000_000_000), ("ms", 1_000_000), ("u", 1_000), ("ns", 1))


def _duration(ns: int) -> str:
    """An InfluxQL duration literal, in the largest unit that divides it (``1d``, ``16h``)."""
    for unit, size in _DURATION_UNITS:
        if ns % size == 0:
            return f"{ns // size:d}{unit}"
    raise AssertionError("every duration is a whole number of ns")


def _window_query(query: WindowQuery) -> str:
    """``GROUP BY time(window, offset)``. A weighted sum needs the product of two fields per point, which
    InfluxQL computes in a subquery only (functions take a field, not an expression)."""
    points = PointQuery(query.measurement, query.start_ns, query.end_ns, query.tags)
    window = f"time({_duration(query.window_ns)}, {_duration(query.offset_ns)})"
    groups = "".join(f', "{_ident(tag)}"' for tag in query.group_by)
    products = {summary: f"__product_{number}" for number, summary in enumerate(query.summaries) if summary.times}
    columns = ", ".join(_summary_column(summary, products.get(summary)) for summary in query.summaries)
    source = f'"{_ident(query.measurement)}"{_where(points)}'
    if products:
        wanted = sorted({summary.field for summary in query.summaries if not summary.times})
        inner = [f'"{_ident(name)}"' for name in wanted]
        inner += [f'"{_ident(s.field)}" * "{_ident(s.times or "")}" AS "{name}"' for s, name in products.items()]
        by_tags = (" GROUP BY " + ", ".join(f'"{_ident(tag)}"' for tag in query.group_by)) if query.group_by else ""
        time_range = _where(PointQuery(query.measurement, query.start_ns, query.end_ns))
        source = f"(SELECT {', '.join(inner)} FROM {source}{by_tags}){time_range}"
    return f"SELECT {columns} FROM {source} GROUP BY {window}{groups} fill(none)"


def _summary_column(summary: Summary, product: str | None) -> str:
    value = f'"{product}"' if product else f'"{_ident(summary.field)}"'
    return f'{summary.function.value.upper()}({value}) AS "{_ident(summary.name)}"'
