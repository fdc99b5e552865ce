"""Deliberately malformed traffic: a good message of a simulated device spoilt the ways real firmware and bridges
spoil them, one way for each dead-letter reason of the gateway in turn (cut or doubled JSON, GBK instead of UTF-8,
a schema violation, a topic outside the contract, another device's name, a payload far too large)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Final

from devices.simulator.firmware import DATA_QOS, SimMessage, SimulatedDevice, json_bytes, json_text
from devices.topics import DATA_CHANNEL, PREFIX, Channel, DeviceKind, topic_for

# The gateway's default payload limit is 64 KiB; oversized messages are well past it.
OVERSIZED_PAYLOAD_BYTES: Final = 64 * 1024 + 4096

_DOOR_NAMES: Final = ("东门", "南门", "北门", "地库入口")


class _Malformation(Enum):
    BAD_JSON = "bad_json"
    NOT_UTF8 = "not_utf8"
    SCHEMA = "schema"
    UNKNOWN_TOPIC = "unknown_topic"
    DEVICE_MISMATCH = "device_mismatch"
    TOO_LARGE = "too_large"


_MALFORMATIONS: Final = tuple(_Malformation)
_VARIANTS_PER_MALFORMATION: Final = 3


class MalformedTraffic:
    """Spoils the site's messages in turn: every kind of malformation, then the next variant of each."""

    def __init__(self, site: str, rng: random.Random, devices: Sequence[SimulatedDevice]) -> None:
        self._site = site
        self._rng = rng
        self._devices = devices
        self._count = 0

    def spoil(self, device: SimulatedDevice, body: Mapping[str, object]) -> SimMessage:
        """A message the gateway must dead-letter, made from ``body``, a good message of ``device``."""
        turn = self._count
        self._count += 1
        kind = _MALFORMATIONS[turn % len(_MALFORMATIONS)]
        variant = (turn // len(_MALFORMATIONS)) % _VARIANTS_PER_MALFORMATION
        topic, payload = device.topic, b""
        if kind is _Malformation.BAD_JSON:
            payload = self._broken_json(body, variant)
        elif kind is _Malformation.NOT_UTF8:
            payload = _gbk_encoded(device, body)
        elif kind is _Malformation.SCHEMA:
            payload = json_bytes(_schema_violation(device, body, variant))
        elif kind is _Malformation.UNKNOWN_TOPIC:
            topic, payload = _unknown_topic(self._site, device, variant), json_bytes(body)
        elif kind is _Malformation.DEVICE_MISMATCH:
            payload = json_bytes({**body, "device": self._someone_else(device)})
        else:
            payload = json_bytes({**body, "coredump": self._rng.randbytes(OVERSIZED_PAYLOAD_BYTES // 2).hex()})
        return SimMessage(topic, payload, DATA_QOS, retain=False, bad=True)

    def _broken_json(self, body: Mapping[str, object], variant: int) -> bytes:
        text = json_text(body)
        if variant == 0:  # connection dropped mid-message; cut between characters, not inside one
            return text[: self._rng.randint(1, len(text) - 1)].encode()
        if variant == 1:  # firmware printing its dictionary instead of serialising it
            return str(dict(body)).encode()
        return (text + text).encode()  # two messages glued together by a serial-to-MQTT bridge

    def _someone_else(self, device: SimulatedDevice) -> str:
        """Another device's id, as when a configuration is cloned onto a second controller."""
        same_kind = [
            other.device_id for other in self._devices if other.kind is device.kind and other is not device
        ]
        others = same_kind or [other.device_id for other in self._devices if other is not device]
        return self._rng.choice(others) if others else f"{device.device_id}-old"


def _gbk_encoded(device: SimulatedDevice, body: Mapping[str, object]) -> bytes:
    """Old firmware writing Chinese in GBK; a gate adds its door name so there is Chinese to encode."""
    if device.kind is DeviceKind.GATE:
        body = {**body, "door_name": _DOOR_NAMES[device.sequence % len(_DOOR_NAMES)]}
    payload = json_text(body).encode("gbk")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload
    return payload + b"\xff"  # the GBK bytes happened to be valid UTF-8: make sure they are not


def _schema_violation(device: SimulatedDevice, body: Mapping[str, object], variant: int) -> dict[str, object]:
    broken = dict(body)
    gate = device.kind is DeviceKind.GATE
    if variant == 0:  # a required field missing
        del broken["door" if gate else "trace_code"]
    elif variant == 1:  # a wrong type: door as text, weight in kilograms
        key = "door" if gate else "net_g"
        value = broken[key]
        # strict models refuse a float even when it is whole, so 2000 g as 2.0 kg fails too
        broken[key] = value / 1000 if not gate and isinstance(value, int) else str(value)
    else:  # a field the contract does not know
        broken["temperature_c" if gate else "operator"] = 41 if gate else "王师傅"
    return broken


def _unknown_topic(site: str, device: SimulatedDevice, variant: int) -> str:
    if variant == 0:  # the other kind's data channel
        other = Channel.RECORD if device.kind is DeviceKind.GATE else Channel.EVENT
        return topic_for(site, device.kind, device.device_id, other)
    # topic_for refuses to build topics outside the contract, which is what these are
    channel = DATA_CHANNEL[device.kind].value
    if variant == 1:
        kind = "door" if device.kind is DeviceKind.GATE else "balance"
        return f"{PREFIX}/{site}/{kind}/{device.device_id}/{channel}"
    return f"{PREFIX}/{site}/{device.kind.value}/{device.device_id}/{channel}s"
