"""What the installation writes under SC_DATA_DIR (the relational database and its -wal/-shm files, the embedded
time-series store, the spool, the generated keys) only its own user may open: folders 0700, files 0600, under a
permissive umask too. Checked on the real command and on the real constructors, by stat-ing what they made."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.keys import credential_key, visitor_pass_key
from config.settings import load_settings
from gateway.batching.spool import Spool
from gateway.outputs.embedded import EmbeddedStore
from gateway.processors.points import Point
from relational.database import create_engine, migrate
from smartcity.bootstrap import CONTEXTS
from tests.servers import free_port

pytestmark = pytest.mark.integration

SMARTCITY = str(Path(sys.executable).parent / "smartcity")
PERMISSIVE_UMASK = 0o022
"""The usual default: without care, files come out 0644 and folders 0755."""


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The test process's umask as most shells leave it (a CLI test run in-process may have changed it)."""
    before = os.umask(PERMISSIVE_UMASK)
    yield
    os.umask(before)


def modes(root: Path) -> dict[str, str]:
    """Every folder and file under ``root`` (``root`` itself as "."), each with its permission bits."""
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def assert_private(root: Path) -> dict[str, str]:
    found = modes(root)
    exposed = {name: mode for name, mode in found.items()
               if mode != (oct(0o700) if (root / name).is_dir() else oct(0o600))}
    assert not exposed, f"readable by others under {root}: {exposed}"
    return found


def point(n: int) -> Point:
    return Point("gate_event", (("site", "demo"), ("device", "gate-01")), {"event_id": f"ev-{n}"}, 10**18 + n)


async def test_smartcity_run_writes_nothing_others_can_read(tmp_path: Path) -> None:
    http_port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SC_")} | {
        "SC_HTTP_PORT": str(http_port), "SC_EMBEDDED_MQTT_PORT": str(free_port()), "SC_LOG_LEVEL": "WARNING",
        "SC_STATS_INTERVAL_S": "0.2",  # the gateway writes its counters into the embedded store at once
    }
    data = tmp_path / "var"  # SC_DATA_DIR and SC_DATABASE_URL's defaults, relative to where it runs
    expected = {"smartcity.db", "smartcity.db-wal", "smartcity.db-shm", "timeseries.sqlite",
                "timeseries.sqlite-wal", "timeseries.sqlite-shm", "spool", "auth-token.key",
                "credential-hash.key", "visitor-pass.key"}
    with (tmp_path / "err.log").open("wb") as errors:
        process = subprocess.Popen([SMARTCITY, "run", "--demo", "--no-simulator", "--seed", "1"], cwd=tmp_path,
                                   env=environment, stdout=subprocess.DEVNULL, stderr=errors, umask=PERMISSIVE_UMASK)
    try:
        deadline = time.monotonic() + 40
        while not (_answers(http_port) and data.is_dir() and expected <= set(modes(data))):
            assert process.poll() is None, (tmp_path / "err.log").read_text()
            assert time.monotonic() < deadline, f"not all written: {sorted(modes(data)) if data.is_dir() else []}"
            time.sleep(0.2)
        # while it runs: SQLite's -wal and -shm files are there now, and gone after a clean stop
        found = assert_private(data)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert expected <= set(found)
    assert process.returncode == 0, (tmp_path / "err.log").read_text()


def _answers(http_port: int) -> bool:
    # /healthz answers anyone (the gateway's other endpoints are for staff only)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answers: 503 until the broker and store are up
    except OSError:
        return False


@pytest.mark.usefixtures("permissive_umask")
async def test_the_embedded_store_and_its_wal_files_are_private(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "data" / "series" / "timeseries.sqlite")
    await store.open()
    try:
        await store.write([point(1), point(2)])
        found = assert_private(tmp_path / "data")
    finally:
        await store.close()
    assert {"series/timeseries.sqlite", "series/timeseries.sqlite-wal", "series/timeseries.sqlite-shm"} <= set(found)


@pytest.mark.usefixtures("permissive_umask")
async def test_the_relational_sqlite_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'db' / 'smartcity.db'}")
    try:
        for package in CONTEXTS:
            await migrate(engine, package)
        async with engine.connect() as connection:  # the -wal and -shm files exist while a connection is open
            await connection.exec_driver_sql("SELECT count(*) FROM accounts")
            found = assert_private(tmp_path / "data")
    finally:
        await engine.dispose()
    assert {"db/smartcity.db", "db/smartcity.db-wal", "db/smartcity.db-shm"} <= set(found)


@pytest.mark.usefixtures("permissive_umask")
def test_spooled_batches_are_private(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "data" / "spool", 10**6)
    spool.append([point(1)])
    spool.append([point(2)])

    found = assert_private(tmp_path / "data")
    assert len([name for name in found if name.endswith(Spool.SUFFIX)]) == 2


@pytest.mark.usefixtures("permissive_umask")
def test_generated_keys_are_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data" / "keys")
    credential_key(settings)
    visitor_pass_key(settings)

    found = assert_private(tmp_path / "data")
    assert {"keys/credential-hash.key", "keys/visitor-pass.key"} <= set(found)
