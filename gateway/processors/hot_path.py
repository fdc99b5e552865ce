"""The hot path's decoding of gate events and scale records, straight to their points.

:func:`gateway.processors.decoding.decode` with the contract's pydantic models is the definition of what a device
may send, and what the API documents. Decoding a backlog with it, then building each point from the model, took
about half of the gateway's time; this decodes the two hot channels with msgspec structs that mirror the models,
checks the models' own rules on them, and builds the point with the same functions as :func:`point_for`.

It only ever *takes* a message or *declines* it (returns None): anything it declines — every message the models
would refuse, and anything it is unsure of (a stall code outside ASCII, say) — goes through :func:`decode` as
before, so a rejection and its dead-letter reason are always the models'. What it takes, the models take too,
with the same point: tests/unit/test_hot_path.py checks that property with hypothesis over valid, mutated and
hostile messages.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from devices.contract import (
    AccessMethod,
    DenialReason,
    Direction,
    GateEventKind,
    Payment,
    to_utc,
)
from devices.topics import Channel, DeviceTopic, TopicError, parse_topic
from gateway.processors.points import CredentialHasher, Point, epoch_millis, gate_event_point, scale_record_point

# The contract's string rules (devices.contract), anchored with \Z: msgspec matches with Python's re, whose "$"
# would also match before a final newline, which pydantic's regex engine does not. Stall and PLU codes take only
# ASCII here: "\w" is not the same set of characters in the two engines; other codes go the models' way.
_Identifier = Annotated[str, msgspec.Meta(pattern=r"^[^\x00-\x1f\x7f]{1,64}\Z")]
_TagCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]{1,32}\Z")]
_DeviceId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}\Z")]
_ShortText = Annotated[str, msgspec.Meta(pattern=r"^[^\x00-\x1f\x7f]{1,128}\Z")]

EARLIEST_MS = 946_684_800_000  # devices.contract.EARLIEST
LATEST_MS = 4_102_444_800_000  # devices.contract.LATEST


class _GateEvent(msgspec.Struct, forbid_unknown_fields=True):
    event_id: _Identifier
    ts: str | int
    door: Annotated[int, msgspec.Meta(ge=1, le=1024)]
    kind: GateEventKind
    method: AccessMethod | None = None
    credential: _ShortText | None = None
    direction: Direction | None = None
    reason: DenialReason | None = None
    offline: bool = False
    device: _DeviceId | None = None


class _ScaleRecord(msgspec.Struct, forbid_unknown_fields=True):
    record_id: _Identifier
    ts: str | int
    stall: _TagCode
    plu: _TagCode
    net_g: Annotated[int, msgspec.Meta(gt=0, le=1_000_000)]
    unit_price_fen: Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
    amount_fen: Annotated[int, msgspec.Meta(ge=0, le=100_000_000_000)]
    trace_code: _Identifier
    product: _ShortText | None = None
    batch: _Identifier | None = None
    payment: Payment | None = None
    device: _DeviceId | None = None


_gate_events = msgspec.json.Decoder(_GateEvent)
_scale_records = msgspec.json.Decoder(_ScaleRecord)
_ENTRY_ATTEMPTS = (GateEventKind.GRANTED, GateEventKind.DENIED)


def _topic(topic: str) -> DeviceTopic | None:
    try:
        return parse_topic(topic)  # cached
    except TopicError:
        return None


def _millis(ts: str | int) -> int | None:
    """Epoch milliseconds of a contract timestamp, or None where the contract refuses it."""
    if type(ts) is int:
        return ts if EARLIEST_MS <= ts < LATEST_MS else None
    try:
        return epoch_millis(to_utc(ts))  # the contract's own parsing of RFC 3339 text
    except ValueError:
        return None


def _gate_event_rules_hold(event: _GateEvent) -> bool:
    """GateEvent's model validator, as a test (devices.contract.GateEvent._kind_needs)."""
    if event.kind in _ENTRY_ATTEMPTS and event.method is None:
        return False
    if event.kind is GateEventKind.DENIED:
        return event.reason is not None
    return event.reason is None


class HotPath:
    """Gate events and scale records to their points, or None to leave a message to the models."""

    def __init__(self, hash_credential: CredentialHasher, max_payload_bytes: int) -> None:
        self._hash_credential = hash_credential
        self._max_payload_bytes = max_payload_bytes

    def __call__(self, topic: str, payload: bytes, received_ns: int) -> tuple[DeviceTopic, Point] | None:
        device_topic = _topic(topic)
        if device_topic is None or len(payload) > self._max_payload_bytes:
            return None
        channel = device_topic.channel
        try:
            if channel is Channel.EVENT:
                event = _gate_events.decode(payload)
                millis = _millis(event.ts)
                if (millis is None or not _gate_event_rules_hold(event)
                        or (event.device is not None and event.device != device_topic.device)):
                    return None
                return device_topic, gate_event_point(device_topic, event, millis, received_ns, self._hash_credential)
            if channel is Channel.RECORD:
                record = _scale_records.decode(payload)
                millis = _millis(record.ts)
                if millis is None or (record.device is not None and record.device != device_topic.device):
                    return None
                return device_topic, scale_record_point(device_topic, record, millis, received_ns)
        except Exception:  # whatever it is (bad JSON, nested too deep), the models decide and say why
            return None
        return None  # state and acks: rare, the models' way
