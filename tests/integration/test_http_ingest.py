"""HTTP ingestion against real servers: devices without MQTT post contract messages to the gateway, answered 2xx
only once the message is durable (in InfluxDB, or in the spool while it is down), 422 with the dead letter's reason,
401/403 for a wrong token or another device's topic, 429 when neither the store nor the spool takes more; a kill -9
after a 2xx loses nothing, and a message posted twice is one point."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from devices.http_tokens import DeviceIdentity, IssuedToken, issue_token, tokens_file
from devices.topics import DeviceKind
from gateway.inputs.http import INGEST_PATH
from gateway.outputs import PointQuery
from gateway.outputs.influxdb import InfluxStore
from gateway.processors.points import Measurement
from gateway.service import Gateway
from gateway.web import create_app
from smartcity.bootstrap import build_gateway
from tests.integration.conftest import wait_until_subscribed
from tests.integration.helpers import (
    bearer,
    gate_event,
    gateway_access,
    scale_record,
    served_routes,
    staff_client,
    wait_for_count,
)
from tests.servers import InfluxDB, Mosquitto, free_port, wait_until_answering
from webkit.identity import Role

pytestmark = pytest.mark.integration

SMARTCITY = str(Path(sys.executable).parent / "smartcity")
GATE = DeviceIdentity("s1", DeviceKind.GATE, "g1")
SCALE = DeviceIdentity("s1", DeviceKind.SCALE, "sc1")
GATE_PATH = "/ingest/v1/s1/gate/g1/event"
SCALE_PATH = "/ingest/v1/s1/scale/sc1/record"


class Devices:
    def __init__(self, folder: Path) -> None:
        self.gate: IssuedToken = issue_token(GATE)
        self.scale: IssuedToken = issue_token(SCALE)
        self.file = folder / "http-tokens"
        folder.mkdir(parents=True, exist_ok=True)
        self.file.write_text(tokens_file([self.gate, self.scale]))

    @staticmethod
    def auth(token: IssuedToken) -> dict[str, str]:
        return {"Authorization": f"Bearer {token.token}"}


@pytest.fixture
def devices(tmp_path: Path) -> Devices:
    return Devices(tmp_path / "provisioned")


@pytest.fixture
def own_influx() -> Iterator[InfluxDB]:
    server = InfluxDB()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
async def gateway(mosquitto: Mosquitto, settings_for, devices: Devices) -> AsyncIterator[Gateway]:  # type: ignore[no-untyped-def]
    made = build_gateway(settings_for(mosquitto, http_tokens_file=devices.file))
    await made.start()
    await wait_until_subscribed(made)
    yield made
    await made.stop()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[TestClient[Any, Any]]:
    # the staff client sends an administrator's token: each device call below sends its own Authorization instead
    async with staff_client(gateway) as made:
        yield made


async def test_posted_messages_are_queryable_in_influxdb_when_the_answer_comes(
    gateway: Gateway, client: TestClient[Any, Any], devices: Devices
) -> None:
    one = await client.post(GATE_PATH, data=gate_event("h1", credential="0012345678"),
                            headers=devices.auth(devices.gate))
    assert one.status == 200, await one.text()
    assert await one.json() == {"stored": 1, "dead_letters": 0, "to": "store",
                                "results": [{"index": 0, "status": "stored"}]}
    # no waiting: the answer came after the write, so the point is there now
    [event] = await gateway.store.select(PointQuery(Measurement.GATE_EVENT))
    assert event["event_id"] == "h1" and "0012345678" not in json.dumps(event)

    batch = b"[" + b",".join(scale_record(f"r{n}") for n in range(5)) + b"]"
    five = await client.post(SCALE_PATH, data=batch, headers=devices.auth(devices.scale))
    assert five.status == 200 and (await five.json())["stored"] == 5
    assert await gateway.store.count(PointQuery(Measurement.SCALE_RECORD)) == 5

    state = await client.post("/ingest/v1/s1/gate/g1/state", json={"online": True, "firmware": "1.2"},
                              headers=devices.auth(devices.gate))
    assert state.status == 200
    assert gateway.registry.online_count() == 1, "an HTTP device shows in the registry like an MQTT one"

    status = await (await client.get("/api/status")).json()
    assert status["received_by_transport"] == {"http": 7.0}
    assert status["http_answers"] == {"200": 3.0}
    page = await client.get("/", headers={"Accept": "text/html"})
    assert "HTTP 上报 7" in await page.text()
    metrics = await (await client.get("/metrics")).text()
    assert 'sc_gateway_messages_received_total{channel="record",transport="http"} 5.0' in metrics


async def test_an_invalid_message_is_422_with_its_reason_and_a_dead_letter(
    gateway: Gateway, client: TestClient[Any, Any], devices: Devices
) -> None:
    bad = await client.post(GATE_PATH, data=gate_event("h2", door="1", credential="0012345678"),
                            headers=devices.auth(devices.gate))
    assert bad.status == 422
    answer = await bad.json()
    assert answer["reason"] == "schema" and "door" in answer["error"]
    assert answer["results"][0]["status"] == "dead_letter"
    [dead] = await gateway.store.select(PointQuery(Measurement.DEAD_LETTER))  # durable before the answer
    assert dead["reason"] == "schema" and dead["topic"] == "sc/v1/s1/gate/g1/event"
    assert "0012345678" not in json.dumps(dead), "a card is redacted in HTTP dead letters as in MQTT ones"

    not_json = await client.post(GATE_PATH, data=b'{"event_id": ', headers=devices.auth(devices.gate))
    assert not_json.status == 422 and (await not_json.json())["reason"] == "bad_json"
    mixed = await client.post(GATE_PATH, data=b"[" + gate_event("h3") + b", {}]", headers=devices.auth(devices.gate))
    assert mixed.status == 422
    assert [r["status"] for r in (await mixed.json())["results"]] == ["stored", "dead_letter"]
    assert await gateway.store.count(PointQuery(Measurement.GATE_EVENT)) == 1
    assert await gateway.store.count(PointQuery(Measurement.DEAD_LETTER)) == 3
    listed = await (await client.get("/api/dead-letters")).json()
    assert {item["reason"] for item in listed["dead_letters"]} == {"schema", "bad_json"}


async def test_a_wrong_token_is_401_and_another_devices_topic_403(
    gateway: Gateway, client: TestClient[Any, Any], devices: Devices
) -> None:
    wrong = await client.post(GATE_PATH, data=gate_event("x"),
                              headers={"Authorization": f"Bearer {devices.gate.token_id}.not-the-secret"})
    assert wrong.status == 401
    staff = await client.post(GATE_PATH, data=gate_event("x"))  # the administrator's token is no device token
    assert staff.status == 401
    scale_on_gate = await client.post(GATE_PATH, data=gate_event("x"), headers=devices.auth(devices.scale))
    assert scale_on_gate.status == 403
    other_gate = await client.post("/ingest/v1/s1/gate/g2/event", data=gate_event("x"),
                                   headers=devices.auth(devices.gate))
    assert other_gate.status == 403
    command = await client.post("/ingest/v1/s1/gate/g1/cmd", json={"cmd_id": "c", "op": "open", "args": {}},
                                headers=devices.auth(devices.gate))
    assert command.status == 403, "a device sends no commands, over MQTT (the ACL) or HTTP"
    assert await gateway.store.count(PointQuery(Measurement.GATE_EVENT)) == 0
    assert await gateway.store.count(PointQuery(Measurement.DEAD_LETTER)) == 0


STAFF_ROUTES = {("/", "GET"), ("/metrics", "GET"), ("/api/status", "GET"), ("/api/devices", "GET"),
                ("/api/dead-letters", "GET"), ("/api/recent/{measurement}", "GET")}
OPEN_ROUTES = {("/healthz", "GET"), ("/readyz", "GET")}
DEVICE_ROUTES = {(INGEST_PATH, "POST")}


async def test_the_ingestion_route_is_the_gateways_one_device_route_and_takes_no_persons_token(
    gateway: Gateway, client: TestClient[Any, Any], devices: Devices
) -> None:
    # the permission story of every route the gateway serves: staff (tests/integration/test_gateway_access.py),
    # open to load balancers, or a device's; test_permission_matrix.py covers the services' routes
    served = {(path, method) for path, method in served_routes(create_app(gateway, gateway_access()))
              if method != "HEAD"}
    assert served == STAFF_ROUTES | OPEN_ROUTES | DEVICE_ROUTES
    for roles in ((Role.ADMIN,), (Role.PROPERTY_MANAGER,), (Role.MARKET_OPERATOR,), (Role.RESIDENT,),
                  (Role.SUPERVISOR,)):
        person = await client.post(GATE_PATH, data=gate_event("p"), headers=bearer(*roles))
        assert person.status == 401, roles
    for path in ("/api/status", "/api/dead-letters", "/metrics"):
        device = await client.get(path, headers=devices.auth(devices.gate))
        assert device.status == 401, f"a device token opens no staff route: {path}"
    assert await gateway.store.count(PointQuery(Measurement.GATE_EVENT)) == 0


async def test_the_same_message_posted_twice_is_stored_once(
    gateway: Gateway, client: TestClient[Any, Any], devices: Devices
) -> None:
    for _ in range(2):
        answer = await client.post(GATE_PATH, data=gate_event("dup", ts="2026-11-23T08:30:00.123+08:00"),
                                   headers=devices.auth(devices.gate))
        assert answer.status == 200
    together = await client.post(GATE_PATH, data=b"[" + gate_event("dup2") + b"," + gate_event("dup2") + b"]",
                                 headers=devices.auth(devices.gate))
    assert together.status == 200
    ids = sorted(r["event_id"] for r in await gateway.store.select(PointQuery(Measurement.GATE_EVENT)))
    assert ids == ["dup", "dup2"]


async def test_influxdb_down_spools_answering_202_then_429_when_the_spool_is_full_and_replays_after(
    mosquitto: Mosquitto, own_influx: InfluxDB, settings_for, devices: Devices  # type: ignore[no-untyped-def]
) -> None:
    gateway = build_gateway(settings_for(mosquitto, influx_url=own_influx.url, http_tokens_file=devices.file,
                                         write_retries=0, spool_max_bytes=4096, http_ingest_wait_s=2,
                                         http_ingest_retry_after_s=3))
    await gateway.start()
    try:
        async with staff_client(gateway) as client:
            own_influx.stop()
            answers: list[int] = []
            accepted: list[str] = []
            for n in range(60):
                response = await client.post(GATE_PATH, data=gate_event(f"down{n}", ts=1_795_000_000_000 + n),
                                             headers=devices.auth(devices.gate))
                answers.append(response.status)
                if response.status == 202:
                    assert (await response.json())["to"] == "spool"
                    accepted.append(f"down{n}")
                if response.status == 429:
                    assert response.headers["Retry-After"] == "3"
                    break
            assert answers[0] == 202 and answers[-1] == 429 and set(answers[:-1]) == {202}, answers
            assert gateway.spool.depth_points >= len(accepted)

            own_influx.start()
            await wait_for_count(gateway.store, Measurement.GATE_EVENT, len(accepted) + 1, timeout=60)
            ids = {r["event_id"] for r in await gateway.store.select(PointQuery(Measurement.GATE_EVENT, limit=100))}
            assert set(accepted) < ids, "every message answered 202 reached InfluxDB (and the held one too)"
            # InfluxDB back: the next message is stored again (a loaded machine may need longer than this test's
            # 2 s wait for the spool's replay to drain, and answers 429 until then: a device tries again)
            for _ in range(10):
                after = await client.post(GATE_PATH, data=gate_event("after"), headers=devices.auth(devices.gate))
                if after.status != 429:
                    break
                await asyncio.sleep(1)
            assert after.status == 200
    finally:
        await gateway.stop()


# -- kill -9 of a gateway process -----------------------------------------------------------------------------------

def _provision(folder: Path) -> dict[str, str]:
    """`smartcity provision` for site s1, as an operator runs it: the device tokens by device id."""
    subprocess.run([SMARTCITY, "provision", "--gates", "1", "--scales", "0", "--out", str(folder)],
                   env=dict(os.environ, SC_SITE="s1"), check=True, capture_output=True)
    assert oct((folder / "http-tokens").stat().st_mode)[-3:] == "640"
    assert oct((folder / "http-credentials.csv").stat().st_mode)[-3:] == "600"
    with (folder / "http-credentials.csv").open() as handle:
        tokens = {row["device"]: row["token"] for row in csv.DictReader(handle)}
    assert tokens["gate-01"] not in (folder / "http-tokens").read_text(), "the gateway's file holds hashes only"
    return tokens


def _gateway_process(mosquitto: Mosquitto, influx: InfluxDB, database: str, data_dir: Path,
                     tokens_file_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    environment = dict(
        os.environ, SC_SITE="s1", SC_MQTT_URL=mosquitto.url, SC_INFLUX_URL=influx.url, SC_INFLUX_DB=database,
        SC_DATA_DIR=str(data_dir), SC_HTTP_PORT=str(port), SC_MQTT_CLIENT_ID="gw-http-kill",
        SC_CREDENTIAL_HASH_KEY="http-ingest-test-credential-key", SC_AUTH_SECRET="h" * 32,
        SC_HTTP_TOKENS_FILE=str(tokens_file_path), SC_WRITE_RETRIES="0", SC_LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen([SMARTCITY, "gateway"], env=environment)
    wait_until_answering(process, f"http://127.0.0.1:{port}/healthz", 30, "gateway")
    return process, port


def _post(port: int, token: str, body: bytes) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/ingest/v1/s1/gate/gate-01/event", data=body,
                                     headers={"Authorization": f"Bearer {token}"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.slow
async def test_kill_9_after_a_2xx_loses_nothing(
    mosquitto: Mosquitto, own_influx: InfluxDB, influx_db: str, tmp_path: Path
) -> None:
    tokens = _provision(tmp_path / "provisioned")
    token_file = tmp_path / "provisioned" / "http-tokens"
    process, port = _gateway_process(mosquitto, own_influx, influx_db, tmp_path / "var", token_file)
    try:
        assert await asyncio.to_thread(_post, port, tokens["gate-01"], gate_event("stored", ts=1_795_000_000_000)) \
            == 200
        own_influx.stop()  # what is answered now is durable in the spool alone
        spooled = [gate_event(f"spooled{n}", ts=1_795_000_000_001 + n) for n in range(3)]
        for body in spooled:
            assert await asyncio.to_thread(_post, port, tokens["gate-01"], body) == 202
        process.send_signal(signal.SIGKILL)
        process.wait(10)

        own_influx.start()
        process, port = _gateway_process(mosquitto, own_influx, influx_db, tmp_path / "var", token_file)
        store = InfluxStore(own_influx.url, influx_db, create_database=False)
        await store.open()
        try:
            await wait_for_count(store, Measurement.GATE_EVENT, 4, timeout=60)
            ids = {r["event_id"] for r in await store.select(PointQuery(Measurement.GATE_EVENT))}
            assert ids == {"stored", "spooled0", "spooled1", "spooled2"}
        finally:
            await store.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
