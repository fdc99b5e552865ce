"""A clean start (issue 13): `smartcity run` without `--demo` on a new data directory starts empty — no organisation,
community, market, proposal or account, and no simulated device — and says what to do first; `smartcity services`
with no MQTT server (SC_MQTT_URL unset: the embedded broker) serves its health checks and its APIs."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, select

from accounts.domain import Account
from accounts.service import AccountService
from accounts.storage import accounts, organisations
from community.access.storage.tables import communities
from community.voting.storage import proposals
from devices.provisioning import device_credentials
from market.storage.tables import markets
from messaging.embedded_broker import CREDENTIALS_FILE
from relational.database import create_engine
from smartcity.lifecycle import EMPTY_INSTALLATION_NOTE
from tests.integration.test_embedded_mode import SMARTCITY, get_json
from tests.servers import free_port
from webkit.identity import Role

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN_PASSWORD = "fresh-install-first-key"  # not containing the account id: the password rule refuses that


def environment(http_port: int) -> dict[str, str]:
    """No SC_ setting but the ports: the defaults (embedded broker and store, SQLite under ./var)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("SC_")} | {
        "SC_HTTP_PORT": str(http_port), "SC_EMBEDDED_MQTT_PORT": str(free_port()), "SC_LOG_LEVEL": "WARNING"}


def start(folder: Path, arguments: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # output to a file: an undrained pipe would fill up and stall the process
    with (folder / "err.log").open("wb") as errors:
        return subprocess.Popen([SMARTCITY, *arguments], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=errors)


def wait_until_served(process: subprocess.Popen[bytes], folder: Path, http_port: int, path: str) -> int:
    """The status of ``path`` once the process answers HTTP."""
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (folder / "err.log").read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as answered:
            return answered.code
        except OSError:
            assert time.monotonic() < deadline, f"no HTTP: {(folder / 'err.log').read_text()}"
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes], folder: Path) -> str:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    errors = (folder / "err.log").read_text()
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
    return errors


async def rows(folder: Path) -> dict[str, int]:
    """How many rows each table of what an installation holds has, in the database under ``folder``."""
    engine = create_engine(f"sqlite+aiosqlite:///{folder / 'var' / 'smartcity.db'}")
    tables: dict[str, Table] = {"accounts": accounts, "organisations": organisations, "communities": communities,
                                "markets": markets, "proposals": proposals}
    try:
        async with engine.connect() as connection:
            return {name: (await connection.execute(select(func.count()).select_from(table))).scalar_one()
                    for name, table in tables.items()}
    finally:
        await engine.dispose()


async def admin_token(folder: Path, env: dict[str, str]) -> str:
    """The first administrator, made as an operator would (in the installation's database), and a token for it."""
    engine = create_engine(f"sqlite+aiosqlite:///{folder / 'var' / 'smartcity.db'}")
    try:
        created = await AccountService(engine).create_account("admin", "管理员", {Role.ADMIN}, ADMIN_PASSWORD,
                                                              datetime.now(UTC))
        assert isinstance(created, Account), created
    finally:
        await engine.dispose()
    issued = subprocess.run([SMARTCITY, "token", "issue", "--subject", "admin", "--role", "admin"], cwd=folder,
                            env=env, capture_output=True, text=True, check=True)
    return issued.stdout.strip()


def listed(http_port: int, path: str, token: str, key: str) -> list[Any]:
    return list(get_json(f"http://127.0.0.1:{http_port}{path}", token)[key])


async def test_run_without_demo_starts_empty_simulates_nothing_and_says_what_to_do_first(tmp_path: Path) -> None:
    http_port = free_port()
    env = environment(http_port)
    process = start(tmp_path, ["run"], env)
    try:
        wait_until_served(process, tmp_path, http_port, "/healthz")
        assert await rows(tmp_path) == {"accounts": 0, "organisations": 0, "communities": 0, "markets": 0,
                                        "proposals": 0}
        token = await admin_token(tmp_path, env)
        assert listed(http_port, "/api/access/communities", token, "communities") == []
        assert listed(http_port, "/api/markets", token, "items") == []
        assert listed(http_port, "/api/voting/proposals", token, "items") == []
        time.sleep(1.5)  # the simulator, had it started, publishes several messages a second
        status = get_json(f"http://127.0.0.1:{http_port}/api/status", token)
        assert status["readiness"]["broker_connected"] is True
        assert status["received"] == {} and status["devices_known"] == 0, status
    finally:
        errors = stop(process, tmp_path)
    assert EMPTY_INSTALLATION_NOTE in errors
    assert "Demo accounts" not in errors


async def test_services_without_an_mqtt_server_run_on_an_embedded_broker_of_their_own(tmp_path: Path) -> None:
    http_port = free_port()
    env = environment(http_port)
    process = start(tmp_path, ["services"], env)
    try:
        assert wait_until_served(process, tmp_path, http_port, "/healthz") == 200
        deadline = time.monotonic() + 20
        while wait_until_served(process, tmp_path, http_port, "/readyz") != 200:  # the services reach the broker
            assert time.monotonic() < deadline, "the services never reached the embedded broker"
            time.sleep(0.2)
        credentials = (tmp_path / "var" / CREDENTIALS_FILE).read_text()
        assert device_credentials(credentials) == {}, "no device users without the demo"
        kinds = [line.split(",")[1] for line in credentials.splitlines()[1:]]
        assert kinds == ["services"], "this run's user for the services alone: no gateway runs beside them"
        token = await admin_token(tmp_path, env)
        assert listed(http_port, "/api/voting/proposals", token, "items") == []
        openapi = get_json(f"http://127.0.0.1:{http_port}/openapi.json")
        assert "/api/voting/proposals" in openapi["paths"] and "/api/markets" in openapi["paths"]
    finally:
        errors = stop(process, tmp_path)
    assert "The embedded MQTT broker takes no anonymous clients" in errors
    assert EMPTY_INSTALLATION_NOTE in errors
    assert not (tmp_path / "var" / CREDENTIALS_FILE).exists(), "the run's broker passwords go with it"
