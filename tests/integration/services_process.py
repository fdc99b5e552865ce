"""`smartcity services` as its own process on a fresh data directory, set up as an installation would be (the
CLI, the API and the pages), and receivers for what it sends out, each in a thread of its own so that a test may
block on the process while they answer: a webhook consumer (aiohttp) and a mailbox (aiosmtpd). Both can *hold*
their answers, so that deliveries are in flight when the test wants them to be (a kill -9 mid-delivery)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from devices.contract import GateEvent, GateEventKind
from devices.topics import Channel as Topic
from devices.topics import DeviceKind, DeviceTopic
from tests.integration.helpers import CSRF, publish
from tests.integration.test_embedded_mode import SMARTCITY
from tests.servers import free_port

COMMUNITY, SITE, ORGANISATION = "lotus", "lotus", "lotus-pm"
GATE = "gate-01"
ADMIN, ADMIN_PASSWORD = "admin", "tall-cedar-river-42"
MANAGER, MANAGER_PASSWORD = "pm-lotus", "quiet-harbour-lamp-7"
MANAGER_EMAIL = "pm-lotus@example.com"
HOOK_HOST = "127.0.0.2"
"""The receivers' loopback address: 127.0.0.1 is the installation's own host (SC_HTTP_HOST), which an endpoint may
never point at; another loopback address is a receiver on this machine, allowed by SC_NOTIFY_ALLOW_PRIVATE_ENDPOINTS."""
HOLD_LIMIT_S = 60.0
REPLAY_WINDOW_S = 300


def verify(secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None) -> bool:
    """docs/integrations.md's recipe, as a receiver would copy it."""
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > REPLAY_WINDOW_S:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected)


# --- the receivers ------------------------------------------------------------------------------------------------

class Answers:
    """Whether a receiver answers at once or holds its answers back (at most :data:`HOLD_LIMIT_S`); set from the
    test's thread, waited on in the receiver's."""

    def __init__(self) -> None:
        self._released = threading.Event()
        self._released.set()

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def wait(self) -> None:
        if not self._released.is_set():
            await asyncio.to_thread(self._released.wait, HOLD_LIMIT_S)

@dataclass(frozen=True)
class HookRequest:
    name: str
    headers: dict[str, str]
    body: bytes
    arrived: float

    @property
    def key(self) -> str:
        return self.headers["Idempotency-Key"]

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class HookReceiver:
    """POST /hook/<name>: a webhook consumer that stores every request as it arrives and keeps its answer back
    while its ``answers`` are held, as a receiver that stored an event but has not yet said so."""

    answers: Answers = field(default_factory=lambda: Answers())
    port: int = 0
    requests: list[HookRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    def url(self, name: str) -> str:
        return f"http://{HOOK_HOST}:{self.port}/hook/{name}"

    def to(self, name: str) -> list[HookRequest]:
        with self._lock:
            return [request for request in self.requests if request.name == name]

    async def _hook(self, request: web.Request) -> web.Response:
        arrived = HookRequest(request.match_info["name"], dict(request.headers), await request.read(), time.time())
        with self._lock:
            self.requests.append(arrived)
        await self.answers.wait()
        return web.Response(status=204)

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/hook/{name}", self._hook)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, HOOK_HOST, 0)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="hook-receiver", daemon=True)
        self._thread.start()
        assert ready.wait(10), "the webhook receiver did not start"

    def stop(self) -> None:
        self.answers.release()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@dataclass
class Mailbox:
    """aiosmtpd's handler: keeps every message as it arrives and, while its ``answers`` are held, answers its DATA
    late."""

    answers: Answers = field(default_factory=lambda: Answers())
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        await self.answers.wait()
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for recipients, message in list(self.messages) if address in recipients]


@dataclass
class MailServer:
    mailbox: Mailbox = field(default_factory=Mailbox)
    controller: Controller | None = None

    @property
    def port(self) -> int:
        assert self.controller is not None
        port: int = self.controller.port
        return port

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=free_port())
        self.controller.start()

    def stop(self) -> None:
        self.mailbox.answers.release()
        if self.controller is not None:
            self.controller.stop()


# --- the installation ---------------------------------------------------------------------------------------------

def services_environment(http_port: int, mqtt_url: str, smtp_port: int | None) -> dict[str, str]:
    """Only these SC_ settings: the test Mosquitto, the aiosmtpd server (plain SMTP), receivers on loopback allowed,
    and a dispatcher that looks often and retries soon (the defaults are for production: 1 s, 10 s)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SC_")} | {
        "SC_HTTP_PORT": str(http_port), "SC_MQTT_URL": mqtt_url, "SC_MQTT_CLIENT_ID": f"services-{http_port}",
        "SC_LOG_LEVEL": "WARNING", "SC_NOTIFY_ALLOW_PRIVATE_ENDPOINTS": "true", "SC_NOTIFY_POLL_S": "0.2",
        "SC_NOTIFY_RETRY_FIRST_S": "1", "SC_NOTIFY_RETRY_MAX_S": "2", "SC_NOTIFY_SEND_TIMEOUT_S": "90",
        # only the alarms a test raises: no held-open alarm after a forced door, no offline one for a quiet gate
        "SC_ACCESS_DOOR_HELD_OPEN_S": "86400", "SC_ACCESS_GATE_OFFLINE_S": "86400",
    }
    if smtp_port is not None:
        environment |= {"SC_NOTIFY_SMTP_HOST": "127.0.0.1", "SC_NOTIFY_SMTP_PORT": str(smtp_port),
                        "SC_NOTIFY_SMTP_STARTTLS": "false", "SC_NOTIFY_MAIL_FROM": "门禁 <notify@example.com>"}
    return environment


@dataclass
class Installation:
    """A data directory and the `smartcity services` process running on it (started again after a kill)."""

    folder: Path
    environment: dict[str, str]
    http_port: int
    process: subprocess.Popen[bytes] | None = None
    admin_token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def errors(self) -> str:
        return (self.folder / "err.log").read_text()

    def cli(self, *arguments: str, stdin: str | None = None) -> str:
        done = subprocess.run([SMARTCITY, *arguments], cwd=self.folder, env=self.environment, input=stdin,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"smartcity {' '.join(arguments[:2])}: {done.stderr}"
        return done.stdout.strip()

    def start(self) -> None:
        # appended to a file: an undrained pipe would stall the process; one log across restarts
        with (self.folder / "err.log").open("ab") as errors:
            self.process = subprocess.Popen([SMARTCITY, "services"], cwd=self.folder, env=self.environment,
                                            stdout=subprocess.DEVNULL, stderr=errors)
        deadline = time.monotonic() + 90
        while True:
            assert self.process.poll() is None, self.errors
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"the services never got ready: {self.errors}"
            time.sleep(0.2)

    def kill(self) -> None:
        """kill -9: no shutdown, nothing flushed or finished."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        returncode, self.process = self.process.returncode, None
        assert returncode == 0, self.errors
        assert "Traceback" not in self.errors, self.errors

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        request = urllib.request.Request(
            self.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token or self.admin_token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as refused:
            raise AssertionError(f"{method} {path}: {refused.code} {refused.read().decode()}") from None

    def set_up(self, hook_urls: dict[str, str], *, email: bool) -> dict[str, str]:
        """Before the start: the first administrator, the property company holding the community and its manager
        (the CLI). After it: the community and its gate (the access API), the company's webhook endpoints (the
        notifications API) and, with ``email``, the manager's address (their settings page). Returns each webhook
        endpoint's secret by its name in ``hook_urls``."""
        self.cli("admin", "create", ADMIN, "--name", "系统管理员", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
        self.cli("org", "create", ORGANISATION, "--name", "荷花物业", "--kind", "property_company")
        self.cli("org", "hold", ORGANISATION, "--community", COMMUNITY)
        self.cli("account", "create", "--id", MANAGER, "--name", "荷花经理", "--role", "property_manager",
                 "--organisation", ORGANISATION, "--community", COMMUNITY, "--password", MANAGER_PASSWORD)
        self.start()
        self.admin_token = self.cli("token", "issue", "--subject", ADMIN, "--role", "admin")
        self.api("POST", "/api/access/communities", {"community_id": COMMUNITY, "site": SITE, "name": "荷花小区"})
        self.api("POST", f"/api/access/communities/{COMMUNITY}/gates", {"gate_id": GATE, "name": "东门", "doors": [
            {"number": door, "name": f"东门{door}号门", "kind": "entrance"} for door in (1, 2, 3)]})
        secrets = {}
        for name, url in hook_urls.items():
            created = self.api("POST", f"/api/notifications/organisations/{ORGANISATION}/endpoints",
                               {"channel": "webhook", "label": f"平台 {name}", "url": url})
            secrets[name] = created["secret"]
        if email:
            self.choose_email(MANAGER_EMAIL)
        return secrets

    def choose_email(self, address: str) -> None:
        """The manager signs in and saves their address, with gate alarms in-app and by e-mail."""
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

        def token_on(path: str) -> str:
            with browser.open(self.url + path, timeout=10) as response:
                found = CSRF.search(response.read().decode())
            assert found is not None, path
            return found.group(1)

        def post(path: str, fields: list[tuple[str, str]]) -> str:
            form = urllib.parse.urlencode(fields).encode()
            with browser.open(urllib.request.Request(self.url + path, data=form, headers={"Accept": "text/html"}),
                              timeout=10) as response:
                return str(response.url)

        post("/signin", [("csrf_token", token_on("/signin")), ("account_id", MANAGER),
                         ("password", MANAGER_PASSWORD)])
        landed = post("/notifications/settings", [
            ("csrf_token", token_on("/notifications/settings")), ("settings_form", "1"), ("email", address),
            ("channel", "gate_alarm:in_app"), ("channel", "gate_alarm:email")])
        assert landed.endswith("/notifications/settings?saved=1"), landed

    def wait_until_gate_online(self, mqtt_port: int) -> None:
        """The simulated gate announces itself (its retained state): once the services show it online, their MQTT
        session is subscribed and hears what the gate publishes next."""
        online = DeviceTopic(SITE, DeviceKind.GATE, GATE, Topic.STATE)
        publish(mqtt_port, [(str(online), json.dumps({"online": True}))], retain=True)
        deadline = time.monotonic() + 30
        while not self.api("GET", f"/api/access/gates/{GATE}")["online"]:
            assert time.monotonic() < deadline, f"the gate never showed online: {self.errors}"
            time.sleep(0.2)


def gate_publishes(mqtt_port: int, events: list[tuple[GateEventKind, int]]) -> None:
    """The simulated gate publishes contract gate events (``kind``, ``door``) on its event topic, QoS 1."""
    topic = str(DeviceTopic(SITE, DeviceKind.GATE, GATE, Topic.EVENT))
    now = datetime.now(UTC)
    publish(mqtt_port, [
        (topic, GateEvent(event_id=f"{kind.value}-{door}-{time.time_ns()}", ts=now, door=door, kind=kind)
         .model_dump_json(exclude_none=True)) for kind, door in events])


def wait_until(condition: Any, timeout: float, what: str, installation: Installation | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if installation is not None and installation.process is not None:
            assert installation.process.poll() is None, installation.errors
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)
