"""Messages published to a real Mosquitto end in a real InfluxDB, or as dead letters, never lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.outputs import PointQuery
from gateway.processors.points import Measurement
from gateway.service import Gateway
from gateway.web import create_app
from smartcity.bootstrap import build_gateway
from tests.integration.helpers import (
    gate_event,
    gateway_access,
    publish,
    scale_record,
    staff_client,
    wait_for,
    wait_for_count,
)
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

GATE = "sc/v1/s1/gate/g1/event"
SCALE = "sc/v1/s1/scale/sc1/record"

async def test_valid_events_records_states_and_acks_are_stored(
    running_gateway: Gateway, mosquitto: Mosquitto
) -> None:
    publish(mosquitto.port, [
        (GATE, gate_event("e1", credential="0012345678", direction="in")),
        (GATE, gate_event("e2", ts="2026-11-23T08:00:00+08:00", kind="denied", reason="expired")),
        (SCALE, scale_record("r1", payment="wechat")),
        (SCALE, scale_record("r2", amount_fen=900)),  # 1250 g × 6.80 ¥/kg = 850 fen: 50 fen too much
        ("sc/v1/s1/gate/g1/state", json.dumps({"online": True, "firmware": "2.1.0", "rssi": -60})),
        ("sc/v1/s1/gate/g1/ack", json.dumps({"cmd_id": "c1", "ok": False, "error": "door jammed"})),
    ])
    store = running_gateway.store
    await wait_for_count(store, Measurement.DEVICE_ACK, 1)
    await wait_for_count(store, Measurement.GATE_EVENT, 2)
    await wait_for_count(store, Measurement.SCALE_RECORD, 2)
    await wait_for_count(store, Measurement.DEVICE_STATE, 1)

    events = {r["event_id"]: r for r in await store.select(PointQuery(Measurement.GATE_EVENT))}
    assert events["e1"]["direction"] == "in" and events["e1"]["method"] == "card"
    assert "0012345678" not in json.dumps(events["e1"]), "raw card numbers never reach the time series"
    assert len(str(events["e1"]["credential_hash"])) == 32
    assert events["e2"]["kind"] == "denied" and events["e2"]["reason"] == "expired"
    records = {r["record_id"]: r for r in await store.select(PointQuery(Measurement.SCALE_RECORD))}
    assert records["r1"]["amount_mismatch"] == "false" and records["r1"]["payment"] == "wechat"
    assert records["r2"]["amount_mismatch"] == "true" and records["r2"]["expected_amount_fen"] == 850
    [ack] = await store.select(PointQuery(Measurement.DEVICE_ACK))
    assert ack["ok"] == "false" and ack["error"] == "door jammed"
    assert running_gateway.registry.online_count() == 1


BAD_INPUT: list[tuple[str, str, bytes, str]] = [
    ("unknown_topic", "sc/v1/s1/door/g1/event", gate_event("x1"), "device kind 'door'"),
    ("unknown_topic", "sc/v1/s1/gate/g1/record", scale_record("x2"), "no 'record' channel"),
    ("payload_too_large", GATE, b"{" + b" " * 70_000 + b"}", "limit 65536"),
    ("not_utf8", GATE, "{\"event_id\": \"西红柿\"}".encode("gbk"), "not UTF-8"),
    ("bad_json", GATE, b'{"event_id": "e1", ', "invalid JSON"),
    ("schema", GATE, gate_event("x3", door="1"), "door"),
    ("schema", SCALE, scale_record("x4", net_g=-5), "net_g"),
    ("device_mismatch", GATE, gate_event("x5", device="g2"), "'g2'"),
]


async def test_every_kind_of_bad_input_is_a_dead_letter_with_its_reason(
    running_gateway: Gateway, mosquitto: Mosquitto
) -> None:
    publish(mosquitto.port, [(topic, payload) for _, topic, payload, _ in BAD_INPUT])
    await wait_for_count(running_gateway.store, Measurement.DEAD_LETTER, len(BAD_INPUT))

    async with staff_client(running_gateway) as client:
        response = await client.get("/api/dead-letters", params={"limit": "50"})
        assert response.status == 200
        letters = (await response.json())["dead_letters"]
        assert len(letters) == len(BAD_INPUT)
        for reason, topic, payload, detail in BAD_INPUT:
            matching = [d for d in letters if d["reason"] == reason and d["topic"] == topic and detail in d["detail"]]
            assert matching, f"no dead letter {reason} on {topic} mentioning {detail!r}"
            kept = matching[0]
            assert kept["payload_bytes"] == len(payload)
            assert kept["payload_truncated"] == (len(payload) > 4096)

        only_schema = await (await client.get("/api/dead-letters", params={"reason": "schema"})).json()
        assert {d["reason"] for d in only_schema["dead_letters"]} == {"schema"}
        assert len(only_schema["dead_letters"]) == 2

        metrics = await (await client.get("/metrics")).text()
        assert 'sc_gateway_dead_letters_total{reason="schema"} 2.0' in metrics
        assert 'sc_gateway_dead_letters_total{reason="unknown_topic"} 2.0' in metrics
        for reason in ("payload_too_large", "not_utf8", "bad_json", "device_mismatch"):
            assert f'sc_gateway_dead_letters_total{{reason="{reason}"}} 1.0' in metrics

    # the gateway is still working after all that
    publish(mosquitto.port, [(GATE, gate_event("after"))])
    await wait_for_count(running_gateway.store, Measurement.GATE_EVENT, 1)


async def test_the_same_event_delivered_twice_is_one_point(running_gateway: Gateway, mosquitto: Mosquitto) -> None:
    publish(mosquitto.port, [(GATE, gate_event("dup-1")), (GATE, gate_event("dup-1"))])
    publish(mosquitto.port, [(GATE, gate_event("marker", ts=1_795_000_001_000))])
    await wait_for_count(running_gateway.store, Measurement.GATE_EVENT, 2)
    assert running_gateway.metrics.value("sc_gateway_messages_received_total", channel="event", transport="mqtt") == 3
    rows = await running_gateway.store.select(PointQuery(Measurement.GATE_EVENT))
    assert sorted(r["event_id"] for r in rows) == ["dup-1", "marker"]


async def test_two_events_from_one_device_in_the_same_millisecond_are_two_points(
    running_gateway: Gateway, mosquitto: Mosquitto
) -> None:
    same_ms = 1_795_000_000_123
    publish(mosquitto.port, [(GATE, gate_event("a", ts=same_ms)), (GATE, gate_event("b", ts=same_ms))])
    await wait_for_count(running_gateway.store, Measurement.GATE_EVENT, 2)
    rows = await running_gateway.store.select(PointQuery(Measurement.GATE_EVENT))
    assert sorted(r["event_id"] for r in rows) == ["a", "b"]
    assert all(int(r["time"]) // 1_000_000 == same_ms for r in rows)


async def test_http_api_pages_and_refuses_bad_parameters(running_gateway: Gateway, mosquitto: Mosquitto) -> None:
    publish(mosquitto.port, [(GATE, gate_event(f"p{i}", ts=1_795_000_000_000 + i)) for i in range(5)])
    await wait_for_count(running_gateway.store, Measurement.GATE_EVENT, 5)
    async with staff_client(running_gateway) as client:
        first: dict[str, Any] = await (await client.get("/api/recent/gate_event?limit=3")).json()
        assert [p["event_id"] for p in first["points"]] == ["p4", "p3", "p2"]
        rest = await (await client.get(f"/api/recent/gate_event?limit=3&before={first['next_before']}")).json()
        assert [p["event_id"] for p in rest["points"]] == ["p1", "p0"] and rest["next_before"] is None
        for bad in ("/api/recent/gate_event?limit=0", "/api/recent/gate_event?limit=x",
                    "/api/dead-letters?reason=nope", "/api/dead-letters?before=yesterday"):
            response = await client.get(bad)
            assert response.status == 400, bad
            assert "error" in await response.json()
        assert (await client.get("/api/recent/users")).status == 404
        health = await client.get("/healthz")
        assert health.status == 200
        ready = await client.get("/readyz")
        assert ready.status == 200 and (await ready.json())["broker_connected"] is True
        page = await client.get("/")
        text = await page.text()
        assert page.status == 200 and "门禁事件" in text
        assert "<td>g1</td>" in text and text.count('title="granted">通行<') == 5


async def test_readiness_fails_when_the_broker_is_gone(running_gateway: Gateway, mosquitto: Mosquitto) -> None:
    # no token: load balancers ask /readyz without one
    async with TestClient(TestServer(create_app(running_gateway, gateway_access()))) as client:
        assert (await client.get("/readyz")).status == 200
        mosquitto.stop()

        async def not_ready() -> bool:
            return (await client.get("/readyz")).status == 503

        await wait_for(not_ready, 10, "readyz to turn 503")
        assert running_gateway.metrics.value("sc_gateway_broker_connected") == 0
        mosquitto.start()

        async def ready() -> bool:
            return (await client.get("/readyz")).status == 200

        await wait_for(ready, 20, "readyz to recover")


async def test_simulate_command_publishes_valid_and_bad_traffic_through_a_real_broker(
    running_gateway: Gateway, mosquitto: Mosquitto
) -> None:
    import asyncio
    import os
    import sys
    from pathlib import Path

    smartcity = str(Path(sys.executable).parent / "smartcity")
    environment = dict(os.environ, SC_MQTT_URL=mosquitto.url, SC_SITE="s1", SC_LOG_LEVEL="WARNING")
    process = await asyncio.create_subprocess_exec(
        smartcity, "simulate", "--gates", "2", "--scales", "2", "--rate", "100", "--duration", "2",
        "--bad-ratio", "0.1", "--seed", "5", env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert "published" in out.decode()
    store = running_gateway.store
    await wait_for_count(store, Measurement.GATE_EVENT, 20)
    await wait_for_count(store, Measurement.SCALE_RECORD, 20)
    await wait_for_count(store, Measurement.DEAD_LETTER, 5)
    offline = [d for d in running_gateway.registry.devices() if d.online is False]
    assert len(offline) == 4, "each simulated device says it is offline when the simulation ends"


async def test_the_gateway_stores_its_own_counters_for_dashboards(
    mosquitto: Mosquitto, settings_for  # type: ignore[no-untyped-def]
) -> None:
    from tests.integration.conftest import wait_until_subscribed

    gateway = build_gateway(settings_for(mosquitto, stats_interval_s=0.2, mqtt_client_id="gw-stats"))
    await gateway.start()
    await wait_until_subscribed(gateway)
    try:
        publish(mosquitto.port, [(GATE, gate_event("s1")), (GATE, b"not json")])

        async def counted_both() -> bool:
            rows = await gateway.store.select(PointQuery(Measurement.GATEWAY_STATS, limit=1))
            return bool(rows) and rows[0]["received"] == 2

        await wait_for(counted_both, 10, "gateway_stats with both messages")
        [row] = await gateway.store.select(PointQuery(Measurement.GATEWAY_STATS, limit=1))
        assert row["gateway"] == "gw-stats" and row["dead_letters"] == 1 and row["stored"] == 2
        assert row["broker_connected"] is True and row["store_up"] is True and row["spool_points"] == 0
    finally:
        await gateway.stop()
