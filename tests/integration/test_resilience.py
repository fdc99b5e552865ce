"""Nothing the broker accepted is lost: InfluxDB outages, broker restarts, kill -9, two gateways."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.outputs import PointQuery
from gateway.outputs.influxdb import InfluxStore
from gateway.processors.points import Measurement
from smartcity.bootstrap import build_gateway
from tests.integration.conftest import wait_until_subscribed
from tests.integration.helpers import gate_event, publish, scale_record, wait_for, wait_for_count
from tests.mqtt_load import RawPublisher
from tests.servers import InfluxDB, Mosquitto, free_port, wait_until_answering
from webkit.identity import Role, TokenAuthority

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMARTCITY = str(Path(sys.executable).parent / "smartcity")
TOKEN_SECRET = "resilience-test-token-signing-secret-0001"


@pytest.fixture
def own_influx() -> Iterator[InfluxDB]:
    """An InfluxDB this test may stop and start; its data survives a restart."""
    server = InfluxDB()
    server.start()
    yield server
    server.cleanup()


def events(prefix: str, count: int, device: str = "g1") -> list[tuple[str, bytes]]:
    return [(f"sc/v1/s1/gate/{device}/event", gate_event(f"{prefix}{i}", ts=1_795_000_000_000 + i))
            for i in range(count)]


async def test_influxdb_outage_spools_then_replays_everything(
    mosquitto: Mosquitto, own_influx: InfluxDB, settings_for  # type: ignore[no-untyped-def]
) -> None:
    gateway = build_gateway(settings_for(mosquitto, influx_url=own_influx.url, batch_size=50, write_retries=1))
    await gateway.start()
    await wait_until_subscribed(gateway)
    try:
        publish(mosquitto.port, events("before", 20))
        await wait_for_count(gateway.store, Measurement.GATE_EVENT, 20)

        own_influx.stop()
        publish(mosquitto.port, events("during", 300))

        async def all_spooled_and_acked() -> bool:
            return gateway.metrics.value("sc_gateway_messages_stored_total", to="spool") >= 300

        await wait_for(all_spooled_and_acked, 30, "300 messages spooled")
        assert gateway.spool.depth_points == 300
        assert gateway.metrics.value("sc_gateway_spool_depth_points") == 300
        assert gateway.metrics.value("sc_gateway_store_up") == 0
        assert gateway.readiness()["store_up"] is False

        own_influx.start()
        await wait_for_count(gateway.store, Measurement.GATE_EVENT, 320, timeout=40)

        async def spool_empty() -> bool:
            return gateway.spool.depth_points == 0

        await wait_for(spool_empty, 10, "the spool to empty")
        assert gateway.metrics.value("sc_gateway_points_replayed_total") == 300
        assert gateway.metrics.value("sc_gateway_store_up") == 1
        ids = {r["event_id"] for r in await gateway.store.select(PointQuery(Measurement.GATE_EVENT, limit=1000))}
        assert ids == {f"before{i}" for i in range(20)} | {f"during{i}" for i in range(300)}
    finally:
        await gateway.stop()


async def test_full_spool_holds_acks_and_unacked_messages_survive_a_broker_restart(
    mosquitto: Mosquitto, own_influx: InfluxDB, settings_for  # type: ignore[no-untyped-def]
) -> None:
    gateway = build_gateway(settings_for(mosquitto, influx_url=own_influx.url, batch_size=20, write_retries=0,
                                   spool_max_bytes=2048))
    await gateway.start()
    await wait_until_subscribed(gateway)
    try:
        own_influx.stop()
        publish(mosquitto.port, events("held", 200))

        async def holding_and_paused() -> bool:
            # every batch in flight is held (store down, spool too small), so intake pauses
            return gateway.metrics.value("sc_gateway_intake_paused") == 1

        await wait_for(holding_and_paused, 20, "intake to pause")
        await asyncio.sleep(0.5)
        stored = sum(gateway.metrics.by_label("sc_gateway_messages_stored_total", "to").values())
        assert stored < 200, "with the store down and the spool full, messages must stay unacknowledged"

        mosquitto.stop()  # persists the gateway's session with its unacknowledged messages
        mosquitto.start()
        own_influx.start()
        publish(mosquitto.port, events("after", 10))
        await wait_for_count(gateway.store, Measurement.GATE_EVENT, 210, timeout=60)
        ids = {r["event_id"] for r in await gateway.store.select(PointQuery(Measurement.GATE_EVENT, limit=1000))}
        assert ids == {f"held{i}" for i in range(200)} | {f"after{i}" for i in range(10)}
        assert gateway.source.connects >= 2
    finally:
        await gateway.stop()


@pytest.mark.parametrize("protocol", [4, 5], ids=["mqtt-3.1.1", "mqtt-5"])
async def test_messages_queued_while_the_gateway_is_down_arrive_when_it_returns(
    mosquitto: Mosquitto, settings_for, protocol: int  # type: ignore[no-untyped-def]
) -> None:
    settings = settings_for(mosquitto, mqtt_protocol=protocol)
    first = build_gateway(settings)
    await first.start()
    await wait_until_subscribed(first)
    await first.stop()

    publish(mosquitto.port, events("queued", 3000))  # more than Mosquitto's default queue of 1000
    second = build_gateway(settings)
    await second.start()
    try:
        await wait_for_count(second.store, Measurement.GATE_EVENT, 3000, timeout=60)
    finally:
        await second.stop()


async def test_two_gateways_in_a_shared_subscription_store_each_message_once(
    mosquitto: Mosquitto, settings_for  # type: ignore[no-untyped-def]
) -> None:
    one = build_gateway(settings_for(mosquitto, mqtt_share_group="gateways", mqtt_client_id="gw-one"))
    two = build_gateway(settings_for(mosquitto, mqtt_share_group="gateways", mqtt_client_id="gw-two",
                               data_dir=one.settings.data_dir.parent / "var-two"))
    for gateway in (one, two):
        await gateway.start()
        await wait_until_subscribed(gateway)
    try:
        messages = events("g1-", 1000) + [
            (f"sc/v1/s1/scale/sc{i % 7}/record", scale_record(f"r{i}")) for i in range(1000)
        ]
        publish(mosquitto.port, messages)
        await wait_for_count(one.store, Measurement.GATE_EVENT, 1000, timeout=60)
        await wait_for_count(one.store, Measurement.SCALE_RECORD, 1000, timeout=60)
        stored_one = one.metrics.value("sc_gateway_messages_stored_total", to="store")
        stored_two = two.metrics.value("sc_gateway_messages_stored_total", to="store")
        assert stored_one > 0 and stored_two > 0, "both gateways take part"
        assert stored_one + stored_two == 2000, "each message went to exactly one gateway"
    finally:
        await one.stop()
        await two.stop()


def _gateway_process(
    mosquitto: Mosquitto, influx: InfluxDB, database: str, data_dir: Path, **settings: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    environment = dict(
        os.environ,
        SC_MQTT_URL=mosquitto.url,
        SC_INFLUX_URL=influx.url,
        SC_INFLUX_DB=database,
        SC_DATA_DIR=str(data_dir),
        SC_HTTP_PORT=str(port),
        SC_MQTT_CLIENT_ID="gw-kill-test",
        SC_BATCH_SIZE="500",
        SC_CREDENTIAL_HASH_KEY="resilience-test-credential-key",
        SC_AUTH_SECRET=TOKEN_SECRET,
        SC_LOG_LEVEL="WARNING",
    ) | settings
    process = subprocess.Popen([SMARTCITY, "gateway"], env=environment)
    wait_until_answering(process, f"http://127.0.0.1:{port}/readyz", 30, "gateway")
    return process, port


def _metrics(port: int) -> str:
    """The gateway's /metrics, read with a staff token (it is not open without SC_METRICS_PUBLIC)."""
    token = TokenAuthority(TOKEN_SECRET.encode()).issue("resilience-test", [Role.ADMIN], datetime.now(UTC),
                                                         timedelta(hours=1))
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(response.read().decode())


def _stored(port: int) -> float:
    text = _metrics(port)
    return sum(float(v) for v in re.findall(r"^sc_gateway_messages_stored_total\{[^}]*\} (\S+)$", text, re.M))


async def test_kill_9_of_the_gateway_mid_stream_loses_nothing(
    mosquitto: Mosquitto, influx_server: InfluxDB, influx_db: str, tmp_path: Path
) -> None:
    process, port = _gateway_process(mosquitto, influx_server, influx_db, tmp_path)
    total = 30_000
    publisher = RawPublisher("127.0.0.1", mosquitto.port, "kill-test-publisher")
    packets = publisher.packets(events("k", total))
    try:
        for offset in range(0, total, 1000):
            publisher.send(packets[offset : offset + 1000])
        deadline = time.monotonic() + 30
        while _stored(port) < 3000:
            assert time.monotonic() < deadline, "gateway stored too little before the kill"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        publisher.wait_acked()
        stored_before_kill = _stored_or_none(port)
        assert stored_before_kill is None, "the gateway is really dead"

        process, port = _gateway_process(mosquitto, influx_server, influx_db, tmp_path)
        store = InfluxStore(influx_server.url, influx_db, create_database=False)
        await store.open()
        try:
            await wait_for_count(store, Measurement.GATE_EVENT, total, timeout=120)
            assert await store.count(PointQuery(Measurement.GATE_EVENT)) == total
        finally:
            await store.close()
    finally:
        publisher.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def _stored_or_none(port: int) -> float | None:
    try:
        return _stored(port)
    except OSError:
        return None


def _received(port: int) -> float:
    text = _metrics(port)
    return sum(float(v) for v in re.findall(r"^sc_gateway_messages_received_total\{[^}]*\} (\S+)$", text, re.M))


async def test_sigterm_writes_and_acknowledges_what_was_received_before_exiting(
    mosquitto: Mosquitto, influx_server: InfluxDB, influx_db: str, tmp_path: Path
) -> None:
    # batches that would never fill or age on their own: only the shutdown can write them
    slow = {"SC_BATCH_SIZE": "100000", "SC_BATCH_INTERVAL_MS": "60000"}
    process, port = _gateway_process(mosquitto, influx_server, influx_db, tmp_path, **slow)
    publish(mosquitto.port, events("term", 50))
    deadline = time.monotonic() + 10
    while _received(port) < 50:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0

    store = InfluxStore(influx_server.url, influx_db, create_database=False)
    await store.open()
    try:
        assert await store.count(PointQuery(Measurement.GATE_EVENT)) == 50
        # acknowledged too: back on the same session, the broker has nothing to redeliver
        process, port = _gateway_process(mosquitto, influx_server, influx_db, tmp_path, **slow)
        time.sleep(1.0)
        assert _received(port) == 0
    finally:
        await store.close()
        process.send_signal(signal.SIGTERM)
        process.wait(30)


async def test_a_long_pause_keeps_the_connection_alive(
    mosquitto: Mosquitto, own_influx: InfluxDB, settings_for  # type: ignore[no-untyped-def]
) -> None:
    gateway = build_gateway(settings_for(mosquitto, influx_url=own_influx.url, batch_size=20, write_retries=0,
                                   spool_max_bytes=2048, mqtt_keepalive_s=1))
    await gateway.start()
    await wait_until_subscribed(gateway)
    try:
        own_influx.stop()
        publish(mosquitto.port, events("paused", 150))

        async def paused() -> bool:
            return gateway.metrics.value("sc_gateway_intake_paused") == 1

        await wait_for(paused, 20, "intake to pause")
        await asyncio.sleep(4)  # four keep-alive intervals while holding messages
        assert gateway.source.connects == 1, "keep-alive answers were read while paused"
        own_influx.start()
        await wait_for_count(gateway.store, Measurement.GATE_EVENT, 150, timeout=60)
        assert gateway.source.connects == 1
    finally:
        await gateway.stop()
