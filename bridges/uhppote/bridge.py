"""The bridge process: UHPPOTE controllers on one side (UDP), each one a contract gate on the MQTT side.

Per controller, one contract gate (:class:`bridges.gate_bridge.GateBridge`: its own MQTT connection, client id and
last will, the whitelist commands, acks and retained state). The controller's event log is the queue: the bridge
publishes event ``n + 1`` only after the broker acknowledged ``n`` and the index is saved, so what happened while
the bridge or the broker was away is read back by index, once (:mod:`.event_log`). Pushed events only wake it up
early.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final

from uhppoted import decode as uhppoted_decode
from uhppoted.uhppote_async import UhppoteAsync

from bridges.gate_bridge import GateBridge, GateCounters
from bridges.metrics import BridgeMetrics, serve_metrics
from bridges.uhppote.cards import ControllerLoad, card_as_listed, card_hashes, controller_load
from bridges.uhppote.config import BridgeConfig, ControllerConfig
from bridges.uhppote.controller import Controller, ControllerError, ControllerStatus, Failure
from bridges.uhppote.event_log import Observation, PushVerdict, judge_push, plan_reads
from bridges.uhppote.events import (
    CONTROLLER_TIME,
    ControllerEvent,
    Missing,
    Notice,
    Unmapped,
    event_id,
    fingerprint,
    translate,
)
from bridges.uhppote.store import ControllerMemo, ControllerStore
from devices.contract import Command, DenialReason, GateEvent
from devices.gate_memory import Denied

log = logging.getLogger(__name__)

PUSHED_KEPT: Final = 256  # pushed events held until published; the controller's log has them anyway
UNREACHABLE_AFTER: Final = 3  # polls in a row without an answer before the gate is reported offline
SPOT_CHECKS: Final = 1  # cards read back per poll, to notice a controller that holds other cards


@dataclass
class BridgeCounters(GateCounters):
    """Shown in each gate's retained state (``bridge``) and logged: what went wrong, by kind."""

    bad_packets: int = 0  # listener packets that do not decode (cut short, not an event)
    unknown_serial: int = 0  # pushed by a controller not in the configuration
    stale_pushes: int = 0  # a pushed index at or before the last published one
    timeouts: int = 0
    wrong_serial: int = 0
    bad_replies: int = 0
    refusals: int = 0
    index_resets: int = 0
    events_lost: int = 0  # overwritten in the controller's ring buffer before the bridge read them
    unmapped_events: int = 0  # dead-lettered with their code
    resyncs: int = 0  # controllers found without the cards they were given
    clock_sets: int = 0

    def count_failure(self, error: ControllerError) -> None:
        name = {"timeout": "timeouts", "wrong_serial": "wrong_serial", "bad_reply": "bad_replies",
                "refused": "refusals"}[error.failure.value]
        setattr(self, name, getattr(self, name) + 1)


@dataclass(kw_only=True)
class ControllerGate(GateBridge[ControllerMemo]):
    """One controller as one gate."""

    vendor: ClassVar[str] = "uhppote"
    device_error: ClassVar[type[Exception]] = ControllerError

    config: ControllerConfig
    bridge: BridgeConfig
    controller: Controller
    store: ControllerStore
    roster: dict[str, int]  # credential hash → card number, from the card roster
    counters: BridgeCounters
    pushed: OrderedDict[int, ControllerEvent] = field(default_factory=OrderedDict)
    reachable: bool = False
    silent_polls: int = 0
    firmware: str | None = None
    doors_open: tuple[bool, ...] = ()
    last_event: dict[str, Any] | None = None
    spot: int = 0

    @property
    def poll_seconds(self) -> float:
        return self.bridge.poll_seconds

    # -- the whitelist ------------------------------------------------------------------------------------------

    def _numbers(self) -> dict[str, int]:
        numbers = dict(self.roster)
        for number in self.memo.learnt_cards:
            for key in card_hashes(number, self.site_key):
                numbers.setdefault(key, number)
        return numbers

    def desired_load(self) -> ControllerLoad:
        return controller_load(self.entries(), self._numbers(), self.config.doors)

    async def load_device(self) -> None:
        """Make the controller hold the cards and profiles of the gate's whitelist: only what changed is sent."""
        desired = self.desired_load()
        for profile_id, profile in desired.profiles.items():
            digest = repr(profile)
            if self.memo.loaded_profiles.get(profile_id) != digest:
                await self.controller.set_profile(profile)
                self.memo.loaded_profiles[profile_id] = digest
        for number in [number for number in self.memo.loaded_cards if number not in desired.cards]:
            await self.controller.delete_card(number)
            del self.memo.loaded_cards[number]
        for number, card in desired.cards.items():
            if self.memo.loaded_cards.get(number) != card:
                await self.controller.put_card(card)
                self.memo.loaded_cards[number] = card
        self.store.save(self.memo)
        self.loaded = True
        if desired.unknown_numbers or desired.over_profile_limit:
            log.warning("uhppote_cards_not_loaded", extra={
                "gate": self.device, "unknown_numbers": desired.unknown_numbers,
                "over_profile_limit": desired.over_profile_limit})

    async def check_cards(self) -> None:
        """A controller that lost its cards (power cut, replaced board) or holds others is loaded again."""
        count = await self.controller.card_count()
        lost = count != len(self.memo.loaded_cards)
        if not lost and self.memo.loaded_cards:
            numbers = sorted(self.memo.loaded_cards)
            for _ in range(SPOT_CHECKS):
                number = numbers[self.spot % len(numbers)]
                self.spot += 1
                if await self.controller.card(number) != self.memo.loaded_cards[number]:
                    lost = True
                    break
        if lost:
            self.counters.resyncs += 1
            log.warning("uhppote_controller_resync", extra={
                "gate": self.device, "holds": count, "should_hold": len(self.memo.loaded_cards)})
            self.memo.loaded_cards.clear()
            self.memo.loaded_profiles.clear()
            self.loaded = False
        if not self.loaded:
            await self.load_device()

    def _learn(self, event: ControllerEvent) -> bool:
        """A swiped card the whitelist has but the bridge had no number for: learnt, so it is loaded."""
        if event.card == 0 or event.event_type != 1 or event.card in self.memo.learnt_cards:
            return False
        if any(key in self.roster for key in card_hashes(event.card, self.site_key)):
            return False
        listed = {entry.hash for entry in self.entries()}
        if not listed.intersection(card_hashes(event.card, self.site_key)):
            return False
        self.memo.learnt_cards.append(event.card)
        return True

    def _listed(self) -> set[str]:
        """The hashes the gate's whitelist names: its entries' and its blacklist's."""
        content = self.memory.content()
        return {entry["hash"] for entry in content["entries"]} | set(content["blacklist"])

    def _verdict(self, event: ControllerEvent, known: set[str]) -> DenialReason | None:
        if self.memory.version is None or event.card == 0 or event.timestamp is None:
            return None
        candidates = card_hashes(event.card, self.site_key)
        key = next((candidate for candidate in candidates if candidate in known), candidates[0])
        decision = self.memory.decide(key, event.door, event.timestamp.replace(tzinfo=CONTROLLER_TIME))
        return decision.reason if isinstance(decision, Denied) else None

    # -- events -------------------------------------------------------------------------------------------------

    def on_push(self, event: ControllerEvent) -> None:
        if judge_push(self.memo.cursor, event.index) is PushVerdict.STALE:
            self.counters.stale_pushes += 1
        self.pushed[event.index] = event
        while len(self.pushed) > PUSHED_KEPT:
            self.pushed.popitem(last=False)
        self.wake.set()

    async def catch_up(self, status: ControllerStatus) -> None:
        plan = plan_reads(self.memo.cursor, status.event_index, await self._last_still_there(status))
        if plan.observation is Observation.RESET:
            self.counters.index_resets += 1
            log.warning("uhppote_event_index_reset", extra={
                "gate": self.device, "last_published": self.memo.cursor.last, "controller_index": status.event_index,
                "epoch": plan.cursor.epoch})
            self.pushed.clear()  # indices from before the reset mean other events now
        if plan.cursor != self.memo.cursor:
            self.memo.cursor = plan.cursor
            self.store.save(self.memo)
        for index in plan.indices:
            pushed = self.pushed.pop(index, None)
            event = pushed if pushed is not None else await self.controller.event(index)
            await self._publish_event(event, offline=pushed is None)
            self.memo.cursor = self.memo.cursor.advanced(index)
            self.memo.last_fingerprint = fingerprint(event)
            self.store.save(self.memo)
        for index in [index for index in self.pushed if index <= (self.memo.cursor.last or 0)]:
            del self.pushed[index]

    async def _last_still_there(self, status: ControllerStatus) -> bool:
        """Whether the last published event is still the controller's at its index; asked only when a push came
        at or before it (a repeat, or a reset that brought the index back to where it was)."""
        last = self.memo.cursor.last
        if not last or self.memo.last_fingerprint is None or status.event_index < last:
            return True
        if not any(index <= last for index in self.pushed):
            return True
        return fingerprint(await self.controller.event(last)) == self.memo.last_fingerprint

    async def _publish_event(self, event: ControllerEvent, offline: bool) -> None:
        learnt = self._learn(event)
        listed = self._listed() if event.card else set()
        card_text = card_as_listed(event.card, listed, self.site_key) if event.card else None
        translated = translate(event, self.memo.cursor.epoch, self._verdict(event, listed), offline, card_text)
        if isinstance(translated, GateEvent):
            await self.forward(translated)
            self.last_event = {"index": event.index, "kind": translated.kind.value, "ts": translated.ts.isoformat()}
        elif isinstance(translated, Unmapped):
            # dead-lettered through the gateway: a body the contract refuses keeps the code where operators look
            self.counters.unmapped_events += 1
            log.warning("uhppote_event_unmapped", extra={
                "gate": self.device, "index": event.index, "event_type": translated.event_type,
                "reason": translated.reason, "detail": translated.detail})
            body = {"event_id": event_id(event.serial, self.memo.cursor.epoch, event.index),
                    "ts": (event.timestamp or datetime.now()).replace(tzinfo=CONTROLLER_TIME).isoformat(),
                    "door": event.door, "kind": "uhppote_unmapped",
                    "uhppote": {"event_type": translated.event_type, "reason": translated.reason,
                                "detail": translated.detail}}
            await self.forward_unreadable(body, "unmapped")
        elif isinstance(translated, Missing):
            self.counters.events_lost += 1
            log.warning("uhppote_event_missing", extra={
                "gate": self.device, "index": event.index, "overwritten": translated.overwritten})
        elif isinstance(translated, Notice):
            # a power-on or reset is the moment cards may have been lost: the card check of every poll finds out
            log.info("uhppote_controller_notice", extra={"gate": self.device, "notice": translated.name.lower()})
        if learnt:
            log.info("uhppote_card_learnt", extra={"gate": self.device})  # never the number (STYLE 15)
            await self.load_device()

    # -- commands -----------------------------------------------------------------------------------------------

    async def open_door(self, door: int) -> str | None:
        if not await self.controller.open_door(door):
            return f"door_jammed: the controller did not open {door}"
        return None

    def device_failed(self, error: Exception, command: Command | None) -> None:
        assert isinstance(error, ControllerError)
        self.counters.count_failure(error)
        log.warning("uhppote_command_not_carried_out" if command else "uhppote_controller_error", extra={
            "gate": self.device, "op": command.op if command else "poll",
            "cmd_id": command.cmd_id if command else None, "error": str(error)})

    # -- status -------------------------------------------------------------------------------------------------

    def state_body(self) -> dict[str, Any]:
        if not self.reachable:
            return {"online": False, "controller": "unreachable", "bridge": self.counters.as_dict()}
        report = self.memory.state_report() if self.loaded else {"whitelist_version": None, "whitelist_hash": None}
        return {
            "online": True,
            **({"firmware": self.firmware} if self.firmware else {}),
            **report,
            "doors": {str(door): "open" if is_open else "closed"
                      for door, is_open in enumerate(self.doors_open[: self.config.doors], start=1)},
            "last_event": self.last_event,
            "controller": {"serial": self.config.serial, "cards": len(self.memo.loaded_cards)},
            "bridge": self.counters.as_dict(),
        }

    async def poll(self) -> None:
        """One round with the controller: reachability, listener, clock, cards, events, then the state."""
        async with self.lock:
            try:
                if not self.reachable:
                    self.firmware = await self.controller.firmware()
                    await self.controller.send_events_to(self.bridge.advertise, self.bridge.listen_port)
                status = await self.controller.status()
                self.reachable, self.silent_polls = True, 0
                self.doors_open = status.doors_open
                await self._keep_time(status)
                if self.memory.version is not None:
                    await self.check_cards()
                await self.catch_up(status)
            except ControllerError as error:
                self.device_failed(error, None)
                if error.failure is Failure.TIMEOUT:
                    self.silent_polls += 1
                    self.reachable = self.reachable and self.silent_polls < UNREACHABLE_AFTER
        await self.publish_state()

    async def _keep_time(self, status: ControllerStatus) -> None:
        now = datetime.now(CONTROLLER_TIME).replace(tzinfo=None, microsecond=0)
        clock = status.clock or await self.controller.clock()
        if abs(clock - now) > timedelta(seconds=self.bridge.clock_drift_seconds):
            await self.controller.set_clock(now)
            self.counters.clock_sets += 1
            log.info("uhppote_clock_set", extra={"gate": self.device, "drift_s": int((clock - now).total_seconds())})


class _Listener(asyncio.DatagramProtocol):
    """The controllers' event push: each packet decoded, counted when it is not an event of a known controller."""

    def __init__(self, gates: dict[int, ControllerGate], counters: BridgeCounters, metrics: BridgeMetrics) -> None:
        self._gates = gates
        self._counters = counters
        self._metrics = metrics

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            pushed = uhppoted_decode.event(data)
        except (ValueError, IndexError) as error:
            self._counters.bad_packets += 1
            self._metrics.push_refused("bad_packet")
            log.warning("uhppote_bad_packet", extra={"source": addr[0], "size": len(data), "error": str(error)})
            return
        gate = self._gates.get(int(pushed.controller))
        if gate is None:
            self._counters.unknown_serial += 1
            self._metrics.push_refused("unknown_controller")
            log.warning("uhppote_unknown_controller", extra={"source": addr[0], "serial": pushed.controller})
            return
        if pushed.event_index == 0:
            return  # a status push (the controller's auto-send interval): nothing new
        gate.on_push(ControllerEvent(
            int(pushed.controller), int(pushed.event_index), int(pushed.event_type), bool(pushed.event_access_granted),
            int(pushed.event_door), int(pushed.event_direction), int(pushed.event_card), pushed.event_timestamp,
            int(pushed.event_reason)))


def roster_hashes(numbers: Iterable[int], site_key: bytes) -> dict[str, int]:
    return {key: number for number in numbers for key in card_hashes(number, site_key)}


async def run_bridge(config: BridgeConfig, broker: Any, site_key: bytes, card_numbers: Iterable[int],
                     stop: asyncio.Event, metrics_port: int = 0, metrics_host: str = "127.0.0.1") -> BridgeCounters:
    """Run every configured controller as a gate until ``stop`` is set; ``broker`` has host, port, username and
    password (config.settings.MqttEndpoint); Prometheus metrics on ``metrics_host:metrics_port`` unless 0."""
    counters = BridgeCounters()
    metrics = BridgeMetrics("uhppote")
    client = UhppoteAsync(bind=config.bind, broadcast="255.255.255.255:60000", listen=config.listen)
    roster = roster_hashes(card_numbers, site_key)
    gates = {
        controller.serial: ControllerGate(
            config=controller, bridge=config, site_key=site_key, roster=roster, counters=counters, metrics=metrics,
            controller=Controller(client, controller.serial, controller.endpoint, config.request_timeout_seconds),
            store=ControllerStore(Path(config.state_dir), controller.serial))
        for controller in config.controllers
    }
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Listener(gates, counters, metrics),
                                                       local_addr=(config.listen_host, config.listen_port))
    try:
        scraped = await serve_metrics(metrics, metrics_host, metrics_port) if metrics_port else None
    except OSError:
        transport.close()
        raise
    log.info("uhppote_bridge_started", extra={"controllers": len(gates), "listen": config.listen})
    try:
        await asyncio.gather(*(gate.run(broker, stop) for gate in gates.values()))
    finally:
        transport.close()
        if scraped is not None:
            await scraped.cleanup()
    return counters
