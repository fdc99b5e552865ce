"""The access service on SQLite and PostgreSQL, with simulated gates (devices.gate_memory) that apply its commands,
ack them, go offline and come back: whitelist sync, revocation, visitor passes, remote open, the access log, presence,
alarms and the live feed."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.access_log import LogQuery
from community.access.alarms import AlarmKind, AlarmStatus
from community.access.directory import (
    Building,
    Community,
    DoorKind,
    Gate,
    GateDoor,
    GroupRecord,
    ResidentRecord,
    ResidentRole,
    Unit,
)
from community.access.permissions import ALWAYS, AccessGroup, CredentialKind, Door, WeeklyWindow
from community.access.remote_open import RemoteOpenStatus
from community.access.service import (
    AccessKeys,
    AccessService,
    AccessSettings,
    CommunityImport,
    Conflict,
    CredentialEnrolment,
    NotAllowed,
    Refused,
)
from community.access.storage.tables import events as events_table
from community.access.visitors import PassStatus
from devices.contract import (
    AccessMethod,
    Command,
    CommandAck,
    DenialReason,
    DeviceState,
    Direction,
    GateEvent,
    GateEventKind,
    UplinkModel,
)
from devices.gate_commands import CredentialKind as WireKind
from devices.gate_memory import Decision, Denied, GateMemory, Granted, PassAdmitted, PassDecision, PassRefused
from devices.topics import Channel, DeviceKind, DeviceTopic
from messaging.downlink import RecordingDownlink

pytestmark = pytest.mark.integration

SITE_KEY = b"site-key-for-tests-0123456789abc"
PASS_KEY = b"server-pass-key-for-tests-0123456789"
KEYS = AccessKeys(SITE_KEY, PASS_KEY)
SITE = "lotus"
T0 = datetime(2025, 3, 3, 8, tzinfo=UTC)  # Monday 16:00 in Shanghai
DAYTIME = WeeklyWindow(frozenset(range(7)), time(6), time(23))
WANG_CARD, LI_CARD, ZHAO_CARD = "0012345678", "0087654321", "0055555555"
SETTINGS = AccessSettings(gate_offline_after=timedelta(seconds=60))

LOTUS = CommunityImport(
    community=Community("lotus", SITE, "荷花小区"),
    buildings=[Building("b1", "lotus", "1栋"), Building("b2", "lotus", "2栋")],
    units=[Unit("b1-2-301", "b1", "2单元", "301", Decimal("89.37")),
           Unit("b2-1-101", "b2", "1单元", "101", Decimal("120.05"))],
    gates=[
        Gate("gate-01", "lotus", "东门", (GateDoor("gate-01", 1, "东门", DoorKind.ENTRANCE),
                                         GateDoor("gate-01", 2, "地库入口", DoorKind.GARAGE))),
        Gate("gate-02", "lotus", "楼栋门", (GateDoor("gate-02", 1, "1栋", DoorKind.BUILDING, "b1"),
                                          GateDoor("gate-02", 2, "2栋", DoorKind.BUILDING, "b2"))),
    ],
    groups=[
        GroupRecord("lotus", "大门", AccessGroup("entrance", frozenset({Door("gate-01", 1)}), (ALWAYS,))),
        GroupRecord("lotus", "1栋", AccessGroup("b1", frozenset({Door("gate-02", 1)}), (DAYTIME,))),
        GroupRecord("lotus", "2栋", AccessGroup("b2", frozenset({Door("gate-02", 2)}), (ALWAYS,))),
        GroupRecord("lotus", "地库", AccessGroup("garage", frozenset({Door("gate-01", 2)}), (ALWAYS,),
                                               valid_to=T0 + timedelta(days=30))),
    ],
    residents=[
        ResidentRecord("wang", "b1-2-301", ResidentRole.OWNER, "王芳", "13812345678",
                       frozenset({"entrance", "b1", "garage"})),
        ResidentRecord("li", "b1-2-301", ResidentRole.FAMILY, "李强", None, frozenset({"entrance", "b1"})),
        ResidentRecord("zhao", "b2-1-101", ResidentRole.TENANT, "赵敏", "13900001111", frozenset({"entrance", "b2"})),
    ],
    credentials=[
        CredentialEnrolment("wang", CredentialKind.CARD, WANG_CARD, credential_id="c-wang"),
        CredentialEnrolment("wang", CredentialKind.FACE, "P-wang", credential_id="f-wang"),
        CredentialEnrolment("li", CredentialKind.CARD, LI_CARD, credential_id="c-li"),
        CredentialEnrolment("zhao", CredentialKind.CARD, ZHAO_CARD, valid_to=T0 + timedelta(days=10),
                            credential_id="c-zhao"),
    ],
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


_event_ids = itertools.count(1)


@dataclass
class SimulatedGate:
    """A gate controller on the other side of the broker: it takes the commands sent to it while online, applies
    them to its memory and acks; it reads cards and passes and reports what it decided."""

    memory: GateMemory
    online: bool = False
    seen: int = 0  # how many of the downlink's commands have passed by
    applied: list[str] = field(default_factory=list)

    @property
    def gate_id(self) -> str:
        return self.memory.gate_id

    def topic(self, channel: Channel) -> DeviceTopic:
        return DeviceTopic(SITE, DeviceKind.GATE, self.gate_id, channel)

    async def connect(self, service: AccessService, downlink: RecordingDownlink, now: datetime) -> None:
        self.skip(downlink)  # what was published while it was away is gone (clean session)
        self.online = True
        state = DeviceState.model_validate({"online": True, **self.memory.state_report()})
        await service.handle([(self.topic(Channel.STATE), state)])

    async def disconnect(self, service: AccessService) -> None:
        self.online = False
        await service.handle([(self.topic(Channel.STATE), DeviceState(online=False))])

    def skip(self, downlink: RecordingDownlink) -> None:
        self.seen = len(downlink.sent)

    def pending(self, downlink: RecordingDownlink) -> list[Command]:
        return [command for topic, command in downlink.sent[self.seen:] if topic.device == self.gate_id]

    async def deliver(self, service: AccessService, downlink: RecordingDownlink, now: datetime,
                      *, ack: bool = True) -> list[CommandAck]:
        """Apply what was sent to this gate since last time; ack it (unless the acks are lost)."""
        commands = self.pending(downlink)
        self.skip(downlink)
        if not self.online:
            return []
        acks = [self.memory.apply(command, now) for command in commands]
        self.applied.extend(command.op for command in commands)
        if ack and acks:
            await service.handle([(self.topic(Channel.ACK), reply) for reply in acks])
        return acks

    async def settle(self, service: AccessService, downlink: RecordingDownlink, now: datetime) -> None:
        """Deliver until nothing more is sent (acks may trigger further commands)."""
        for _ in range(10):
            if not await self.deliver(service, downlink, now):
                return

    async def report(self, service: AccessService, door: int, now: datetime, decision: Decision | PassDecision,
                     method: AccessMethod, credential: str | None, direction: Direction = Direction.IN) -> None:
        granted = isinstance(decision, (Granted, PassAdmitted))
        reason = None if granted else decision.reason  # type: ignore[union-attr]
        event = GateEvent(event_id=f"e{next(_event_ids)}", ts=now, door=door,
                          kind=GateEventKind.GRANTED if granted else GateEventKind.DENIED, method=method,
                          credential=credential, direction=direction, reason=reason)
        await service.handle([(self.topic(Channel.EVENT), event)])

    async def swipe(self, service: AccessService, card: str, door: int, now: datetime,
                    direction: Direction = Direction.IN) -> Decision:
        decision = self.memory.present(WireKind.CARD, card, door, now)
        await self.report(service, door, now, decision, AccessMethod.CARD, card, direction)
        return decision

    async def show_pass(self, service: AccessService, text: str, door: int, now: datetime) -> PassDecision:
        decision = self.memory.admit_pass(text, door, now)
        await self.report(service, door, now, decision, AccessMethod.QR, getattr(decision, "pass_id", None))
        return decision

    async def send(self, service: AccessService, *messages: UplinkModel) -> None:
        channels = {GateEvent: Channel.EVENT, DeviceState: Channel.STATE, CommandAck: Channel.ACK}
        await service.handle([(self.topic(channels[type(m)]), m) for m in messages])


@dataclass
class Site:
    service: AccessService
    downlink: RecordingDownlink
    clock: Clock
    gates: dict[str, SimulatedGate]

    async def all_online(self) -> None:
        for gate in self.gates.values():
            await gate.connect(self.service, self.downlink, self.clock.now)
            await gate.settle(self.service, self.downlink, self.clock.now)

    async def settle(self) -> None:
        for gate in self.gates.values():
            await gate.settle(self.service, self.downlink, self.clock.now)


@pytest.fixture
async def site(engine: AsyncEngine) -> Site:
    clock = Clock(T0)
    downlink = RecordingDownlink()
    service = AccessService(engine, downlink, clock, KEYS, SETTINGS)
    await service.import_community(LOTUS)
    gates = {gate_id: SimulatedGate(GateMemory(gate_id, SITE_KEY, PASS_KEY, doors=2))
             for gate_id in ("gate-01", "gate-02")}
    return Site(service, downlink, clock, gates)


def ops(commands: Sequence[Command]) -> list[str]:
    return [command.op for command in commands]


async def assert_holds_desired(site: Site, gate_id: str) -> None:
    desired = await site.service.desired_whitelist(gate_id)
    assert desired is not None
    version, whitelist = desired
    assert site.gates[gate_id].memory.content() == whitelist.to_payload()
    assert site.gates[gate_id].memory.version == version
    status = await site.service.gate_status(gate_id)
    assert status.in_sync and status.acked_version == version


# --- whitelist sync ---------------------------------------------------------------------------------------------

async def test_a_gate_coming_online_gets_the_full_list_and_its_ack_makes_it_current(site: Site) -> None:
    gate = site.gates["gate-01"]
    assert site.downlink.sent == [], "nothing is sent to a gate that is not online"
    await gate.connect(site.service, site.downlink, T0)
    assert ops(gate.pending(site.downlink)) == ["sync_whitelist"]
    status = await site.service.gate_status("gate-01")
    assert status.online and not status.in_sync
    assert status.whitelist_entries == 4  # three cards and a face open the entrance
    await gate.settle(site.service, site.downlink, T0)
    await assert_holds_desired(site, "gate-01")
    assert await gate.swipe(site.service, WANG_CARD, 1, T0) == Granted(("entrance",))


async def test_changes_reach_an_online_gate_as_deltas(site: Site) -> None:
    await site.all_online()
    gate = site.gates["gate-02"]
    enrolled = await site.service.enroll(CredentialEnrolment("li", CredentialKind.PIN, "246810"))
    assert enrolled.hint is None and "246810" not in enrolled.value_hash
    assert ops(gate.pending(site.downlink)) == ["upsert_credentials"]
    await site.settle()
    await assert_holds_desired(site, "gate-02")
    assert gate.memory.present(WireKind.PIN, "246810", 1, T0) == Granted(("b1",))
    with pytest.raises(Conflict, match="enrolled already"):
        await site.service.enroll(CredentialEnrolment("zhao", CredentialKind.PIN, "246810"))


async def test_a_gate_offline_during_changes_is_brought_to_the_current_version_when_it_returns(site: Site) -> None:
    await site.all_online()
    gate = site.gates["gate-01"]
    before = gate.memory.version
    await gate.disconnect(site.service)
    await site.service.enroll(CredentialEnrolment("zhao", CredentialKind.PIN, "135790"))
    await site.service.revoke_credential("c-li", "pm-1")
    await site.service.tick(T0 + timedelta(minutes=5))
    assert gate.pending(site.downlink) == [], "an offline gate is sent nothing"
    status = await site.service.gate_status("gate-01")
    assert status.desired_version == (before or 0) + 2 and status.acked_version == before

    site.clock.now = T0 + timedelta(minutes=10)
    await gate.connect(site.service, site.downlink, site.clock.now)
    assert ops(gate.pending(site.downlink)) == ["upsert_credentials", "revoke_credentials"]
    await gate.settle(site.service, site.downlink, site.clock.now)
    await assert_holds_desired(site, "gate-01")
    assert gate.memory.present(WireKind.CARD, LI_CARD, 1, site.clock.now) == Denied(DenialReason.BLACKLISTED)


async def test_a_gate_that_lost_its_list_reports_it_and_gets_the_full_list(site: Site) -> None:
    await site.all_online()
    gate = site.gates["gate-01"]
    await gate.disconnect(site.service)
    gate.memory = GateMemory("gate-01", SITE_KEY, PASS_KEY, doors=2)  # replaced controller, empty memory
    gate.memory.version, gate.memory.content_hash = 9, "0" * 64
    await gate.connect(site.service, site.downlink, T0)
    assert ops(gate.pending(site.downlink)) == ["sync_whitelist"]
    await gate.settle(site.service, site.downlink, T0)
    await assert_holds_desired(site, "gate-01")


async def test_a_state_with_a_garbled_version_report_is_taken_as_no_report(site: Site) -> None:
    gate = site.gates["gate-01"]
    await gate.send(site.service, DeviceState.model_validate({"online": True, "whitelist_version": "v7"}))
    assert ops(gate.pending(site.downlink)) == ["sync_whitelist"]


async def test_unsent_and_unacked_commands_are_retried_with_the_same_id(site: Site) -> None:
    await site.all_online()
    gate = site.gates["gate-02"]
    site.downlink.unavailable = True
    await site.service.enroll(CredentialEnrolment("zhao", CredentialKind.PIN, "135790"))
    site.downlink.unavailable = False
    assert gate.pending(site.downlink) == []
    await site.service.tick(T0 + timedelta(seconds=29))
    assert gate.pending(site.downlink) == [], "not due yet"
    await site.service.tick(T0 + timedelta(seconds=30))
    (first,) = gate.pending(site.downlink)
    await gate.deliver(site.service, site.downlink, T0, ack=False)  # applied, but the ack is lost
    await site.service.tick(T0 + timedelta(seconds=120))
    (again,) = gate.pending(site.downlink)
    assert again.cmd_id == first.cmd_id
    await gate.settle(site.service, site.downlink, T0)
    await assert_holds_desired(site, "gate-02")


async def test_revoking_a_resident_reaches_every_gate_they_could_open(site: Site) -> None:
    await site.all_online()
    issued = await site.service.invite("wang", frozenset({Door("gate-02", 1)}))
    await site.service.revoke_resident("wang", "pm-1")
    for gate in site.gates.values():
        assert gate.pending(site.downlink), f"{gate.gate_id} is told at once"
    await site.settle()
    for gate in site.gates.values():
        await assert_holds_desired(site, gate.gate_id)
    now = T0 + timedelta(minutes=1)
    assert await site.gates["gate-01"].swipe(site.service, WANG_CARD, 1, now) == Denied(DenialReason.BLACKLISTED)
    assert await site.gates["gate-02"].swipe(site.service, WANG_CARD, 1, now) == Denied(DenialReason.BLACKLISTED)
    assert site.gates["gate-01"].memory.present(WireKind.FACE, "P-wang", 1, now) == Denied(DenialReason.BLACKLISTED)
    refused = await site.gates["gate-02"].show_pass(site.service, issued.text, 1, now)
    assert refused.reason is DenialReason.BLACKLISTED  # type: ignore[union-attr]
    assert await site.gates["gate-01"].swipe(site.service, LI_CARD, 1, now) == Granted(("entrance",))
    with pytest.raises(NotAllowed):
        await site.service.invite("wang", frozenset({Door("gate-01", 1)}))


async def test_moving_out_takes_a_resident_off_the_lists_without_blacklisting(site: Site) -> None:
    await site.all_online()
    await site.service.move_out("li", "pm-1")
    await site.settle()
    assert site.gates["gate-01"].memory.present(WireKind.CARD, LI_CARD, 1, T0) == Denied(
        DenialReason.UNKNOWN_CREDENTIAL)


async def test_permissions_follow_weekly_windows_and_validity(site: Site) -> None:
    await site.all_online()
    gate_01, gate_02 = site.gates["gate-01"].memory, site.gates["gate-02"].memory
    night = datetime(2025, 3, 3, 23, 30, tzinfo=UTC) - timedelta(hours=8)  # 23:30 Shanghai
    assert gate_02.present(WireKind.CARD, LI_CARD, 1, T0) == Granted(("b1",))
    assert gate_02.present(WireKind.CARD, LI_CARD, 1, night) == Denied(DenialReason.OUTSIDE_SCHEDULE)
    assert gate_01.present(WireKind.CARD, LI_CARD, 1, night) == Granted(("entrance",))
    assert gate_02.present(WireKind.CARD, LI_CARD, 2, T0) == Denied(DenialReason.NO_PERMISSION)
    assert gate_01.present(WireKind.CARD, WANG_CARD, 2, T0 + timedelta(days=29)) == Granted(("garage",))
    assert gate_01.present(WireKind.CARD, WANG_CARD, 2, T0 + timedelta(days=30)) == Denied(DenialReason.EXPIRED)
    assert gate_01.present(WireKind.CARD, ZHAO_CARD, 1, T0 + timedelta(days=10)) == Denied(DenialReason.EXPIRED)
    assert gate_01.present(WireKind.CARD, "0000000001", 1, T0) == Denied(DenialReason.UNKNOWN_CREDENTIAL)


# --- the access log, presence ---------------------------------------------------------------------------------

async def test_gate_events_fill_the_access_log_once_with_who_and_why(site: Site, engine: AsyncEngine) -> None:
    await site.all_online()
    gate = site.gates["gate-01"]
    await gate.swipe(site.service, WANG_CARD, 1, T0)
    await gate.swipe(site.service, "0000000001", 1, T0 + timedelta(seconds=5))
    redelivered = GateEvent(event_id="dup-1", ts=T0, door=1, kind=GateEventKind.TAMPER)
    await gate.send(site.service, redelivered)
    await gate.send(site.service, redelivered)
    page = await site.service.access_log(LogQuery(community_id="lotus"))
    assert [(e.kind, e.resident_id, e.reason) for e in page.entries] == [
        (GateEventKind.DENIED, None, DenialReason.UNKNOWN_CREDENTIAL),
        (GateEventKind.GRANTED, "wang", None),
        (GateEventKind.TAMPER, None, None),
    ]
    async with engine.connect() as connection:
        stored = (await connection.execute(select(events_table))).all()
    assert len(stored) == 3
    assert all(WANG_CARD not in repr(tuple(row)) for row in stored), "the log keeps the hash, never the card number"
    mine = await site.service.access_log(LogQuery(resident_id="wang"))
    assert [e.door for e in mine.entries] == [1]


async def test_presence_counts_people_through_the_perimeter(site: Site) -> None:
    await site.all_online()
    entrance, buildings = site.gates["gate-01"], site.gates["gate-02"]
    await entrance.swipe(site.service, WANG_CARD, 1, T0)
    await entrance.swipe(site.service, LI_CARD, 1, T0 + timedelta(minutes=1))
    await buildings.swipe(site.service, ZHAO_CARD, 2, T0 + timedelta(minutes=2))  # a building door: not perimeter
    await entrance.swipe(site.service, LI_CARD, 1, T0 + timedelta(minutes=3), Direction.OUT)
    issued = await site.service.invite("wang", frozenset({Door("gate-01", 1)}))
    await entrance.show_pass(site.service, issued.text, 1, T0 + timedelta(minutes=4))
    counted = await site.service.presence("lotus")
    assert (counted.residents_inside, counted.visitors_inside) == (1, 1)


# --- visitor passes -------------------------------------------------------------------------------------------

async def test_a_visitor_pass_opens_its_doors_until_its_uses_are_spent_everywhere(site: Site) -> None:
    await site.all_online()
    doors = frozenset({Door("gate-01", 1), Door("gate-02", 1)})
    issued = await site.service.invite("wang", doors, max_uses=2, visitor_name="快递小哥", visitor_phone="13700001234")
    assert issued.text == site.service.pass_text(issued.record)
    entrance, building = site.gates["gate-01"], site.gates["gate-02"]
    assert isinstance(await entrance.show_pass(site.service, issued.text, 1, T0), PassAdmitted)
    assert isinstance(await building.show_pass(site.service, issued.text, 1, T0 + timedelta(minutes=1)),
                      PassAdmitted)
    record, _ = await site.service.visitor_pass(issued.record.pass_id)
    assert record.uses == 2 and record.status(T0) is PassStatus.USED_UP
    await site.settle()  # spent: every gate of the pass blacklists it, also where it was used only once
    refused = await entrance.show_pass(site.service, issued.text, 1, T0 + timedelta(minutes=2))
    assert refused.reason is DenialReason.BLACKLISTED  # type: ignore[union-attr]
    log = await site.service.access_log(LogQuery(community_id="lotus"))
    assert {e.pass_id for e in log.entries} == {issued.record.pass_id}


async def test_a_revoked_pass_is_refused_at_every_gate_of_its_doors(site: Site) -> None:
    await site.all_online()
    issued = await site.service.invite("zhao", frozenset({Door("gate-02", 2)}))
    revoked = await site.service.revoke_pass(issued.record.pass_id, "zhao")
    assert revoked.status(T0) is PassStatus.REVOKED
    assert ops(site.gates["gate-02"].pending(site.downlink)) == ["revoke_credentials"]
    assert site.gates["gate-01"].pending(site.downlink) == [], "gates the pass does not open need no change"
    await site.settle()
    refused = site.gates["gate-02"].memory.admit_pass(issued.text, 2, T0)
    assert refused.reason is DenialReason.BLACKLISTED  # type: ignore[union-attr]
    with pytest.raises(Conflict):
        await site.service.revoke_pass(issued.record.pass_id, "zhao")


async def test_passes_are_limited_to_the_inviters_doors_and_a_day(site: Site) -> None:
    with pytest.raises(NotAllowed, match="gate-02#1"):
        await site.service.invite("zhao", frozenset({Door("gate-02", 1)}))
    with pytest.raises(Refused, match="at most"):
        await site.service.invite("zhao", frozenset({Door("gate-02", 2)}), valid_to=T0 + timedelta(hours=25))
    issued = await site.service.invite("zhao", frozenset({Door("gate-02", 2)}))
    assert issued.record.visitor_pass.valid_to - issued.record.visitor_pass.valid_from == timedelta(hours=4)
    tampered = issued.text[:-2] + ("AA" if not issued.text.endswith("AA") else "BB")
    await site.all_online()
    refused = site.gates["gate-02"].memory.admit_pass(tampered, 2, T0)
    assert refused.reason is DenialReason.UNKNOWN_CREDENTIAL  # type: ignore[union-attr]
    late = site.gates["gate-02"].memory.admit_pass(issued.text, 2, T0 + timedelta(hours=4))
    assert late.reason is DenialReason.EXPIRED  # type: ignore[union-attr]


async def test_a_pass_runs_only_while_its_inviter_could_enter_through_its_doors(site: Site) -> None:
    """li opens the building door 06:00-23:00 only (the entrance around the clock): a pass of hers for the building
    door is refused past 23:00 with the latest end she may give, and the one she may have stops at 23:00 at the gate,
    just as her own card does."""
    await site.all_online()
    building, eleven = site.gates["gate-02"], T0 + timedelta(hours=7)  # 23:00 in Shanghai
    with pytest.raises(Refused, match="only until 2025-03-03 23:00") as late:
        await site.service.invite("li", frozenset({Door("gate-02", 1)}), valid_to=T0 + timedelta(hours=8))
    assert late.value.reason == "past_your_access" and "2025-03-03 23:00 之前" in (late.value.message_zh or "")
    with pytest.raises(Refused, match="only until 2025-03-03 23:00"):
        await site.service.invite("li", frozenset({Door("gate-01", 1), Door("gate-02", 1)}),
                                  valid_to=T0 + timedelta(hours=8))
    with pytest.raises(Refused, match="could not enter gate-02#1 yourself at 2025-03-03 23:30") as night:
        await site.service.invite("li", frozenset({Door("gate-02", 1)}), valid_from=eleven + timedelta(minutes=30),
                                  valid_to=eleven + timedelta(hours=2))
    assert night.value.reason == "outside_your_access"
    assert await site.service.passes(resident_ids=["li"]) == []

    around_the_clock = await site.service.invite("li", frozenset({Door("gate-01", 1)}),
                                                 valid_to=T0 + timedelta(hours=12))
    assert around_the_clock.record.visitor_pass.valid_to == T0 + timedelta(hours=12)
    issued = await site.service.invite("li", frozenset({Door("gate-02", 1)}), valid_to=eleven)
    last_second = eleven - timedelta(seconds=1)
    assert isinstance(building.memory.admit_pass(issued.text, 1, last_second), PassAdmitted)
    assert building.memory.present(WireKind.CARD, LI_CARD, 1, last_second) == Granted(("b1",))
    closed = building.memory.admit_pass(issued.text, 1, eleven)
    assert isinstance(closed, PassRefused) and closed.reason is DenialReason.EXPIRED
    assert building.memory.present(WireKind.CARD, LI_CARD, 1, eleven) == Denied(DenialReason.OUTSIDE_SCHEDULE)


async def test_a_resident_whose_own_access_ended_cannot_invite_and_no_pass_outlives_it(site: Site) -> None:
    garage, garage_ends = Door("gate-01", 2), T0 + timedelta(days=30)  # wang's garage group ends then
    site.clock.now = garage_ends - timedelta(hours=2)
    with pytest.raises(Refused, match="only until 2025-04-02 16:00"):
        await site.service.invite("wang", frozenset({garage}))  # the default 4 hours would run past it
    assert (await site.service.invite("wang", frozenset({garage}), valid_to=garage_ends)).record
    site.clock.now = garage_ends
    with pytest.raises(NotAllowed, match="access to gate-01#2 is not valid now") as ended:
        await site.service.invite("wang", frozenset({garage}))
    assert ended.value.reason == "your_access_not_valid"
    assert (await site.service.invite("wang", frozenset({Door("gate-01", 1)}))).record, "his other doors still"

    zhao_card_ends = T0 + timedelta(days=10)  # zhao's only card (her lease) ends then: she cannot enter at all
    site.clock.now = zhao_card_ends - timedelta(hours=1)
    with pytest.raises(Refused, match="only until 2025-03-13 16:00"):
        await site.service.invite("zhao", frozenset({Door("gate-02", 2)}))
    site.clock.now = zhao_card_ends
    for door in (Door("gate-01", 1), Door("gate-02", 2)):
        with pytest.raises(NotAllowed, match="not valid now"):
            await site.service.invite("zhao", frozenset({door}))


async def test_a_pass_is_revoked_at_every_gate_once_its_inviter_could_no_longer_enter_for_the_rest_of_it(
        site: Site) -> None:
    await site.all_online()
    building, entrance, eleven = site.gates["gate-02"], site.gates["gate-01"], T0 + timedelta(hours=7)
    evening = await site.service.invite("li", frozenset({Door("gate-02", 1)}), valid_to=eleven)
    tomorrow = await site.service.invite("li", frozenset({Door("gate-02", 1)}), valid_from=T0 + timedelta(hours=17),
                                         valid_to=T0 + timedelta(hours=19))  # Tuesday 09:00-11:00
    walk_in = await site.service.invite("li", frozenset({Door("gate-01", 1)}))
    until_eight = WeeklyWindow(frozenset(range(7)), time(6), time(20))  # the office shortens 1栋's hours
    await site.service.put_group(GroupRecord("lotus", "1栋", AccessGroup("b1", frozenset({Door("gate-02", 1)}),
                                                                          (until_eight,))))
    await site.settle()
    status = {pass_id: (await site.service.visitor_pass(pass_id))[0].status(T0) for pass_id in (
        evening.record.pass_id, tomorrow.record.pass_id, walk_in.record.pass_id)}
    assert status == {evening.record.pass_id: PassStatus.REVOKED, tomorrow.record.pass_id: PassStatus.ACTIVE,
                      walk_in.record.pass_id: PassStatus.ACTIVE}
    refused = building.memory.admit_pass(evening.text, 1, T0 + timedelta(minutes=1))
    assert isinstance(refused, PassRefused) and refused.reason is DenialReason.BLACKLISTED
    await assert_holds_desired(site, "gate-02")

    await site.service.revoke_credential("c-li", "pm-1")  # her only card: li cannot enter anywhere herself
    await site.settle()
    for issued, gate, door in ((tomorrow, building, 1), (walk_in, entrance, 1)):
        record, _ = await site.service.visitor_pass(issued.record.pass_id)
        assert record.status(T0) is PassStatus.REVOKED
        assert isinstance(gate.memory.admit_pass(issued.text, door, T0 + timedelta(hours=17)), PassRefused)


async def test_a_resident_holds_at_most_the_set_number_of_active_passes(engine: AsyncEngine, site: Site) -> None:
    assert AccessSettings().max_active_passes == 10
    capped = AccessService(engine, site.downlink, site.clock, KEYS, AccessSettings(max_active_passes=2))
    door = frozenset({Door("gate-02", 2)})
    once = await capped.invite("zhao", door, max_uses=1)
    later = await capped.invite("zhao", door, valid_from=T0 + timedelta(hours=1), valid_to=T0 + timedelta(hours=2))
    with pytest.raises(Conflict, match="you have 2 active visitor passes") as full:
        await capped.invite("zhao", door)  # a pass not yet started counts
    assert full.value.reason == "too_many_active_passes" and "已达上限" in (full.value.message_zh or "")
    assert await capped.invite("wang", frozenset({Door("gate-01", 1)})), "the cap is each resident's own"

    await capped.revoke_pass(later.record.pass_id, "zhao")
    await capped.invite("zhao", door)  # a revoked pass no longer counts
    await site.all_online()
    assert isinstance(await site.gates["gate-02"].show_pass(capped, once.text, 2, T0), PassAdmitted)
    await capped.invite("zhao", door)  # nor a spent one
    with pytest.raises(Conflict):
        await capped.invite("zhao", door)
    site.clock.now = T0 + timedelta(hours=4)  # the two issued at T0 for the default 4 hours have expired
    await capped.invite("zhao", door)
    assert len(await capped.passes(resident_ids=["zhao"])) == 5


# --- remote open ----------------------------------------------------------------------------------------------

async def test_a_remote_open_is_answered_by_the_gates_ack_and_audited(site: Site) -> None:
    await site.all_online()
    gate = site.gates["gate-01"]
    request = await site.service.open_door("gate-01", 2, "pm-1", "业主忘带门禁卡")
    (command,) = gate.pending(site.downlink)
    assert command.op == "open" and command.args == {"door": 2, "seconds": 5}
    assert command.expires_at == request.deadline
    await gate.deliver(site.service, site.downlink, T0)
    opened, community_id = await site.service.remote_open(request.cmd_id)
    assert opened.status is RemoteOpenStatus.OPENED and community_id == "lotus"
    (audited,) = await site.service.remote_opens("lotus")
    assert (audited.requested_by, audited.reason, audited.requested_at) == ("pm-1", "业主忘带门禁卡", T0)


async def test_a_remote_open_without_an_answer_times_out(site: Site) -> None:
    await site.all_online()
    request = await site.service.open_door("gate-02", 1, "pm-1", "送医")
    await site.service.tick(T0 + timedelta(seconds=9))
    assert (await site.service.remote_open(request.cmd_id))[0].status is RemoteOpenStatus.PENDING
    await site.service.tick(T0 + timedelta(seconds=10))
    timed, _ = await site.service.remote_open(request.cmd_id)
    assert timed.status is RemoteOpenStatus.TIMED_OUT and timed.finished_at == T0 + timedelta(seconds=10)
    late = site.gates["gate-02"]
    await late.deliver(site.service, site.downlink, T0 + timedelta(seconds=11))
    assert (await site.service.remote_open(request.cmd_id))[0].status is RemoteOpenStatus.TIMED_OUT
    assert late.memory.apply(Command(cmd_id="x", op="open", args={"door": 1}, expires_at=T0), T0).ok is False


async def test_a_remote_open_that_cannot_reach_the_gate_fails_at_once(site: Site) -> None:
    offline = await site.service.open_door("gate-01", 1, "pm-1", "test")
    assert offline.status is RemoteOpenStatus.FAILED and offline.error == "the gate is offline"
    await site.all_online()
    site.downlink.unavailable = True
    unsent = await site.service.open_door("gate-01", 1, "pm-1", "test")
    assert unsent.status is RemoteOpenStatus.FAILED and "could not be sent" in (unsent.error or "")
    assert len(await site.service.remote_opens("lotus")) == 2, "failed requests are audited too"
    with pytest.raises(Refused):
        await site.service.open_door("gate-01", 1, "pm-1", "  ")


# --- alarms ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "alarm"), [(GateEventKind.FORCED, AlarmKind.FORCED_DOOR),
                                             (GateEventKind.HELD_OPEN, AlarmKind.DOOR_HELD_OPEN),
                                             (GateEventKind.TAMPER, AlarmKind.TAMPER)])
async def test_door_alarms_are_raised_at_once(site: Site, kind: GateEventKind, alarm: AlarmKind) -> None:
    gate = site.gates["gate-01"]
    await gate.send(site.service, GateEvent(event_id="a1", ts=T0, door=2, kind=kind))
    await gate.send(site.service, GateEvent(event_id="a2", ts=T0, door=2, kind=kind))
    ((_, raised),) = await site.service.alarms("lotus")
    assert (raised.kind, raised.gate_id, raised.door, raised.occurrences) == (alarm, "gate-01", 2, 2)


async def test_repeated_denials_on_one_door_raise_one_alarm(site: Site) -> None:
    await site.all_online()
    gate = site.gates["gate-01"]
    for second in range(0, 100, 25):  # four within two minutes: not yet
        await gate.swipe(site.service, "0000000001", 1, T0 + timedelta(seconds=second))
    assert await site.service.alarms("lotus") == []
    await gate.swipe(site.service, "0000000002", 1, T0 + timedelta(seconds=110))
    ((_, raised),) = await site.service.alarms("lotus")
    assert raised.kind is AlarmKind.REPEATED_DENIALS and raised.door == 1


async def test_a_gate_offline_too_long_raises_an_alarm_resolved_when_it_returns(site: Site) -> None:
    await site.all_online()
    gate = site.gates["gate-02"]
    await gate.disconnect(site.service)
    await site.service.tick(T0 + timedelta(seconds=60))
    assert await site.service.alarms("lotus") == []
    await site.service.tick(T0 + timedelta(seconds=61))
    ((number, raised),) = await site.service.alarms("lotus")
    assert raised.kind is AlarmKind.GATE_OFFLINE and raised.door is None
    site.clock.now = T0 + timedelta(minutes=5)
    await gate.connect(site.service, site.downlink, site.clock.now)
    _, back = await site.service.alarm(number)
    assert back.status is AlarmStatus.RESOLVED and back.resolved_by == "system"


async def test_alarms_go_from_open_to_acknowledged_to_resolved_with_notes(site: Site) -> None:
    await site.gates["gate-01"].send(site.service, GateEvent(event_id="f1", ts=T0, door=1, kind=GateEventKind.FORCED))
    ((number, _),) = await site.service.alarms("lotus")
    site.clock.now = T0 + timedelta(minutes=1)
    seen = await site.service.acknowledge_alarm(number, "pm-1", "保安已出发")
    assert (seen.status, seen.acknowledged_by) == (AlarmStatus.ACKNOWLEDGED, "pm-1")
    assert seen.acknowledge_note == "保安已出发"
    with pytest.raises(Conflict, match="only an open alarm"):
        await site.service.acknowledge_alarm(number, "pm-2")
    site.clock.now = T0 + timedelta(minutes=7)
    done = await site.service.resolve_alarm(number, "pm-1", "门锁已修好")
    assert (done.status, done.resolved_at, done.resolve_note) == (AlarmStatus.RESOLVED, site.clock.now, "门锁已修好")
    with pytest.raises(Conflict, match="already resolved"):
        await site.service.resolve_alarm(number, "pm-1")
    await site.gates["gate-01"].send(site.service, GateEvent(event_id="f2", ts=T0, door=1, kind=GateEventKind.FORCED))
    assert len(await site.service.alarms("lotus", status=AlarmStatus.OPEN)) == 1, "a new occurrence, a new alarm"


async def test_unresolved_alarms_and_offline_clocks_survive_a_restart(site: Site, engine: AsyncEngine) -> None:
    await site.gates["gate-01"].send(site.service, GateEvent(event_id="t1", ts=T0, door=1, kind=GateEventKind.TAMPER))
    await site.gates["gate-02"].connect(site.service, site.downlink, T0)
    await site.gates["gate-02"].disconnect(site.service)
    restarted = AccessService(engine, site.downlink, site.clock, KEYS, SETTINGS)
    await site.gates["gate-01"].send(restarted, GateEvent(event_id="t2", ts=T0, door=1, kind=GateEventKind.TAMPER))
    await restarted.tick(T0 + timedelta(seconds=61))
    found = {alarm.kind: alarm for _, alarm in await restarted.alarms("lotus")}
    assert found[AlarmKind.TAMPER].occurrences == 2, "the repeat is counted on the alarm from before the restart"
    assert AlarmKind.GATE_OFFLINE in found


# --- uplinks from elsewhere; the live feed ---------------------------------------------------------------------

async def test_uplinks_of_unregistered_gates_or_another_site_are_ignored(site: Site) -> None:
    stranger = DeviceTopic(SITE, DeviceKind.GATE, "gate-99", Channel.EVENT)
    elsewhere = DeviceTopic("other-site", DeviceKind.GATE, "gate-01", Channel.EVENT)
    event = GateEvent(event_id="x1", ts=T0, door=1, kind=GateEventKind.FORCED)
    await site.service.handle([(stranger, event), (elsewhere, event)])
    assert (await site.service.access_log(LogQuery())).entries == ()
    assert await site.service.alarms("lotus") == []


async def test_the_live_feed_carries_events_and_alarms_of_the_gates_asked_for(site: Site) -> None:
    with site.service.feed.subscribe(gates=frozenset({"gate-01"})) as subscription:
        await site.gates["gate-02"].send(site.service, GateEvent(event_id="n1", ts=T0, door=1,
                                                                  kind=GateEventKind.DOOR_OPEN))
        await site.gates["gate-01"].send(site.service, GateEvent(event_id="n2", ts=T0, door=1,
                                                                  kind=GateEventKind.FORCED))
        first, second = subscription.queue.get_nowait(), subscription.queue.get_nowait()
        assert subscription.queue.empty()
    assert first is not None and (first.kind, first.gate_id, first.data["event_id"]) == ("event", "gate-01", "n2")
    assert second is not None and second.kind == "alarm" and second.data["alarm"] == "forced_door"


# --- 4. a gate whose list changed without the platform seeing it offline -----------------------------------------

async def test_a_gate_that_rebooted_empty_without_going_offline_gets_the_full_list(site: Site) -> None:
    await site.all_online()
    gate = site.gates["gate-01"]
    gate.memory = GateMemory("gate-01", SITE_KEY, PASS_KEY, doors=2)  # rebooted, list lost; session kept
    await gate.connect(site.service, site.downlink, T0 + timedelta(minutes=1))  # online again, never offline
    assert ops(gate.pending(site.downlink)) == ["sync_whitelist"]
    await gate.settle(site.service, site.downlink, T0 + timedelta(minutes=1))
    await assert_holds_desired(site, "gate-01")


async def test_a_gate_reporting_another_version_on_a_routine_state_gets_the_full_list(site: Site) -> None:
    await site.all_online()
    gate = site.gates["gate-02"]
    gate.memory.version, gate.memory.content_hash = 42, "0" * 64  # restored from an old backup
    await gate.send(site.service, DeviceState.model_validate({"online": True, **gate.memory.state_report()}))
    assert ops(gate.pending(site.downlink)) == ["sync_whitelist"]
    await gate.settle(site.service, site.downlink, T0)
    await assert_holds_desired(site, "gate-02")
    await gate.send(site.service, DeviceState.model_validate({"online": True, **gate.memory.state_report()}))
    assert gate.pending(site.downlink) == [], "a state that matches changes nothing"
    await gate.send(site.service, DeviceState(online=True))
    assert gate.pending(site.downlink) == [], "a state without a report assumes nothing"


# --- 5. a registered gate never heard from --------------------------------------------------------------------------

async def test_a_registered_gate_that_never_reports_raises_an_offline_alarm(site: Site, engine: AsyncEngine) -> None:
    await site.gates["gate-01"].connect(site.service, site.downlink, T0)  # gate-02 never says anything
    await site.service.tick(T0 + timedelta(seconds=60))
    assert await site.service.alarms("lotus") == []
    await site.service.tick(T0 + timedelta(seconds=61))
    ((_, raised),) = await site.service.alarms("lotus")
    assert (raised.kind, raised.gate_id) == (AlarmKind.GATE_OFFLINE, "gate-02")

    restarted = AccessService(engine, site.downlink, site.clock, KEYS, SETTINGS)
    await restarted.tick(T0 + timedelta(seconds=62))
    assert len(await restarted.alarms("lotus")) == 1, "the same alarm after a restart, not a second one"
    await site.gates["gate-02"].connect(restarted, site.downlink, T0 + timedelta(minutes=2))
    ((_, back),) = await restarted.alarms("lotus")
    assert back.resolved_by == "system"


async def test_a_gate_registered_after_the_start_counts_from_its_registration(site: Site) -> None:
    await site.all_online()
    site.clock.now = T0 + timedelta(hours=1)
    await site.service.add_gate(Gate("gate-03", "lotus", "北门", (GateDoor("gate-03", 1, "北门", DoorKind.ENTRANCE),)))
    await site.service.tick(site.clock.now + timedelta(seconds=60))
    assert await site.service.alarms("lotus") == []
    await site.service.tick(site.clock.now + timedelta(seconds=61))
    ((_, raised),) = await site.service.alarms("lotus")
    assert raised.gate_id == "gate-03"


# --- 3. presence drifts no more -------------------------------------------------------------------------------------

async def test_presence_forgets_visitors_whose_pass_ended_and_residents_not_seen_for_long(site: Site) -> None:
    await site.all_online()
    entrance = site.gates["gate-01"]
    issued = await site.service.invite("wang", frozenset({Door("gate-01", 1)}), valid_to=T0 + timedelta(hours=2))
    await entrance.show_pass(site.service, issued.text, 1, T0)
    await entrance.swipe(site.service, WANG_CARD, 1, T0)
    counted = await site.service.presence("lotus")
    assert (counted.residents_inside, counted.visitors_inside) == (1, 1)

    site.clock.now = T0 + timedelta(hours=2)  # the pass ended; the visitor left through a held door
    counted = await site.service.presence("lotus")
    assert (counted.residents_inside, counted.visitors_inside) == (1, 0)
    await entrance.swipe(site.service, LI_CARD, 1, T0 + timedelta(hours=3))
    site.clock.now = T0 + timedelta(hours=24, seconds=1)  # wang went out by the exit button, uncounted
    counted = await site.service.presence("lotus")
    assert (counted.residents_inside, counted.visitors_inside) == (1, 0), "only li, seen within the cutoff"


async def test_the_staleness_cutoff_is_a_setting(engine: AsyncEngine, site: Site) -> None:
    await site.all_online()
    await site.gates["gate-01"].swipe(site.service, WANG_CARD, 1, T0, Direction.IN)
    patient = AccessService(engine, site.downlink, site.clock, KEYS,
                            AccessSettings(resident_presence_stale_after=timedelta(days=7)))
    site.clock.now = T0 + timedelta(days=2)
    assert (await site.service.presence("lotus")).residents_inside == 0
    assert (await patient.presence("lotus")).residents_inside == 1


# --- 10. thresholds as settings; the held-open rule ----------------------------------------------------------------

async def test_a_door_heard_open_too_long_raises_an_alarm_by_the_setting(engine: AsyncEngine, site: Site) -> None:
    await site.all_online()
    quick = AccessService(engine, site.downlink, site.clock, KEYS,
                          AccessSettings(door_held_open_after=timedelta(seconds=20)))
    await site.gates["gate-01"].send(quick, GateEvent(event_id="o1", ts=T0, door=2, kind=GateEventKind.DOOR_OPEN))
    await quick.tick(T0 + timedelta(seconds=20))
    assert await quick.alarms("lotus") == []
    await quick.tick(T0 + timedelta(seconds=21))
    ((_, raised),) = await quick.alarms("lotus")
    assert (raised.kind, raised.door) == (AlarmKind.DOOR_HELD_OPEN, 2)


