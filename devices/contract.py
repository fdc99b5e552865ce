"""Message models of the device contract (JSON, UTF-8), validated with pydantic v2.

Money is integer fen, weight integer grams, never floats. Times are aware datetimes in UTC
inside; a device may send RFC 3339 with an offset or integer epoch milliseconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def to_utc(value: object) -> datetime:
    """RFC 3339 text with an offset, or integer epoch milliseconds; nothing else.

    Stricter than pydantic's own datetime parsing, which would also take "1763861400" as seconds.
    """
    if isinstance(value, datetime) and value.tzinfo is not None:
        parsed = value
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            parsed = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("epoch milliseconds out of range") from None
    elif isinstance(value, str) and RFC3339.fullmatch(value):
        try:
            # upper(): RFC 3339 allows "t" and "z"; Python 3.11 parses only "T" and "Z" (and
            # drops digits past microseconds, which devices sending nanoseconds need)
            parsed = datetime.fromisoformat(value.upper())
        except ValueError:
            raise ValueError(f"{value!r} is not a valid RFC 3339 time") from None
    else:
        raise ValueError("must be RFC 3339 text with an offset (2026-11-23T08:30:00+08:00) or integer epoch ms")
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range") from None
    if not EARLIEST <= parsed < LATEST:
        raise ValueError(f"time {parsed.isoformat()} is outside 2000-01-01 .. 2100-01-01 (device clock not set?)")
    return parsed


Timestamp = Annotated[
    datetime,
    PlainValidator(to_utc, json_schema_input_type=str | int),
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
]
"""RFC 3339 with an offset, or integer epoch milliseconds; always a UTC datetime after validation."""

# No control characters: identifiers end up in line protocol and in logs.
Identifier = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,64}$")]
# Stall and PLU codes become time-series tags (grouped on, low cardinality): letters of any script,
# digits and ``_ . : -``, so no escaping can go wrong anywhere downstream.
TagCode = Annotated[str, StringConstraints(pattern=r"^[\w.:-]{1,32}$")]
DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
ShortText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,128}$")]


class GateEventKind(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    FORCED = "forced"
    HELD_OPEN = "held_open"
    TAMPER = "tamper"
    DOOR_OPEN = "door_open"
    DOOR_CLOSED = "door_closed"


class AccessMethod(StrEnum):
    CARD = "card"
    QR = "qr"
    FACE = "face"
    PIN = "pin"
    FINGERPRINT = "fingerprint"
    REMOTE = "remote"
    BUTTON = "button"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class DenialReason(StrEnum):
    NO_PERMISSION = "no_permission"
    EXPIRED = "expired"
    UNKNOWN_CREDENTIAL = "unknown_credential"
    OUTSIDE_SCHEDULE = "outside_schedule"
    BLACKLISTED = "blacklisted"


class Payment(StrEnum):
    CASH = "cash"
    WECHAT = "wechat"
    ALIPAY = "alipay"
    UNIONPAY = "unionpay"
    CARD = "card"
    OTHER = "other"


class _Uplink(BaseModel):
    # strict: "12" is not a door number and 12.0 is not a weight in grams; unknown keys are
    # refused so that a firmware typo shows up as a dead letter instead of a silent gap.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    device: DeviceId | None = Field(default=None, description="If present, must equal the topic's device id")


class GateEvent(_Uplink):
    """One access event from a gate controller (topic ``.../gate/{device}/event``)."""

    event_id: Identifier
    ts: Timestamp
    door: Annotated[StrictInt, Field(ge=1, le=1024)]
    kind: GateEventKind
    method: AccessMethod | None = None
    credential: ShortText | None = None
    direction: Direction | None = None
    reason: DenialReason | None = None
    offline: StrictBool = False

    @model_validator(mode="after")
    def _kind_needs(self) -> GateEvent:
        if self.kind in (GateEventKind.GRANTED, GateEventKind.DENIED) and self.method is None:
            raise ValueError(f"method is required when kind is {self.kind.value!r}")
        if self.kind is GateEventKind.DENIED and self.reason is None:
            raise ValueError("reason is required when kind is 'denied'")
        if self.kind is not GateEventKind.DENIED and self.reason is not None:
            raise ValueError(f"reason is only allowed when kind is 'denied', not {self.kind.value!r}")
        return self


def expected_amount_fen(net_g: int, unit_price_fen: int) -> int:
    """net_g × unit_price_fen / 1000 rounded half up, in integer arithmetic."""
    return (net_g * unit_price_fen + 500) // 1000


AMOUNT_TOLERANCE_FEN = 1


def amount_mismatch(net_g: int, unit_price_fen: int, amount_fen: int) -> bool:
    """Amount differs from weight × price by more than 1 fen: a short-weight or tampering signal."""
    return abs(amount_fen - expected_amount_fen(net_g, unit_price_fen)) > AMOUNT_TOLERANCE_FEN


class ScaleRecord(_Uplink):
    """One weighing transaction from a traceability scale (topic ``.../scale/{device}/record``)."""

    record_id: Identifier
    ts: Timestamp
    stall: TagCode
    plu: TagCode
    product: ShortText | None = None
    net_g: Annotated[StrictInt, Field(gt=0, le=1_000_000)]
    unit_price_fen: Annotated[StrictInt, Field(ge=0, le=100_000_000)]
    amount_fen: Annotated[StrictInt, Field(ge=0, le=100_000_000_000)]
    trace_code: Identifier
    batch: Identifier | None = None
    payment: Payment | None = None

    @property
    def expected_amount_fen(self) -> int:
        return expected_amount_fen(self.net_g, self.unit_price_fen)

    @property
    def amount_mismatch(self) -> bool:
        """Amount differs from weight × price by more than 1 fen: a short-weight or tampering signal."""
        return amount_mismatch(self.net_g, self.unit_price_fen, self.amount_fen)


class DeviceState(BaseModel):
    """Availability, retained on ``.../state``; the device's last will says ``{"online": false}``.

    Devices may add keys of their own (signal strength, uptime, ...); they are kept out of storage.
    """

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    online: StrictBool
    ts: Timestamp | None = None
    device: DeviceId | None = None
    firmware: ShortText | None = None


class Command(BaseModel):
    """Downlink envelope on ``.../cmd``: the device answers on ``.../ack`` echoing ``cmd_id``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    cmd_id: Identifier
    op: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    args: dict[str, Any] = Field(default_factory=dict)
    issued_at: Timestamp | None = None
    expires_at: Timestamp | None = None


class CommandAck(_Uplink):
    """A device's answer to a :class:`Command`: ``ok`` true, or false with an ``error``."""

    cmd_id: Identifier
    ok: StrictBool
    error: ShortText | None = None
    result: dict[str, Any] | None = None
    ts: Timestamp | None = None

    @model_validator(mode="after")
    def _error_when_failed(self) -> CommandAck:
        if not self.ok and self.error is None:
            raise ValueError("error is required when ok is false")
        return self


UplinkModel = GateEvent | ScaleRecord | DeviceState | CommandAck
ChannelName = Literal["event", "record", "state", "ack"]
