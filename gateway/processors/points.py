"""The measurement schema: how an accepted message or a dead letter becomes one time-series point.

Low-cardinality values are tags (grouped on in dashboards); identifiers are fields. Every
measurement always carries the same tag keys (absent values are ``none``), which InfluxDB 3
requires of a table. A point's identity is measurement + tags + time, so the time of a device
message is its own timestamp (millisecond precision) plus a sub-millisecond offset derived from
its id: the same event stored twice is one point, two events in the same millisecond are two.
See docs/storage.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from typing import NamedTuple, Protocol, TypeVar

from devices.contract import (
    AccessMethod,
    CommandAck,
    DenialReason,
    DeviceState,
    Direction,
    GateEvent,
    GateEventKind,
    Payment,
    ScaleRecord,
    UplinkModel,
    amount_mismatch,
    expected_amount_fen,
)
from devices.topics import IDENTIFIER, DeviceTopic
from gateway.processors.redaction import redact_credentials

FieldValue = int | float | bool | str
_T = TypeVar("_T")
NONE = "none"
NS_PER_MS = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)


class Measurement:
    GATE_EVENT = "gate_event"
    SCALE_RECORD = "scale_record"
    DEVICE_STATE = "device_state"
    DEVICE_ACK = "device_ack"
    DEAD_LETTER = "dead_letter"
    GATEWAY_STATS = "gateway_stats"


# The field present in every point of a measurement: what COUNT() counts.
COUNT_FIELD: dict[str, str] = {
    Measurement.GATE_EVENT: "event_id",
    Measurement.SCALE_RECORD: "record_id",
    Measurement.DEVICE_STATE: "online",
    Measurement.DEVICE_ACK: "cmd_id",
    Measurement.DEAD_LETTER: "payload_bytes",
    Measurement.GATEWAY_STATS: "received",
}

TAG_KEYS: dict[str, tuple[str, ...]] = {
    Measurement.GATE_EVENT: ("site", "device", "door", "kind", "method", "direction", "reason", "offline"),
    Measurement.SCALE_RECORD: ("site", "device", "stall", "plu", "payment", "amount_mismatch"),
    Measurement.DEVICE_STATE: ("site", "kind", "device"),
    Measurement.DEVICE_ACK: ("site", "kind", "device", "ok"),
    Measurement.DEAD_LETTER: ("site", "reason"),
    Measurement.GATEWAY_STATS: ("site", "gateway"),
}


class Point(NamedTuple):
    """One time-series point. A named tuple rather than a frozen dataclass: the hot path makes one per message,
    and a tuple is made several times faster than a frozen dataclass sets its fields."""

    measurement: str
    tags: tuple[tuple[str, str], ...]  # in TAG_KEYS order, all present
    fields: Mapping[str, FieldValue]
    time_ns: int

    def to_line(self) -> str:
        """InfluxDB line protocol, nanosecond precision."""
        series = _series_text(self.measurement, self.tags)
        # one loop, the common types tested by identity: this runs for every point stored
        field_texts = []
        for key, value in self.fields.items():
            kind = type(value)
            if kind is str:
                field_texts.append(f'{key}="{_escape_field(value)}"')  # type: ignore[arg-type]
            elif kind is int:
                field_texts.append(f"{key}={value}i")
            else:
                field_texts.append(f"{key}={_field_literal(value)}")
        return f"{series} {','.join(field_texts)} {self.time_ns}"


# A named tuple's own constructor is a Python function; the hot builders make points with tuple's, all four
# fields given in order.
_new_point = tuple.__new__

# Series (measurement + tags) repeat endlessly; escaping them once saves a fifth of the encoding. The hot builders
# hand out the same tags tuple for the same tag set (see _remembered), so the text is first looked up by that
# tuple's identity (hashing a tuple of tuples costs more than the lookup), then by value. An entry keeps its
# tuple alive, so no other object can take its id while the entry exists.
_SERIES_TEXT: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
_SERIES_BY_ID: dict[int, tuple[tuple[tuple[str, str], ...], str, str]] = {}
_SERIES_TEXT_MAX = 50_000


def _series_text(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    known = _SERIES_BY_ID.get(id(tags))
    if known is not None and known[0] is tags and known[1] is measurement:
        return known[2]
    series = _SERIES_TEXT.get((measurement, tags))
    if series is None:
        series = measurement + "".join(f",{key}={_escape_tag(value)}" for key, value in tags)
        if len(_SERIES_TEXT) >= _SERIES_TEXT_MAX:
            _SERIES_TEXT.clear()
        _SERIES_TEXT[(measurement, tags)] = series
    if len(_SERIES_BY_ID) >= _SERIES_TEXT_MAX:
        _SERIES_BY_ID.clear()
    _SERIES_BY_ID[id(tags)] = (tags, measurement, series)
    return series


def _escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _field_literal(value: FieldValue) -> str:
    if isinstance(value, str):
        return f'"{_escape_field(value)}"'
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    return repr(value)


def identity_time_ns(ts: datetime, identity: str) -> int:
    """Milliseconds of ``ts`` plus a stable sub-millisecond offset from ``identity``."""
    return identity_time_ns_at(epoch_millis(ts), identity)


def identity_time_ns_at(millis: int, identity: str) -> int:
    """:func:`identity_time_ns` of a time already in epoch milliseconds."""
    digest = blake2b(identity.encode(), digest_size=8).digest()
    return millis * NS_PER_MS + int.from_bytes(digest, "big") % NS_PER_MS


def epoch_millis(ts: datetime) -> int:
    """Whole milliseconds since the epoch, in exact integer arithmetic."""
    return (ts - EPOCH) // ONE_MS


CREDENTIAL_CACHED_CHARS = 128  # the contract's longest credential


class CredentialHasher:
    """Keyed hash of a raw credential: card numbers are a small space, a plain hash is reversible.

    The same cards and passes come back all day, and an HMAC costs more than the rest of a gate event's point:
    recent answers are kept (in this process's memory only, as the messages that carry the credentials are)."""

    def __init__(self, key: bytes, remembered: int = 16_384) -> None:
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)  # copied per credential: the key is set up once
        self._recent: dict[str, str] = {}
        self._remembered = remembered

    def __call__(self, credential: str) -> str:
        hashed = self._recent.get(credential)
        if hashed is None:
            keyed = self._keyed.copy()
            keyed.update(credential.encode())
            hashed = keyed.hexdigest()[:32]
            if len(credential) <= CREDENTIAL_CACHED_CHARS:  # a dead letter's redaction may hash anything
                if len(self._recent) >= self._remembered:
                    self._recent.clear()
                self._recent[credential] = hashed
        return hashed


def _flag(value: bool) -> str:
    return "true" if value else "false"


def point_for(
    topic: DeviceTopic, message: UplinkModel, received_ns: int, hash_credential: CredentialHasher
) -> Point:
    """The point an accepted message is stored as."""
    if isinstance(message, GateEvent):
        return gate_event_point(topic, message, epoch_millis(message.ts), received_ns, hash_credential)
    if isinstance(message, ScaleRecord):
        return scale_record_point(topic, message, epoch_millis(message.ts), received_ns)
    if isinstance(message, DeviceState):
        return _state_point(topic, message, received_ns)
    return _ack_point(topic, message, received_ns)


class GateEventFields(Protocol):
    """What a gate event's point is made of: a :class:`~devices.contract.GateEvent`, or the hot path's decoding
    of one (:mod:`gateway.processors.hot_path`), which builds its point here too, so there is one schema."""

    @property
    def event_id(self) -> str: ...
    @property
    def door(self) -> int: ...
    @property
    def kind(self) -> GateEventKind: ...
    @property
    def method(self) -> AccessMethod | None: ...
    @property
    def credential(self) -> str | None: ...
    @property
    def direction(self) -> Direction | None: ...
    @property
    def reason(self) -> DenialReason | None: ...
    @property
    def offline(self) -> bool: ...


class ScaleRecordFields(Protocol):
    """What a scale record's point is made of (see :class:`GateEventFields`)."""

    @property
    def record_id(self) -> str: ...
    @property
    def stall(self) -> str: ...
    @property
    def plu(self) -> str: ...
    @property
    def product(self) -> str | None: ...
    @property
    def net_g(self) -> int: ...
    @property
    def unit_price_fen(self) -> int: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def trace_code(self) -> str: ...
    @property
    def batch(self) -> str | None: ...
    @property
    def payment(self) -> Payment | None: ...


_ENTRY_ATTEMPTS = (GateEventKind.GRANTED, GateEventKind.DENIED)


_GateTagKey = tuple[str, str, int, GateEventKind, AccessMethod | None, Direction | None, DenialReason | None, bool]
_ScaleTagKey = tuple[str, str, str, str, Payment | None, bool]
# A site's tag sets repeat (so few devices, doors and kinds): each is built once, then looked up by its values.
_gate_tags: dict[_GateTagKey, tuple[tuple[str, str], ...]] = {}
_scale_tags: dict[_ScaleTagKey, tuple[tuple[str, str], ...]] = {}
TAG_SETS_KEPT = 50_000


def forget_tag_sets() -> None:
    """Drop the remembered tag sets, so the next points build theirs afresh (a test comparing two paths needs it)."""
    _gate_tags.clear()
    _scale_tags.clear()


def _remembered(cache: dict[_T, tuple[tuple[str, str], ...]], key: _T,
                tags: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if len(cache) >= TAG_SETS_KEPT:
        cache.clear()
    cache[key] = tags
    return tags


def gate_event_point(
    topic: DeviceTopic, event: GateEventFields, ts_millis: int, received_ns: int, hash_credential: CredentialHasher
) -> Point:
    """A gate event's point; ``ts_millis`` is its time (``ts``) in epoch milliseconds."""
    kind, method, direction, reason = event.kind, event.method, event.direction, event.reason
    key = (topic.site, topic.device, event.door, kind, method, direction, reason, event.offline)
    tags = _gate_tags.get(key) or _remembered(_gate_tags, key, (
        ("site", topic.site),
        ("device", topic.device),
        ("door", str(event.door)),
        ("kind", kind.value),
        ("method", method.value if method else NONE),
        ("direction", direction.value if direction else NONE),
        ("reason", reason.value if reason else NONE),
        ("offline", _flag(event.offline)),
    ))
    fields: dict[str, FieldValue] = {"event_id": event.event_id, "delay_ms": received_ns // NS_PER_MS - ts_millis}
    if kind in _ENTRY_ATTEMPTS:
        # 1 or 0 on every entry attempt, so the denial rate is one InfluxQL mean() (a tag cannot be averaged)
        fields["denied"] = int(kind is GateEventKind.DENIED)
    if event.credential is not None:
        fields["credential_hash"] = hash_credential(event.credential)
    return _new_point(Point, (Measurement.GATE_EVENT, tags, fields, identity_time_ns_at(ts_millis, event.event_id)))


def scale_record_point(topic: DeviceTopic, record: ScaleRecordFields, ts_millis: int, received_ns: int) -> Point:
    """A scale record's point; ``ts_millis`` is its time (``ts``) in epoch milliseconds."""
    net_g, unit_price_fen, amount_fen, payment = record.net_g, record.unit_price_fen, record.amount_fen, record.payment
    mismatch = amount_mismatch(net_g, unit_price_fen, amount_fen)
    key = (topic.site, topic.device, record.stall, record.plu, payment, mismatch)
    tags = _scale_tags.get(key) or _remembered(_scale_tags, key, (
        ("site", topic.site),
        ("device", topic.device),
        ("stall", record.stall),
        ("plu", record.plu),
        ("payment", payment.value if payment else NONE),
        ("amount_mismatch", _flag(mismatch)),
    ))
    fields: dict[str, FieldValue] = {
        "record_id": record.record_id,
        "trace_code": record.trace_code,
        "net_g": net_g,
        "unit_price_fen": unit_price_fen,
        "amount_fen": amount_fen,
        "expected_amount_fen": expected_amount_fen(net_g, unit_price_fen),
        "delay_ms": received_ns // NS_PER_MS - ts_millis,
    }
    if record.product is not None:
        fields["product"] = record.product
    if record.batch is not None:
        fields["batch"] = record.batch
    return _new_point(Point, (Measurement.SCALE_RECORD, tags, fields, identity_time_ns_at(ts_millis, record.record_id)))


def _state_point(topic: DeviceTopic, state: DeviceState, received_ns: int) -> Point:
    tags = (("site", topic.site), ("kind", topic.kind.value), ("device", topic.device))
    fields: dict[str, FieldValue] = {"online": state.online}
    if state.firmware is not None:
        fields["firmware"] = state.firmware
    time_ns = identity_time_ns(state.ts, "state") if state.ts else received_ns
    return Point(Measurement.DEVICE_STATE, tags, fields, time_ns)


def _ack_point(topic: DeviceTopic, ack: CommandAck, received_ns: int) -> Point:
    tags = (("site", topic.site), ("kind", topic.kind.value), ("device", topic.device), ("ok", _flag(ack.ok)))
    fields: dict[str, FieldValue] = {"cmd_id": ack.cmd_id}
    if ack.error is not None:
        fields["error"] = ack.error
    time_ns = identity_time_ns(ack.ts, ack.cmd_id) if ack.ts else received_ns
    return Point(Measurement.DEVICE_ACK, tags, fields, time_ns)


def dead_letter_point(
    topic: str,
    payload: bytes,
    reason: str,
    detail: str,
    received_ns: int,
    max_payload_bytes: int,
    hash_credential: CredentialHasher | None = None,
) -> Point:
    """A rejected message, kept with its raw payload (first ``max_payload_bytes``, base64), except
    that any ``credential`` in it is replaced by its keyed hash (``hash_credential``; without one,
    by a mark; see :mod:`gateway.processors.redaction`): a malformed gate event must not put a
    resident's card number or a visitor's pass where operators read dead letters, and the hash
    still matches that credential's gate events."""
    parts = topic.split("/")
    site = parts[2] if len(parts) > 2 and IDENTIFIER.fullmatch(parts[2]) else NONE
    redacted = redact_credentials(payload[:max_payload_bytes], hash_credential)
    kept = redacted[:max_payload_bytes]  # a hash may be longer than the value it replaces: the bound still holds
    fields: dict[str, FieldValue] = {
        "topic": _printable(topic[:256]),
        "detail": _printable(detail[:1024]),
        "payload_b64": base64.b64encode(kept).decode("ascii"),
        "payload_bytes": len(payload),
        "truncated": len(payload) > max_payload_bytes or len(redacted) > max_payload_bytes,
    }
    return Point(Measurement.DEAD_LETTER, (("site", site), ("reason", reason)), fields, received_ns)


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


@dataclass(frozen=True, slots=True)
class GatewayCounters:
    """A gateway's own counters (cumulative since start), kept in the time series for dashboards."""

    received: int
    stored: int
    spooled: int
    dead_letters: int
    spool_points: int
    batches_in_flight: int
    broker_connected: bool
    store_up: bool


def gateway_stats_point(site: str, gateway: str, counters: GatewayCounters, now_ns: int) -> Point:
    fields: dict[str, FieldValue] = {
        "received": counters.received,
        "stored": counters.stored,
        "spooled": counters.spooled,
        "dead_letters": counters.dead_letters,
        "spool_points": counters.spool_points,
        "batches_in_flight": counters.batches_in_flight,
        "broker_connected": counters.broker_connected,
        "store_up": counters.store_up,
    }
    return Point(Measurement.GATEWAY_STATS, (("site", site), ("gateway", gateway)), fields, now_ns)
