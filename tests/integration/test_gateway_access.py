"""The gateway's HTTP face against a running gateway (real Mosquitto, real InfluxDB or the embedded store): for
administrators only (it spans every community and market) but for health and readiness, paging parameters refused
with a reason, no card in the dead letters it serves."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from accounts.demo import DEMO_PASSWORD, seed_demo_accounts
from accounts.pages import mount_pages
from accounts.service import AccountService
from gateway.fleet import Fleet, WorkerLaunch
from gateway.fleet_web import create_fleet_app
from gateway.inputs.http import INGEST_PATH
from gateway.processors.points import Measurement
from gateway.service import Gateway
from gateway.web import create_app
from gateway.workers import worker_identity
from relational.database import create_engine, migrate
from smartcity.bootstrap import build_gateway
from smartcity.serve import GATEWAY_LINK
from tests.integration.conftest import wait_until_subscribed
from tests.integration.helpers import (
    GATEWAY_AUTHORITY,
    bearer,
    gate_event,
    gateway_access,
    publish,
    staff_client,
    wait_for_count,
    wall_clock,
)
from tests.servers import Mosquitto
from webkit.identity import Role
from webkit.pages import mount_portal

pytestmark = pytest.mark.integration

GATE = "sc/v1/s1/gate/g1/event"
STAFF_ONLY = ["/api/status", "/api/devices", "/api/dead-letters", "/api/recent/gate_event", "/metrics"]
HTML = {"Accept": "text/html"}


# -- finding 4, then issue 12: administrators only -----------------------------------------------------------------

OPEN_TO_ANYONE = {"/healthz", "/readyz"}
"""What load balancers ask, without a token."""
DEVICE_ROUTES = {INGEST_PATH}
"""A device's own route: its token is checked by tests/integration/test_http_ingest.py."""


def one_gateway_app(gateway: Gateway) -> web.Application:
    return create_app(gateway, gateway_access())


def workers_parent_app(gateway: Gateway) -> web.Application:
    """The parent's face of ``smartcity gateway --workers``, over a worker that is not running: its guards are its own,
    not the workers'."""
    identity = worker_identity(0, "access-test", "", Path("/nonexistent"))
    fleet = Fleet([WorkerLaunch(identity, ["false"], {}, Path("/nonexistent/w0.sock"))], "s1")
    return create_fleet_app(fleet, gateway.store, gateway_access())


def staff_routes(app: web.Application) -> list[str]:
    """Every path the app serves but the open ones (GET), the device one (POST) and the status page (GET, checked
    below as a page): each must be for administrators only. Walking the route table, a route added later joins
    this matrix without being named here; one of another method must be classified first."""
    paths = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD":
            continue  # aiohttp's twin of each GET
        if route.method == "POST" and path in DEVICE_ROUTES:
            continue
        if route.method != "GET":
            raise AssertionError(f"{route.method} {path}: classify it in this matrix")
        if path not in OPEN_TO_ANYONE | {"/"}:
            paths.append(path.replace("{measurement}", "gate_event"))
    return sorted(set(paths))


@pytest.mark.parametrize("build", [one_gateway_app, workers_parent_app])
async def test_the_status_page_and_apis_refuse_anyone_but_administrators(
    running_gateway: Gateway, build: Callable[[Gateway], web.Application],
) -> None:
    app = build(running_gateway)
    paths = staff_routes(app)
    assert set(STAFF_ONLY) <= set(paths), paths
    async with TestClient(TestServer(app)) as client:
        for path in paths:
            anonymous = await client.get(path)
            assert anonymous.status == 401, path
            assert "error" in await anonymous.json() and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
            expired = await client.get(path, headers=bearer(Role.ADMIN, ttl=timedelta(hours=1), age=timedelta(hours=2)))
            assert expired.status == 401 and "expired" in (await expired.json())["error"], path
            forged = await client.get(path, headers={"Authorization": "Bearer not-a-token"})
            assert forged.status == 401, path
            for roles in ((Role.RESIDENT, Role.COMMITTEE), (Role.PROPERTY_MANAGER,), (Role.MARKET_OPERATOR,),
                          (Role.SUPERVISOR,), (Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR, Role.SUPERVISOR)):
                refused = await client.get(path, headers=bearer(*roles))
                assert refused.status == 403, (path, roles)
                assert "needs the admin role" in (await refused.json())["error"], (path, roles)
            admin = await client.get(path, headers=bearer(Role.ADMIN))
            assert admin.status == 200, path
            assert admin.headers["Cache-Control"] == "no-store", path

        # alone there is no sign-in page: the page says how to send a token
        page = await client.get("/", headers=HTML)
        assert page.status == 401 and page.content_type == "text/plain"
        assert "smartcity token issue" in await page.text() and page.headers["WWW-Authenticate"].startswith("Bearer")
        for role in (Role.RESIDENT, Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR):
            refused_page = await client.get("/", headers={**HTML, **bearer(role)})
            assert refused_page.status == 403 and "administrators only" in await refused_page.text(), role
        admin_page = await client.get("/", headers={**HTML, **bearer(Role.ADMIN)})
        assert admin_page.status == 200 and "门禁事件" in await admin_page.text()

        # load balancers ask without a token (the parent's worker is not running: not ready, but no 401)
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == (200 if build is one_gateway_app else 503)
        # a device without its token: the one gateway refuses it, the parent has no worker to pass it to
        device = await client.post("/ingest/v1/s1/gate/g1/event", data=gate_event("anonymous"))
        assert device.status == (401 if build is one_gateway_app else 503), await device.text()


async def test_metrics_are_left_open_for_a_scraper_only_when_asked(running_gateway: Gateway) -> None:
    async with TestClient(TestServer(create_app(running_gateway, gateway_access(metrics_public=True)))) as client:
        metrics = await client.get("/metrics")
        assert metrics.status == 200 and "sc_gateway_messages_received_total" in await metrics.text()
        for path in STAFF_ONLY[:-1]:
            assert (await client.get(path)).status == 401, path
        assert (await client.get("/")).status == 401


@pytest.fixture
async def accounts(tmp_path: Path) -> AsyncIterator[AccountService]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}")
    await migrate(engine, "accounts")
    service = AccountService(engine)
    await seed_demo_accounts(service, wall_clock())
    yield service
    await engine.dispose()


async def signed_in(client: TestClient[Any, Any], account: str) -> None:
    form = await (await client.get("/signin", headers=HTML)).text()
    csrf = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await client.post("/signin", data={"csrf_token": csrf, "account_id": account,
                                                  "password": DEMO_PASSWORD, "next": "/"}, allow_redirects=False)
    assert response.status == 303, await response.text()


async def test_beside_the_pages_the_status_page_takes_an_administrators_session(
    running_gateway: Gateway, accounts: AccountService,
) -> None:
    app = create_app(running_gateway, gateway_access(sign_in_page=True), status_path="/gateway")
    mount_pages(app, accounts, GATEWAY_AUTHORITY, wall_clock)  # as smartcity run does: one root application
    mount_portal(app, (GATEWAY_LINK,))
    async with TestClient(TestServer(app)) as client:
        anonymous = await client.get("/gateway?x=1", headers=HTML, allow_redirects=False)
        assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/signin?next=/gateway?x")
        assert (await client.get("/api/dead-letters")).status == 401
        for person in ("wang", "pm-zhang", "market-liu"):  # a resident, a property manager, a market operator
            client.session.cookie_jar.clear()
            await signed_in(client, person)
            assert (await client.get("/gateway", headers=HTML)).status == 403, person
            assert (await client.get("/api/dead-letters")).status == 403, person
            assert (await client.get("/metrics")).status == 403, person
            assert 'href="/gateway"' not in await (await client.get("/", headers=HTML)).text(), person
        client.session.cookie_jar.clear()
        await signed_in(client, "admin")
        page = await client.get("/gateway", headers=HTML)
        assert page.status == 200 and "门禁事件" in await page.text()
        assert (await client.get("/api/dead-letters")).status == 200, "the page's links to the APIs work signed in"
        assert (await client.get("/metrics")).status == 200
        assert 'href="/gateway"' in await (await client.get("/", headers=HTML)).text(), "the portal links to it"
        # beside the pages the accounts check tokens: these name accounts that exist
        scripted = await client.get("/gateway", headers=bearer(Role.ADMIN, subject="admin"))
        assert scripted.status == 200, "a token is taken beside the pages too"
        manager = await client.get("/api/status", headers=bearer(Role.PROPERTY_MANAGER, subject="pm-zhang"))
        assert manager.status == 403


# -- finding 8: paging parameters ----------------------------------------------------------------------------------

@pytest.fixture(params=["influxdb", "embedded"])
async def gateway_on_each_store(request: pytest.FixtureRequest, mosquitto: Mosquitto,
                                settings_for: Any) -> AsyncIterator[Gateway]:
    overrides = {"influx_url": None} if request.param == "embedded" else {}
    gateway = build_gateway(settings_for(mosquitto, **overrides))
    await gateway.start()
    await wait_until_subscribed(gateway)
    yield gateway
    await gateway.stop()


REFUSED_PAGING = [
    "before=99999999999999999999", "before=9223372036854775808", "before=123456789012345678901234567890",
    "before=-1", "before=1e9", "before=%201", "before=", "before=１２", "limit=0", "limit=501",
    "limit=99999999999999999999", "limit=-5", "limit=", "limit=2.5",
]


async def test_an_out_of_range_or_malformed_paging_parameter_is_a_400_with_its_reason(
    gateway_on_each_store: Gateway,
) -> None:
    async with staff_client(gateway_on_each_store) as client:
        for query in REFUSED_PAGING:
            for path in ("/api/recent/gate_event", "/api/dead-letters", "/api/dead-letters?reason=schema&x=1"):
                response = await client.get(f"{path}{'&' if '?' in path else '?'}{query}")
                assert response.status == 400, (path, query, await response.text())
                name = query.split("=")[0]
                assert (await response.json())["error"].startswith(f"{name} must be"), (path, query)


async def test_the_widest_paging_values_still_answer(gateway_on_each_store: Gateway, mosquitto: Mosquitto) -> None:
    publish(mosquitto.port, [(GATE, gate_event("p1")), (GATE, b"{not json")])
    await wait_for_count(gateway_on_each_store.store, Measurement.DEAD_LETTER, 1)
    await wait_for_count(gateway_on_each_store.store, Measurement.GATE_EVENT, 1)
    async with staff_client(gateway_on_each_store) as client:
        for path, key in (("/api/recent/gate_event", "points"), ("/api/dead-letters", "dead_letters")):
            for query in ("before=9223372036854775807&limit=500", "before=0&limit=1", "limit=1"):
                response = await client.get(f"{path}?{query}")
                assert response.status == 200, (path, query, await response.text())
                found = (await response.json())[key]
                assert len(found) == (0 if "before=0" in query else 1), (path, query)


# -- finding 10: a card under an escaped key, end to end ---------------------------------------------------------

async def test_a_card_under_an_escaped_credential_key_never_reaches_the_dead_letters_api(
    running_gateway: Gateway, mosquitto: Mosquitto,
) -> None:
    card = "6217001234567890"
    payload = gate_event("x1", door="x", credential=card).replace(b'"credential"', b'"\\u0063redential"')
    publish(mosquitto.port, [(GATE, payload)])
    await wait_for_count(running_gateway.store, Measurement.DEAD_LETTER, 1)
    async with staff_client(running_gateway) as client:
        response = await client.get("/api/dead-letters")
        page = await client.get("/")
        assert response.status == 200 and page.status == 200
        served = await response.text()
        assert card not in served and card not in await page.text()
        [letter] = json.loads(served)["dead_letters"]
        assert letter["reason"] == "schema"
        kept = json.loads(base64.b64decode(letter["payload_b64"]))
        assert kept["credential"].startswith("redacted:") and kept["event_id"] == "x1"
