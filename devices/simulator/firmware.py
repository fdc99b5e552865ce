"""What every simulated device's firmware shares, gate or scale: its identity on the site, the way it numbers its
records, and the way it puts a message on the wire (``ts`` as RFC 3339 with the +08:00 offset or as epoch
milliseconds, Chinese as UTF-8, compact JSON).

All devices of a site draw from the one random stream of their :class:`~devices.simulator.traffic.TrafficGenerator`,
so that a seed replays the whole site exactly.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Final, TypeVar

from pydantic import BaseModel

from devices.topics import DATA_CHANNEL, DeviceKind, topic_for

# Asia/Shanghai has kept +08:00 without daylight saving since 1991; a fixed offset needs no tzdata.
CHINA_STANDARD_TIME: Final = timezone(timedelta(hours=8))
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

DATA_QOS: Final = 1
STATE_QOS: Final = 1


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One MQTT publication of a simulated device; ``bad`` marks a deliberately malformed one."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    bad: bool


class TimestampStyle(Enum):
    """How a vendor's firmware writes ``ts``."""

    RFC3339_CST = "rfc3339"
    EPOCH_MS = "epoch_ms"


@dataclass(slots=True)
class SimulatedDevice:
    """A device's identity and record counter; the gate and the scale add what they hold and do."""

    kind: DeviceKind
    device_id: str
    site: str
    topic: str
    ts_style: TimestampStyle
    names_itself: bool  # whether the firmware puts "device" in the body
    firmware: str
    rng: random.Random  # the site's one stream, shared by all its devices
    sequence: int = 0
    boot_tag: str | None = None

    def next_id(self, now: datetime) -> str:
        """Boot time and a counter, as controllers number records: unique per device, even across runs."""
        if self.boot_tag is None:
            self.boot_tag = now.astimezone(CHINA_STANDARD_TIME).strftime("%y%m%d%H%M%S")
        self.sequence += 1
        return f"{self.boot_tag}-{self.sequence:06d}"


AnyDevice = TypeVar("AnyDevice", bound=SimulatedDevice)


def new_device(
    cls: type[AnyDevice],
    rng: random.Random,
    site: str,
    kind: DeviceKind,
    number: int,
    firmware: Sequence[str],
    prefix: str = "",
) -> AnyDevice:
    """Device ``number`` of its kind, named as the platform expects (``gate-01``; ``north-gate-01`` with a
    ``prefix``), with one of ``firmware``."""
    device_id = f"{prefix}{kind.value}-{number:02d}"
    # Two vendors on site: one sends RFC 3339 local time, the other epoch milliseconds.
    vendor_a = (number % 2 == 1) == (kind is DeviceKind.GATE)
    return cls(
        kind=kind,
        device_id=device_id,
        site=site,
        topic=topic_for(site, kind, device_id, DATA_CHANNEL[kind]),
        ts_style=TimestampStyle.RFC3339_CST if vendor_a else TimestampStyle.EPOCH_MS,
        names_itself=rng.random() < 0.5,
        firmware=rng.choice(firmware),
        rng=rng,
    )


def utc_millis(moment: datetime) -> datetime:
    """``moment`` in UTC, cut to milliseconds so that epoch-ms and RFC 3339 encode the same instant."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _wire_timestamp(ts: datetime, style: TimestampStyle) -> str | int:
    if style is TimestampStyle.EPOCH_MS:
        return (ts - _EPOCH) // timedelta(milliseconds=1)
    return ts.astimezone(CHINA_STANDARD_TIME).isoformat(timespec="milliseconds")


def wire_body(model: BaseModel, ts: datetime, style: TimestampStyle) -> dict[str, object]:
    """The model as a device sends it: pydantic writes UTC, the device its own ``ts`` format."""
    body: dict[str, object] = model.model_dump(mode="json", exclude_none=True)
    if "ts" in body:
        body["ts"] = _wire_timestamp(ts, style)
    return body


def json_text(body: Mapping[str, object]) -> str:
    """Compact JSON with Chinese as itself, as firmware writes it."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def json_bytes(body: Mapping[str, object]) -> bytes:
    return json_text(body).encode("utf-8")
