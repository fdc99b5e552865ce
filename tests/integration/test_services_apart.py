"""The compose stack's shape without Docker: `smartcity services --demo` and `smartcity simulate`
as separate processes on a real Mosquitto with per-device users and ACLs, on the same seed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from devices.provisioning import acl_file, credentials_csv, device_users, password_file
from tests.integration.helpers import token_once_started
from tests.integration.test_embedded_mode import SMARTCITY, get_json
from tests.servers import Mosquitto, free_port
from webkit.identity import Role

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_services_and_simulator_apart_sync_gates_and_scales_over_an_acl_broker(tmp_path: Path) -> None:
    users = device_users("demo", gates=2, scales=2, services_password="svc-secret")
    (tmp_path / "passwd").write_text(password_file(users))
    (tmp_path / "acl").write_text(acl_file(users))
    (tmp_path / "credentials.csv").write_text(credentials_csv(users))
    broker = Mosquitto(extra_config=f"password_file {tmp_path / 'passwd'}\nacl_file {tmp_path / 'acl'}\n",
                       anonymous=False)
    broker.start()
    http_port = free_port()
    base = {key: value for key, value in os.environ.items() if not key.startswith("SC_")} | {
        "SC_SITE": "demo", "SC_LOG_LEVEL": "WARNING", "SC_CREDENTIAL_HASH_KEY": "compose-credential-key-0001",
        "SC_VISITOR_PASS_KEY": "compose-visitor-pass-key-0000000001", "SC_DATA_DIR": str(tmp_path / "var")}
    services_env = base | {"SC_MQTT_URL": f"mqtt://services:svc-secret@127.0.0.1:{broker.port}",
                           "SC_MQTT_CLIENT_ID": "services-1", "SC_HTTP_PORT": str(http_port),
                           "SC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'services.db'}"}
    simulator_env = base | {"SC_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}"}
    services = subprocess.Popen([SMARTCITY, "services", "--demo", "--gates", "2", "--scales", "2", "--seed", "5"],
                                cwd=tmp_path, env=services_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    simulator = subprocess.Popen([SMARTCITY, "simulate", "--gates", "2", "--scales", "2", "--seed", "5", "--rate",
                                  "20", "--bad-ratio", "0", "--credentials", str(tmp_path / "credentials.csv")],
                                 cwd=tmp_path, env=simulator_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        token = token_once_started(SMARTCITY, tmp_path, services_env, http_port, services, "admin", Role.ADMIN)
        gates, scales = _wait_for_acks(services, http_port, token)
        assert len(gates) == 2 and len(scales) == 2
        events = get_json(f"http://127.0.0.1:{http_port}/api/access/events?community_id=demo&limit=50", token)
        assert events["events"], "gate events reach the access service through its own session"
    finally:
        for process in (simulator, services):
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=30) for process in (simulator, services)]
        broker.cleanup()
    for process, (_, err) in zip((simulator, services), outputs, strict=True):
        assert process.returncode == 0, err.decode()
        assert "Traceback" not in err.decode()


def _wait_for_acks(services: subprocess.Popen[bytes], http_port: int,
                   token: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    deadline = time.monotonic() + 40
    gates: list[dict[str, Any]] = []
    scales: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        if services.poll() is not None:
            raise AssertionError(services.stderr.read().decode() if services.stderr else "services exited")
        try:
            gates = get_json(f"http://127.0.0.1:{http_port}/api/access/communities/demo/gates", token)["gates"]
            scales = get_json(f"http://127.0.0.1:{http_port}/api/markets/demo/scales", token)["items"]
        except OSError:
            time.sleep(0.3)
            continue
        if (gates and all(g["in_sync"] for g in gates) and scales
                and all((s["last_price_push"] or {}).get("status") == "acked" for s in scales)):
            return gates, scales
        time.sleep(0.3)
    raise AssertionError(f"devices did not ack: gates {gates}, scales {scales}")
