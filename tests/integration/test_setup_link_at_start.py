"""An empty installation, built and started as ``smartcity services`` does (composition root, a real Mosquitto):
its start-up lines carry a one-time link to create the first administrator, which works on the served pages; once
there is an account, no link is printed and /setup/* is gone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config.settings import load_settings
from smartcity.bootstrap import build_services, build_store, migrated_engine, mount_services, root_application
from smartcity.lifecycle import running
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "first admin 2027"


async def test_an_empty_installation_prints_a_setup_link_until_it_has_an_account(mosquitto: Mosquitto,
                                                                                  tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, auth_secret="e" * 32, mqtt_url=mosquitto.url, http_port=8123,
                             database_url=f"sqlite+aiosqlite:///{tmp_path / 'smartcity.db'}")
    engine = await migrated_engine(settings)
    store = build_store(settings)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731 - the services' clock
    services = build_services(settings, engine, settings.mqtt_url, store, clock)
    app = root_application(settings)
    mount_services(app, services, store, clock, settings.site)
    try:
        async with running(services, settings, clock) as notes, TestClient(TestServer(app)) as client:
            [note] = [line for line in notes if "/setup/" in line]
            found = re.search(r"http://127\.0\.0\.1:8123(/setup/[A-Za-z0-9_-]+)", note)
            assert found is not None and "smartcity admin create" in note, note
            page = await client.get(found.group(1), headers=HTML)
            token = CSRF.search(await page.text())
            assert page.status == 200 and token is not None
            created = await client.post(found.group(1), headers=HTML, data={
                "csrf_token": token.group(1), "account_id": "root", "display_name": "管理员", "password": PASSWORD,
                "password2": PASSWORD})
            assert created.status == 200, await created.text()
            assert (await client.get(found.group(1), headers=HTML)).status == 404
        async with running(services, settings, clock) as notes:
            assert not any("/setup/" in line for line in notes), "an installation with an account prints none"
    finally:
        await store.close()
        await engine.dispose()
