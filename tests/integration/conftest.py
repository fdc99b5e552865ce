"""Fixtures that stand up real servers: Mosquitto and InfluxDB on free loopback ports."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings, load_settings
from gateway.service import Gateway
from relational.database import create_engine, migrate
from smartcity.bootstrap import CONTEXTS, build_gateway
from tests.integration.helpers import wait_for
from tests.servers import InfluxDB, Mosquitto, PostgreSQL, have

pytestmark = pytest.mark.integration

_names = itertools.count(1)
_databases = itertools.count(1)


def _require(binary: str, package: str) -> None:
    if not have(binary):
        message = f"{binary} is not installed: `make test` installs Debian's {package} package when run as root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    _require("mosquitto", "mosquitto")
    server = Mosquitto()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def influx_server() -> Iterator[InfluxDB]:
    _require("influxd", "influxdb")
    server = InfluxDB()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def influx_db() -> str:
    """A fresh database name per test on the shared server."""
    return f"test_{os.getpid()}_{next(_names)}"


@pytest.fixture
def settings_for(tmp_path: Path, influx_server: InfluxDB, influx_db: str):  # type: ignore[no-untyped-def]
    def make(mosquitto: Mosquitto, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "mqtt_url": mosquitto.url,
            "influx_url": influx_server.url,
            "influx_db": influx_db,
            "data_dir": tmp_path / "var",
            "mqtt_client_id": f"gw-{influx_db}",
            "batch_interval_ms": 20,
            "credential_hash_key": "test-credential-hash-key",
            "http_port": 0,
        }
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
async def running_gateway(mosquitto: Mosquitto, settings_for) -> AsyncIterator[Gateway]:  # type: ignore[no-untyped-def]
    gateway = build_gateway(settings_for(mosquitto))
    await gateway.start()
    await wait_until_subscribed(gateway)
    yield gateway
    await gateway.stop()


async def wait_until_subscribed(gateway: Gateway, timeout: float = 10.0) -> None:
    """A new session hears only what is published after its SUBACK."""

    async def subscribed() -> bool:
        return gateway.source.subscribed

    await wait_for(subscribed, timeout, "the gateway's subscription")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """``SC_TEST_POSTGRES_URL`` when given (an admin URL), else a cluster of our own on a free port."""
    given = os.environ.get("SC_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        server = PostgreSQL()
        server.start()
    except (FileNotFoundError, OSError) as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL server binaries ({error}); `make test` installs Debian's postgresql")
    yield server.url
    server.cleanup()


async def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncEngine:
    """An engine on a new, empty database of the backend ``request.param`` names (``sqlite`` or
    ``postgresql``, a database of its own on the test cluster)."""
    if request.param == "sqlite":
        return create_engine(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'smartcity.db'}")
    admin_url = request.getfixturevalue("postgres_server")
    name = f"test_{os.getpid()}_{next(_databases)}"
    admin = create_engine(admin_url)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return create_engine(make_url(admin_url).set(database=name).render_as_string(hide_password=False))


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    for package in CONTEXTS:  # every context's schema, as the services run on one database
        await migrate(made, package)
    yield made
    await made.dispose()
