"""Every Grafana dashboard query runs on real InfluxDB against what the gateway really writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devices.simulator import TrafficGenerator
from devices.topics import DeviceKind
from gateway.outputs import PointQuery
from gateway.outputs.influxdb import InfluxStore
from gateway.processors.points import Measurement
from gateway.service import Gateway
from smartcity.bootstrap import build_gateway
from tests.integration.conftest import wait_until_subscribed
from tests.integration.helpers import gate_event, publish, wait_for, wait_for_count
from tests.servers import Mosquitto
from tests.unit.test_dashboards import all_queries

pytestmark = pytest.mark.integration









def as_run(query: str) -> str:
    """What Grafana sends: its macros expanded (1 s buckets: the test's traffic spans seconds)."""
    return query.replace("$timeFilter", "time > now() - 1h").replace("$__interval", "1s")


@pytest.fixture
async def gateway_with_traffic(mosquitto: Mosquitto, settings_for) -> Any:  # type: ignore[no-untyped-def]
    gateway = build_gateway(settings_for(mosquitto, site="demo", stats_interval_s=0.2))
    await gateway.start()
    await wait_until_subscribed(gateway)
    generator = TrafficGenerator("demo", gates=3, scales=4, seed=11, bad_ratio=0.05)
    now = datetime.now(UTC) - timedelta(minutes=10)
    messages = [(m.topic, m.payload) for m in
                (generator.state_message(kind, device, True, now) for kind, device in generator.devices)]
    for _ in range(600):
        now += timedelta(milliseconds=900)
        message = generator.next_message(now)
        messages.append((message.topic, message.payload))
    ts = int(now.timestamp() * 1000)
    messages += [("sc/v1/demo/gate/gate-01/event", gate_event(f"alarm-{kind}", ts=ts, kind=kind, method=None))
                 for kind in ("forced", "held_open", "tamper")]
    went_offline = generator.state_message(DeviceKind.GATE, "gate-02", False, now)
    messages.append((went_offline.topic, went_offline.payload))
    publish(mosquitto.port, messages)
    await wait_for_count(gateway.store, Measurement.GATE_EVENT, 100)
    await wait_for_count(gateway.store, Measurement.SCALE_RECORD, 100)
    await wait_for_count(gateway.store, Measurement.DEAD_LETTER, 5)

    async def stats_caught_up() -> bool:
        stats = await gateway.store.count(PointQuery(Measurement.GATEWAY_STATS))
        # derivatives need the counters in at least two of the 1 s buckets below
        return gateway.counters().received >= len(messages) and stats >= 12

    await wait_for(stats_caught_up, 20, "gateway_stats points")
    yield gateway
    await gateway.stop()


async def test_every_dashboard_query_runs_and_returns_data(gateway_with_traffic: Gateway) -> None:
    store = gateway_with_traffic.store
    assert isinstance(store, InfluxStore)
    queries = all_queries()
    assert len(queries) >= 15
    empty = []
    for dashboard, title, query in queries:
        series = await store.query_influxql(as_run(query))
        # InfluxQL returns no series at all when a query matches no point, fill(0) or not
        values = [v for s in series for row in s.get("values", []) for v in row[1:] if v is not None]
        if not values:
            empty.append(f"{dashboard} / {title}: {query}")
    assert not empty, "queries returning no data:\n" + "\n".join(empty)




async def test_the_denial_rate_is_the_share_of_entry_attempts_refused(gateway_with_traffic: Gateway) -> None:
    store = gateway_with_traffic.store
    assert isinstance(store, InfluxStore)

    async def one(query: str) -> float:
        series = await store.query_influxql(query)
        return float(series[0]["values"][0][1])

    denied = await one('SELECT count("event_id") FROM "gate_event" WHERE "kind" = \'denied\'')
    granted = await one('SELECT count("event_id") FROM "gate_event" WHERE "kind" = \'granted\'')
    rate = await one('SELECT mean("denied") FROM "gate_event"')
    assert denied > 0 and granted > 0
    assert rate == pytest.approx(denied / (denied + granted))
