"""``smartcity gateway --workers 2`` against a real Mosquitto and InfluxDB: the workers share the stream (one shared
subscription group), every message is stored once, the parent's /metrics is their sum, and a worker killed with
SIGKILL is started again and loses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from gateway.outputs import PointQuery
from gateway.processors.points import Measurement
from smartcity.bootstrap import build_store
from tests.integration.helpers import bearer, gate_event, wait_for
from tests.mqtt_load import publish_backlog
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

SMARTCITY = str(Path(sys.executable).parent / "smartcity")
TOKEN_SECRET = "gateway-test-token-signing-key-1"  # the helpers' GATEWAY_AUTHORITY: bearer() tokens pass


class WorkersGateway:
    """``smartcity gateway --workers N`` as a process, with its HTTP answers."""

    def __init__(self, settings: Settings, folder: Path, workers: int) -> None:
        self.http_port = free_port()
        self.folder = folder
        self.workers = workers
        self.env = {**os.environ, "SC_MQTT_URL": settings.mqtt_url, "SC_INFLUX_URL": str(settings.influx_url),
                    "SC_INFLUX_DB": settings.influx_db, "SC_DATA_DIR": str(settings.data_dir),
                    "SC_MQTT_CLIENT_ID": settings.mqtt_client_id, "SC_HTTP_PORT": str(self.http_port),
                    "SC_CREDENTIAL_HASH_KEY": "test-credential-hash-key", "SC_AUTH_SECRET": TOKEN_SECRET,
                    "SC_METRICS_PUBLIC": "true", "SC_BATCH_INTERVAL_MS": "20", "SC_LOG_LEVEL": "WARNING"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.folder / "err.log").open("ab") as errors:
            self.process = subprocess.Popen([SMARTCITY, "gateway", "--workers", str(self.workers)], env=self.env,
                                            stdout=subprocess.DEVNULL, stderr=errors)
        deadline = time.monotonic() + 60
        while self.get("/readyz")[0] != 200:
            assert self.process.poll() is None, self.errors()
            assert time.monotonic() < deadline, f"not ready: {self.get('/readyz')}\n{self.errors()}"
            time.sleep(0.2)

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        assert self.process.returncode == 0, self.errors()
        assert "Traceback" not in self.errors()

    def errors(self) -> str:
        return (self.folder / "err.log").read_text(errors="replace")

    def get(self, path: str, staff: bool = True) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}",
                                         headers=_admin() if staff else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as answered:
            return answered.code, answered.read().decode()
        except OSError:
            return 0, ""

    def status(self) -> dict[str, Any]:
        code, body = self.get("/api/status")
        assert code == 200, body
        found: dict[str, Any] = json.loads(body)
        return found

    def summed(self, name: str) -> float:
        """A metric of the parent's /metrics, summed over its label sets."""
        code, text = self.get("/metrics")
        assert code == 200, text
        return sum(float(value) for value in re.findall(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", text, re.M))


def _admin() -> dict[str, str]:
    from webkit.identity import Role

    return bearer(Role.ADMIN)


def backlog(count: int, start_ts: int) -> list[tuple[str, bytes]]:
    """``count`` gate events of 8 gates, each its own point (its own id and millisecond)."""
    return [(f"sc/v1/s1/gate/g{index % 8}/event", gate_event(f"e{start_ts + index}", ts=start_ts + index))
            for index in range(count)]


@pytest.fixture
def gateway_settings(mosquitto: Mosquitto, settings_for) -> Settings:  # type: ignore[no-untyped-def]
    settings: Settings = settings_for(mosquitto)
    return settings


@pytest.fixture
def workers_gateway(gateway_settings: Settings, tmp_path: Path) -> Iterator[WorkersGateway]:
    gateway = WorkersGateway(gateway_settings, tmp_path, workers=2)
    yield gateway
    if gateway.process is not None and gateway.process.poll() is None:
        gateway.process.kill()
        gateway.process.wait(10)


async def stored_in_influx(settings: Settings) -> int:
    store = build_store(settings)
    await store.open()
    try:
        return await store.count(PointQuery(Measurement.GATE_EVENT))
    finally:
        await store.close()


async def wait_until_stored(settings: Settings, expected: int, timeout: float) -> None:
    last = -1

    async def reached() -> bool:
        nonlocal last
        last = await stored_in_influx(settings)
        return last >= expected

    try:
        await wait_for(reached, timeout, f"{expected} points in InfluxDB")
    except AssertionError:
        raise AssertionError(f"{last} of {expected} points in InfluxDB") from None


async def test_two_workers_share_a_backlog_and_store_every_message_once(
    workers_gateway: WorkersGateway, gateway_settings: Settings, mosquitto: Mosquitto
) -> None:
    workers_gateway.start()  # the workers' persistent sessions join the group
    workers_gateway.stop()
    messages = backlog(6000, 1_795_000_000_000)
    publish_backlog(mosquitto.port, messages, "test-backlog-pub")  # queued for the sessions while they are away
    workers_gateway.start()

    await wait_until_stored(gateway_settings, len(messages), 60)
    await asyncio.sleep(1.5)  # anything delivered twice would have arrived by now
    assert await stored_in_influx(gateway_settings) == len(messages)

    rows = workers_gateway.status()["workers"]
    assert [row["client_id"] for row in rows] == [f"{gateway_settings.mqtt_client_id}-w0",
                                                  f"{gateway_settings.mqtt_client_id}-w1"]
    assert all(row["received"] > 0 for row in rows), f"each worker takes a share: {rows}"
    assert sum(row["received"] for row in rows) == len(messages), "no message reached two workers"
    assert all(row["running"] and row["ready"] and row["restarts"] == 0 for row in rows)
    assert workers_gateway.summed("sc_gateway_messages_received_total") == len(messages)
    assert workers_gateway.summed("sc_gateway_messages_stored_total") == len(messages)
    assert workers_gateway.summed("sc_gateway_broker_connected") == 2
    assert workers_gateway.summed("sc_gateway_workers") == 2
    assert (gateway_settings.data_dir / "spool-w0").is_dir() and (gateway_settings.data_dir / "spool-w1").is_dir()

    code, page = workers_gateway.get("/")
    assert code == 200 and "工作进程" in page and f"{gateway_settings.mqtt_client_id}-w1" in page
    assert "6,000" in page  # the received total, summed over the workers
    ready = json.loads(workers_gateway.get("/readyz")[1])
    assert ready["ready"] is True and [w["ready"] for w in ready["workers"]] == [True, True]
    anonymous = urllib.request.Request(f"http://127.0.0.1:{workers_gateway.http_port}/ingest/v1/s1/gate/g1/event",
                                       data=gate_event("http-1"), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=10)
    assert refused.value.code == 401, "a device's HTTP message is passed on to a worker, which checks its token"
    assert "smartcity-devices" in refused.value.headers["WWW-Authenticate"]
    assert workers_gateway.summed("sc_gateway_http_ingest_requests_total") == 1
    # the parent's own routes keep the gateway's guards: staff only, anyone else refused before any data
    for path in ("/api/status", "/api/devices", "/api/dead-letters", "/api/recent/gate_event"):  # metrics: public
        code, body = workers_gateway.get(path, staff=False)
        assert code == 401 and "g0" not in body and "-w0" not in body, (path, code, body[:200])
    code, body = workers_gateway.get("/", staff=False)
    assert code in (200, 401) and "工作进程" not in body, "the status page without a session: the sign-in page"
    workers_gateway.stop()


async def test_a_killed_worker_is_started_again_and_loses_nothing(
    workers_gateway: WorkersGateway, gateway_settings: Settings, mosquitto: Mosquitto
) -> None:
    workers_gateway.start()
    messages = backlog(30_000, 1_796_000_000_000)
    publishing = threading.Thread(target=publish_backlog, args=(mosquitto.port, messages, "test-kill-pub"))
    publishing.start()
    try:
        async def draining() -> bool:
            return workers_gateway.summed("sc_gateway_messages_stored_total") > 1000

        await wait_for(draining, 60, "the workers to be storing")
        victim = workers_gateway.status()["workers"][0]["pid"]
        stored_before_kill = workers_gateway.summed("sc_gateway_messages_stored_total")
        os.kill(victim, signal.SIGKILL)  # unacknowledged messages in its hands: the broker keeps them for it
    finally:
        publishing.join(120)

    async def restarted() -> bool:
        row = workers_gateway.status()["workers"][0]
        return bool(row["running"] and row["pid"] != victim and row["ready"])

    await wait_for(restarted, 30, "worker 0 to be started again")
    await wait_until_stored(gateway_settings, len(messages), 120)
    await asyncio.sleep(1.5)
    assert await stored_in_influx(gateway_settings) == len(messages), "each message stored once, none lost"

    rows = workers_gateway.status()["workers"]
    assert rows[0]["restarts"] == 1 and rows[0]["last_exit"] == -signal.SIGKILL and rows[1]["restarts"] == 0
    assert rows[0]["received"] > 0, "the restarted worker got its session back, with what was queued for it"
    assert workers_gateway.summed("sc_gateway_worker_restarts_total") == 1
    # what the killed run had counted when last read is kept in the sum, so the counter never goes back; what it
    # counted after that last read (at most a second's worth) died with it, so the sum may fall short of the total
    assert workers_gateway.summed("sc_gateway_messages_stored_total") > stored_before_kill
    workers_gateway.stop()
