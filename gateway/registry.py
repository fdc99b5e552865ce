"""Which devices the gateway has heard from, and whether they said they are online."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from devices.contract import DeviceState, UplinkModel
from devices.topics import DeviceKind, DeviceTopic

MAX_DEVICES = 100_000  # bounded: a flood of made-up device ids must not eat memory


@dataclass
class DeviceStatus:
    site: str
    kind: DeviceKind
    device: str
    online: bool | None = None
    last_seen: datetime | None = None
    messages: int = 0


class DeviceRegistry:
    """An :class:`~gateway.batching.pipeline.IngestListener`: updated from stored messages."""

    def __init__(self, now: type[datetime] = datetime) -> None:
        self._devices: dict[tuple[str, str, str], DeviceStatus] = {}
        self._now = now

    def on_stored(self, messages: Sequence[tuple[DeviceTopic, UplinkModel | None]]) -> None:
        now = self._now.now(UTC)
        for topic, message in messages:
            key = (topic.site, topic.kind.value, topic.device)
            status = self._devices.get(key)
            if status is None:
                if len(self._devices) >= MAX_DEVICES:
                    continue
                status = self._devices[key] = DeviceStatus(topic.site, topic.kind, topic.device)
            status.last_seen = now
            status.messages += 1
            if isinstance(message, DeviceState):
                status.online = message.online

    def devices(self) -> list[DeviceStatus]:
        return sorted(self._devices.values(), key=lambda s: (s.site, s.kind.value, s.device))

    def online_count(self, kind: DeviceKind | None = None) -> int:
        return sum(1 for s in self._devices.values() if s.online and (kind is None or s.kind is kind))
