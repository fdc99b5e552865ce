"""Notifications end to end against real receivers started here on free loopback ports: an SMTP server (aiosmtpd)
and aiohttp receivers shaped as a webhook consumer, a WeCom robot and a DingTalk robot. Gate events enter the
access service as the broker's feed hands them over; its alarms are written to the outbox in their transaction and
the dispatcher delivers them."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.organisations import OrganisationKind
from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.tenancy import TenancyService
from community.access.service import AccessService
from devices.contract import AccessMethod, DenialReason, GateEvent, GateEventKind
from devices.topics import Channel as Topic
from devices.topics import DeviceKind, DeviceTopic
from messaging.downlink import RecordingDownlink
from notifications import outbox
from notifications.backoff import RetryPolicy
from notifications.channels import DeliveryFailed, Outgoing, Sender
from notifications.channels.address_guard import EndpointGuard
from notifications.channels.in_app import InAppSender
from notifications.channels.mail import MailSender, SmtpSettings
from notifications.channels.robots import DingTalkSender, WeComSender
from notifications.channels.webhook import HttpPoster, WebhookSender
from notifications.dispatcher import Dispatcher, DispatchSettings
from notifications.endpoint_pages import mount_endpoint_pages
from notifications.events import Channel, NotificationEvent, NotificationKind
from notifications.outbox import Outbox
from notifications.pages import mount_notification_pages
from notifications.preferences import Preferences
from notifications.recipients import TenancyRecipients
from notifications.service import NotificationService
from notifications.signing import dingtalk_sign, webhook_signature_valid
from notifications.storage import DeliveryState, deliveries
from notifications.web import mount as mount_notifications_api
from tests.integration.helpers import PageSession
from tests.integration.test_access_service import KEYS, LOTUS, SETTINGS, SITE
from tests.servers import free_port
from webkit.identity import EVERYTHING, Principal, Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

ADMIN = Principal("admin", frozenset({Role.ADMIN}), datetime(2099, 1, 1, tzinfo=UTC), "t", EVERYTHING)
WEBHOOK_SECRET = "webhook-secret-0123456789"
DINGTALK_SECRET = "SECdingtalk0123456789"
ROBOT_KEY = "wecom-key-1"


# --- the receivers ------------------------------------------------------------------------------------------------

@dataclass
class Mailbox:
    messages: list[Any] = field(default_factory=list)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list[Any]:
        return [message for rcpts, message in self.messages if address in rcpts]


@dataclass
class Receivers:
    """One aiohttp server: /hook/<name> (webhook consumers), /cgi-bin/webhook/send (WeCom), /robot/send
    (DingTalk). ``down``: the webhook consumers answer 503."""

    url: str = ""
    hooks: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)
    wecom: list[dict[str, Any]] = field(default_factory=list)
    dingtalk: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    down: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """Whose time ``refused_at`` is on (the dispatcher's, when it runs on another)."""
    refused_at: list[datetime] = field(default_factory=list)

    async def hook(self, request: web.Request) -> web.Response:
        if self.down:
            self.refused += 1
            self.refused_at.append(self.clock())
            return web.Response(status=503)
        self.hooks.setdefault(request.match_info["name"], []).append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    async def wecom_send(self, request: web.Request) -> web.Response:
        if request.query.get("key") != ROBOT_KEY:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        self.wecom.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def dingtalk_send(self, request: web.Request) -> web.Response:
        timestamp = int(request.query["timestamp"])
        # the query arrives decoded; DingTalk compares the decoded value with Base64(HMAC)
        expected = dingtalk_sign(DINGTALK_SECRET, timestamp)
        if request.query.get("sign") != unquote_plus(expected):
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        self.dingtalk.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    found = Receivers()
    app = web.Application()
    app.router.add_post("/hook/{name}", found.hook)
    app.router.add_post("/cgi-bin/webhook/send", found.wecom_send)
    app.router.add_post("/robot/send", found.dingtalk_send)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    found.url = f"http://127.0.0.1:{port}"
    yield found
    await runner.cleanup()


@pytest.fixture
def mailbox() -> Any:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


# --- the installation ---------------------------------------------------------------------------------------------

@dataclass
class Rig:
    engine: AsyncEngine
    access: AccessService
    notifications: NotificationService
    senders: dict[Channel, Sender]
    poster: HttpPoster
    receivers: Receivers
    mailbox: Mailbox
    running: list[tuple[asyncio.Task[None], asyncio.Event, Dispatcher]] = field(default_factory=list)
    events: int = 0

    def start(self, senders: dict[Channel, Sender] | None = None, clock: Callable[[], datetime] | None = None,
              **overrides: Any) -> Dispatcher:
        settings = DispatchSettings(**{"retry": RetryPolicy(timedelta(milliseconds=200), 2, timedelta(seconds=1),
                                                            timedelta(minutes=5)),
                                       "poll_s": 0.05, "stop_wait_s": 0.2, **overrides})
        dispatcher = Dispatcher(self.engine, TenancyRecipients(), senders or self.senders,
                                clock or (lambda: datetime.now(UTC)), settings)
        stopping = asyncio.Event()
        self.running.append((asyncio.create_task(dispatcher.run(stopping)), stopping, dispatcher))
        return dispatcher

    async def kill(self) -> None:
        """Stop the running dispatcher as a kill would: in-flight deliveries cut off, not let finish."""
        task, _stopping, _dispatcher = self.running.pop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def gate_event(self, kind: GateEventKind, door: int = 1, gate: str = "gate-01", count: int = 1) -> None:
        now = datetime.now(UTC)
        messages = []
        for _ in range(count):
            self.events += 1
            messages.append((DeviceTopic(SITE, DeviceKind.GATE, gate, Topic.EVENT),
                             GateEvent(event_id=f"n{self.events}", ts=now, door=door, kind=kind,
                                       **({"method": AccessMethod.CARD, "credential": "0000000009",
                                           "reason": DenialReason.UNKNOWN_CREDENTIAL}
                                          if kind is GateEventKind.DENIED else {}))))
        await self.access.handle(messages)


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        outcome = check()
        if isinstance(outcome, Awaitable):
            outcome = await outcome
        if outcome:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(0.05)


@pytest.fixture
async def rig(engine: AsyncEngine, receivers: Receivers, mailbox: Any) -> AsyncIterator[Rig]:
    """On SQLite and on PostgreSQL (the ``engine`` fixture: every context's schema migrated)."""
    box, smtp_port = mailbox
    now = datetime.now(UTC)
    tenancy = TenancyService(engine)
    await tenancy.create_organisation("lotus-pm", "荷花物业", OrganisationKind.PROPERTY_COMPANY, now)
    await tenancy.hold("lotus-pm", Scope.of(["lotus"]))
    await tenancy.create_organisation("plum-pm", "梅花物业", OrganisationKind.PROPERTY_COMPANY, now)
    await tenancy.hold("plum-pm", Scope.of(["plum"]))
    await tenancy.create_account("pm-lotus", "荷花经理", {Role.PROPERTY_MANAGER}, "a-long-password-1", now,
                                 organisation_id="lotus-pm", scope=Scope.of(["lotus"]))
    await tenancy.create_account("pm-plum", "梅花经理", {Role.PROPERTY_MANAGER}, "a-long-password-2", now,
                                 organisation_id="plum-pm", scope=Scope.of(["plum"]))
    service = NotificationService(engine, lambda: datetime.now(UTC), allow_private_endpoints=True,
                                  configured=frozenset(Channel))
    await service.save_preferences("pm-lotus", Preferences(email="lotus@example.com"))
    await service.save_preferences("pm-plum", Preferences(email="plum@example.com"))
    await service.add_endpoint(ADMIN, "lotus-pm", Channel.WEBHOOK, "智慧家园平台", f"{receivers.url}/hook/lotus",
                               WEBHOOK_SECRET, [])
    await service.add_endpoint(ADMIN, "lotus-pm", Channel.WECOM, "值班群", f"{receivers.url}/cgi-bin/webhook/send"
                               f"?key={ROBOT_KEY}", None, [])
    await service.add_endpoint(ADMIN, "lotus-pm", Channel.DINGTALK, "钉钉群", f"{receivers.url}/robot/send"
                               "?access_token=tok", DINGTALK_SECRET, [])
    await service.add_endpoint(ADMIN, "plum-pm", Channel.WEBHOOK, "梅花平台", f"{receivers.url}/hook/plum",
                               WEBHOOK_SECRET, [])
    access = AccessService(engine, RecordingDownlink(), lambda: datetime.now(UTC), KEYS, SETTINGS, outbox=Outbox())
    await access.import_community(LOTUS)
    poster = HttpPoster(2.0)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    senders: dict[Channel, Sender] = {
        Channel.IN_APP: InAppSender(engine, clock), Channel.WEBHOOK: WebhookSender(poster, clock),
        Channel.WECOM: WeComSender(poster), Channel.DINGTALK: DingTalkSender(poster, clock),
        Channel.EMAIL: MailSender(SmtpSettings("127.0.0.1", smtp_port, starttls=False,
                                               sender="门禁 <notify@example.com>")),
    }
    made = Rig(engine, access, service, senders, poster, receivers, box)
    try:
        yield made
    finally:
        for task, stopping, _ in made.running:
            stopping.set()
            await asyncio.gather(task, return_exceptions=True)
        await poster.close()


def _lotus_hooks(rig: Rig) -> list[tuple[dict[str, str], bytes]]:
    return rig.receivers.hooks.get("lotus", [])


# --- the behaviour ------------------------------------------------------------------------------------------------

async def test_a_forced_door_reaches_the_managers_mailbox_webhook_and_robots_signed(rig: Rig) -> None:
    rig.start()
    await rig.gate_event(GateEventKind.FORCED, door=1)
    await eventually(lambda: bool(rig.mailbox.to("lotus@example.com")) and bool(_lotus_hooks(rig))
                     and bool(rig.receivers.wecom) and bool(rig.receivers.dingtalk))
    await eventually(lambda: rig.notifications.unread_count("pm-lotus"))

    (mail,) = rig.mailbox.to("lotus@example.com")
    assert "强行开门" in str(mail["Subject"]) and "荷花小区" in mail.get_content()
    assert mail["Message-ID"].startswith("<") and mail["X-Smartcity-Idempotency-Key"] in mail["Message-ID"]

    ((headers, body),) = _lotus_hooks(rig)
    assert webhook_signature_valid(WEBHOOK_SECRET, headers["X-Smartcity-Timestamp"],
                                   headers["X-Smartcity-Signature"], body, int(datetime.now(UTC).timestamp()))
    document = json.loads(body)
    assert document["schema"] == "smartcity.event/1" and document["kind"] == "gate_alarm"
    assert document["severity"] == "critical" and document["community_id"] == "lotus"
    assert document["data"]["alarm"] == "forced_door" and headers["Idempotency-Key"]

    wecom = rig.receivers.wecom[0]
    assert wecom["msgtype"] == "markdown" and "强行开门" in wecom["markdown"]["content"]
    assert rig.receivers.dingtalk[0]["msgtype"] == "markdown" and rig.receivers.dingtalk[0]["markdown"]["title"]

    (item,) = await rig.notifications.notifications("pm-lotus")
    assert "强行开门" in item.title and item.read_at is None

    await asyncio.sleep(0.5)  # the other community's manager and organisation get nothing, even given time
    assert rig.mailbox.to("plum@example.com") == [] and "plum" not in rig.receivers.hooks
    assert await rig.notifications.notifications("pm-plum") == []


async def test_a_receiver_down_for_a_while_gets_every_event_afterwards_in_order(rig: Rig) -> None:
    rig.receivers.down = True
    rig.start()
    raised = [(GateEventKind.FORCED, 1), (GateEventKind.FORCED, 2), (GateEventKind.TAMPER, 1),
              (GateEventKind.TAMPER, 2), (GateEventKind.HELD_OPEN, 1)]
    for kind, door in raised:
        await rig.gate_event(kind, door=door)
    # the mailbox is not held back by the webhook's receiver being down
    await eventually(lambda: len(rig.mailbox.to("lotus@example.com")) == 5)
    await eventually(lambda: rig.receivers.refused >= 3)
    assert _lotus_hooks(rig) == []
    rig.receivers.down = False
    await eventually(lambda: len(_lotus_hooks(rig)) == 5, timeout=20)
    ids = [json.loads(body)["event_id"] for _headers, body in _lotus_hooks(rig)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    alarms = [json.loads(body)["data"]["alarm"] for _headers, body in _lotus_hooks(rig)]
    assert alarms == ["forced_door", "forced_door", "tamper", "tamper", "door_held_open"]


class FastClock:
    """The dispatcher's clock, running ``speed`` times as fast as the event loop's: minutes of retries and back-off
    in seconds of the test, every wait measured on it as the dispatcher measures it."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.start = datetime.now(UTC)
        self._t0 = asyncio.get_running_loop().time()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(asyncio.get_running_loop().time() - self._t0) * self.speed)

    @property
    def elapsed(self) -> timedelta:
        return self() - self.start


async def test_a_receiver_down_for_two_minutes_gets_every_event_afterwards_in_order(rig: Rig) -> None:
    clock = FastClock(speed=30)
    outage = timedelta(minutes=2)
    rig.receivers.down, rig.receivers.clock = True, clock
    # back-off as configured for production, scaled down: retries after 5 s, doubling up to 20 s, for an hour
    rig.start(clock=clock, retry=RetryPolicy(timedelta(seconds=5), 2, timedelta(seconds=20), timedelta(hours=1)))
    raised = [(GateEventKind.FORCED, 1), (GateEventKind.TAMPER, 1), (GateEventKind.FORCED, 2),
              (GateEventKind.HELD_OPEN, 1), (GateEventKind.TAMPER, 2)]
    for kind, door in raised:
        await rig.gate_event(kind, door=door)
        await asyncio.sleep(0.3)  # spread over the outage: ~9 s of the dispatcher's time apart
    await eventually(lambda: len(rig.mailbox.to("lotus@example.com")) == 5)
    assert clock.elapsed < outage, "the mailbox's lane was not held back by the webhook's"
    await eventually(lambda: clock.elapsed >= outage, timeout=30)
    refused_during_outage = rig.receivers.refused
    rig.receivers.down = False
    await eventually(lambda: len(_lotus_hooks(rig)) == 5, timeout=20)
    assert refused_during_outage >= 5, "retried with back-off all along"
    assert refused_during_outage <= 5 * 12, "back-off, not a busy loop (at most one try per 5 s per lane)"
    last_try = max(rig.receivers.refused_at) - clock.start
    assert last_try >= outage - timedelta(seconds=25), "still trying at the end of the outage (retries ≤ 20 s apart)"
    alarms = [json.loads(body)["data"]["alarm"] for _headers, body in _lotus_hooks(rig)]
    assert alarms == ["forced_door", "tamper", "forced_door", "door_held_open", "tamper"], "in order"
    ids = [json.loads(body)["event_id"] for _headers, body in _lotus_hooks(rig)]
    assert ids == sorted(ids) and len({h["Idempotency-Key"] for h, _ in _lotus_hooks(rig)}) == 5
    dispatcher = rig.running[-1][2]
    assert dispatcher.metrics.value("sc_notify_deliveries_total", channel="webhook", outcome="retry") >= 5
    # counted once marked sent, a moment after the receiver took it (the last one may still be being marked)
    await eventually(lambda: dispatcher.metrics.value("sc_notify_deliveries_total", channel="webhook",
                                                      outcome="sent") == 5)
    await asyncio.sleep(0.2)
    assert dispatcher.metrics.value("sc_notify_deliveries_total", channel="webhook", outcome="sent") == 5
    assert dispatcher.metrics.value("sc_notify_deliveries_total", channel="email", outcome="sent") == 5


async def test_the_metrics_show_the_outbox_depth_and_the_oldest_undelivered_age(rig: Rig) -> None:
    rig.receivers.down = True
    await rig.gate_event(GateEventKind.FORCED, door=1)
    dispatcher = rig.start()
    await dispatcher.measure()
    await eventually(lambda: rig.receivers.refused >= 1)
    await asyncio.sleep(1.1)
    await dispatcher.measure()
    metrics = dispatcher.metrics
    assert metrics.value("sc_notify_outbox_depth") == 0, "expanded"
    assert metrics.value("sc_notify_deliveries_pending") >= 1
    assert metrics.value("sc_notify_oldest_undelivered_seconds") >= 1
    rig.receivers.down = False
    await eventually(lambda: _all_sent(rig))
    await dispatcher.measure()
    assert metrics.value("sc_notify_oldest_undelivered_seconds") == 0
    assert metrics.value("sc_notify_deliveries_pending") == 0


def _outgoing(address: str, secret: str = WEBHOOK_SECRET) -> Outgoing:
    event = NotificationEvent(NotificationKind.GATE_ALARM, "荷花小区·东门：强行开门", "测试", datetime.now(UTC),
                              community_id="lotus")
    return Outgoing("0" * 40, 1, event, address=address, secret=secret)


async def test_a_webhook_host_resolving_to_a_private_address_is_refused_when_it_connects(
        receivers: Receivers) -> None:
    port = receivers.url.rsplit(":", 1)[1]
    clock = lambda: datetime.now(UTC)  # noqa: E731
    strict = HttpPoster(2.0, EndpointGuard(allow_private=False, own_hosts=frozenset({"sc.example.com"})))
    allowing = HttpPoster(2.0, EndpointGuard(allow_private=True, own_hosts=frozenset({"localhost"})))
    try:
        # a name (as registered, nothing to see) that resolves to 127.0.0.1 when the delivery connects
        with pytest.raises(DeliveryFailed) as by_name:
            await WebhookSender(strict, clock).send(_outgoing(f"http://localhost:{port}/hook/x"))
        assert by_name.value.permanent and "resolves to a loopback" in str(by_name.value)
        with pytest.raises(DeliveryFailed) as literal:  # registered while private addresses were allowed
            await WebhookSender(strict, clock).send(_outgoing(f"http://127.0.0.1:{port}/hook/x"))
        assert literal.value.permanent and "loopback" in str(literal.value)
        with pytest.raises(DeliveryFailed) as itself:
            await WebhookSender(strict, clock).send(_outgoing(f"https://SC.example.com:{port}/hook/x"))
        assert "the installation's own address" in str(itself.value)
        with pytest.raises(DeliveryFailed) as own:  # allowed private addresses, never the installation itself
            await WebhookSender(allowing, clock).send(_outgoing(f"http://localhost:{port}/hook/x"))
        assert "the installation's own address" in str(own.value)
        assert receivers.hooks == {}, "nothing was sent"
        await WebhookSender(allowing, clock).send(_outgoing(f"http://127.0.0.1:{port}/hook/x"))
        assert len(receivers.hooks["x"]) == 1, "allowed by SC_NOTIFY_ALLOW_PRIVATE_ENDPOINTS"
    finally:
        await strict.close()
        await allowing.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return cert, key


async def test_mail_goes_over_starttls_with_authentication_and_a_checked_certificate(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (Debian's openssl package)")
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        logins.append((data.login, data.password))
        return AuthResult(success=data.login == b"notify" and data.password == b"s3cret")

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), tls_context=server_tls,
                            require_starttls=True, authenticator=authenticator, auth_require_tls=True)
    controller.start()
    try:
        settings = SmtpSettings("127.0.0.1", controller.port, starttls=True, username="notify", password="s3cret",
                                ca_file=str(cert), timeout_s=5)
        await MailSender(settings).send(_outgoing("lotus@example.com"))
        (mail,) = box.to("lotus@example.com")
        assert "强行开门" in str(mail["Subject"]) and logins == [(b"notify", b"s3cret")]
        with pytest.raises(DeliveryFailed, match="SMTP"):  # a certificate the system's CAs do not vouch for
            await MailSender(replace(settings, ca_file=None)).send(_outgoing("lotus@example.com"))
        with pytest.raises(DeliveryFailed, match="SMTP"):  # refused authentication
            await MailSender(replace(settings, password="wrong")).send(_outgoing("lotus@example.com"))
        with pytest.raises(DeliveryFailed, match="SMTP"):  # a server that requires STARTTLS, a client without
            await MailSender(replace(settings, starttls=False)).send(_outgoing("lotus@example.com"))
        assert len(box.messages) == 1
    finally:
        controller.stop()


class StopsAfterSending:
    """A channel that delivers, then hangs before the dispatcher can mark the delivery sent (a process killed
    between the two)."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner
        self.sent = asyncio.Event()

    async def send(self, outgoing: Outgoing) -> None:
        await self.inner.send(outgoing)
        self.sent.set()
        await asyncio.Event().wait()


async def test_a_dispatcher_killed_between_send_and_mark_gives_each_event_once_per_recipient(rig: Rig) -> None:
    hanging = {channel: StopsAfterSending(sender) for channel, sender in rig.senders.items()}
    rig.start(dict(hanging))
    for door in (1, 2):
        await rig.gate_event(GateEventKind.FORCED, door=door)
    await rig.gate_event(GateEventKind.TAMPER, door=1)
    await eventually(lambda: all(sender.sent.is_set() for sender in hanging.values()))
    await rig.kill()
    rig.start()
    await eventually(lambda: len({h["Idempotency-Key"] for h, _ in _lotus_hooks(rig)}) == 3
                     and len({m["Message-ID"] for m in rig.mailbox.to("lotus@example.com")}) == 3, timeout=20)
    await eventually(lambda: _all_sent(rig))

    keys = [h["Idempotency-Key"] for h, _ in _lotus_hooks(rig)]
    assert len(keys) == 4 and len(set(keys)) == 3, "the first was sent again after the kill, with the same key"
    message_ids = [m["Message-ID"] for m in rig.mailbox.to("lotus@example.com")]
    assert len(message_ids) == 4 and len(set(message_ids)) == 3
    assert len(await rig.notifications.notifications("pm-lotus")) == 3, "the centre keeps one per key"
    async with rig.engine.connect() as connection:
        rows = (await connection.execute(select(deliveries.c.channel, func.count()).group_by(
            deliveries.c.channel))).all()
    assert dict(rows) == {"in_app": 3, "email": 3, "webhook": 3, "wecom": 3, "dingtalk": 3}


async def _all_sent(rig: Rig) -> bool:
    async with rig.engine.connect() as connection:
        return not (await connection.execute(select(deliveries.c.delivery_id).where(
            deliveries.c.state != "sent"))).first()


async def test_a_thousand_denials_and_alarms_in_a_minute_give_a_bounded_number_of_messages(rig: Rig) -> None:
    rig.start(coalesce_window=timedelta(seconds=3))
    await rig.gate_event(GateEventKind.DENIED, door=1, count=1000)
    await rig.gate_event(GateEventKind.FORCED, door=2, count=1000)
    # the same storm reaching the outbox as 1,000 events of one key (as a source that raises each would)
    now = datetime.now(UTC)
    async with rig.engine.begin() as connection:
        for number in range(1000):
            await outbox.add(connection, NotificationEvent(
                NotificationKind.GATE_ALARM, "荷花小区·东门：多次刷卡被拒", f"第 {number} 次", now,
                community_id="lotus", dedupe_key="storm:gate-01:1"))
    await eventually(lambda: any("合并通知" in str(m["Subject"]) for m in rig.mailbox.to("lotus@example.com")),
                     timeout=20)
    # a storm spanning two windows has its second summary made when that window closes, after the rest was sent
    await eventually(lambda: sum(event["count"] for event in _storm(rig)) >= 1000, timeout=20)
    await eventually(lambda: _all_sent(rig))
    mails = rig.mailbox.to("lotus@example.com")
    # a denial alarm, a forced door (the alarm rules fold their repeats), and the storm: its first event and one
    # summary per window it spans (one or two windows, however slow this machine expands a thousand events)
    assert len(mails) <= 6, [str(m["Subject"]) for m in mails]
    assert any("合并通知：又发生" in str(m["Subject"]) for m in mails)
    storm = _storm(rig)
    assert 2 <= len(storm) <= 4 and sum(event["count"] for event in storm) == 1000, "each event counted once"
    assert len(_lotus_hooks(rig)) == len(mails)


def _storm(rig: Rig) -> list[dict[str, Any]]:
    return [json.loads(body) for _h, body in _lotus_hooks(rig) if "第 " in json.loads(body)["text"]]


# --- the pages ----------------------------------------------------------------------------------------------------

class Browser(PageSession):
    landing = "/notifications"
    password = "a-long-password-1"


@pytest.fixture
async def browser(rig: Rig) -> AsyncIterator[Browser]:
    app = web.Application()
    mount_pages(app, AccountService(rig.engine), TokenAuthority(b"p" * 32), lambda: datetime.now(UTC))
    mount_notification_pages(app, rig.notifications)
    async with TestClient(TestServer(app)) as client:
        yield Browser(client)


async def test_the_centre_shows_the_unread_count_in_the_header_and_marks_read(rig: Rig, browser: Browser) -> None:
    rig.start()
    for door in (1, 2):
        await rig.gate_event(GateEventKind.FORCED, door=door)
    await eventually(lambda: _unread_is(rig, "pm-lotus", 2))
    token = await browser.sign_in("pm-lotus")
    centre = await browser.page("/notifications")
    assert 'class="badge">2<' in centre and centre.count('class="link-button">标为已读') == 2 and "强行开门" in centre
    (first,) = await rig.notifications.notifications("pm-lotus", limit=1, offset=1)
    read = await browser.post(f"/notifications/{first.notification_id}/read", {}, token)
    assert read.status == 303 and await rig.notifications.unread_count("pm-lotus") == 1
    refused = await browser.post("/notifications/read-all", {}, token)
    assert refused.status == 400
    done = await browser.post("/notifications/read-all", {"through": "999999"}, token)
    assert done.status == 303 and await rig.notifications.unread_count("pm-lotus") == 0
    assert 'class="badge"' not in await browser.page("/notifications")
    # another's notification is not found, as an unknown one
    browser.password = "a-long-password-2"
    other = await browser.sign_in("pm-plum")
    assert (await browser.post(f"/notifications/{first.notification_id}/read", {}, other)).status == 404


async def _unread_is(rig: Rig, account: str, count: int) -> bool:
    return await rig.notifications.unread_count(account) == count


async def test_settings_save_contact_quiet_hours_and_channels_and_refuse_bad_input(rig: Rig,
                                                                                   browser: Browser) -> None:
    token = await browser.sign_in("pm-lotus")
    form = await browser.page("/notifications/settings")
    assert "lotus@example.com" in form and "免打扰" in form
    bad = await browser.post("/notifications/settings", [("settings_form", "1"), ("email", "not-an-address"),
                                                         ("phone", "123"), ("quiet_start", "22:00")], token)
    text = await bad.text()
    assert bad.status == 422 and "有效的电子邮件地址" in text and "11 位手机号码" in text and "HH:MM" in text
    assert 'value="not-an-address"' in text  # the form keeps what was typed
    saved = await browser.post("/notifications/settings", [
        ("settings_form", "1"), ("email", "new@example.com"), ("phone", "13800138000"), ("quiet_start", "22:00"),
        ("quiet_end", "07:00"), ("channel", "gate_alarm:in_app"), ("channel", "gate_alarm:sms")], token)
    assert saved.status == 303
    preferences = await rig.notifications.preferences("pm-lotus")
    assert (preferences.email, preferences.phone) == ("new@example.com", "13800138000")
    assert preferences.quiet_hours is not None and preferences.quiet_hours.end.hour == 7
    assert preferences.chosen(NotificationKind.GATE_ALARM) == {Channel.IN_APP, Channel.SMS}
    assert preferences.chosen(NotificationKind.GATE_OFFLINE) == frozenset()
    assert (await browser.post("/notifications/settings", {}, token)).status == 400


async def test_the_delivery_log_shows_failures_in_scope_and_retries_them(rig: Rig, browser: Browser) -> None:
    rig.receivers.down = True
    rig.start(retry=RetryPolicy(timedelta(milliseconds=100), 2, timedelta(milliseconds=200),
                                timedelta(milliseconds=600)))
    await rig.gate_event(GateEventKind.FORCED, door=1)
    await eventually(lambda: _failed_count(rig, 1))
    token = await browser.sign_in("pm-lotus")
    log = await browser.page("/notifications/deliveries?state=failed")
    assert "HTTP 503" in log and "重试" in log and "endpoint:" in log
    (failed,) = await rig.notifications.deliveries(ADMIN, DeliveryState.FAILED)
    rig.receivers.down = False
    retried = await browser.post(f"/notifications/deliveries/{failed.delivery_id}/retry", {}, token)
    assert retried.status == 303
    await eventually(lambda: len(_lotus_hooks(rig)) == 1)
    again = await browser.post(f"/notifications/deliveries/{failed.delivery_id}/retry", {}, token)
    assert again.status in (303, 409)  # sent by now (409), or not yet picked up
    browser.password = "a-long-password-2"
    other = await browser.sign_in("pm-plum")
    assert "endpoint:" not in await browser.page("/notifications/deliveries")
    assert (await browser.post(f"/notifications/deliveries/{failed.delivery_id}/retry", {}, other)).status == 404


async def _failed_count(rig: Rig, count: int) -> bool:
    return len(await rig.notifications.deliveries(ADMIN, DeliveryState.FAILED)) == count


@pytest.fixture
async def endpoint_browser(rig: Rig) -> AsyncIterator[Browser]:
    clock = lambda: datetime.now(UTC)  # noqa: E731
    tester = Dispatcher(rig.engine, TenancyRecipients(), rig.senders, clock)
    service = NotificationService(rig.engine, clock, allow_private_endpoints=True, configured=frozenset(Channel),
                                  tester=tester)
    app = web.Application()
    mount_pages(app, AccountService(rig.engine), TokenAuthority(b"p" * 32), clock)
    mount_notification_pages(app, service)
    mount_endpoint_pages(app)
    async with TestClient(TestServer(app)) as client:
        yield Browser(client)


async def test_the_endpoints_page_lists_adds_tests_disables_and_removes_within_the_organisation(
        rig: Rig, endpoint_browser: Browser) -> None:
    browser = endpoint_browser
    token = await browser.sign_in("pm-lotus")
    chosen = await browser.client.get("/notifications/endpoints", allow_redirects=False)
    assert chosen.status == 303 and chosen.headers["Location"] == "/notifications/organisations/lotus-pm/endpoints"
    base = "/notifications/organisations/lotus-pm/endpoints"
    listed = await browser.page(base)
    assert "智慧家园平台" in listed and "值班群" in listed and "钉钉群" in listed and "梅花平台" not in listed
    assert ROBOT_KEY not in listed and "access_token=tok" not in listed, "a robot's key is its credential"

    refused = await browser.post(base, {"channel": "webhook", "label": "坏地址", "url": "ftp://example.com/x"}, token)
    text = await refused.text()
    assert refused.status == 422 and "http:// 或 https://" in text and 'value="ftp://example.com/x"' in text
    unnamed = await browser.post(base, {"channel": "webhook", "label": "", "url": "https://example.com/x"}, token)
    assert unnamed.status == 422 and "名称须为" in await unnamed.text()
    unknown_kind = await browser.post(base, [("channel", "webhook"), ("label", "新平台"), ("kinds", "gate_alarm"),
                                             ("kinds", "lottery"), ("url", f"{rig.receivers.url}/hook/new")], token)
    text = await unknown_kind.text()
    assert unknown_kind.status == 422 and "请只勾选列出的事件类型" in text
    assert 'value="gate_alarm" checked' in text, "what was ticked stays ticked"
    added = await browser.post(base, [("channel", "webhook"), ("label", "新平台"), ("kinds", "gate_alarm"),
                                      ("kinds", "gate_offline"), ("url", f"{rig.receivers.url}/hook/new")], token)
    shown = await added.text()
    assert added.status == 201 and "只显示这一次" in shown
    (created,) = [e for e in await rig.notifications.endpoints(ADMIN, "lotus-pm") if e.label == "新平台"]
    assert created.secret in shown
    assert created.kinds == {NotificationKind.GATE_ALARM, NotificationKind.GATE_OFFLINE}
    assert created.receives(NotificationKind.GATE_ALARM) and not created.receives(NotificationKind.VOTE_OPENED)
    listed = await browser.page(base)
    assert "接收：门禁报警、门禁离线" in listed and "接收：全部事件" in listed, "the others receive every kind"

    tested = await browser.post(f"{base}/{created.endpoint_id}/test", {}, token)
    assert tested.status == 303 and "tested=" in tested.headers["Location"]
    ((headers, body),) = rig.receivers.hooks["new"]
    assert json.loads(body)["kind"] == "test" and webhook_signature_valid(
        created.secret, headers["X-Smartcity-Timestamp"], headers["X-Smartcity-Signature"], body,
        int(datetime.now(UTC).timestamp()))
    rig.receivers.down = True
    failed = await browser.post(f"{base}/{created.endpoint_id}/test", {}, token)
    assert "test_failed=" in failed.headers["Location"]
    assert "HTTP 503" in await browser.page(failed.headers["Location"])
    rig.receivers.down = False

    disabled = await browser.post(f"{base}/{created.endpoint_id}/enabled", {"enabled": "0"}, token)
    assert disabled.status == 303
    assert not next(e for e in await rig.notifications.endpoints(ADMIN, "lotus-pm") if e.label == "新平台").enabled
    assert (await browser.post(f"{base}/{created.endpoint_id}/enabled", {}, token)).status == 400
    removed = await browser.post(f"{base}/{created.endpoint_id}/delete", {}, token)
    assert removed.status == 303 and len(await rig.notifications.endpoints(ADMIN, "lotus-pm")) == 3

    # another organisation's page, endpoint or test answers as an unknown one
    browser.password = "a-long-password-2"
    other = await browser.sign_in("pm-plum")
    assert "找不到" in await browser.page(base, status=404)
    assert "找不到" in await browser.page("/notifications/organisations/no-such-org/endpoints", status=404)
    (lotus_hook,) = [e for e in await rig.notifications.endpoints(ADMIN, "lotus-pm") if e.label == "智慧家园平台"]
    for action in ("test", "delete"):
        assert (await browser.post(f"{base}/{lotus_hook.endpoint_id}/{action}", {}, other)).status == 404
    plum = "/notifications/organisations/plum-pm/endpoints"
    assert (await browser.post(f"{plum}/{lotus_hook.endpoint_id}/delete", {}, other)).status == 404
    assert len(await rig.notifications.endpoints(ADMIN, "lotus-pm")) == 3


def _edit_form(page: str, endpoint_id: int) -> str:
    """The page's form changing endpoint ``endpoint_id`` (its label field and kind boxes)."""
    start = page.index(f'/{endpoint_id}/edit#endpoint-{endpoint_id}"')
    return page[start:page.index("</form>", start)]


async def test_the_endpoints_page_changes_an_endpoints_label_and_kinds_within_the_organisation(
        rig: Rig, endpoint_browser: Browser) -> None:
    browser = endpoint_browser
    token = await browser.sign_in("pm-lotus")
    base = "/notifications/organisations/lotus-pm/endpoints"
    (hook,) = [e for e in await rig.notifications.endpoints(ADMIN, "lotus-pm") if e.label == "智慧家园平台"]
    form = _edit_form(await browser.page(base), hook.endpoint_id)
    assert 'value="智慧家园平台"' in form and " checked" not in form, "every kind: nothing ticked"

    changed = await browser.post(f"{base}/{hook.endpoint_id}/edit", [
        ("label", " 智慧家园（门禁） "), ("kinds", "gate_alarm"), ("kinds", "gate_offline")], token)
    assert changed.status == 303 and changed.headers["Location"] == f"{base}?done=changed"
    (now,) = [e for e in await rig.notifications.endpoints(ADMIN, "lotus-pm") if e.endpoint_id == hook.endpoint_id]
    assert now.label == "智慧家园（门禁）" and now.enabled
    assert now.kinds == {NotificationKind.GATE_ALARM, NotificationKind.GATE_OFFLINE}
    listed = await browser.page(f"{base}?done=changed")
    assert "已保存修改" in listed and "接收：门禁报警、门禁离线" in listed
    form = _edit_form(listed, hook.endpoint_id)
    assert 'value="gate_alarm" checked' in form and 'value="gate_offline" checked' in form, "pre-ticked"
    assert form.count(" checked") == 2 and 'value="智慧家园（门禁）"' in form

    # refusals next to the fields, what was typed kept, nothing changed
    refused = await browser.post(f"{base}/{hook.endpoint_id}/edit", [
        ("label", ""), ("kinds", "vote_opened"), ("kinds", "lottery")], token)
    text = await refused.text()
    assert refused.status == 422 and "修改未保存" in text
    form = _edit_form(text, hook.endpoint_id)
    assert "名称须为 1 到 100 个字符" in form and "请只勾选列出的事件类型" in form
    assert 'value="vote_opened" checked' in form and 'value="gate_alarm" checked' not in form, "as ticked"
    too_long = await browser.post(f"{base}/{hook.endpoint_id}/edit", [("label", "长" * 101)], token)
    text = await too_long.text()
    assert too_long.status == 422 and f'value="{"长" * 101}"' in _edit_form(text, hook.endpoint_id)
    assert "名称须为" in _edit_form(text, hook.endpoint_id)
    assert (await browser.post(f"{base}/{hook.endpoint_id}/edit", [("kinds", "gate_alarm")], token)).status == 400
    (same,) = [e for e in await rig.notifications.endpoints(ADMIN, "lotus-pm") if e.endpoint_id == hook.endpoint_id]
    assert same == now

    # none ticked: every kind again
    widened = await browser.post(f"{base}/{hook.endpoint_id}/edit", [("label", "智慧家园平台")], token)
    assert widened.status == 303
    (back,) = [e for e in await rig.notifications.endpoints(ADMIN, "lotus-pm") if e.endpoint_id == hook.endpoint_id]
    assert back.kinds == frozenset() and back.label == "智慧家园平台"

    # another organisation's endpoint answers as an unknown one, and is not changed
    browser.password = "a-long-password-2"
    other = await browser.sign_in("pm-plum")
    plum = "/notifications/organisations/plum-pm/endpoints"
    change = [("label", "改掉"), ("kinds", "gate_alarm")]
    for path in (f"{base}/{hook.endpoint_id}/edit", f"{plum}/{hook.endpoint_id}/edit", f"{plum}/987654/edit"):
        answer = await browser.post(path, change, other)
        assert answer.status == 404 and "找不到" in await answer.text(), path
    assert (await browser.post(f"{base}/{hook.endpoint_id}/edit", [], other)).status == 404
    (kept,) = [e for e in await rig.notifications.endpoints(ADMIN, "lotus-pm") if e.endpoint_id == hook.endpoint_id]
    assert kept == back


@dataclass
class Api:
    client: TestClient[Any, Any]
    authority: TokenAuthority

    def as_(self, account: str, role: Role = Role.PROPERTY_MANAGER) -> dict[str, str]:
        token = self.authority.issue(account, {role}, datetime.now(UTC), timedelta(hours=1))
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(rig: Rig) -> AsyncIterator[Api]:
    authority = TokenAuthority(b"a" * 32)
    app = web.Application()
    mount_pages(app, AccountService(rig.engine), authority, lambda: datetime.now(UTC))
    mount_notifications_api(app, rig.notifications)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, authority)


async def _deliveries_to(rig: Rig, endpoint_id: int) -> list[int]:
    async with rig.engine.connect() as connection:
        return list((await connection.execute(select(deliveries.c.event_id).where(
            deliveries.c.endpoint_id == endpoint_id))).scalars())


async def test_the_api_changes_an_endpoints_kinds_and_label_and_narrowed_kinds_are_no_longer_delivered(
        rig: Rig, api: Api) -> None:
    lotus = "/api/notifications/organisations/lotus-pm/endpoints"
    manager = api.as_("pm-lotus")
    listed = await (await api.client.get(lotus, headers=manager)).json()
    hook = next(e for e in listed["endpoints"] if e["label"] == "智慧家园平台")
    wecom = next(e for e in listed["endpoints"] if e["label"] == "值班群")
    url = f"{lotus}/{hook['endpoint_id']}"

    narrowed = await api.client.put(url, headers=manager, json={"kinds": ["gate_offline"], "label": " 离线平台 "})
    assert narrowed.status == 200, await narrowed.text()
    body = await narrowed.json()
    assert (body["kinds"], body["label"], body["enabled"]) == (["gate_offline"], "离线平台", True)
    # {"enabled": …} alone, as before: the rest stays
    disabled = await (await api.client.put(url, headers=manager, json={"enabled": False})).json()
    assert (disabled["kinds"], disabled["label"], disabled["enabled"]) == (["gate_offline"], "离线平台", False)
    enabled = await (await api.client.put(url, headers=manager, json={"enabled": True})).json()
    assert enabled["enabled"] and enabled["kinds"] == ["gate_offline"]

    # refused whole, nothing written: an unknown kind (answered as the add route answers it), no change at all, a
    # blank label beside good kinds, a field that is not there
    add_unknown = await api.client.post(lotus, headers=manager, json={
        "channel": "webhook", "label": "x", "url": "https://example.com/x", "kinds": ["lottery"]})
    for refused in ({"kinds": ["gate_alarm", "lottery"]}, {}, {"enabled": None}, {"label": "  ", "kinds": []},
                    {"secret": "a-new-secret-0123456789"}):
        answer = await api.client.put(url, headers=manager, json=refused)
        assert answer.status == 400 and "error" in await answer.json(), refused
    assert (await api.client.put(url, headers=manager, json={"kinds": ["lottery"]})).status == add_unknown.status
    still = next(e for e in await rig.notifications.endpoints(ADMIN, "lotus-pm")
                 if e.endpoint_id == hook["endpoint_id"])
    assert still.kinds == {NotificationKind.GATE_OFFLINE} and still.label == "离线平台" and still.enabled

    # another organisation's endpoint: the very 404 an unknown one gets, and unchanged
    plum_manager = api.as_("pm-plum")
    plum = "/api/notifications/organisations/plum-pm/endpoints"
    unknown = await api.client.put(f"{plum}/987654", headers=plum_manager, json={"kinds": []})
    for path in (url, f"{plum}/{hook['endpoint_id']}"):
        answer = await api.client.put(path, headers=plum_manager, json={"kinds": [], "label": "改掉"})
        assert answer.status == 404, path
        if path.startswith(plum):
            assert await answer.json() == await unknown.json()
    assert still == next(e for e in await rig.notifications.endpoints(ADMIN, "lotus-pm")
                         if e.endpoint_id == hook["endpoint_id"])

    # the dispatcher expands a forced door (gate_alarm) to the robots, no longer to the narrowed webhook
    rig.start()
    await rig.gate_event(GateEventKind.FORCED, door=1)
    await eventually(lambda: bool(rig.receivers.wecom) and bool(rig.receivers.dingtalk))
    (alarm,) = await _deliveries_to(rig, wecom["endpoint_id"])
    assert await _deliveries_to(rig, hook["endpoint_id"]) == []
    await asyncio.sleep(0.3)
    assert _lotus_hooks(rig) == []

    # widened again (empty: every kind): the next alarm reaches it, the one before is not made up for
    widened = await api.client.put(url, headers=manager, json={"kinds": []})
    assert (await widened.json())["kinds"] == []
    await rig.gate_event(GateEventKind.TAMPER, door=2)
    await eventually(lambda: len(_lotus_hooks(rig)) == 1)
    assert json.loads(_lotus_hooks(rig)[0][1])["data"]["alarm"] == "tamper"
    (later,) = await _deliveries_to(rig, hook["endpoint_id"])
    assert later > alarm
