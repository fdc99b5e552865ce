"""The demo community matches the simulator: once the simulated gates hold the synced whitelists, every card or face
they grant or deny is decided as the platform's permissions say — for the second, smaller compound (北苑) beside the
first in the same database too, driven by a second simulator of its own site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.access_log import LogQuery
from community.access.demo import NORTH_GATES, DemoCompound, demo_community, north_traffic, seed_demo
from community.access.permissions import CredentialKind, Denied, Granted, credential_hash, decide
from community.access.service import AccessService
from devices.contract import AccessMethod, GateEvent, GateEventKind
from devices.simulator import GateKeys, TrafficGenerator
from devices.topics import DeviceKind
from gateway.processors.decoding import Accepted, decode
from messaging.downlink import RecordingDownlink, command_payload
from tests.integration.test_access_service import KEYS, PASS_KEY, SETTINGS, SITE_KEY, Clock

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 3, 2, tzinfo=UTC)  # 10:00 in Shanghai
KINDS = {AccessMethod.CARD: CredentialKind.CARD, AccessMethod.FACE: CredentialKind.FACE}


async def answer_commands(service: AccessService, downlink: RecordingDownlink, generator: TrafficGenerator,
                          now: datetime, *others: TrafficGenerator) -> None:
    """The simulated controllers apply what the platform sent them and ack, until nothing more is sent (each site's
    by its own simulator)."""
    by_site = {simulator.site: simulator for simulator in (generator, *others)}
    handled = 0
    while handled < len(downlink.sent):
        topic, command = downlink.sent[handled]
        handled += 1
        reply = by_site[topic.site].answer(DeviceKind.GATE, topic.device, command_payload(command), now)
        assert reply is not None
        decoded = decode(reply.topic, reply.payload)
        assert isinstance(decoded, Accepted), decoded
        await service.handle([(decoded.topic, decoded.message)])


async def test_the_simulated_gates_decide_by_the_demo_communitys_permissions(engine: AsyncEngine) -> None:
    generator = TrafficGenerator("demo", gates=3, scales=0, seed=11, gate_keys=GateKeys(SITE_KEY, PASS_KEY))
    downlink = RecordingDownlink()
    service = AccessService(engine, downlink, Clock(NOW), KEYS, SETTINGS)
    assert await seed_demo(service, "demo", generator.community_roster(), NOW)
    assert not await seed_demo(service, "demo", generator.community_roster(), NOW), "seeding twice changes nothing"
    for _, gate_id in generator.devices:  # the controllers connect and say so
        state = generator.state_message(DeviceKind.GATE, gate_id, True, NOW)
        decoded = decode(state.topic, state.payload)
        assert isinstance(decoded, Accepted)
        await service.handle([(decoded.topic, decoded.message)])
    await answer_commands(service, downlink, generator, NOW)
    whitelists = {}
    for _, gate_id in generator.devices:
        status = await service.gate_status(gate_id)
        assert status.in_sync, gate_id
        desired = await service.desired_whitelist(gate_id)
        assert desired is not None
        whitelists[gate_id] = desired[1]

    checked, reasons, visitors = 0, set(), 0
    people = {r.person_id for gate in generator.community_roster() for r in gate.residents}
    for step in range(1500):
        now = NOW + timedelta(seconds=step)
        decoded = decode((message := generator.next_message(now)).topic, message.payload)
        assert isinstance(decoded, Accepted)
        await service.handle([(decoded.topic, decoded.message)])
        event = decoded.message
        if isinstance(event, GateEvent) and event.method is AccessMethod.QR and event.kind is GateEventKind.GRANTED:
            visitors += 1  # a visitor with a pass signed for this gate's door
        if not isinstance(event, GateEvent) or event.method not in KINDS or event.credential is None:
            continue
        assert event.credential not in people, "a face terminal reports the template reference, not the person"
        presented = credential_hash(KINDS[event.method], event.credential, SITE_KEY)
        platform = decide(whitelists[decoded.topic.device], presented, event.door, event.ts)
        if event.kind is GateEventKind.GRANTED:
            assert isinstance(platform, Granted), (event, platform)
        else:
            assert isinstance(platform, Denied) and platform.reason is event.reason, (event, platform)
            reasons.add(event.reason)
        checked += 1
    assert checked > 500
    assert visitors > 5, "the demo shows visitors coming in"
    assert {"expired", "blacklisted", "unknown_credential", "no_permission"} <= {r.value for r in reasons if r}
    page = await service.access_log(LogQuery(community_id="demo", kind=GateEventKind.GRANTED, limit=50))
    assert sum(entry.resident_id is not None for entry in page.entries) > 25, "granted cards name their resident"



async def _connect(service: AccessService, generator: TrafficGenerator) -> None:
    for _, gate_id in generator.devices:  # the controllers connect and say so
        state = generator.state_message(DeviceKind.GATE, gate_id, True, NOW)
        decoded = decode(state.topic, state.payload)
        assert isinstance(decoded, Accepted)
        await service.handle([(decoded.topic, decoded.message)])


async def test_the_second_compound_lives_beside_the_first_with_gates_of_its_own(engine: AsyncEngine) -> None:
    keys = GateKeys(SITE_KEY, PASS_KEY)
    first = TrafficGenerator("demo", gates=3, scales=0, seed=11, gate_keys=keys)
    north = north_traffic("demo", seed=12, gate_keys=keys)
    downlink = RecordingDownlink()
    service = AccessService(engine, downlink, Clock(NOW), KEYS, SETTINGS)
    assert await seed_demo(service, "demo", first.community_roster(), NOW)
    assert await seed_demo(service, "demo", north.community_roster(), NOW, DemoCompound.north("demo"))
    assert not await seed_demo(service, "demo", north.community_roster(), NOW, DemoCompound.north("demo"))
    communities = {c.community_id: (c.site, c.name) for c in await service.communities()}
    assert communities == {"demo": ("demo", "幸福里小区"), "demo-north": ("demo-north", "北苑")}
    north_gates = [gate.gate_id for gate in await service.gates("demo-north")]
    assert north_gates == [f"north-gate-{n:02d}" for n in range(1, NORTH_GATES + 1)]
    assert [gate.gate_id for gate in await service.gates("demo")] == ["gate-01", "gate-02", "gate-03"]
    assert all(r.resident_id.startswith("north-P") for r in await service.residents("demo-north"))

    for generator in (first, north):
        await _connect(service, generator)
    await answer_commands(service, downlink, first, NOW, north)
    whitelists = {}
    for gate_id in north_gates:
        status = await service.gate_status(gate_id)
        assert status.in_sync and status.online, gate_id
        desired = await service.desired_whitelist(gate_id)
        assert desired is not None
        whitelists[gate_id] = desired[1]
    granted = 0
    for step in range(400):
        decoded = decode((message := north.next_message(NOW + timedelta(seconds=step))).topic, message.payload)
        assert isinstance(decoded, Accepted) and decoded.topic.site == "demo-north"
        await service.handle([(decoded.topic, decoded.message)])
        event = decoded.message
        if isinstance(event, GateEvent) and event.method in KINDS and event.credential is not None:
            presented = credential_hash(KINDS[event.method], event.credential, SITE_KEY)
            platform = decide(whitelists[decoded.topic.device], presented, event.door, event.ts)
            assert isinstance(platform, Granted) == (event.kind is GateEventKind.GRANTED), (event, platform)
            granted += event.kind is GateEventKind.GRANTED
    assert granted > 50
    logged = await service.access_log(LogQuery(community_id="demo-north", limit=50))
    assert logged.entries and {entry.gate_id for entry in logged.entries} <= set(north_gates)
    assert (await service.access_log(LogQuery(community_id="demo", limit=1))).entries == (), "nothing crossed over"


def test_a_compound_takes_its_gates_from_its_own_simulator() -> None:
    roster = TrafficGenerator("demo", gates=1, scales=0, seed=1).community_roster()
    with pytest.raises(ValueError, match="id_prefix='north-'"):
        demo_community("demo", roster, NOW, DemoCompound.north("demo"))
