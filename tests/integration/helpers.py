"""Helpers shared by the integration tests: publishing, waiting on conditions, the gateway's clients with a token."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import paho.mqtt.client as paho
from aiohttp.test_utils import TestClient, TestServer
from paho.mqtt.enums import CallbackAPIVersion

from gateway.outputs import PointQuery, TimeSeriesStore
from gateway.service import Gateway
from gateway.staff_access import SignatureAlone, StaffAccess
from gateway.web import create_app
from webkit.identity import Role, TokenAuthority

GATEWAY_AUTHORITY = TokenAuthority(b"gateway-test-token-signing-key-1")
"""What the tests' gateway applications check tokens with (:func:`bearer` issues them)."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


def gateway_access(**options: bool) -> StaffAccess:
    """As the composition root builds it: beside the pages the accounts check tokens, alone the signature does."""
    checker = None if options.get("sign_in_page") else SignatureAlone()
    return StaffAccess(GATEWAY_AUTHORITY, wall_clock, checker=checker, **options)


def bearer(*roles: Role, ttl: timedelta = timedelta(hours=1), age: timedelta = timedelta(0),
           subject: str = "tester") -> dict[str, str]:
    """An Authorization header with a token of ``roles`` for ``subject`` from :data:`GATEWAY_AUTHORITY`, issued
    ``age`` ago."""
    token = GATEWAY_AUTHORITY.issue(subject, roles, wall_clock() - age, ttl)
    return {"Authorization": f"Bearer {token}"}


def staff_client(gateway: Gateway, **options: bool) -> TestClient[Any, Any]:
    """A client of the gateway's pages and APIs that sends an administrator's token with every request (the
    gateway spans every community and market: it answers administrators only)."""
    return TestClient(TestServer(create_app(gateway, gateway_access(**options))), headers=bearer(Role.ADMIN))


def publish(port: int, messages: list[tuple[str, bytes | str]], qos: int = 1, retain: bool = False,
            login: tuple[str, str] | None = None) -> None:
    """Publish and wait until the broker acknowledged every message; ``login``: (username, password), a device's
    user connecting beside the device itself (``<device>:<suffix>``, the client id such a user may take)."""
    client_id = f"{login[0]}:pub-{time.monotonic_ns()}" if login else f"test-pub-{time.monotonic_ns()}"
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if login is not None:
        client.username_pw_set(*login)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos, retain=retain) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def gate_event(event_id: str, ts: int | str = 1_795_000_000_000, **extra: Any) -> bytes:
    body = {"event_id": event_id, "ts": ts, "door": 1, "kind": "granted", "method": "card", **extra}
    return json.dumps(body).encode()


def scale_record(record_id: str, ts: int | str = 1_795_000_000_000, **extra: Any) -> bytes:
    body = {
        "record_id": record_id,
        "ts": ts,
        "stall": "A01",
        "plu": "1001",
        "product": "西红柿",
        "net_g": 1250,
        "unit_price_fen": 680,
        "amount_fen": 850,
        "trace_code": f"T-{record_id}",
        **extra,
    }
    return json.dumps(body, ensure_ascii=False).encode()


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def wait_for_count(
    store: TimeSeriesStore, measurement: str, expected: int, timeout: float = 20.0
) -> None:
    last = -1

    async def reached() -> bool:
        nonlocal last
        last = await store.count(PointQuery(measurement))
        return last >= expected

    try:
        await wait_for(reached, timeout, f"{expected} {measurement} points")
    except AssertionError:
        raise AssertionError(f"{measurement}: {last} points stored, expected {expected}") from None


def assert_openapi_describes_the_routes(document: dict[str, Any], app: Any) -> None:
    """The OpenAPI document names exactly the routes ``app`` serves (but itself), and every schema
    it refers to is in it."""
    assert document["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, operations in document["paths"].items() for method in operations}
    served = {(path, method) for path, method in served_routes(app) if method != "HEAD" and path != "/openapi.json"}
    assert documented == served
    schemas = document["components"]["schemas"]
    for reference in _references(document):
        assert reference.removeprefix("#/components/schemas/") in schemas, reference


def served_routes(app: Any) -> list[tuple[str, str]]:
    """(path, method) of every route ``app`` serves, its sub-applications' included (their paths carry the prefix)."""
    served = []
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            served += served_routes(info["app"])
        else:
            served += [(resource.canonical, route.method) for route in resource]
    return served


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class PageSession:
    """A person's browser on the pages, through aiohttp's test client: signs in, reads pages, posts forms.
    Subclasses say where a signed-in person finds a form (for the CSRF token) and the test password."""

    client: TestClient[Any, Any]
    landing: ClassVar[str] = "/"
    password: ClassVar[str] = ""
    follow_redirects: ClassVar[bool] = True

    async def sign_in(self, account: str) -> str:
        """Sign in (a fresh browser) and return the session's CSRF token."""
        self.client.session.cookie_jar.clear()
        form = await self.client.get("/signin", headers=HTML)
        token = CSRF.search(await form.text())
        assert token is not None
        signed_in = await self.client.post("/signin", allow_redirects=False, data={
            "csrf_token": token.group(1), "account_id": account, "password": self.password})
        assert signed_in.status == 303, await signed_in.text()
        page = CSRF.search(await self.page(self.landing))
        assert page is not None
        return page.group(1)

    async def page(self, path: str, status: int = 200) -> str:
        response = await self.client.get(path, headers=HTML, allow_redirects=self.follow_redirects)
        body = await response.text()
        assert response.status == status, body
        assert response.content_type == "text/html" and "Traceback" not in body
        return body

    async def post(self, path: str, data: Mapping[str, Any] | list[tuple[str, str]], token: str | None) -> Any:
        """Submit a form (with the CSRF token, unless ``token`` is None); redirects are not followed."""
        fields = list(data.items()) if isinstance(data, Mapping) else list(data)
        if token is not None:
            fields.insert(0, ("csrf_token", token))
        return await self.client.post(path, data=fields, headers=HTML, allow_redirects=False)


def token_once_started(smartcity: str, cwd: Path, environment: dict[str, str], http_port: int,
                       process: subprocess.Popen[bytes], subject: str, role: Role) -> str:
    """A bearer token for ``subject`` — an account the demo seeds, or one made before — once the ``smartcity run
    --demo`` (or ``services``) in ``cwd`` serves HTTP: by then it has written its signing key (var/auth-token.key)
    and seeded the demo's accounts, and a token is issued only for an existing account."""
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"smartcity run exited with {process.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=2):
                break
        except urllib.error.HTTPError:
            break  # it answers: 503 until the broker and store are up
        except OSError:
            assert time.monotonic() < deadline, "smartcity run serves no HTTP"
            time.sleep(0.2)
    issued = subprocess.run([smartcity, "token", "issue", "--subject", subject, "--role", role.value], cwd=cwd,
                            env=environment, capture_output=True, text=True, check=True)
    return issued.stdout.strip()
