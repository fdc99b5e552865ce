"""The simulation run against a real broker (the only I/O of the simulator): one MQTT connection per simulated
device, each with its own last will and, when provisioned, its own broker user; the generator's traffic handed out
at a steady rate; the platform's commands answered; a clean offline state for every device at the end."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import aiomqtt

from devices.contract import DeviceState
from devices.simulator.firmware import STATE_QOS, SimMessage
from devices.simulator.traffic import TrafficGenerator
from devices.topics import Channel, DeviceKind, TopicError, parse_topic, topic_for

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S: Final = 10.0
DEVICE_QUEUE_LIMIT: Final = 1000  # messages waiting per device while it is disconnected
BACKOFF_INITIAL_S: Final = 0.5
BACKOFF_MAX_S: Final = 15.0
SHUTDOWN_TIMEOUT_S: Final = 10.0
KEEPALIVE_S: Final = 30
OFFLINE_WILL: Final = DeviceState(online=False).model_dump_json(exclude_none=True).encode()


@dataclass(slots=True)
class SimulationStats:
    """Messages published, by kind; ``dropped`` were generated but never reached the broker."""

    gate_events: int = 0
    scale_records: int = 0
    states: int = 0
    acks: int = 0  # answers to the platform's commands
    bad: int = 0
    dropped: int = 0
    connection_failures: int = 0  # lost connections and failed attempts to connect

    @property
    def published(self) -> int:
        return self.gate_events + self.scale_records + self.states + self.acks + self.bad

    def count_published(self, message: SimMessage) -> None:
        if message.bad:
            self.bad += 1
            return
        channel = parse_topic(message.topic).channel
        if channel is Channel.EVENT:
            self.gate_events += 1
        elif channel is Channel.RECORD:
            self.scale_records += 1
        elif channel is Channel.ACK:
            self.acks += 1
        else:
            self.states += 1


@dataclass(frozen=True, slots=True)
class _Broker:
    host: str
    port: int
    username: str | None
    password: str | None


class _DeviceConnection:
    """One device's own MQTT connection: says it is online, publishes its outbox, reconnects with backoff."""

    def __init__(
        self,
        kind: DeviceKind,
        device_id: str,
        broker: _Broker,
        generator: TrafficGenerator,
        stats: SimulationStats,
    ) -> None:
        self.device_id = device_id
        self._kind = kind
        self._broker = broker
        self._generator = generator
        self._stats = stats
        self._outbox: asyncio.Queue[SimMessage | None] = asyncio.Queue()  # None: the run is over
        self._in_hand: SimMessage | None = None  # taken from the outbox, not yet acknowledged
        self._closing = asyncio.Event()
        self._will = aiomqtt.Will(
            topic_for(generator.site, kind, device_id, Channel.STATE),
            OFFLINE_WILL,
            qos=STATE_QOS,
            retain=True,
        )

    def offer(self, message: SimMessage) -> None:
        if self._outbox.qsize() >= DEVICE_QUEUE_LIMIT:
            self._stats.dropped += 1
            return
        self._outbox.put_nowait(message)

    def close(self) -> None:
        self._closing.set()
        self._outbox.put_nowait(None)

    def undelivered(self) -> int:
        waiting = sum(1 for message in _drain(self._outbox) if message is not None)
        return waiting + (self._in_hand is not None)

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._session()
                return
            except aiomqtt.MqttError as error:
                failures += 1
                self._stats.connection_failures += 1
                log.warning(
                    "simulated device disconnected",
                    extra={"device": self.device_id, "error": str(error), "attempt": failures},
                )
            if self._closing.is_set():
                return
            delay = min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** min(failures, 10)) * random.uniform(0.5, 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
            if self._closing.is_set():
                return

    async def _session(self) -> None:
        client = aiomqtt.Client(  # a new client per attempt: aiomqtt 2.x does not reconnect a used one
            self._broker.host,
            self._broker.port,
            username=self._broker.username,
            password=self._broker.password,
            identifier=self.device_id,
            will=self._will,
            keepalive=KEEPALIVE_S,
            timeout=PUBLISH_TIMEOUT_S,
        )
        async with client:
            await client.subscribe(topic_for(self._generator.site, self._kind, self.device_id, Channel.CMD), qos=1)
            await self._publish(client, self._state(online=True))
            commands = asyncio.create_task(self._answer_commands(client), name=f"sim-cmd-{self.device_id}")
            try:
                while (message := self._in_hand or await self._outbox.get()) is not None:
                    self._in_hand = message
                    await self._publish(client, message)
                    self._in_hand = None
                await self._publish(client, self._state(online=False))
            finally:
                commands.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await commands

    async def _answer_commands(self, client: aiomqtt.Client) -> None:
        """Do what the platform says (prices, blocked batches, whitelists, remote opening) and ack it."""
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            held = self._generator.held_whitelist(self.device_id)
            ack = self._generator.answer(self._kind, self.device_id, payload, datetime.now(UTC))
            if ack is not None:
                await self._publish(client, ack)
            if self._generator.held_whitelist(self.device_id) != held:
                # the retained state says what the gate holds: kept current, or a service that subscribes
                # again would read the list the gate held when it connected and sync it all over again
                await self._publish(client, self._state(True))

    def _state(self, online: bool) -> SimMessage:
        return self._generator.state_message(self._kind, self.device_id, online, datetime.now(UTC))

    async def _publish(self, client: aiomqtt.Client, message: SimMessage) -> None:
        await client.publish(
            message.topic, message.payload, message.qos, message.retain, timeout=PUBLISH_TIMEOUT_S
        )
        self._stats.count_published(message)


def _drain(queue: asyncio.Queue[SimMessage | None]) -> Iterator[SimMessage | None]:
    while not queue.empty():
        yield queue.get_nowait()


async def run_simulation(
    host: str,
    port: int,
    generator: TrafficGenerator,
    rate: float,
    duration: float | None,
    username: str | None = None,
    password: str | None = None,
    stop: asyncio.Event | None = None,
    device_credentials: Mapping[str, tuple[str, str]] | None = None,
) -> SimulationStats:
    """Publish ``generator``'s traffic at ``rate`` messages/s over one connection per device.

    Runs for ``duration`` seconds, or until ``stop`` is set (or forever if neither); every device
    then publishes its retained offline state and disconnects cleanly. ``device_credentials`` maps a
    device id to its own broker user and password (``smartcity provision``); others use ``username``.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    shared = _Broker(host, port, username, password)
    own = {device: _Broker(host, port, user, secret) for device, (user, secret) in (device_credentials or {}).items()}
    stats = SimulationStats()
    connections = {
        device_id: _DeviceConnection(kind, device_id, own.get(device_id, shared), generator, stats)
        for kind, device_id in generator.devices
    }
    tasks = [
        asyncio.create_task(connection.run(), name=f"sim-{name}") for name, connection in connections.items()
    ]
    try:
        await _pace(generator, connections, rate, duration, stop or asyncio.Event())
    finally:
        for connection in connections.values():
            connection.close()
        _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_TIMEOUT_S)
        for task in late:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        stats.dropped += sum(connection.undelivered() for connection in connections.values())
    failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    if failures:
        raise failures[0]
    return stats


async def _pace(
    generator: TrafficGenerator,
    connections: Mapping[str, _DeviceConnection],
    rate: float,
    duration: float | None,
    stop: asyncio.Event,
) -> None:
    """Hand out messages against a monotonic clock, so the average rate holds even after a stall."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    anyone = itertools.cycle(connections.values())
    sent = 0
    while not stop.is_set():
        offset = sent / rate
        if duration is not None and offset >= duration:
            return
        delay = started + offset - loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            continue
        message = generator.next_message(datetime.now(UTC))
        _sender_of(message, connections, anyone).offer(message)
        sent += 1
        await asyncio.sleep(0)  # when behind schedule, still let the connections publish


def _sender_of(
    message: SimMessage, connections: Mapping[str, _DeviceConnection], anyone: Iterator[_DeviceConnection]
) -> _DeviceConnection:
    """The connection of the device the message belongs to; any one for a topic outside the contract."""
    try:
        device_id = parse_topic(message.topic).device
    except TopicError:
        return next(anyone)
    return connections.get(device_id) or next(anyone)


async def run_fleet(
    host: str,
    port: int,
    generators: Sequence[TrafficGenerator],
    rate: float,
    duration: float | None,
    username: str | None = None,
    password: str | None = None,
    stop: asyncio.Event | None = None,
    device_credentials: Mapping[str, tuple[str, str]] | None = None,
) -> list[SimulationStats]:
    """Several sites' simulators at once (a demo's two compounds and markets), ``rate`` shared among them by their
    numbers of devices; as :func:`run_simulation` otherwise."""
    devices = sum(len(generator.devices) for generator in generators)
    if devices == 0:
        raise ValueError("no simulated device to run")
    return list(await asyncio.gather(*(
        run_simulation(host, port, generator, rate * len(generator.devices) / devices, duration, username, password,
                       stop, device_credentials)
        for generator in generators if generator.devices)))
