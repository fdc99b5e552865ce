"""The UHPPOTE bridge against the controller emulator (real UDP, the real ``uhppoted`` client) and a real Mosquitto:
what a contract gate publishes and obeys, from a controller that speaks only its own protocol."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from bridges.uhppote.bridge import run_bridge
from bridges.uhppote.config import BridgeConfig, ControllerConfig
from bridges.uhppote.events import CONTROLLER_TIME
from config.settings import MqttEndpoint
from devices.contract import GateEvent
from devices.gate_commands import CredentialKind, presented_credential_hash
from devices.gate_memory import canonical_hash
from devices.simulator.uhppote import ALARM, ControllerEmulator, EmulatedController
from devices.topics import Channel, DeviceKind, topic_for
from gateway.processors.decoding import Rejected, decode
from tests.integration.gate_observer import Seen, observing, stop_left_running
from tests.metrics_scrape import sample, scrape, scraped_until
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

SERIAL = 405419896
SITE, GATE = "north", "north-gate-01"
SITE_KEY = b"k" * 32
RESIDENT_CARD = 10058400  # always, door 1
WORKER_CARD = 10058401  # weekdays 08:00-18:00, door 2
STRANGER_CARD = 99999


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Rig:
    mosquitto: Mosquitto
    emulator: ControllerEmulator
    seen: Seen
    client: aiomqtt.Client
    state_dir: Path
    listen_port: int
    task: asyncio.Task[Any] | None = None
    stop: asyncio.Event | None = None

    @property
    def controller(self) -> EmulatedController:
        return self.emulator.controller

    def config(self) -> BridgeConfig:
        return BridgeConfig(
            listen=f"127.0.0.1:{self.listen_port}", advertise="127.0.0.1", bind="127.0.0.1",
            state_dir=str(self.state_dir), poll_seconds=0.3, request_timeout_seconds=0.4,
            controllers=[ControllerConfig(serial=SERIAL, address=self.emulator.address, site=SITE, gate=GATE,
                                          doors=2)])

    async def start_bridge(self, metrics_port: int = 0) -> None:
        self.stop = asyncio.Event()
        broker = MqttEndpoint.parse(self.mosquitto.url)
        self.task = asyncio.create_task(run_bridge(self.config(), broker, SITE_KEY, [RESIDENT_CARD, WORKER_CARD],
                                                   self.stop, metrics_port))
        await self.seen.until(lambda: self.seen.last_state().get("online"))

    async def stop_bridge(self) -> None:
        assert self.stop is not None and self.task is not None
        self.stop.set()
        await asyncio.wait_for(self.task, 10)
        self.controller.listener = None  # nobody listens while the bridge is away: pushes are lost

    async def command(self, cmd_id: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        await self.client.publish(topic_for(SITE, DeviceKind.GATE, GATE, Channel.CMD),
                                  json.dumps({"cmd_id": cmd_id, "op": op, "args": args}), qos=1)
        return dict(await self.seen.until(
            lambda: next((ack for ack in self.seen.of(Channel.ACK) if ack["cmd_id"] == cmd_id), None)))


@pytest.fixture
async def rig(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Rig]:
    emulator = ControllerEmulator(EmulatedController(SERIAL, doors=2))
    await emulator.start()
    async with observing(mosquitto.port, SITE, GATE) as (client, seen):
        rig = Rig(mosquitto, emulator, seen, client, tmp_path / "state", free_udp_port())
        try:
            yield rig
        finally:
            await stop_left_running(rig.stop, rig.task)
            emulator.stop()


def whitelist_args(version: int = 1) -> dict[str, Any]:
    def entry(card: int, doors: list[int], days: list[int], start: str, end: str) -> dict[str, Any]:
        return {"hash": presented_credential_hash(CredentialKind.CARD, str(card), SITE_KEY), "kind": "card",
                "grants": [{"group": "g", "doors": doors, "windows": [{"days": days, "start": start, "end": end}]}]}

    entries = sorted([entry(RESIDENT_CARD, [1], list(range(7)), "00:00:00", "00:00:00"),
                      entry(WORKER_CARD, [2], [0, 1, 2, 3, 4], "08:00:00", "18:00:00")], key=lambda e: e["hash"])
    whitelist = {"gate": GATE, "entries": entries, "blacklist": []}
    return {"version": version, "content_hash": canonical_hash(whitelist), "whitelist": whitelist}


async def test_a_card_swipe_becomes_a_contract_gate_event(rig: Rig) -> None:
    await rig.start_bridge()
    await rig.seen.until(lambda: rig.controller.listener is not None)
    rig.emulator.swipe(STRANGER_CARD, door=1)
    event = GateEvent.model_validate_json(json.dumps((await rig.seen.until(rig.seen.events))[0]))
    assert (event.kind.value, event.method, event.door, event.offline) == ("denied", "card", 1, False)
    assert event.credential == str(STRANGER_CARD) and event.reason is not None
    assert event.event_id == f"u{SERIAL}-0-1"


async def test_events_stored_while_the_bridge_was_down_are_read_back_once_each(rig: Rig) -> None:
    await rig.start_bridge()
    await rig.seen.until(lambda: rig.controller.listener is not None)
    rig.emulator.swipe(STRANGER_CARD)
    await rig.seen.until(lambda: len(rig.seen.events()) == 1)
    await rig.stop_bridge()
    for _ in range(3):
        rig.emulator.swipe(STRANGER_CARD, door=2)  # pushed to nobody
    await rig.start_bridge()
    await rig.seen.until(lambda: len(rig.seen.events()) >= 4)
    await asyncio.sleep(1.0)  # a few more polls: nothing is published again
    ids = [event["event_id"] for event in rig.seen.events()]
    assert ids == [f"u{SERIAL}-0-{index}" for index in (1, 2, 3, 4)]
    assert [event.get("offline", False) for event in rig.seen.events()] == [False, True, True, True]


async def test_a_whitelist_command_loads_cards_and_profiles_and_the_version_is_reported(rig: Rig) -> None:
    await rig.start_bridge()
    ack = await rig.command("c-1", "sync_whitelist", whitelist_args())
    assert ack["ok"] is True and ack["result"]["version"] == 1
    resident, worker = rig.controller.cards[RESIDENT_CARD], rig.controller.cards[WORKER_CARD]
    assert resident.doors == (1, 0, 0, 0)
    assert worker.doors[0] == 0 and worker.doors[1] >= 2
    profile = rig.controller.profiles[worker.doors[1]]
    assert profile.weekdays == (True,) * 5 + (False,) * 2
    assert profile.segments == ((time(8, 0), time(17, 59)),)
    state = await rig.seen.until(lambda: (s := rig.seen.last_state()) and s.get("whitelist_version") == 1 and s)
    assert state["whitelist_hash"] == whitelist_args()["content_hash"]
    rig.emulator.swipe(RESIDENT_CARD, door=1)
    granted = await rig.seen.until(lambda: [e for e in rig.seen.events() if e["kind"] == "granted"])
    assert granted[0]["credential"] == str(RESIDENT_CARD)


async def test_a_controller_that_lost_its_cards_is_loaded_again(rig: Rig) -> None:
    await rig.start_bridge()
    await rig.command("c-1", "sync_whitelist", whitelist_args())
    rig.controller.power_cut()
    await rig.seen.until(lambda: RESIDENT_CARD in rig.controller.cards and len(rig.controller.profiles) == 1)
    state = await rig.seen.until(lambda: (s := rig.seen.last_state()) and s["bridge"]["resyncs"] >= 1 and s)
    assert state["whitelist_version"] == 1


async def test_remote_open_reaches_the_controller_and_is_acked(rig: Rig) -> None:
    await rig.start_bridge()
    ack = await rig.command("open-1", "open", {"door": 2, "seconds": 5})
    assert ack["ok"] is True and ack["result"]["door"] == 2
    assert rig.controller.opened == [2]
    remote = await rig.seen.until(lambda: [e for e in rig.seen.events() if e.get("method") == "remote"])
    assert remote[0]["door"] == 2
    refused = await rig.command("open-2", "open", {"door": 3})
    assert refused["ok"] is False and refused["error"].startswith("no_such_door")
    assert rig.controller.opened == [2]


async def test_the_controller_clock_is_kept_in_sync(rig: Rig) -> None:
    rig.controller.clock_offset = timedelta(hours=-3)
    await rig.start_bridge()

    def in_step() -> bool:
        shanghai_now = datetime.now(CONTROLLER_TIME).replace(tzinfo=None)
        return abs((rig.controller.now() - shanghai_now).total_seconds()) < 5

    await rig.seen.until(in_step)
    await rig.seen.until(lambda: (s := rig.seen.last_state()) and s["bridge"]["clock_sets"] >= 1)


async def test_bad_input_is_counted_and_handled_and_the_bridge_keeps_running(rig: Rig) -> None:
    await rig.start_bridge()
    await rig.seen.until(lambda: rig.controller.listener is not None)
    # a reply naming another controller, and replies cut short: refused, counted, retried on the next poll
    rig.controller.wrong_serial_replies = 2
    rig.controller.truncated_replies = 2
    await rig.seen.until(lambda: (s := rig.seen.last_state()) and s["bridge"]["wrong_serial"] >= 1
                         and s["bridge"]["timeouts"] >= 1)
    # a truncated packet pushed to the listener
    rig.emulator.push(b"\x17\x20" + b"\x00" * 20)
    await rig.seen.until(lambda: (s := rig.seen.last_state()) and s["bridge"]["bad_packets"] >= 1)
    # an unknown event code: published as a body the gateway dead-letters, with the code in it
    rig.emulator.push(rig.controller.record(ALARM, False, 1, 1, 0, 99))
    unmapped = await rig.seen.until(lambda: [e for e in rig.seen.events() if e.get("kind") == "uhppote_unmapped"])
    assert unmapped[0]["uhppote"]["reason"] == 99
    topic = topic_for(SITE, DeviceKind.GATE, GATE, Channel.EVENT)
    rejected = decode(topic, json.dumps(unmapped[0]).encode())
    assert isinstance(rejected, Rejected) and rejected.reason.value == "schema"
    # the event index jumps back (the controller's log was reset): a new epoch, nothing lost, nothing twice
    before = len(rig.seen.events())
    rig.controller.reset_event_log()
    rig.emulator.swipe(STRANGER_CARD)
    after_reset = await rig.seen.until(lambda: rig.seen.events()[before:])
    assert after_reset[0]["event_id"] == f"u{SERIAL}-1-1"
    state = await rig.seen.until(lambda: (s := rig.seen.last_state()) and s["bridge"]["index_resets"] == 1 and s)
    assert state["bridge"]["unmapped_events"] == 1 and state["online"] is True
    # still running: a swipe after all of that is published
    rig.emulator.swipe(STRANGER_CARD)
    await rig.seen.until(lambda: any(e["event_id"] == f"u{SERIAL}-1-2" for e in rig.seen.events()))


async def test_a_listed_card_missing_from_the_roster_is_learnt_from_its_swipe(rig: Rig) -> None:
    newcomer = 4242424
    args = whitelist_args()
    whitelist = dict(args["whitelist"])
    whitelist["entries"] = sorted([*whitelist["entries"], {
        "hash": presented_credential_hash(CredentialKind.CARD, f"{newcomer:010d}", SITE_KEY), "kind": "card",
        "grants": [{"group": "g", "doors": [1], "windows": [{"days": list(range(7)), "start": "00:00:00",
                                                              "end": "00:00:00"}]}]}], key=lambda e: e["hash"])
    await rig.start_bridge()
    ack = await rig.command("c-1", "sync_whitelist", {"version": 1, "content_hash": canonical_hash(whitelist),
                                                      "whitelist": whitelist})
    assert ack["ok"] is True and newcomer not in rig.controller.cards
    rig.emulator.swipe(newcomer)
    await rig.seen.until(lambda: newcomer in rig.controller.cards)
    rig.emulator.swipe(newcomer)
    kinds = await rig.seen.until(lambda: len(rig.seen.events()) >= 2 and [e["kind"] for e in rig.seen.events()])
    assert kinds == ["denied", "granted"]


async def test_the_bridge_counts_on_prometheus(rig: Rig) -> None:
    port = free_port()
    await rig.start_bridge(metrics_port=port)
    url, gate = f"http://127.0.0.1:{port}/metrics", {"vendor": "uhppote", "gate": GATE}
    await scraped_until(url, "sc_bridge_device_online", 1, **gate)
    await rig.seen.until(lambda: rig.controller.listener is not None)
    rig.emulator.swipe(STRANGER_CARD, door=1)
    await rig.seen.until(lambda: len(rig.seen.events()) == 1)
    assert (await rig.command("c-1", "sync_whitelist", whitelist_args()))["ok"] is True
    samples = await scrape(url)
    assert sample(samples, "sc_bridge_events_forwarded_total", **gate) == 1
    assert sample(samples, "sc_bridge_events_read_back_total", **gate) == 0
    assert sample(samples, "sc_bridge_commands_total", op="sync_whitelist", outcome="applied", **gate) == 1
    await rig.stop_bridge()
    rig.emulator.swipe(STRANGER_CARD, door=2)  # pushed to nobody: read back from the controller's log
    await rig.start_bridge(metrics_port=port)
    await rig.seen.until(lambda: len(rig.seen.events()) == 2)
    await scraped_until(url, "sc_bridge_events_read_back_total", 1, **gate)
    assert sample(await scrape(url), "sc_bridge_events_forwarded_total", **gate) == 1  # counted since this start
    rig.emulator.stop()  # the controller stops answering
    await scraped_until(url, "sc_bridge_device_online", 0, **gate)
