"""The demo community matches the simulator: once the simulated gates hold the synced whitelists, every card or face
they grant or deny is decided as the platform's permissions say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.access_log import LogQuery
from community.access.demo import seed_demo
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
                          now: datetime) -> None:
    """The simulated controllers apply what the platform sent them and ack, until nothing more is sent."""
    handled = 0
    while handled < len(downlink.sent):
        topic, command = downlink.sent[handled]
        handled += 1
        reply = generator.answer(DeviceKind.GATE, topic.device, command_payload(command), now)
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

