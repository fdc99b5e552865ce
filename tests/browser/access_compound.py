"""The access pages' browser tests run against the demo community of ``smartcity run`` (幸福里小区, the simulator's six
gates with their residents and cards): the gates online and holding their whitelists (one gone offline), the last
forty minutes of events decided by the gates' own memories, a few alarms, and today's entries in the embedded
time-series store. Served in-process like the voting pages (tests/browser/conftest.py), on a clock the test sets;
:func:`feeding_from_broker` adds a real Mosquitto and the access service's own MQTT session on it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from accounts.demo import DEMO_PASSWORD
from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.access.alarms import AlarmKind
from community.access.demo import demo_community
from community.access.directory import ResidentRecord, ResidentRole
from community.access.pages import mount_access_pages
from community.access.service import AccessKeys, AccessService
from config.settings import MqttEndpoint
from devices.contract import AccessMethod, CommandAck, DeviceState, Direction, GateEvent, GateEventKind, UplinkModel
from devices.gate_commands import CredentialKind as WireKind
from devices.gate_memory import Denied, GateMemory, Granted
from devices.simulator import SimulatedGate, TrafficGenerator
from devices.topics import Channel, DeviceKind, DeviceTopic
from gateway.outputs.embedded import EmbeddedStore
from gateway.processors.points import CredentialHasher, point_for
from messaging.downlink import RecordingDownlink
from messaging.service_feed import ServiceFeed
from relational.database import create_engine, migrate
from tests.integration.helpers import wait_for
from tests.servers import Mosquitto, free_port, have
from webkit.identity import Role, Scope, TokenAuthority
from webkit.pages import mount_portal

SITE = "demo"
NOW = datetime(2026, 5, 12, 10, 40, tzinfo=UTC)  # Tuesday 18:40 in Shanghai: the evening rush
TODAY = datetime(2026, 5, 11, 16, tzinfo=UTC)  # 00:00 in Shanghai
SITE_KEY = b"browser-site-key-0123456789abcdef"
PASS_KEY = b"browser-pass-key-0123456789abcdef0123"
MANAGER = "pm-zhang"
MANAGER_NAME = "张经理（物业）"
OFFLINE_GATE = "gate-06"
AUTHORITY = TokenAuthority(b"browser-test-secret-of-32-bytes!")
HOURLY = (2, 1, 0, 0, 1, 3, 9, 24, 31, 15, 10, 9, 14, 11, 9, 10, 14, 26, 35)
"""People entering per hour at an average gate, 00:00..18:00 (a working day)."""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Controller:
    """A simulated gate's memory: it applies the platform's commands and decides cards by them."""

    gate: SimulatedGate
    memory: GateMemory
    seen: int = 0

    def topic(self, channel: Channel) -> DeviceTopic:
        return DeviceTopic(SITE, DeviceKind.GATE, self.gate.gate_id, channel)


@dataclass
class AccessSite:
    url: str
    clock: Clock
    service: AccessService
    downlink: RecordingDownlink
    controllers: dict[str, Controller]
    resident: ResidentRecord
    """The resident who signs in (their account id is their resident id)."""
    names: dict[str, str] = field(default_factory=dict)
    """Resident names by card, for the MQTT events the tests publish."""

    async def send(self, gate_id: str, *messages: UplinkModel) -> None:
        channels = {GateEvent: Channel.EVENT, DeviceState: Channel.STATE, CommandAck: Channel.ACK}
        controller = self.controllers[gate_id]
        await self.service.handle([(controller.topic(channels[type(m)]), m) for m in messages])

    async def settle(self) -> None:
        """Every online gate applies what was sent to it and acks, until nothing more comes."""
        for _ in range(10):
            sent = False
            for controller in self.controllers.values():
                commands = [c for t, c in self.downlink.sent[controller.seen:] if t.device == controller.gate.gate_id]
                controller.seen = len(self.downlink.sent)
                if commands:
                    acks = [controller.memory.apply(command, self.clock.now) for command in commands]
                    await self.send(controller.gate.gate_id, *acks)
                    sent = True
            if not sent:
                return


async def seed(site: AccessSite, store: EmbeddedStore, accounts: AccountService) -> None:
    rng = random.Random(2026)
    site.clock.now = NOW - timedelta(hours=3)
    for controller in site.controllers.values():
        await site.send(controller.gate.gate_id, DeviceState(online=True))
    await site.settle()
    await _traffic(site, rng)
    await _alarms(site)
    await _entries(site, store, rng)
    for account_id, name, roles in ((MANAGER, MANAGER_NAME, (Role.PROPERTY_MANAGER,)),
                                    (site.resident.resident_id, site.resident.name, (Role.RESIDENT,))):
        created = await accounts.create_account(account_id, name, roles, DEMO_PASSWORD, NOW - timedelta(days=30))
        assert getattr(created, "account_id", None) == account_id, created
    site.clock.now = NOW


async def _traffic(site: AccessSite, rng: random.Random) -> None:
    """The last forty minutes at the gates, decided by each gate's memory as a real controller would."""
    number = 0
    for minute in range(40, 0, -1):
        for _ in range(rng.choice((0, 1, 1, 2))):
            at = NOW - timedelta(minutes=minute, seconds=rng.randrange(60))
            online = [c for c in site.controllers.values() if c.gate.gate_id != OFFLINE_GATE or minute > 12]
            controller = rng.choice(online)
            gate = controller.gate
            card = rng.choice(gate.expired_cards + gate.blacklisted_cards) if rng.random() < 0.12 \
                else rng.choice(gate.residents).card
            door = rng.randint(1, gate.doors)
            decision = controller.memory.present(WireKind.CARD, card, door, at)
            number += 1
            granted = isinstance(decision, Granted)
            await site.send(gate.gate_id, GateEvent(
                event_id=f"seed-{number}", ts=at, door=door,
                kind=GateEventKind.GRANTED if granted else GateEventKind.DENIED, method=AccessMethod.CARD,
                credential=card, direction=rng.choice((Direction.IN, Direction.IN, Direction.OUT)),
                reason=decision.reason if isinstance(decision, Denied) else None))


async def _alarms(site: AccessSite) -> None:
    """A tamper alarm dealt with this afternoon (resolved), a forced door (acknowledged), a door held open (open),
    and a gate gone offline twelve minutes ago."""
    site.clock.now = NOW - timedelta(hours=2, minutes=10)
    await site.send("gate-05", GateEvent(event_id="seed-tamper", ts=site.clock.now, door=1, kind=GateEventKind.TAMPER))
    [(tamper, _)] = await site.service.alarms(SITE, limit=1)
    site.clock.now = NOW - timedelta(hours=2, minutes=4)
    await site.service.acknowledge_alarm(tamper, MANAGER, "维修工前往检查")
    site.clock.now = NOW - timedelta(hours=1, minutes=30)
    await site.service.resolve_alarm(tamper, MANAGER, "外壳螺丝松动，已紧固并复位")
    site.clock.now = NOW - timedelta(minutes=25)
    await site.send("gate-03", GateEvent(event_id="seed-forced", ts=site.clock.now, door=1,
                                         kind=GateEventKind.FORCED))
    [(number, _)] = await site.service.alarms(SITE, kind=AlarmKind.FORCED_DOOR, limit=1)
    site.clock.now = NOW - timedelta(minutes=22)
    await site.service.acknowledge_alarm(number, MANAGER, "保安已到场查看，门锁被撬，等待维修")
    site.clock.now = NOW - timedelta(minutes=12)
    await site.send(OFFLINE_GATE, DeviceState(online=False))
    await site.send("gate-02", GateEvent(event_id="seed-held", ts=NOW - timedelta(minutes=6), door=1,
                                         kind=GateEventKind.HELD_OPEN))
    site.clock.now = NOW - timedelta(minutes=1)
    await site.service.tick(site.clock.now)


async def _entries(site: AccessSite, store: EmbeddedStore, rng: random.Random) -> None:
    """Today's entries as the gateway stores them: gate_event points, granted and in."""
    hasher = CredentialHasher(SITE_KEY)
    points = []
    for position, gate_id in enumerate(sorted(site.controllers)):
        weight = (1.6, 1.0, 0.7, 1.2, 0.5, 0.8)[position % 6]
        for hour, typical in enumerate(HOURLY):
            count = max(0, round(typical * weight * rng.uniform(0.8, 1.2)))
            if hour == len(HOURLY) - 1:
                count = count * 40 // 60  # the current hour is 40 minutes old
            for index in range(count):
                at = TODAY + timedelta(hours=hour, seconds=rng.randrange(3600 if hour < 18 else 2400))
                event = GateEvent(event_id=f"ts-{gate_id}-{hour}-{index}", ts=at, door=1, kind=GateEventKind.GRANTED,
                                  method=AccessMethod.CARD, direction=Direction.IN)
                points.append(point_for(DeviceTopic(SITE, DeviceKind.GATE, gate_id, Channel.EVENT), event, 0, hasher))
    await store.write(points)


@contextlib.asynccontextmanager
async def running_access_site(tmp_path: Path) -> AsyncIterator[AccessSite]:
    """The access pages on a free port, with the demo community seeded."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'smartcity.db'}")
    await migrate(engine, "community")
    await migrate(engine, "accounts")
    store = EmbeddedStore(tmp_path / "var" / "timeseries.sqlite")
    await store.open()
    clock = Clock(NOW - timedelta(hours=3))
    downlink = RecordingDownlink()
    service = AccessService(engine, downlink, clock, AccessKeys(SITE_KEY, PASS_KEY))
    roster = TrafficGenerator(SITE, 6, 0, seed=11).community_roster()
    community = demo_community(SITE, roster, NOW - timedelta(days=2))
    await service.import_community(community)
    controllers = {gate.gate_id: Controller(gate, GateMemory(gate.gate_id, SITE_KEY, PASS_KEY, doors=gate.doors))
                   for gate in roster}
    resident = next(r for r in community.residents if r.unit_id == "b01-002" and r.role is ResidentRole.OWNER)
    site = AccessSite("", clock, service, downlink, controllers, resident)
    accounts = AccountService(engine)
    await seed(site, store, accounts)
    async with engine.begin() as connection:  # the manager and the resident are assigned the demo community
        for account_id in (MANAGER, resident.resident_id):
            await AccountRepository(connection).assign(account_id, Scope(frozenset({SITE})))
    cards = {enrolment.raw_value: enrolment.resident_id for enrolment in community.credentials}
    people = {record.resident_id: record.name for record in community.residents}
    site.names = {card: people[resident_id] for card, resident_id in cards.items()}

    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_access_pages(app, service, store)
    mount_portal(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    site.url = f"http://127.0.0.1:{port}"
    try:
        yield site
    finally:
        await runner.cleanup()
        await store.close()
        await engine.dispose()


@dataclass
class Broker:
    mosquitto: Mosquitto
    feed: ServiceFeed


@contextlib.asynccontextmanager
async def feeding_from_broker(site: AccessSite) -> AsyncIterator[Broker]:
    """A real Mosquitto on a free port and the access service's own session on it: gate uplinks published there
    reach AccessService.handle() as in production (ServiceFeed, contract validation, ack after handling)."""
    if not have("mosquitto"):
        message = "mosquitto is not installed: `make test` installs Debian's mosquitto package when run as root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    mosquitto = Mosquitto()
    mosquitto.start()
    feed = ServiceFeed(MqttEndpoint.parse(mosquitto.url), "access-browser", DeviceKind.GATE, site.service,
                       retry_initial_s=0.05)
    task = asyncio.create_task(feed.run())

    async def subscribed() -> bool:
        return feed.source.subscribed

    try:
        await wait_for(subscribed, 10, "the access service's subscription")
        yield Broker(mosquitto, feed)
    finally:
        await feed.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        mosquitto.cleanup()
