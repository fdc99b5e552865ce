"""Commands to devices: the services publish a :class:`~devices.contract.Command` on a device's
``cmd`` topic (QoS 1) through the small :class:`Downlink` interface.

Whether a device *did* what it was told is the service's business (it tracks the ``ack`` with the
same ``cmd_id`` and retries); the downlink only says whether the broker took the command.
"""

from __future__ import annotations

import logging
from typing import Protocol

from devices.contract import Command
from devices.topics import Channel, DeviceKind, DeviceTopic, parse_topic, topic_for

log = logging.getLogger(__name__)


class DownlinkUnavailable(Exception):
    """The broker cannot take the command now; the caller keeps it pending and retries later."""


class Downlink(Protocol):
    async def send(self, site: str, kind: DeviceKind, device: str, command: Command) -> None:
        """Publish ``command`` QoS 1 on ``sc/v1/{site}/{kind}/{device}/cmd``.

        Returns once the broker has acknowledged it; raises :class:`DownlinkUnavailable` otherwise."""


def command_payload(command: Command) -> bytes:
    return command.model_dump_json(exclude_none=True).encode()


class RecordingDownlink:
    """An in-memory :class:`Downlink` for unit tests: remembers what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[DeviceTopic, Command]] = []
        self.unavailable = False

    async def send(self, site: str, kind: DeviceKind, device: str, command: Command) -> None:
        if self.unavailable:
            raise DownlinkUnavailable("recording downlink set unavailable")
        self.sent.append((parse_topic(topic_for(site, kind, device, Channel.CMD)), command))

    def commands_to(self, device: str) -> list[Command]:
        return [command for topic, command in self.sent if topic.device == device]

