"""End to end over a real Mosquitto: a gate's MQTT publish reaches the property manager's SSE live feed through the
service's own session (ServiceFeed → handle() → live feed → SSE), and a gate coming online gets its whitelist over
MQTT (MqttDownlink), applies it and acks it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiomqtt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.access_log import LogQuery
from community.access.service import AccessService
from community.access.web import create_app
from config.settings import MqttEndpoint
from devices.contract import Command
from devices.gate_commands import CredentialKind
from devices.gate_memory import GateMemory, Granted
from devices.topics import DeviceKind
from messaging.downlink import RecordingDownlink
from messaging.mqtt_downlink import MqttDownlink
from messaging.service_feed import ServiceFeed
from tests.integration.api_accounts import check_tokens_with_accounts
from tests.integration.helpers import gate_event, publish, wait_for
from tests.integration.test_access_api import AUTHORITY, read_sse
from tests.integration.test_access_service import KEYS, LOTUS, PASS_KEY, SETTINGS, SITE_KEY, WANG_CARD
from tests.servers import Mosquitto
from webkit.identity import Role

pytestmark = pytest.mark.integration


def wall_clock() -> datetime:
    return datetime.now(UTC)


MANAGER = {"Authorization": "Bearer " + AUTHORITY.issue("pm-1", [Role.PROPERTY_MANAGER], wall_clock(),
                                                         timedelta(hours=1))}


@contextlib.asynccontextmanager
async def feeding(mosquitto: Mosquitto, service: AccessService) -> AsyncIterator[ServiceFeed]:
    feed = ServiceFeed(MqttEndpoint.parse(mosquitto.url), "access-test", DeviceKind.GATE, service,
                       retry_initial_s=0.05)
    task = asyncio.create_task(feed.run())

    async def subscribed() -> bool:
        return feed.source.subscribed

    try:
        await wait_for(subscribed, 10, "the access service's subscription")
        yield feed
    finally:
        await feed.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_gate_event_published_on_mqtt_reaches_the_sse_live_feed(
    mosquitto: Mosquitto, engine: AsyncEngine
) -> None:
    service = AccessService(engine, RecordingDownlink(), wall_clock, KEYS, SETTINGS)
    await service.import_community(LOTUS)
    app = await check_tokens_with_accounts(create_app(service, AUTHORITY, wall_clock), engine,
                                           {"pm-1": [Role.PROPERTY_MANAGER]})
    async with feeding(mosquitto, service), TestClient(TestServer(app)) as client:
        response = await client.get("/api/access/live?gate_id=gate-01", headers=MANAGER)
        assert response.status == 200
        publish(mosquitto.port, [
            ("sc/v1/lotus/gate/gate-02/event", gate_event("elsewhere")),
            ("sc/v1/lotus/gate/gate-01/event", gate_event("mqtt-1", kind="forced")),
        ])
        event = await read_sse(response, "event", timeout=10)
        assert (event["gate_id"], event["event_id"], event["event"]) == ("gate-01", "mqtt-1", "forced")
        alarm = await read_sse(response, "alarm", timeout=10)
        assert alarm["alarm"] == "forced_door"
        response.close()
    logged = await service.access_log(LogQuery(community_id="lotus"))
    assert {entry.event_id for entry in logged.entries} == {"mqtt-1", "elsewhere"}


async def test_a_gate_coming_online_gets_its_whitelist_over_mqtt_and_acks_it(
    mosquitto: Mosquitto, engine: AsyncEngine
) -> None:
    endpoint = MqttEndpoint.parse(mosquitto.url)
    downlink = MqttDownlink(endpoint, "access-downlink-test")
    sending = asyncio.create_task(downlink.run())
    await asyncio.wait_for(downlink.connected.wait(), 10)
    service = AccessService(engine, downlink, wall_clock, KEYS, SETTINGS)
    await service.import_community(LOTUS)
    memory = GateMemory("gate-01", SITE_KEY, PASS_KEY, doors=2)

    async def controller() -> None:
        """gate-01's firmware: applies what arrives on its cmd topic and acks on its ack topic."""
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="gate-01") as client:
            await client.subscribe("sc/v1/lotus/gate/gate-01/cmd", qos=1)
            await client.publish("sc/v1/lotus/gate/gate-01/state", b'{"online": true}', qos=1, retain=True)
            async for message in client.messages:
                ack = memory.apply(Command.model_validate_json(bytes(message.payload)), wall_clock())
                await client.publish("sc/v1/lotus/gate/gate-01/ack", ack.model_dump_json(exclude_none=True), qos=1)

    gate = asyncio.create_task(controller())
    try:
        async with feeding(mosquitto, service):

            async def in_sync() -> bool:
                return (await service.gate_status("gate-01")).in_sync

            await wait_for(in_sync, 15, "gate-01 to hold the current whitelist")
    finally:
        for task in (gate, sending):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    desired = await service.desired_whitelist("gate-01")
    assert desired is not None and memory.content() == desired[1].to_payload()
    assert memory.present(CredentialKind.CARD, WANG_CARD, 1, wall_clock()) == Granted(("entrance",))


class CountingDownlink(MqttDownlink):
    """The real downlink, counting the whitelist commands it sends."""

    def __init__(self, endpoint: MqttEndpoint, client_id: str) -> None:
        super().__init__(endpoint, client_id)
        self.whitelist_commands = 0

    async def send(self, site: str, kind: DeviceKind, device: str, command: Command) -> None:
        await super().send(site, kind, device, command)
        if command.op in ("sync_whitelist", "upsert_credentials", "revoke_credentials"):
            self.whitelist_commands += 1


async def test_a_service_subscribing_again_does_not_sync_the_simulated_gates_all_over_again(
    mosquitto: Mosquitto, engine: AsyncEngine
) -> None:
    from community.access.demo import seed_demo
    from devices.simulator import GateKeys, TrafficGenerator, run_simulation

    endpoint = MqttEndpoint.parse(mosquitto.url)
    downlink = CountingDownlink(endpoint, "access-downlink-resubscribe")
    sending = asyncio.create_task(downlink.run())
    await asyncio.wait_for(downlink.connected.wait(), 10)
    generator = TrafficGenerator("demo", gates=2, scales=0, seed=3, gate_keys=GateKeys(SITE_KEY, PASS_KEY))
    service = AccessService(engine, downlink, wall_clock, KEYS, SETTINGS)
    await seed_demo(service, "demo", generator.community_roster(), wall_clock())
    stop = asyncio.Event()
    simulating = asyncio.create_task(run_simulation("127.0.0.1", mosquitto.port, generator, 2, None, stop=stop))
    try:
        async with feeding(mosquitto, service):

            async def in_sync() -> bool:
                return all([(await service.gate_status(gate)).in_sync for gate in ("gate-01", "gate-02")])

            await wait_for(in_sync, 20, "both simulated gates to hold their whitelists")
        synced = downlink.whitelist_commands
        assert synced >= 2
        # the retained states are replayed to a new session: they must say what the gates hold now
        again = AccessService(engine, downlink, wall_clock, KEYS, SETTINGS)
        async with feeding(mosquitto, again):
            await asyncio.sleep(2)
            assert all([(await again.gate_status(gate)).in_sync for gate in ("gate-01", "gate-02")])
        assert downlink.whitelist_commands == synced, "no gate was sent its list again"
    finally:
        stop.set()
        await asyncio.wait_for(simulating, 15)
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
