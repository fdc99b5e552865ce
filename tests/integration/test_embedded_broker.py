"""The embedded broker of `smartcity run` / `gateway` holds its clients to the rights `smartcity provision`
gives Mosquitto: no anonymous client, each device its own uplinks and commands, only the services command.

Each test starts the real amqtt broker on a free loopback port and talks to it with real MQTT clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from devices.provisioning import GATEWAY_USER, SERVICES_USER, BrokerUser, device_credentials, device_users
from messaging.embedded_broker import EmbeddedBroker
from tests.servers import free_port

pytestmark = pytest.mark.integration

NOT_AUTHORISED = "Not authorized"  # CONNACK 5 of MQTT 3.1.1, as paho names it
HEARD_WITHIN_S = 5.0


class Broker:
    """The running embedded broker and the clear passwords of its users."""

    def __init__(self, broker: EmbeddedBroker, users: list[BrokerUser]) -> None:
        self.port = broker.port
        self.passwords = {user.username: user.password for user in users}

    def client(self, username: str | None, identifier: str | None = None, **options: object) -> aiomqtt.Client:
        """A client logged in as ``username`` (a device connects under its own id, as the simulator does)."""
        password = self.passwords.get(username) if username else None
        return aiomqtt.Client("127.0.0.1", self.port, username=username, password=password,
                              identifier=identifier or username or "anonymous", timeout=HEARD_WITHIN_S,
                              **options)  # type: ignore[arg-type]


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    users = device_users("demo", gates=2, scales=1)
    embedded = EmbeddedBroker(free_port(), users, tmp_path / "credentials.csv")
    await embedded.start()
    try:
        yield Broker(embedded, users)
    finally:
        await embedded.stop()


@contextlib.asynccontextmanager
async def listening(client: aiomqtt.Client, topic_filter: str) -> AsyncIterator[aiomqtt.Client]:
    """``client`` connected and subscribed to ``topic_filter``."""
    async with client:
        granted = await client.subscribe(topic_filter, qos=1)
        assert not any(code.is_failure for code in granted), granted  # type: ignore[union-attr]
        yield client


async def topics_until(client: aiomqtt.Client, last: str) -> list[str]:
    """The topics ``client`` is sent, up to and with ``last``."""
    heard: list[str] = []
    async with asyncio.timeout(HEARD_WITHIN_S):
        async for message in client.messages:
            heard.append(message.topic.value)
            if heard[-1] == last:
                break
    return heard


async def test_an_anonymous_client_is_refused(broker: Broker) -> None:
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with broker.client(None, identifier="anonymous-reader"):
            pass
    assert str(refused.value.rc) == NOT_AUTHORISED


async def test_a_wrong_password_and_an_unknown_user_are_refused(broker: Broker) -> None:
    broker.passwords["gate-01"], real = broker.passwords["gate-02"], broker.passwords["gate-01"]
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with broker.client("gate-01"):
            pass
    assert str(refused.value.rc) == NOT_AUTHORISED
    broker.passwords["gate-99"] = real
    with pytest.raises(aiomqtt.MqttCodeError) as unknown:
        async with broker.client("gate-99"):
            pass
    assert str(unknown.value.rc) == NOT_AUTHORISED


async def test_a_device_publishes_its_own_uplinks_and_nothing_else(broker: Broker) -> None:
    async with listening(broker.client(SERVICES_USER), "sc/v1/#") as services, broker.client("gate-01") as gate:
        for topic in ("sc/v1/demo/gate/gate-01/event",
                      "sc/v1/demo/gate/gate-02/event",  # another gate's events
                      "sc/v1/demo/gate/gate-02/ack",  # a forged answer to another gate's command
                      "sc/v1/demo/scale/scale-01/record",  # a scale's sales
                      "sc/v1/demo/gate/gate-01/cmd",  # commands come from the services alone
                      "sc/v1/demo/gate/gate-02/cmd",
                      "sc/v1/demo/gate/gate-01/state"):
            await gate.publish(topic, b"{}", qos=1)
        assert await topics_until(services, "sc/v1/demo/gate/gate-01/state") == [
            "sc/v1/demo/gate/gate-01/event", "sc/v1/demo/gate/gate-01/state"]


async def test_a_device_may_subscribe_to_its_own_commands_alone(broker: Broker) -> None:
    async with broker.client("gate-01") as gate:
        for refused in ("#", "sc/v1/#", "sc/v1/demo/gate/+/cmd", "sc/v1/demo/gate/gate-02/cmd",
                        "sc/v1/demo/gate/gate-01/event", "sc/v1/demo/gate/gate-01/+"):
            codes = await gate.subscribe(refused, qos=1)
            assert [code.is_failure for code in codes] == [True], refused  # type: ignore[union-attr]
        granted = await gate.subscribe("sc/v1/demo/gate/gate-01/cmd", qos=1)
        assert [code.is_failure for code in granted] == [False]  # type: ignore[union-attr]


async def test_the_services_command_a_device_and_the_gateway_cannot(broker: Broker) -> None:
    command = "sc/v1/demo/gate/gate-01/cmd"
    async with (listening(broker.client("gate-01"), command) as gate,
                broker.client(GATEWAY_USER) as gateway, broker.client(SERVICES_USER) as services):
        await gateway.publish(command, b'{"op": "open", "from": "gateway"}', qos=1)
        await services.publish(command, b'{"op": "open", "from": "services"}', qos=1)
        await services.publish(command, b'{"op": "last"}', qos=1)
        payloads: list[bytes] = []
        async with asyncio.timeout(HEARD_WITHIN_S):
            async for message in gate.messages:
                payloads.append(message.payload)
                if len(payloads) == 2:
                    break
    assert payloads == [b'{"op": "open", "from": "services"}', b'{"op": "last"}']


async def test_the_gateway_reads_every_device(broker: Broker) -> None:
    async with listening(broker.client(GATEWAY_USER), "sc/v1/#") as gateway, broker.client("scale-01") as scale:
        await scale.publish("sc/v1/demo/scale/scale-01/record", b"{}", qos=1)
        assert await topics_until(gateway, "sc/v1/demo/scale/scale-01/record") == ["sc/v1/demo/scale/scale-01/record"]


async def test_retained_states_go_to_their_subscribers_and_to_no_device_connecting(broker: Broker) -> None:
    state = "sc/v1/demo/gate/gate-02/state"
    async with listening(broker.client(GATEWAY_USER), "sc/v1/#"):  # a subscription that matches the state
        async with broker.client("gate-02") as gate:
            await gate.publish(state, b'{"online": true, "whitelist_version": 7}', qos=1, retain=True)
        async with broker.client("gate-01") as other_gate:
            heard: list[str] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    async for message in other_gate.messages:
                        heard.append(message.topic.value)
            assert heard == [], "another gate's retained state, sent past the topic rights"
        async with listening(broker.client(SERVICES_USER), "sc/v1/+/gate/#") as services:
            assert await topics_until(services, state) == [state]


async def test_a_device_cannot_leave_a_last_will_on_another_devices_topic(broker: Broker) -> None:
    forged = aiomqtt.Will("sc/v1/demo/gate/gate-02/ack", b'{"cmd_id": "x", "ok": true}', qos=1)
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with broker.client("gate-01", will=forged):
            pass
    assert str(refused.value.rc) == NOT_AUTHORISED
    own = aiomqtt.Will("sc/v1/demo/gate/gate-01/state", b'{"online": false}', qos=1, retain=True)
    async with broker.client("gate-01", will=own):
        pass


async def test_a_device_connects_under_its_own_client_id_or_a_second_one_of_its_own(broker: Broker) -> None:
    for own in ("gate-01", "gate-01:maintenance"):
        async with broker.client("gate-01", identifier=own):
            pass
    for other in ("gate-02", "gate-01x", "sc-gateway-host-access"):
        with pytest.raises(aiomqtt.MqttCodeError) as refused:
            async with broker.client("gate-01", identifier=other):
                pass
        assert str(refused.value.rc) == NOT_AUTHORISED, other


async def test_a_device_cannot_resume_the_services_session_and_what_was_queued_for_them_waits(
    broker: Broker,
) -> None:
    # MQTT resumes a persistent session by client id alone: a device naming the services' id would be
    # handed their subscription to every topic and the card numbers queued for them while they were away
    async with broker.client(SERVICES_USER, identifier="services-feed", clean_session=False) as services:
        await services.subscribe("sc/v1/#", qos=1)
    async with broker.client("gate-02") as other_gate:
        await other_gate.publish("sc/v1/demo/gate/gate-02/event", b'{"credential": "0000000001"}', qos=1)
    heard: list[str] = []
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with broker.client("gate-01", identifier="services-feed", clean_session=False) as intruder:
            async with asyncio.timeout(1.0):
                async for message in intruder.messages:
                    heard.append(message.topic.value)
    assert str(refused.value.rc) == NOT_AUTHORISED
    assert heard == []
    async with broker.client(SERVICES_USER, identifier="services-feed", clean_session=False) as services:
        async with asyncio.timeout(HEARD_WITHIN_S):
            message = await anext(aiter(services.messages))
    assert message.topic.value == "sc/v1/demo/gate/gate-02/event"


async def test_the_run_s_passwords_are_kept_for_this_user_alone_while_the_broker_runs(tmp_path: Path) -> None:
    users = device_users("demo", gates=1, scales=1)
    credentials = tmp_path / "var" / "credentials.csv"
    embedded = EmbeddedBroker(free_port(), users, credentials)
    await embedded.start()
    try:
        assert oct(credentials.stat().st_mode)[-3:] == "600"
        devices = device_credentials(credentials.read_text())
        assert devices == embedded.device_credentials() == {
            user.username: (user.username, user.password) for user in users if user.kind in ("gate", "scale")}
        async with aiomqtt.Client("127.0.0.1", embedded.port, username="scale-01", password=devices["scale-01"][1],
                                  identifier="scale-01"):
            pass
    finally:
        await embedded.stop()
    assert not credentials.exists(), "the passwords die with the run"
