"""The request body limit (SC_HTTP_MAX_BODY_BYTES) on the application `smartcity run` and `smartcity services` serve,
built here as they build it, on both databases: the documented 20,000-unit voting roll is taken through the API, and
a body over the limit gets a clear 413 — JSON from the API, the error page for a form."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.directory import Community
from community.access.storage import DirectoryRepository
from config.settings import load_settings
from smartcity.bootstrap import build_services, build_store, mount_services, root_application
from tests.integration.api_accounts import give_accounts
from webkit.identity import Role, Scope

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 1, tzinfo=UTC)
AIOHTTP_DEFAULT_MAX_BODY = 1024**2
HTML = {"Accept": "text/html"}

Serving = Callable[..., Any]


@pytest.fixture
def serving(engine: AsyncEngine, tmp_path: Path) -> Serving:
    @asynccontextmanager
    async def serve(**settings: Any) -> AsyncIterator[tuple[TestClient[Any, Any], dict[str, str]]]:
        # a test installation: its proposals open at once (no 15-day notice period)
        configured = load_settings(data_dir=tmp_path, auth_secret="s" * 32, mqtt_url="mqtt://127.0.0.1:1",
                                   voting_notice_days=0, **settings)
        store = build_store(configured)
        services = build_services(configured, engine, configured.mqtt_url, store, lambda: NOW)
        app = root_application(configured)
        mount_services(app, services, store, lambda: NOW, configured.site)
        if await services.accounts.account("pm-1") is None:  # a token is taken only for an account
            async with engine.begin() as connection:  # the community the proposals are for, the manager's
                await DirectoryRepository(connection).add_community(Community("c1", "c1-site", "荷花小区"))
            await give_accounts(engine, {"pm-1": [Role.PROPERTY_MANAGER]},
                                scope={"pm-1": Scope(communities=frozenset({"c1"}))})
        token = services.authority.issue("pm-1", [Role.PROPERTY_MANAGER], NOW, timedelta(days=1))
        async with TestClient(TestServer(app)) as client:
            yield client, {"Authorization": f"Bearer {token}"}

    return serve


def proposal(units: int, proposal_id: str = "p-big") -> dict[str, Any]:
    return {
        "proposal_id": proposal_id,
        "matter": "use_of_maintenance_funds",
        "title": "使用维修资金更换电梯",
        "opens_at": (NOW + timedelta(days=1)).isoformat(),
        "closes_at": (NOW + timedelta(days=8)).isoformat(),
        "community_id": "c1",
        "roll": [{"unit_id": f"B{n // 500:02d}-{n % 500:04d}", "label": f"{n // 500 + 1}栋{n % 500 + 101}室",
                  "area_m2": "123.45", "owner_ids": [f"P{2 * n:07d}", f"P{2 * n + 1:07d}"],
                  "representative_id": f"P{2 * n:07d}"} for n in range(units)],
    }


async def test_a_20000_unit_roll_is_taken_through_the_api(serving: Serving) -> None:
    async with serving() as (client, manager):
        body = json.dumps(proposal(20_000), ensure_ascii=False).encode()
        assert len(body) > 2 * AIOHTTP_DEFAULT_MAX_BODY, "about 2.7 MiB"
        opened = await client.post("/api/voting/proposals", data=body, headers={
            **manager, "Content-Type": "application/json"})
        assert opened.status == 201, (await opened.text())[:500]
        assert len((await opened.json())["roll"]) == 20_000


async def test_a_body_over_the_limit_gets_a_clear_413(serving: Serving) -> None:
    async with serving() as (client, manager):
        limit = 16 * 1024**2  # the default
        over = b'{"proposal_id": "p-x", "body": "' + b"x" * limit + b'"}'
        refused = await client.post("/api/voting/proposals", data=over, headers={
            **manager, "Content-Type": "application/json"})
        assert refused.status == 413 and refused.content_type == "application/json"
        error = await refused.json()
        assert error["reason"] == "body_too_large" and error["max_bytes"] == limit
        assert "SC_HTTP_MAX_BODY_BYTES" in error["error"]

        form = await client.post("/signin", data={"account_id": "x" * limit}, headers=HTML)
        assert form.status == 413 and form.content_type == "text/html" and "提交的内容过大" in await form.text()

    async with serving(http_max_body_bytes=64 * 1024) as (client, manager):
        small = await client.post("/api/voting/proposals", json=proposal(10, "p-small"), headers=manager)
        assert small.status == 201
        large = await client.post("/api/voting/proposals", json=proposal(1_000), headers=manager)
        assert large.status == 413 and (await large.json())["max_bytes"] == 64 * 1024
