"""What every bridge does for each of its devices: be one contract gate on MQTT.

A vendor's device (a UHPPOTE controller, a Hikvision terminal) becomes a gate the way a gate that spoke MQTT itself
would be one: its own connection with the gate's client id and last will (``{"online": false}``, retained), its
command topic subscribed, the whitelist commands checked by the same :class:`~devices.gate_memory.GateMemory` the
simulated gate uses (versions, content hash, the same acks) and kept across restarts in the vendor's store, acks and
events published QoS 1, the retained state published when it changes.

A vendor's bridge subclasses :class:`GateBridge` and says only what is its own: how the device is made to hold the
whitelist (:meth:`GateBridge.load_device`), how a door is opened (:meth:`GateBridge.open_door`), one round with the
device (:meth:`GateBridge.poll`: reachability, events read back) and what its state says
(:meth:`GateBridge.state_body`). A request the device did not answer raises the vendor's
:attr:`GateBridge.device_error`: the command is not acked, so the platform sends it again and the retry is carried
out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Generic, Protocol, TypeVar

import aiomqtt
from pydantic import ValidationError

from bridges.metrics import BridgeMetrics
from devices.contract import Command, CommandAck, DeviceState, GateEvent
from devices.gate_commands import OPEN, WhitelistEntryArgs
from devices.gate_memory import GateMemory
from devices.topics import Channel, DeviceKind, topic_for

log = logging.getLogger(__name__)

KEEPALIVE_S: Final = 30
PUBLISH_TIMEOUT_S: Final = 10.0
BACKOFF_INITIAL_S: Final = 0.5
BACKOFF_MAX_S: Final = 15.0
OPENED_KEPT: Final = 256  # remote-open command ids already carried out (a redelivery opens once)
OFFLINE_WILL: Final = DeviceState(online=False).model_dump_json(exclude_none=True).encode()


class NotConnected(Exception):
    """The gate's MQTT session is down: what was to be published was not (a push is answered 503, a poll ends the
    session, which reconnects)."""


class GateConfig(Protocol):
    """The part of a vendor's device configuration that makes it a gate."""

    @property
    def gate(self) -> str: ...

    @property
    def site(self) -> str: ...

    @property
    def doors(self) -> int: ...


class WhitelistMemo(Protocol):
    """A vendor's memo of one device: holds at least the whitelist the gate took (``GateMemory.snapshot``)."""

    whitelist: dict[str, Any] | None


MemoT = TypeVar("MemoT", bound=WhitelistMemo)


class MemoStore(Protocol[MemoT]):
    def load(self) -> MemoT: ...

    def save(self, memo: MemoT) -> None: ...


@dataclass
class GateCounters:
    """What went wrong, by kind: shown in the gate's retained state (``bridge``) and logged. Each vendor adds its
    own kinds."""

    bad_commands: int = 0  # a message on the command topic that is not a contract command

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(kw_only=True)
class GateBridge(ABC, Generic[MemoT]):
    """One vendor device as one contract gate."""

    vendor: ClassVar[str]  # the prefix of the log events: "uhppote", "hikvision"
    device_error: ClassVar[type[Exception]]  # what the vendor's client raises when the device did not do it

    config: GateConfig
    site_key: bytes
    store: MemoStore[MemoT]
    counters: GateCounters
    metrics: BridgeMetrics
    memo: MemoT = field(init=False)
    memory: GateMemory = field(init=False)
    client: aiomqtt.Client | None = field(default=None, init=False)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)  # one request at a time to the device
    wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)  # poll now, not at the next interval
    opened: OrderedDict[str, None] = field(default_factory=OrderedDict, init=False)
    loaded: bool = field(default=False, init=False)  # the device holds the whitelist the gate reports
    published_state: dict[str, Any] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.memory = GateMemory(self.config.gate, self.site_key, doors=self.config.doors)
        self.memo = self.store.load()
        self._restore_whitelist()

    # -- what a vendor implements --------------------------------------------------------------------------------

    @property
    @abstractmethod
    def poll_seconds(self) -> float:
        """The time between two rounds with the device when nothing wakes the gate earlier."""

    @abstractmethod
    async def load_device(self) -> None:
        """Make the device hold the whitelist in :attr:`memory` (only what changed); sets :attr:`loaded`."""

    @abstractmethod
    async def open_door(self, door: int) -> str | None:
        """Open ``door``: None when it opened, the refusal when the device said no; raises :attr:`device_error`
        when it did not answer."""

    @abstractmethod
    def device_failed(self, error: Exception, command: Command | None) -> None:
        """Count and log a request the device did not carry out (``command`` when it was for one)."""

    @abstractmethod
    async def poll(self) -> None:
        """One round with the device (reachability, events not pushed, a lost whitelist), then the state."""

    @abstractmethod
    def state_body(self) -> dict[str, Any]:
        """The gate's retained state without its time stamp: ``online``, the whitelist report, the vendor's own."""

    def session_started(self) -> None:
        """A new MQTT session begins (the bridge started, or the broker came back): what the vendor catches up on."""

    # -- identity ------------------------------------------------------------------------------------------------

    @property
    def device(self) -> str:
        return self.config.gate

    def topic(self, channel: Channel) -> str:
        return topic_for(self.config.site, DeviceKind.GATE, self.config.gate, channel)

    # -- the whitelist -------------------------------------------------------------------------------------------

    def _restore_whitelist(self) -> None:
        held = self.memo.whitelist
        if held is None:
            return
        ack = self.memory.restore(held, datetime.now(UTC))
        if not ack.ok:
            log.warning(f"{self.vendor}_whitelist_not_restored", extra={"gate": self.device, "error": ack.error})
            self.memo.whitelist = None

    def entries(self) -> list[WhitelistEntryArgs]:
        return [WhitelistEntryArgs.model_validate(raw) for raw in self.memory.content()["entries"]]

    # -- publishing ----------------------------------------------------------------------------------------------

    async def publish(self, channel: Channel, payload: str | bytes, retain: bool = False) -> None:
        client = self.client
        if client is None:
            raise NotConnected
        try:
            await client.publish(self.topic(channel), payload, qos=1, retain=retain, timeout=PUBLISH_TIMEOUT_S)
        except aiomqtt.MqttError as error:
            raise NotConnected from error

    async def forward(self, event: GateEvent) -> None:
        """A contract event, once the broker acknowledged it (``offline``: read back from the device's store)."""
        await self.publish(Channel.EVENT, event.model_dump_json(exclude_none=True))
        self.metrics.forwarded(self.device, read_back=event.offline)

    async def forward_unreadable(self, body: dict[str, Any], reason: str) -> None:
        """An event the contract refuses (its kind says the vendor and why), published so the gateway dead-letters
        it with the vendor's code where operators look, instead of it being dropped here."""
        await self.publish(Channel.EVENT, as_json(body))
        self.metrics.dead_lettered(self.device, reason)

    async def publish_state(self, force: bool = False) -> None:
        body = self.state_body()
        self.metrics.device_online(self.device, body.get("online") is True)
        if body == self.published_state and not force:
            return
        with contextlib.suppress(NotConnected):  # the next session publishes it again
            await self.publish(Channel.STATE, as_json({**body, "ts": datetime.now(UTC).isoformat()}), retain=True)
            self.published_state = body

    # -- commands ------------------------------------------------------------------------------------------------

    async def obey(self, payload: bytes) -> None:
        try:
            command = Command.model_validate_json(payload)
        except ValidationError as invalid:
            self.counters.bad_commands += 1
            self.metrics.command(self.device, "other", "invalid")
            log.warning(f"{self.vendor}_bad_command",
                        extra={"gate": self.device, "error": str(invalid.errors()[0]["msg"])})
            return
        held = (self.memory.version, self.memory.content_hash)
        ack = self.memory.apply(command, datetime.now(UTC))
        async with self.lock:
            try:
                if ack.ok and command.op == OPEN:
                    ack = await self._open(command, ack)
                elif ack.ok:
                    if (self.memory.version, self.memory.content_hash) != held or not self.loaded:
                        self.memo.whitelist = self.memory.snapshot()
                        self.loaded = False
                        self.store.save(self.memo)
                    await self.load_device()
            except self.device_error as error:
                self.device_failed(error, command)
                self.metrics.command(self.device, command.op, "failed")
                await self.publish_state()
                return  # no ack: the service retries, and the retry is carried out again
        await self.publish(Channel.ACK, ack.model_dump_json(exclude_none=True))
        self.metrics.command(self.device, command.op, "applied" if ack.ok else "refused")
        await self.publish_state()

    async def _open(self, command: Command, ack: CommandAck) -> CommandAck:
        if command.cmd_id in self.opened:
            return ack
        door = int(command.args["door"])
        refusal = await self.open_door(door)
        if refusal is not None:
            log.warning(f"{self.vendor}_door_not_opened",
                        extra={"gate": self.device, "cmd_id": command.cmd_id, "door": door, "error": refusal})
            return CommandAck(cmd_id=command.cmd_id, ok=False, error=refusal[:128])
        self.opened[command.cmd_id] = None
        while len(self.opened) > OPENED_KEPT:
            self.opened.popitem(last=False)
        return ack

    # -- the MQTT session ----------------------------------------------------------------------------------------

    async def run(self, broker: Any, stop: asyncio.Event) -> None:
        """The gate until ``stop`` is set, reconnecting with backoff; ``broker`` has host, port, username and
        password (config.settings.MqttEndpoint)."""
        failures = 0
        while not stop.is_set():
            try:
                await self._session(broker, stop)
                return
            except (aiomqtt.MqttError, NotConnected) as error:
                failures += 1
                log.warning(f"{self.vendor}_mqtt_disconnected", extra={"gate": self.device, "error": repr(error)})
            finally:
                self.client = None
            delay = min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** min(failures, 10)) * random.uniform(0.5, 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, broker: Any, stop: asyncio.Event) -> None:
        will = aiomqtt.Will(self.topic(Channel.STATE), OFFLINE_WILL, qos=1, retain=True)
        client = aiomqtt.Client(broker.host, broker.port, username=broker.username, password=broker.password,
                                identifier=self.device, will=will, keepalive=KEEPALIVE_S, timeout=PUBLISH_TIMEOUT_S)
        async with client:
            await client.subscribe(self.topic(Channel.CMD), qos=1)
            self.client, self.published_state = client, None
            self.session_started()
            commands = asyncio.create_task(self._commands(client), name=f"{self.vendor}-cmd-{self.device}")
            try:
                while not stop.is_set():
                    if commands.done():
                        commands.result()  # the MQTT error that ended it
                    await self.poll()
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_either(self.wake, stop), self.poll_seconds)
                self.client = None
                await client.publish(self.topic(Channel.STATE), OFFLINE_WILL, qos=1, retain=True,
                                     timeout=PUBLISH_TIMEOUT_S)
            finally:
                commands.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await commands

    async def _commands(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            with contextlib.suppress(NotConnected):  # not acked: the service sends it again
                await self.obey(payload)


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    waits = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def as_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
