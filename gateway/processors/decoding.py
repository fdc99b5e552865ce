"""Decode and validate one MQTT message against the device contract, with no I/O.

Every message ends as exactly one of: :class:`Accepted`, :class:`Rejected` (goes to the dead-letter
store with a precise reason) or :class:`Ignored` (our own downlinks seen on the shared tree).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from devices.contract import CommandAck, DeviceState, GateEvent, ScaleRecord, UplinkModel
from devices.topics import Channel, DeviceTopic, TopicError, parse_topic

DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024


class DeadLetterReason(StrEnum):
    UNKNOWN_TOPIC = "unknown_topic"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_UTF8 = "not_utf8"
    BAD_JSON = "bad_json"
    SCHEMA = "schema"
    DEVICE_MISMATCH = "device_mismatch"


@dataclass(frozen=True, slots=True)
class Accepted:
    topic: DeviceTopic
    message: UplinkModel


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: DeadLetterReason
    detail: str


@dataclass(frozen=True, slots=True)
class Ignored:
    why: str


Decoded = Accepted | Rejected | Ignored


class Decoder(Protocol):
    """What the pipeline decodes with: a topic and its payload in, exactly one :data:`Decoded` out, never raising.
    :func:`decode` (the contract's pydantic models) is the reference; another decoder, a faster one for the hot
    path, must give the same answer for every input."""

    def __call__(self, topic: str, payload: bytes, max_payload_bytes: int) -> Decoded: ...

MODEL_FOR_CHANNEL: dict[Channel, type[BaseModel]] = {
    Channel.EVENT: GateEvent,
    Channel.RECORD: ScaleRecord,
    Channel.STATE: DeviceState,
    Channel.ACK: CommandAck,
}


def decode(topic: str, payload: bytes, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Decoded:
    """Validate ``payload`` published on ``topic``; never raises on any input."""
    try:
        device_topic = parse_topic(topic)
    except TopicError as error:
        return Rejected(DeadLetterReason.UNKNOWN_TOPIC, str(error))
    if device_topic.channel is Channel.CMD:
        return Ignored("downlink command")
    if len(payload) > max_payload_bytes:
        return Rejected(
            DeadLetterReason.PAYLOAD_TOO_LARGE, f"payload is {len(payload)} bytes, limit {max_payload_bytes}"
        )
    model = MODEL_FOR_CHANNEL[device_topic.channel]
    try:
        message = model.model_validate_json(payload)
    except ValidationError as error:
        return _rejection(error, payload)
    body_device = getattr(message, "device", None)
    if body_device is not None and body_device != device_topic.device:
        return Rejected(
            DeadLetterReason.DEVICE_MISMATCH,
            f"body says device {body_device!r}, topic says {device_topic.device!r}",
        )
    return Accepted(device_topic, message)  # type: ignore[arg-type]


def _rejection(error: ValidationError, payload: bytes) -> Rejected:
    errors = error.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Rejected(DeadLetterReason.NOT_UTF8, f"payload is not UTF-8: {bad.reason} at byte {bad.start}")
        return Rejected(DeadLetterReason.BAD_JSON, f"invalid JSON: {errors[0]['msg']}")
    return Rejected(DeadLetterReason.SCHEMA, describe_validation_errors(errors))


def describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """One line naming each failing field and why, e.g. ``door: Input should be ...``."""
    parts = []
    for item in errors:
        location = ".".join(str(part) for part in item.get("loc", ()) if part not in ("datetime", "int"))
        parts.append(f"{location or 'body'}: {item['msg']}")
    return "; ".join(dict.fromkeys(parts))
