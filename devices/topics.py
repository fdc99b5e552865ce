"""Topic layout of the device contract: ``sc/v1/{site}/{kind}/{device}/{channel}``.

Nobody assembles or splits a topic string anywhere else: build with :func:`topic_for`,
read with :func:`parse_topic`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

PREFIX = "sc/v1"
IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")


class DeviceKind(StrEnum):
    GATE = "gate"
    SCALE = "scale"


class Channel(StrEnum):
    EVENT = "event"  # gate access events, QoS 1
    RECORD = "record"  # scale weighing transactions, QoS 1
    STATE = "state"  # retained availability, also the last will
    CMD = "cmd"  # downlink command to the device
    ACK = "ack"  # the device's answer to a command


# Which uplink data channel each kind of device has; state and ack are common to all.
DATA_CHANNEL: dict[DeviceKind, Channel] = {DeviceKind.GATE: Channel.EVENT, DeviceKind.SCALE: Channel.RECORD}
UPLINK_CHANNELS = frozenset({Channel.EVENT, Channel.RECORD, Channel.STATE, Channel.ACK})


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    site: str
    kind: DeviceKind
    device: str
    channel: Channel

    def __str__(self) -> str:
        return topic_for(self.site, self.kind, self.device, self.channel)


class TopicError(ValueError):
    """A topic outside the contract; the message says which part is wrong."""


def topic_for(site: str, kind: DeviceKind | str, device: str, channel: Channel | str) -> str:
    """The topic a device of ``kind`` uses on ``channel``; identifiers are checked."""
    for label, value in (("site", site), ("device", device)):
        if not IDENTIFIER.fullmatch(value):
            raise TopicError(f"{label} {value!r} must match [A-Za-z0-9_-]{{1,64}}")
    return f"{PREFIX}/{site}/{DeviceKind(kind).value}/{device}/{Channel(channel).value}"


@lru_cache(maxsize=8192)
def parse_topic(topic: str) -> DeviceTopic:
    """Split a contract topic into its parts, or raise :class:`TopicError` saying why not.

    Cached: a site has a bounded set of devices, each publishing on the same few topics.
    """
    parts = topic.split("/")
    if len(parts) != 6 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise TopicError(f"topic {topic!r} is not of the form {PREFIX}/{{site}}/{{kind}}/{{device}}/{{channel}}")
    _, _, site, kind, device, channel = parts
    if not IDENTIFIER.fullmatch(site):
        raise TopicError(f"site {site!r} must match [A-Za-z0-9_-]{{1,64}}")
    if not IDENTIFIER.fullmatch(device):
        raise TopicError(f"device {device!r} must match [A-Za-z0-9_-]{{1,64}}")
    try:
        device_kind = DeviceKind(kind)
    except ValueError:
        raise TopicError(f"device kind {kind!r} is not one of gate, scale") from None
    try:
        device_channel = Channel(channel)
    except ValueError:
        raise TopicError(f"channel {channel!r} is not one of event, record, state, cmd, ack") from None
    if device_channel in (Channel.EVENT, Channel.RECORD) and DATA_CHANNEL[device_kind] is not device_channel:
        raise TopicError(f"a {kind} has no {channel!r} channel (it publishes {DATA_CHANNEL[device_kind].value!r})")
    return DeviceTopic(site, device_kind, device, device_channel)


def subscription_filter(share_group: str | None = None, kind: DeviceKind | None = None) -> str:
    """The filter a gateway subscribes to: every contract topic (or only one kind of device's, as
    a domain service does), optionally in a shared group."""
    base = f"{PREFIX}/#" if kind is None else f"{PREFIX}/+/{kind.value}/#"
    return f"$share/{share_group}/{base}" if share_group else base


def filter_covers(allowed: str, wanted: str) -> bool:
    """Whether every topic the filter ``wanted`` can match is also matched by the filter ``allowed``.

    A broker's topic rights: a client may subscribe to ``wanted`` (or be sent a topic, a filter without
    wildcards) only within what it was ``allowed``. A wildcard is covered only by a wildcard at least as
    wide: ``+`` by ``+`` or ``#``, ``#`` by ``#``, so ``#`` is never within ``sc/v1/demo/#``.
    """
    allowed_levels, wanted_levels = allowed.split("/"), wanted.split("/")
    for index, level in enumerate(allowed_levels):
        if level == "#":
            return True  # the rest of the topic, whatever it is, and the parent level itself
        if index >= len(wanted_levels):
            return False
        if level == "+":
            if wanted_levels[index] == "#":
                return False
        elif wanted_levels[index] != level:
            return False
    return len(wanted_levels) == len(allowed_levels)
