"""Decoding one MQTT message: every input ends as Accepted, Rejected with a precise reason, or Ignored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.contract import CommandAck, DeviceState, GateEvent, ScaleRecord
from devices.topics import Channel, DeviceKind, topic_for
from gateway.processors.decoding import Accepted, DeadLetterReason, Ignored, Rejected, decode

GATE_TOPIC = topic_for("site-a", DeviceKind.GATE, "gate-01", Channel.EVENT)
SCALE_TOPIC = topic_for("site-a", DeviceKind.SCALE, "scale-01", Channel.RECORD)
TS_MS = 1_763_861_400_000

GATE_EVENT: dict[str, Any] = {"event_id": "ev-1", "ts": TS_MS, "door": 2, "kind": "granted", "method": "qr"}
SCALE_RECORD: dict[str, Any] = {
    "record_id": "rec-1",
    "ts": TS_MS,
    "stall": "A-01",
    "plu": "1001",
    "product": "白菜",
    "net_g": 1500,
    "unit_price_fen": 2000,
    "amount_fen": 3000,
    "trace_code": "TR-1",
}


def payload(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def rejected(topic: str, data: bytes, **limits: int) -> Rejected:
    decoded = decode(topic, data, **limits)
    assert isinstance(decoded, Rejected), decoded
    return decoded


@pytest.mark.parametrize(
    ("topic", "body", "model"),
    [
        (GATE_TOPIC, GATE_EVENT, GateEvent),
        (SCALE_TOPIC, SCALE_RECORD, ScaleRecord),
        (topic_for("site-a", DeviceKind.GATE, "gate-01", Channel.STATE), {"online": False}, DeviceState),
        (
            topic_for("site-a", DeviceKind.SCALE, "scale-01", Channel.ACK),
            {"cmd_id": "c1", "ok": True},
            CommandAck,
        ),
    ],
)
def test_each_uplink_channel_is_validated_with_its_own_model(
    topic: str, body: dict[str, Any], model: type[object]
) -> None:
    decoded = decode(topic, payload(body))

    assert isinstance(decoded, Accepted)
    assert isinstance(decoded.message, model)
    assert str(decoded.topic) == topic


def test_a_topic_outside_the_contract_is_an_unknown_topic() -> None:
    result = rejected("sc/v1/site-a/door/gate-01/event", payload(GATE_EVENT))

    assert result.reason is DeadLetterReason.UNKNOWN_TOPIC
    assert "kind 'door'" in result.detail


def test_a_payload_over_the_limit_is_too_large_and_says_both_sizes() -> None:
    data = payload(GATE_EVENT)

    result = rejected(GATE_TOPIC, data, max_payload_bytes=len(data) - 1)

    assert result.reason is DeadLetterReason.PAYLOAD_TOO_LARGE
    assert f"payload is {len(data)} bytes, limit {len(data) - 1}" in result.detail


def test_a_payload_exactly_at_the_limit_is_accepted() -> None:
    data = payload(GATE_EVENT)

    assert isinstance(decode(GATE_TOPIC, data, max_payload_bytes=len(data)), Accepted)


def test_invalid_utf8_is_not_utf8_and_says_where() -> None:
    data = payload(GATE_EVENT).replace(b'"ev-1"', b'"ev-\xff"')
    bad_byte = data.index(0xFF)

    result = rejected(GATE_TOPIC, data)

    assert result.reason is DeadLetterReason.NOT_UTF8
    assert "not UTF-8" in result.detail
    assert f"at byte {bad_byte}" in result.detail


def test_truncated_json_is_bad_json() -> None:
    result = rejected(GATE_TOPIC, payload(GATE_EVENT)[:-1])

    assert result.reason is DeadLetterReason.BAD_JSON
    assert "invalid JSON" in result.detail
    assert "EOF" in result.detail


def test_a_contract_violation_is_schema_and_names_each_failing_field() -> None:
    result = rejected(GATE_TOPIC, payload({**GATE_EVENT, "door": "2", "kind": "opened"}))

    assert result.reason is DeadLetterReason.SCHEMA
    assert "door: Input should be a valid integer" in result.detail
    assert "kind: Input should be" in result.detail


def test_a_missing_field_is_schema_naming_the_field() -> None:
    body = {key: value for key, value in SCALE_RECORD.items() if key != "trace_code"}

    result = rejected(SCALE_TOPIC, payload(body))

    assert result.reason is DeadLetterReason.SCHEMA
    assert result.detail == "trace_code: Field required"


def test_json_that_is_not_an_object_is_schema() -> None:
    assert rejected(GATE_TOPIC, b"[1, 2]").reason is DeadLetterReason.SCHEMA


def test_a_body_naming_another_device_is_a_device_mismatch() -> None:
    result = rejected(GATE_TOPIC, payload({**GATE_EVENT, "device": "gate-02"}))

    assert result.reason is DeadLetterReason.DEVICE_MISMATCH
    assert "'gate-02'" in result.detail
    assert "'gate-01'" in result.detail


def test_a_body_naming_its_own_device_is_accepted() -> None:
    assert isinstance(decode(GATE_TOPIC, payload({**GATE_EVENT, "device": "gate-01"})), Accepted)


def test_a_downlink_command_is_ignored_whatever_its_payload() -> None:
    topic = topic_for("site-a", DeviceKind.GATE, "gate-01", Channel.CMD)

    assert isinstance(decode(topic, b"\xff not even json"), Ignored)


@given(topic=st.text(max_size=80), data=st.binary(max_size=300))
def test_decode_never_raises_on_any_topic_and_payload(topic: str, data: bytes) -> None:
    assert isinstance(decode(topic, data, max_payload_bytes=200), Accepted | Rejected | Ignored)


@given(
    topic=st.sampled_from(
        [GATE_TOPIC, SCALE_TOPIC, "sc/v1/site-a/gate/gate-01/state", "sc/v1/site-a/scale/scale-01/ack"]
    ),
    data=st.binary(max_size=300),
)
def test_decode_never_raises_on_any_payload_on_a_contract_topic(topic: str, data: bytes) -> None:
    assert isinstance(decode(topic, data), Accepted | Rejected)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@given(
    topic=st.sampled_from([GATE_TOPIC, SCALE_TOPIC]),
    body=st.dictionaries(st.sampled_from([*GATE_EVENT, *SCALE_RECORD, "device"]), json_values, max_size=10),
)
def test_decode_never_raises_on_json_objects_with_contract_keys(topic: str, body: dict[str, Any]) -> None:
    assert isinstance(decode(topic, payload(body)), Accepted | Rejected)


def test_a_timestamp_that_overflows_in_utc_is_a_schema_dead_letter() -> None:
    result = rejected(GATE_TOPIC, payload({**GATE_EVENT, "ts": "0001-01-01T00:00:00+01:00"}))

    assert result.reason is DeadLetterReason.SCHEMA
    assert "ts" in result.detail
