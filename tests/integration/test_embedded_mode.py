"""`smartcity run --demo` with no server at all: embedded broker, embedded store, simulated devices, the demo."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.provisioning import device_credentials
from gateway.outputs import PointQuery
from gateway.outputs.embedded import EmbeddedStore
from gateway.processors.points import Measurement
from messaging.embedded_broker import CREDENTIALS_FILE
from tests.integration.helpers import token_once_started
from tests.servers import free_port
from webkit.identity import Role

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMARTCITY = str(Path(sys.executable).parent / "smartcity")
NORTH_DEVICES = {"north-gate-01", "north-gate-02", "north-scale-01", "north-scale-02", "north-scale-03"}
"""The demo's north compound's gates and north market's scales (community.access.demo, market.demo)."""
NOT_AUTHORISED = "Not authorized"  # CONNACK 5 of MQTT 3.1.1, as paho names it


def get_json(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


async def test_run_all_in_one_with_embedded_defaults_streams_simulated_devices_into_storage(tmp_path: Path) -> None:
    http_port = free_port()
    with socket.socket() as occupied:  # the wished-for broker port is taken: run must move and say so
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        taken = occupied.getsockname()[1]
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("SC_")
        } | {"SC_HTTP_PORT": str(http_port), "SC_EMBEDDED_MQTT_PORT": str(taken), "SC_LOG_LEVEL": "WARNING"}
        # output goes to files: an undrained pipe would fill up and stall the process
        with (tmp_path / "out.log").open("wb") as out, (tmp_path / "err.log").open("wb") as err_file:
            process = subprocess.Popen(
                [SMARTCITY, "run", "--demo", "--gates", "3", "--scales", "4", "--rate", "40", "--bad-ratio", "0.2",
                 "--seed", "1"],
                cwd=tmp_path, env=environment, stdout=out, stderr=err_file,
            )
        live = None
        try:
            token = token_once_started(SMARTCITY, tmp_path, environment, http_port, process, "admin", Role.ADMIN)
            status = _wait_for_traffic(process, http_port, token)
            # the devices reached the gateway logged in as themselves: the broker takes no anonymous client
            credentials = tmp_path / "var" / CREDENTIALS_FILE
            assert oct(credentials.stat().st_mode)[-3:] == "600"
            # the installation's site's, and the demo's north site's (its own ids, its own broker users)
            assert set(device_credentials(credentials.read_text())) == {
                "gate-01", "gate-02", "gate-03", "scale-01", "scale-02", "scale-03", "scale-04", *NORTH_DEVICES}
            broker_port = _moved_broker_port(tmp_path / "err.log", taken)
            assert _anonymous_connack(broker_port) == NOT_AUTHORISED
            assert status["store"] == "embedded"
            assert status["readiness"]["broker_connected"] is True
            assert status["devices_online"] == 7 + len(NORTH_DEVICES)
            assert set(status["dead_letters"]) >= {"bad_json", "schema"}, status["dead_letters"]

            events = get_json(f"http://127.0.0.1:{http_port}/api/recent/gate_event?limit=5", token)["points"]
            sales = get_json(f"http://127.0.0.1:{http_port}/api/recent/scale_record?limit=5", token)["points"]
            assert events and all(e["site"] in ("demo", "demo-north") for e in events)
            assert sales and all(s["net_g"] > 0 and s["trace_code"] for s in sales)
            dead = get_json(f"http://127.0.0.1:{http_port}/api/dead-letters?limit=5", token)["dead_letters"]
            assert dead and all(d["reason"] and d["detail"] for d in dead)

            # staff only: a browser without a session signs in first, an API call without a token is refused
            _assert_staff_only(http_port)
            gateway_page = urllib.request.Request(f"http://127.0.0.1:{http_port}/gateway",
                                                  headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(gateway_page, timeout=5) as response:
                page = response.read().decode()
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/", timeout=5) as response:
                portal = response.read().decode()
            openapi = get_json(f"http://127.0.0.1:{http_port}/openapi.json")
            for path in ("/api/voting/proposals/{proposal_id}/ballots", "/api/access/gates/{gate_id}/whitelist",
                         "/api/markets/{site}/trace/{trace_code}"):
                assert path in openapi["paths"], path
            assert (tmp_path / "var" / "smartcity.db").exists(), "the services' database is created and migrated"
            assert "门禁事件" in page and "市场交易" in page and "死信" in page
            assert "字段不符合协议" in page or "JSON 格式错误" in page  # dead letters named in Chinese
            assert "<td>gate-01</td>" in page or "gate-01" in page
            assert "/signin" in portal and "</html>" in portal

            # the demo: gates get their whitelists and decide by them; scales get the published prices
            _wait_until_devices_acked(http_port, token)
            board = get_json(f"http://127.0.0.1:{http_port}/api/markets/demo/prices/board")
            assert board["lines"], board

            # a console left open on the live feed must not hold the shutdown up
            live = urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{http_port}/api/access/live", headers={"Authorization": f"Bearer {token}"}),
                timeout=10)
            assert live.headers["Content-Type"].startswith("text/event-stream")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)  # with the stream open, a server waiting on it would take over 60 s
            if live is not None:
                with live:
                    live.read()  # ended by the server, not cut off: an unfinished chunked body raises IncompleteRead
    text = (tmp_path / "err.log").read_text()
    assert process.returncode == 0, text
    assert f"Port {taken} (SC_EMBEDDED_MQTT_PORT) is taken" in text
    assert "Stopping: flushing batches" in text
    assert "Demo accounts, password 'smartcity-demo'" in text
    assert "Traceback" not in text
    assert not (tmp_path / "var" / CREDENTIALS_FILE).exists(), "the run's broker passwords go with it"

    store = EmbeddedStore(tmp_path / "var" / "timeseries.sqlite")
    await store.open()
    try:
        assert await store.count(PointQuery(Measurement.GATE_EVENT)) >= len(events)
        assert await store.count(PointQuery(Measurement.SCALE_RECORD)) >= len(sales)
    finally:
        await store.close()


def _moved_broker_port(err_log: Path, taken: int) -> int:
    moved = re.search(re.escape(f"Port {taken} (SC_EMBEDDED_MQTT_PORT) is taken; ")
                      + r"the embedded MQTT broker listens on 127\.0\.0\.1:(\d+)", err_log.read_text())
    assert moved, err_log.read_text()
    return int(moved.group(1))


def _anonymous_connack(port: int) -> str:
    """What the broker answers a client that names no user."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="anonymous-reader")
    answers: list[str] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(str(reason))
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 5
    while not answers and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    assert answers, "no CONNACK"
    return answers[0]


def _wait_until_devices_acked(http_port: int, token: str) -> None:
    deadline = time.monotonic() + 30
    gates: list[dict[str, Any]] = []
    pushes: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        gates = get_json(f"http://127.0.0.1:{http_port}/api/access/communities/demo/gates", token)["gates"]
        pushes = get_json(f"http://127.0.0.1:{http_port}/api/markets/demo/scales", token)["items"]
        if (len(gates) == 3 and all(g["in_sync"] for g in gates)
                and len(pushes) == 4 and all(p["last_price_push"]["status"] == "acked" for p in pushes)):
            return
        time.sleep(0.3)
    raise AssertionError(f"devices did not ack: gates {gates}, scales {pushes}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


def _assert_staff_only(http_port: int) -> None:
    opener = urllib.request.build_opener(_NoRedirects)
    for path, status in (("/gateway", 303), ("/api/status", 401), ("/api/dead-letters", 401), ("/metrics", 401)):
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(urllib.request.Request(f"http://127.0.0.1:{http_port}{path}", headers={"Accept": "text/html"}),
                        timeout=5)
        assert refused.value.code == status, path
        if status == 303:
            assert refused.value.headers["Location"].startswith("/signin?next=/gateway"), path
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5) as response:
        assert response.status == 200


def _wait_for_traffic(process: subprocess.Popen[bytes], http_port: int, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + 40
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"smartcity run exited with {process.returncode}")
        try:
            last = get_json(f"http://127.0.0.1:{http_port}/api/status", token)
        except OSError:
            time.sleep(0.2)
            continue
        received = last["received"]
        if received.get("event", 0) >= 5 and received.get("record", 0) >= 5 and len(last["dead_letters"]) >= 2:
            return last
        time.sleep(0.2)
    raise AssertionError(f"no traffic seen: {last}")
