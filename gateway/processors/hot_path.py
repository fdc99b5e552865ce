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

import re
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

# The contract's string rules (devices.contract): lengths are msgspec's (in characters, as pydantic counts); the
# characters are checked after decoding, with one regular expression per message rather than one per field:
# no control character in any identifier or text, and stall and PLU codes of ASCII letters, digits and _.:- only
# ("\w" is not the same set of characters in Python's and pydantic's regex engines; other codes go the models'
# way). fullmatch and search, never "$": Python's "$" also matches before a final newline, pydantic's does not.
_Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STALL_AND_PLU = re.compile(r"[A-Za-z0-9_.:-]{1,32}/[A-Za-z0-9_.:-]{1,32}")

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
    device: str | None = None


class _ScaleRecord(msgspec.Struct, forbid_unknown_fields=True):
    record_id: _Identifier
    ts: str | int
    stall: str
    plu: str
    net_g: Annotated[int, msgspec.Meta(gt=0, le=1_000_000)]
    unit_price_fen: Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
    amount_fen: Annotated[int, msgspec.Meta(ge=0, le=100_000_000_000)]
    trace_code: _Identifier
    product: _ShortText | None = None
    batch: _Identifier | None = None
    payment: Payment | None = None
    device: str | None = None


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


def _device_fits(device: str | None, topic: DeviceTopic) -> bool:
    # the topic's device id already matched the contract's rule for it (parse_topic): equal to it, so does this
    return device is None or device == topic.device


def _gate_event_fits(event: _GateEvent, topic: DeviceTopic) -> bool:
    """The rules msgspec did not check: characters, the device, GateEvent's own validator (``_kind_needs``)."""
    text = event.event_id if event.credential is None else event.event_id + event.credential
    if _CONTROL.search(text) or not _device_fits(event.device, topic):
        return False
    if event.kind in _ENTRY_ATTEMPTS and event.method is None:
        return False
    if event.kind is GateEventKind.DENIED:
        return event.reason is not None
    return event.reason is None


def _scale_record_fits(record: _ScaleRecord, topic: DeviceTopic) -> bool:
    """The rules msgspec did not check: characters and the device."""
    text = "".join((record.record_id, record.trace_code, record.product or "", record.batch or ""))
    return (_CONTROL.search(text) is None and _STALL_AND_PLU.fullmatch(f"{record.stall}/{record.plu}") is not None
            and _device_fits(record.device, topic))


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
                if millis is None or not _gate_event_fits(event, device_topic):
                    return None
                return device_topic, gate_event_point(device_topic, event, millis, received_ns, self._hash_credential)
            if channel is Channel.RECORD:
                record = _scale_records.decode(payload)
                millis = _millis(record.ts)
                if millis is None or not _scale_record_fits(record, device_topic):
                    return None
                return device_topic, scale_record_point(device_topic, record, millis, received_ns)
        except Exception:  # whatever it is (bad JSON, nested too deep), the models decide and say why
            return None
        return None  # state and acks: rare, the models' way
