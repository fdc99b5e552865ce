"""``smartcity run --demo --uhppote``: one of the demo compound's gates is an emulated UHPPOTE (微耕) controller behind
the UHPPOTE bridge, instead of a simulated gate that speaks the contract itself — the whole path a real controller's
events and commands take, without the hardware.

The controller (devices/simulator/uhppote.py) listens on a free loopback UDP port and speaks only its own protocol;
the bridge (bridges/uhppote) runs in this process, configured for that gate's id, with the numbers of the cards
issued at the gate as its card roster, and logs in to the broker as the gate. The access service syncs the gate's
whitelist to the bridge, which loads the listed cards into the controller; people then present those cards (and
lapsed, lost and strangers' ones) at its doors, the controller decides and pushes its events, and the bridge
publishes them as the gate's. A remote open from the console goes the other way: the bridge opens the controller's
door, the controller records it, and the ack and the event come back.

The controller keeps its memory in this process, so each run starts it empty; the bridge's state (SC_DATA_DIR/
``uhppote-emulated``) outlives the run, so the bridge sees a controller that lost its cards and had its event log
reset, as after a factory reset: it loads the cards again and numbers the events in a new epoch (docs/devices.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bridges.uhppote.bridge import run_bridge
from bridges.uhppote.config import BridgeConfig, ControllerConfig
from config.settings import MqttEndpoint
from devices.simulator import SimulatedGate
from devices.simulator.uhppote import ControllerEmulator, EmulatedController, SwipeGenerator, run_swipes

EMULATED_GATE: Final = "gate-01"
"""The demo gate the emulated controller stands in for: building 1's, whose owners have the demo's accounts."""
SERIAL: Final = 423_187_001
"""The emulated controller's serial number (a UT0311-L04's range); the gate's event ids start ``u423187001-``."""
SWIPE_INTERVAL_S: Final = 3.0
DOOR_OPEN_S: Final = 4.0
POLL_S: Final = 5.0  # the bridge's rounds with the controller; a pushed event wakes it at once anyway
STATE_FOLDER: Final = "uhppote-emulated"


@dataclass(frozen=True)
class EmulatedGate:
    """The demo gate the emulated controller stands in for, at ``site``: its doors and its people's cards."""

    site: str
    roster: SimulatedGate
    seed: int
    swipe_interval: float = SWIPE_INTERVAL_S

    @property
    def card_roster(self) -> list[int]:
        """Every card issued at the gate, as the bridge's card roster (the whitelist carries only hashes): the
        residents' cards and the lapsed and lost ones; what the whitelist lists of them is loaded."""
        return [int(resident.card) for resident in self.roster.residents] + self.other_cards

    @property
    def other_cards(self) -> list[int]:
        """Cards of the site the controller will not hold: lapsed and lost (blacklisted) ones."""
        return [int(card) for card in (*self.roster.expired_cards, *self.roster.blacklisted_cards)]


def gate_login(devices_url: str, credentials: Mapping[str, tuple[str, str]] | None, gate_id: str) -> MqttEndpoint:
    """The broker as the gate reaches it: as its own broker user when the run made one (the embedded broker), else
    with SC_MQTT_URL's login, as the simulated devices."""
    endpoint = MqttEndpoint.parse(devices_url)
    if credentials is not None and gate_id in credentials:
        username, password = credentials[gate_id]
        return dataclasses.replace(endpoint, username=username, password=password)
    return endpoint


async def run_emulated_gate(gate: EmulatedGate, broker: MqttEndpoint, site_key: bytes, data_dir: Path,
                            stop: asyncio.Event, tell: Callable[[str], None]) -> None:
    """The emulated controller, people swiping at it, and the bridge making it ``gate``, until ``stop`` is set."""
    controller = EmulatedController(SERIAL, doors=gate.roster.doors)
    emulator = ControllerEmulator(controller, door_open_seconds=DOOR_OPEN_S)
    await emulator.start()
    config = BridgeConfig(
        listen=f"127.0.0.1:{_free_udp_port()}", advertise="127.0.0.1", bind="127.0.0.1",
        state_dir=str(data_dir / STATE_FOLDER), poll_seconds=POLL_S,
        controllers=[ControllerConfig(serial=SERIAL, address=emulator.address, site=gate.site,
                                      gate=gate.roster.gate_id, doors=gate.roster.doors)])
    swipes = SwipeGenerator(controller, random.Random(gate.seed), other_cards=gate.other_cards)
    tell(f"{gate.roster.gate_id} is an emulated UHPPOTE controller (serial {SERIAL}, UDP {emulator.address}) "
         f"behind the UHPPOTE bridge (listening on {config.listen}).")
    try:
        async with asyncio.TaskGroup() as running:  # one failing stops the other: no bridge, no point swiping
            running.create_task(run_bridge(config, broker, site_key, gate.card_roster, stop), name="uhppote-bridge")
            running.create_task(run_swipes(emulator, swipes, gate.swipe_interval, stop), name="uhppote-swipes")
    finally:
        emulator.stop()


def _free_udp_port() -> int:
    """A loopback UDP port free now, for the bridge's listener: the bridge tells the controller the port of its
    configuration, so the port is chosen here rather than by the system when the bridge binds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
