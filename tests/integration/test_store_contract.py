"""One contract, two stores: the embedded SQLite store and real InfluxDB behave the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.outputs import Aggregate, PointQuery, StoreUnavailable, Summary, TimeSeriesStore, WindowQuery, embedded
from gateway.outputs.embedded import EmbeddedStore
from gateway.outputs.influxdb import InfluxStore
from gateway.processors.points import Point
from tests.servers import InfluxDB

pytestmark = pytest.mark.integration

T0 = 1_795_000_000_000_000_000


@pytest.fixture(params=["embedded", "influxdb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    if request.param == "embedded":
        found: TimeSeriesStore = EmbeddedStore(tmp_path / "ts.sqlite")
    else:
        server: InfluxDB = request.getfixturevalue("influx_server")
        found = InfluxStore(server.url, request.getfixturevalue("influx_db"))
    await found.open()
    yield found
    await found.close()


def gate(event_id: str, time_ns: int, door: str = "1", kind: str = "granted") -> Point:
    tags = (("site", "s1"), ("device", "g1"), ("door", door), ("kind", kind), ("method", "card"),
            ("direction", "none"), ("reason", "none"), ("offline", "false"))
    return Point("gate_event", tags, {"event_id": event_id, "delay_ms": 5}, time_ns)


async def test_written_points_come_back_with_tags_fields_and_time(store: TimeSeriesStore) -> None:
    await store.write([gate("e1", T0), gate("e2", T0 + 1_000_000, door="2")])
    rows = await store.select(PointQuery("gate_event", newest_first=False))
    assert [(r["time"], r["event_id"], r["door"], r["delay_ms"]) for r in rows] == [
        (T0, "e1", "1", 5),
        (T0 + 1_000_000, "e2", "2", 5),
    ]
    assert rows[0]["kind"] == "granted" and rows[0]["site"] == "s1"


async def test_the_same_point_written_twice_is_stored_once(store: TimeSeriesStore) -> None:
    await store.write([gate("e1", T0)])
    await store.write([gate("e1", T0)])
    assert await store.count(PointQuery("gate_event")) == 1


async def test_two_points_in_the_same_millisecond_with_different_times_are_two(store: TimeSeriesStore) -> None:
    await store.write([gate("e1", T0 + 123), gate("e2", T0 + 456)])
    assert await store.count(PointQuery("gate_event")) == 2


async def test_same_series_and_time_merges_fields_like_influxdb(store: TimeSeriesStore) -> None:
    await store.write([Point("gate_event", gate("e1", T0).tags, {"event_id": "e1"}, T0)])
    await store.write([Point("gate_event", gate("e1", T0).tags, {"delay_ms": 9}, T0)])
    [row] = await store.select(PointQuery("gate_event"))
    assert row["event_id"] == "e1" and row["delay_ms"] == 9


async def test_select_filters_by_tag_and_time_range_and_orders(store: TimeSeriesStore) -> None:
    await store.write([gate(f"e{i}", T0 + i * 1_000_000_000, door=str(1 + i % 2)) for i in range(6)])
    door_two = await store.select(PointQuery("gate_event", tags={"door": "2"}))
    assert [r["event_id"] for r in door_two] == ["e5", "e3", "e1"]
    window = PointQuery("gate_event", start_ns=T0 + 1_000_000_000, end_ns=T0 + 4_000_000_000, newest_first=False)
    assert [r["event_id"] for r in await store.select(window)] == ["e1", "e2", "e3"]
    assert await store.count(window) == 3
    assert len(await store.select(PointQuery("gate_event", limit=2))) == 2


async def test_strings_with_quotes_unicode_and_escapes_survive(store: TimeSeriesStore) -> None:
    tags = (("site", "s1"), ("device", "sc1"), ("stall", "东区A01"), ("plu", "1001"), ("payment", "none"),
            ("amount_mismatch", "false"))
    fields = {"record_id": "r1", "trace_code": "T1", "product": '西红柿 "大" \\ 特价', "net_g": 500,
              "unit_price_fen": 600, "amount_fen": 300, "expected_amount_fen": 300, "delay_ms": 0}
    await store.write([Point("scale_record", tags, fields, T0)])
    [row] = await store.select(PointQuery("scale_record", tags={"stall": "东区A01"}))
    assert row["product"] == '西红柿 "大" \\ 特价'
    assert row["net_g"] == 500


async def test_filter_on_a_string_field_works_like_a_tag(store: TimeSeriesStore) -> None:
    await store.write([gate("e1", T0), gate("e2", T0 + 1)])
    assert [r["time"] for r in await store.select(PointQuery("gate_event", tags={"event_id": "e2"}))] == [T0 + 1]


async def test_empty_measurement_counts_zero_and_selects_nothing(store: TimeSeriesStore) -> None:
    assert await store.count(PointQuery("scale_record")) == 0
    assert await store.select(PointQuery("scale_record")) == []


DAY_NS = 86_400 * 10**9
UTC8_MIDNIGHT = 16 * 3_600 * 10**9  # a day in UTC+8 begins at 16:00 UTC


def sale(record_id: str, time_ns: int, plu: str, fen: int, grams: int, site: str = "s1") -> Point:
    tags = (("site", site), ("device", "sc1"), ("stall", "A03"), ("plu", plu), ("payment", "none"),
            ("amount_mismatch", "false"))
    fields = {"record_id": record_id, "trace_code": record_id, "net_g": grams, "unit_price_fen": fen,
              "amount_fen": fen * grams // 1000, "expected_amount_fen": fen * grams // 1000, "delay_ms": 0}
    return Point("scale_record", tags, fields, time_ns)


async def test_points_are_summarised_per_window_and_group_tag_alike(store: TimeSeriesStore) -> None:
    start = T0 - T0 % DAY_NS + UTC8_MIDNIGHT  # a market day's first nanosecond
    await store.write([
        sale("r1", start, "1001", 600, 1000), sale("r2", start + DAY_NS - 1, "1001", 900, 500),
        sale("r3", start + 3_600 * 10**9, "1002", 200, 2000), sale("r4", start + DAY_NS, "1001", 700, 100),
        sale("r5", start - 1, "1001", 1, 1), sale("r6", start + 2 * DAY_NS, "1001", 1, 1),  # outside the range
        sale("r7", start, "1001", 5, 5, site="s2"),  # another site
    ])
    summaries = (Summary("sales", Aggregate.COUNT, "unit_price_fen"), Summary("low", Aggregate.MIN, "unit_price_fen"),
                 Summary("high", Aggregate.MAX, "unit_price_fen"), Summary("grams", Aggregate.SUM, "net_g"),
                 Summary("paid", Aggregate.SUM, "unit_price_fen", times="net_g"))
    query = WindowQuery("scale_record", start, start + 2 * DAY_NS, DAY_NS, summaries, tags={"site": "s1"},
                        group_by=("plu",), offset_ns=UTC8_MIDNIGHT)
    rows = await store.summarise(query)
    assert rows == [
        {"time": start, "plu": "1001", "sales": 2, "low": 600, "high": 900, "grams": 1500,
         "paid": 600 * 1000 + 900 * 500},
        {"time": start + DAY_NS, "plu": "1001", "sales": 1, "low": 700, "high": 700, "grams": 100, "paid": 70_000},
        {"time": start, "plu": "1002", "sales": 1, "low": 200, "high": 200, "grams": 2000, "paid": 400_000},
    ]
    one = await store.summarise(WindowQuery("scale_record", start, start + 2 * DAY_NS, DAY_NS, summaries[:2],
                                            tags={"site": "s1", "plu": "1002"}, offset_ns=UTC8_MIDNIGHT))
    assert one == [{"time": start, "sales": 1, "low": 200}]
    assert await store.summarise(WindowQuery("scale_record", start, start + DAY_NS, DAY_NS, summaries,
                                             tags={"site": "nowhere"}, offset_ns=UTC8_MIDNIGHT)) == []


async def test_ping_answers_true_when_open(store: TimeSeriesStore) -> None:
    assert await store.ping() is True


async def test_influxdb_with_authentication_takes_a_user_and_password_and_refuses_without() -> None:
    import urllib.parse
    import urllib.request

    server = InfluxDB(auth=True)
    server.start()
    try:
        query = urllib.parse.urlencode({"q": "CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES"})
        with urllib.request.urlopen(f"{server.url}/query", data=query.encode(), timeout=5) as response:
            assert response.status == 200  # the first admin may be created without credentials

        anonymous = InfluxStore(server.url, "secured", create_database=False)
        await anonymous.open()
        try:
            with pytest.raises(StoreUnavailable, match="401"):
                await anonymous.write([gate("e1", T0)])
        finally:
            await anonymous.close()

        authorised = InfluxStore(server.url, "secured", username="admin", password="s3cret")
        await authorised.open()
        try:
            await authorised.write([gate("e1", T0)])
            assert await authorised.count(PointQuery("gate_event")) == 1
        finally:
            await authorised.close()
    finally:
        server.cleanup()


async def test_the_embedded_store_deletes_gate_events_past_their_retention_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embedded, "EXPIRE_CHUNK_ROWS", 10)  # a long past is deleted in several transactions
    day_ns = 86_400 * 10**9
    now = [T0]
    store = EmbeddedStore(tmp_path / "ts.sqlite", {"gate_event": timedelta(days=180)}, clock_ns=lambda: now[0])
    await store.open()
    try:
        sale = Point("scale_record", (("site", "s1"), ("device", "sc1")), {"record_id": "r1"}, T0 - 400 * day_ns)
        long_past = [gate(f"past-{n}", T0 - (200 + n) * day_ns) for n in range(24)]
        await store.write([*long_past, gate("old", T0 - 181 * day_ns), gate("young", T0 - 179 * day_ns), sale])
        assert await store.expire() == 25
        assert [row["event_id"] for row in await store.select(PointQuery("gate_event"))] == ["young"]
        assert await store.count(PointQuery("scale_record")) == 1, "a measurement without a retention is kept"

        now[0] += 2 * day_ns  # "young" is now 181 days old: the next write an hour on deletes it
        await store.write([gate("new", now[0])])
        assert [row["event_id"] for row in await store.select(PointQuery("gate_event"))] == ["new"]
    finally:
        await store.close()
    reopened = EmbeddedStore(tmp_path / "ts.sqlite", {"gate_event": timedelta(days=1)},
                             clock_ns=lambda: now[0] + 2 * day_ns)
    await reopened.open()  # and opening expires at once
    try:
        assert await reopened.count(PointQuery("gate_event")) == 0
    finally:
        await reopened.close()
