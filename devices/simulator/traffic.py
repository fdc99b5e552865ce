"""The traffic of a simulated site: its gates (门禁 access controllers) and traceability scales (追溯秤) speaking the
device contract.

:class:`TrafficGenerator` is pure: every message follows from the seed and the ``now`` values the caller
passes in, so a test can replay a day at a farmers' market or a residential compound exactly. Each good
message is built from the contract's pydantic models (so it validates) and then serialised the way
firmware does it: ``ts`` as RFC 3339 with the +08:00 offset or as epoch milliseconds, Chinese as UTF-8.
With probability ``bad_ratio`` a deliberately malformed message is produced instead, one for each
dead-letter reason of the gateway in turn.

What a gate does is in devices/simulator/gate.py, what a scale does in scale.py; the generator picks who speaks
next and routes the platform's commands to them. All of them draw from the generator's one random stream, in the
order of the calls made here: that order is what a seed replays.
"""

from __future__ import annotations

import random
import re
from datetime import datetime

from pydantic import ValidationError

from devices.contract import Command, DeviceState
from devices.simulator.firmware import (
    DATA_QOS,
    STATE_QOS,
    SimMessage,
    TimestampStyle,
    json_bytes,
    utc_millis,
    wire_body,
)
from devices.simulator.gate import GateController, GateKeys, new_gate
from devices.simulator.malformed import MalformedTraffic
from devices.simulator.roster import SimulatedGate, SimulatedStall, people_of, stall_of
from devices.simulator.scale import TraceabilityScale, new_scales
from devices.topics import Channel, DeviceKind, topic_for

ID_PREFIX = re.compile(r"[A-Za-z0-9_-]{0,24}")


class TrafficGenerator:
    """Deterministic traffic of ``gates`` access controllers and ``scales`` traceability scales at ``site``.

    Call :meth:`next_message` with a ``now`` that moves forward: door open/close cycles and alarms
    are scheduled and come out once ``now`` reaches them.

    ``id_prefix`` goes before every device id and resident id (``north-gate-01``, ``north-P010001``): a second
    site served by the same platform — the demo's second compound — needs ids of its own, as the platform's gate and
    resident ids, and the broker's client ids, are unique across sites. The traffic is the same as without it.
    """

    def __init__(
        self,
        site: str,
        gates: int,
        scales: int,
        seed: int,
        bad_ratio: float = 0.0,
        gate_keys: GateKeys | None = None,
        id_prefix: str = "",
    ) -> None:
        topic_for(site, DeviceKind.GATE, "gate-01", Channel.STATE)  # raises TopicError for a bad site
        if not ID_PREFIX.fullmatch(id_prefix):
            raise ValueError(f"id_prefix must match {ID_PREFIX.pattern}, got {id_prefix!r}")
        if gates < 0 or scales < 0 or gates + scales == 0:
            raise ValueError(f"need at least one device, got gates={gates} scales={scales}")
        if not 0.0 <= bad_ratio <= 1.0:
            raise ValueError(f"bad_ratio must be within 0..1, got {bad_ratio}")
        self.site = site
        self.bad_ratio = bad_ratio
        self._rng = random.Random(seed)
        self.id_prefix = id_prefix
        self._gates = [new_gate(self._rng, site, number, gate_keys, id_prefix) for number in range(1, gates + 1)]
        self._scales = new_scales(self._rng, site, scales, id_prefix)
        self._all: list[GateController | TraceabilityScale] = [*self._gates, *self._scales]
        self._by_id = {device.device_id: device for device in self._all}
        self._malformed = MalformedTraffic(site, self._rng, self._all)

    @property
    def devices(self) -> tuple[tuple[DeviceKind, str], ...]:
        """Every simulated device as ``(kind, device id)``, gates first."""
        return tuple((device.kind, device.device_id) for device in self._all)

    def market_roster(self, now: datetime) -> tuple[SimulatedStall, ...]:
        """The simulated scales' stalls and goods, with the batch ids they print on ``now``'s day."""
        return tuple(stall_of(scale, now) for scale in self._scales)

    def community_roster(self) -> tuple[SimulatedGate, ...]:
        """The simulated gates with their residents' cards (and the lapsed and blacklisted ones)."""
        return tuple(people_of(gate) for gate in self._gates)

    def hand_over(self, gate_id: str) -> SimulatedGate:
        """Stop simulating gate ``gate_id``, for another controller to stand in for it (``smartcity run --demo
        --uhppote``: an emulated UHPPOTE controller behind its bridge): it publishes nothing more and its commands
        are left to the stand-in. The community roster still lists it with its people, so the platform's data keeps
        the gate. Returns its people and cards, for the stand-in to be given."""
        device = self._by_id.get(gate_id)
        if not isinstance(device, GateController):
            raise ValueError(f"no simulated gate {gate_id!r} to hand over")
        self._all.remove(device)  # in place: the malformed traffic spoils what the remaining devices say
        del self._by_id[gate_id]
        return people_of(device)

    def next_message(self, now: datetime) -> SimMessage:
        """The next publication of a randomly chosen device at ``now`` (an aware datetime)."""
        now = utc_millis(now)
        device = self._rng.choice(self._all)
        if self._rng.random() < self.bad_ratio:
            return self._malformed.spoil(device, self._any_good_body(device, now))
        if isinstance(device, GateController):
            body = device.next_event(now)
        elif (sale := device.next_sale(now)) is not None:
            body = sale
        else:  # nothing it may sell (no price in force, batches blocked): it only says it is there
            return self.state_message(device.kind, device.device_id, True, now)
        return SimMessage(device.topic, json_bytes(body), DATA_QOS, retain=False, bad=False)

    def state_message(self, kind: DeviceKind, device_id: str, online: bool, now: datetime) -> SimMessage:
        """The retained availability message of a device; it does not advance the traffic sequence."""
        now = utc_millis(now)
        known = self._by_id.get(device_id)
        style = known.ts_style if known is not None else TimestampStyle.RFC3339_CST
        state = DeviceState(
            online=online,
            ts=now,
            device=device_id,
            firmware=known.firmware if known is not None else None,
        )
        body = wire_body(state, now, style)
        if online and isinstance(known, GateController) and known.memory is not None:
            # the whitelist it holds (both null when none), on every state: after a reboot the platform can tell
            body.update(known.memory.state_report())
        return SimMessage(
            topic_for(self.site, kind, device_id, Channel.STATE), json_bytes(body), STATE_QOS, True, False
        )

    # -- commands from the platform ---------------------------------------------------------------

    def held_whitelist(self, device_id: str) -> dict[str, object] | None:
        """What a simulated gate says in its state about the whitelist it holds (None for a scale, or a
        gate without the site key)."""
        device = self._by_id.get(device_id)
        if not isinstance(device, GateController) or device.memory is None:
            return None
        return dict(device.memory.state_report())

    def answer(self, kind: DeviceKind, device_id: str, payload: bytes, now: datetime) -> SimMessage | None:
        """What a device does with a command received on its ``cmd`` topic: the ack to publish, or
        None when it ignores the command (unreadable, or for a device not simulated here)."""
        device = self._by_id.get(device_id)
        if device is None or device.kind is not kind:
            return None
        try:
            command = Command.model_validate_json(payload)
        except ValidationError:
            return None  # firmware drops what it cannot parse; the platform's retry times out
        now = utc_millis(now)
        ack = device.obey(command, now)
        body = wire_body(ack.model_copy(update={"ts": now}), now, device.ts_style)
        topic = topic_for(self.site, kind, device_id, Channel.ACK)
        return SimMessage(topic, json_bytes(body), DATA_QOS, retain=False, bad=False)

    @staticmethod
    def _any_good_body(device: GateController | TraceabilityScale, now: datetime) -> dict[str, object]:
        """A good message of the device to spoil: someone at a gate's door, or a sale of anything on a scale's
        board (blocks and pushed prices aside)."""
        if isinstance(device, GateController):
            return device.any_grant(now)
        return device.any_sale(now) or {}
