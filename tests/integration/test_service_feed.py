"""A domain service's own MQTT session (ServiceFeed) and the command downlink, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from config.settings import MqttEndpoint
from devices.contract import Command, CommandAck, DeviceState, ScaleRecord, UplinkModel
from devices.topics import DeviceKind, DeviceTopic
from messaging.downlink import DownlinkUnavailable
from messaging.mqtt_downlink import MqttDownlink
from messaging.service_feed import ServiceFeed
from tests.integration.helpers import gate_event, publish, scale_record, wait_for
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

RECORD = "sc/v1/m1/scale/sc-01/record"


class CollectingHandler:
    """Keeps what it handled; fails the first ``fail_first`` calls as a database that is down would."""

    def __init__(self, fail_first: int = 0) -> None:
        self.messages: list[tuple[DeviceTopic, UplinkModel]] = []
        self.calls = 0
        self.fail_first = fail_first

    async def handle(self, messages: Sequence[tuple[DeviceTopic, UplinkModel]]) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise ConnectionError("database is down")
        self.messages.extend(messages)

    def record_ids(self) -> list[str]:
        return [m.record_id for _, m in self.messages if isinstance(m, ScaleRecord)]


@contextlib.asynccontextmanager
async def running(feed: ServiceFeed) -> AsyncIterator[ServiceFeed]:
    task = asyncio.create_task(feed.run())

    async def subscribed() -> bool:
        return feed.source.subscribed

    try:
        await wait_for(subscribed, 10, "the feed's subscription")
        yield feed
    finally:
        await feed.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def feed_for(mosquitto: Mosquitto, handler: CollectingHandler, client_id: str = "market-test") -> ServiceFeed:
    return ServiceFeed(MqttEndpoint.parse(mosquitto.url), client_id, DeviceKind.SCALE, handler,
                       retry_initial_s=0.05)


async def test_a_service_gets_its_kinds_valid_uplinks_and_not_the_rest(mosquitto: Mosquitto) -> None:
    handler = CollectingHandler()
    async with running(feed_for(mosquitto, handler)):
        publish(mosquitto.port, [
            (RECORD, scale_record("r1")),
            (RECORD, b'{"record_id": "broken"'),  # the gateway dead-letters it; the service never sees it
            ("sc/v1/m1/scale/sc-01/ack", json.dumps({"cmd_id": "c1", "ok": True})),
            ("sc/v1/m1/scale/sc-01/state", json.dumps({"online": True})),
            ("sc/v1/m1/gate/g-01/event", gate_event("e1")),  # another kind's
            ("sc/v1/m1/scale/sc-01/cmd", json.dumps({"cmd_id": "c2", "op": "set_prices"})),  # our own downlink
            (RECORD, scale_record("r2")),
        ])

        async def all_there() -> bool:
            return len(handler.messages) >= 4

        await wait_for(all_there, 10, "four uplinks")
        await asyncio.sleep(0.2)
    kinds = [type(message).__name__ for _, message in handler.messages]
    assert kinds == ["ScaleRecord", "CommandAck", "DeviceState", "ScaleRecord"]
    assert handler.record_ids() == ["r1", "r2"]
    topic, ack = handler.messages[1]
    assert isinstance(ack, CommandAck) and ack.cmd_id == "c1"
    assert (topic.site, topic.kind, topic.device) == ("m1", DeviceKind.SCALE, "sc-01")
    assert isinstance(handler.messages[2][1], DeviceState)


async def test_a_burst_the_service_fails_on_is_retried_not_lost(mosquitto: Mosquitto) -> None:
    handler = CollectingHandler(fail_first=2)
    async with running(feed_for(mosquitto, handler)) as feed:
        publish(mosquitto.port, [(RECORD, scale_record(f"r{i}")) for i in range(5)])

        async def handled() -> bool:
            return len(handler.messages) >= 5

        await wait_for(handled, 10, "the retried burst")
        assert feed.failures >= 2
    assert sorted(handler.record_ids()) == [f"r{i}" for i in range(5)]


async def test_what_is_published_while_the_service_is_down_arrives_when_it_returns(mosquitto: Mosquitto) -> None:
    first = CollectingHandler()
    async with running(feed_for(mosquitto, first)):
        publish(mosquitto.port, [(RECORD, scale_record("before"))])

        async def got_first() -> bool:
            return first.record_ids() == ["before"]

        await wait_for(got_first, 10, "the first record")
    publish(mosquitto.port, [(RECORD, scale_record(f"while-down-{i}")) for i in range(50)])
    second = CollectingHandler()
    async with running(feed_for(mosquitto, second)):

        async def got_backlog() -> bool:
            return len(second.record_ids()) >= 50

        await wait_for(got_backlog, 10, "the backlog")
    assert set(second.record_ids()) == {f"while-down-{i}" for i in range(50)}


async def test_an_unacknowledged_burst_is_redelivered_after_a_restart(mosquitto: Mosquitto) -> None:
    stuck = CollectingHandler(fail_first=1_000_000)  # e.g. the database stays down
    async with running(feed_for(mosquitto, stuck)) as feed:
        publish(mosquitto.port, [(RECORD, scale_record("held"))])

        async def failed() -> bool:
            return feed.failures >= 1

        await wait_for(failed, 10, "a failed attempt")
    healthy = CollectingHandler()
    async with running(feed_for(mosquitto, healthy)):

        async def redelivered() -> bool:
            return healthy.record_ids() == ["held"]

        await wait_for(redelivered, 10, "the redelivered record")


class SlowHandler(CollectingHandler):
    """Holds the first burst until released, as a long database transaction would."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False

    async def handle(self, messages: Sequence[tuple[DeviceTopic, UplinkModel]]) -> None:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        await super().handle(messages)


async def test_stopping_lets_the_burst_in_hand_finish_and_acknowledges_it(mosquitto: Mosquitto) -> None:
    handler = SlowHandler()
    feed = feed_for(mosquitto, handler, "market-stop")
    task = asyncio.create_task(feed.run())

    async def subscribed() -> bool:
        return feed.source.subscribed

    await wait_for(subscribed, 10, "the feed's subscription")
    publish(mosquitto.port, [(RECORD, scale_record("in-hand"))])
    await asyncio.wait_for(handler.started.wait(), 10)

    stopping = asyncio.create_task(feed.stop())
    await asyncio.sleep(0.3)
    assert not stopping.done(), "stop() waits for the handler instead of cancelling it"
    handler.release.set()
    await asyncio.wait_for(stopping, 10)
    await asyncio.wait_for(task, 10)  # run() ends by itself once stopped

    assert not handler.cancelled
    assert handler.record_ids() == ["in-hand"]
    again = CollectingHandler()
    async with running(feed_for(mosquitto, again, "market-stop")):  # the same session
        publish(mosquitto.port, [(RECORD, scale_record("after"))])

        async def got_after() -> bool:
            return "after" in again.record_ids()

        await wait_for(got_after, 10, "the next record")
        await asyncio.sleep(0.3)
    assert again.record_ids() == ["after"], "the burst handled before stopping was acknowledged"


async def test_stopping_while_the_service_keeps_failing_ends_at_once_and_leaves_the_burst(
        mosquitto: Mosquitto) -> None:
    stuck = CollectingHandler(fail_first=1_000_000)
    feed = ServiceFeed(MqttEndpoint.parse(mosquitto.url), "market-stuck", DeviceKind.SCALE, stuck,
                       retry_initial_s=30)  # a long back-off that stop() must cut short
    task = asyncio.create_task(feed.run())

    async def subscribed() -> bool:
        return feed.source.subscribed

    async def failed() -> bool:
        return feed.failures >= 1

    await wait_for(subscribed, 10, "the feed's subscription")
    publish(mosquitto.port, [(RECORD, scale_record("held"))])
    await wait_for(failed, 10, "a failed attempt")
    await asyncio.wait_for(feed.stop(), 5)
    await asyncio.wait_for(task, 5)

    healthy = CollectingHandler()
    async with running(feed_for(mosquitto, healthy, "market-stuck")):

        async def redelivered() -> bool:
            return healthy.record_ids() == ["held"]

        await wait_for(redelivered, 10, "the redelivered record")


async def test_the_downlink_publishes_commands_on_the_devices_cmd_topic(mosquitto: Mosquitto) -> None:
    received: list[paho.MQTTMessage] = []
    listener = paho.Client(CallbackAPIVersion.VERSION2, client_id="scale-listener")
    listener.on_message = lambda _c, _u, message: received.append(message)
    listener.connect("127.0.0.1", mosquitto.port)
    listener.subscribe("sc/v1/m1/scale/sc-01/cmd", qos=1)
    listener.loop_start()
    downlink = MqttDownlink(MqttEndpoint.parse(mosquitto.url), "downlink-test")
    task = asyncio.create_task(downlink.run())
    try:
        with pytest.raises(DownlinkUnavailable):
            await downlink.send("m1", DeviceKind.SCALE, "sc-01", Command(cmd_id="c0", op="set_prices"))
        await asyncio.wait_for(downlink.connected.wait(), 10)
        await asyncio.sleep(0.3)  # the listener's SUBACK
        command = Command(cmd_id="c1", op="block_batch", args={"batch": "B1", "reason": "failed test"})
        await downlink.send("m1", DeviceKind.SCALE, "sc-01", command)

        async def heard() -> bool:
            return len(received) == 1

        await wait_for(heard, 10, "the command at the scale")
        assert received[0].topic == "sc/v1/m1/scale/sc-01/cmd"
        assert Command.model_validate_json(received[0].payload) == command
        mosquitto.stop()
        await asyncio.sleep(0.5)
        with pytest.raises(DownlinkUnavailable):
            await downlink.send("m1", DeviceKind.SCALE, "sc-01", Command(cmd_id="c2", op="set_prices"))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        listener.loop_stop()
