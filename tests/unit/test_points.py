"""The measurement schema: line protocol text, point identity, credential hashing, dead letters."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.contract import CommandAck, DeviceState, GateEvent, ScaleRecord
from devices.topics import parse_topic
from gateway.processors.decoding import Accepted, decode
from gateway.processors.points import (
    TAG_KEYS,
    CredentialHasher,
    FieldValue,
    Measurement,
    Point,
    dead_letter_point,
    identity_time_ns,
    point_for,
)

TS_MS = 1_763_861_400_123
NS_PER_MS = 1_000_000
GATE_TOPIC = "sc/v1/site-a/gate/gate-01/event"
SCALE_TOPIC = "sc/v1/site-a/scale/scale-01/record"
HASH = CredentialHasher(b"k")


def gate_payload(**changes: Any) -> bytes:
    body = {"event_id": "ev-1", "ts": TS_MS, "door": 3, "kind": "granted", "method": "card", **changes}
    return json.dumps(body).encode()


def accepted(topic: str, data: bytes) -> Accepted:
    decoded = decode(topic, data)
    assert isinstance(decoded, Accepted), decoded
    return decoded


def stored(topic: str, data: bytes, received_ns: int = TS_MS * NS_PER_MS + 5_000_000_000) -> Point:
    decoded = accepted(topic, data)
    return point_for(decoded.topic, decoded.message, received_ns, HASH)


# -- a reference reader of line protocol, to check the writer against -----------------------------


def _read_escaped(line: str, start: int, stops: str) -> tuple[str, int]:
    """Text up to the first unescaped stop character; a backslash escapes the next character."""
    out, i = [], start
    while i < len(line) and line[i] not in stops:
        if line[i] == "\\":
            i += 1
        out.append(line[i])
        i += 1
    return "".join(out), i


def _read_field_value(line: str, i: int) -> tuple[FieldValue, int]:
    if line[i] != '"':
        literal, i = _read_escaped(line, i, ", ")
        if literal in ("true", "false"):
            return literal == "true", i
        assert literal.endswith("i"), literal
        return int(literal[:-1]), i
    out, i = [], i + 1
    while line[i] != '"':
        if line[i] == "\\":
            i += 1
            out.append("\n" if line[i] == "n" else line[i])
        else:
            out.append(line[i])
        i += 1
    return "".join(out), i + 1


def read_line(line: str) -> Point:
    assert "\n" not in line
    measurement, i = _read_escaped(line, 0, ", ")
    tags = []
    while line[i] == ",":
        key, i = _read_escaped(line, i + 1, "=")
        value, i = _read_escaped(line, i + 1, ", ")
        tags.append((key, value))
    fields: dict[str, FieldValue] = {}
    while line[i] in ", ":
        if line[i] == " " and fields:
            break
        key, i = _read_escaped(line, i + 1, "=")
        fields[key], i = _read_field_value(line, i + 1)
    return Point(measurement, tuple(tags), fields, int(line[i + 1 :]))


# -- line protocol ------------------------------------------------------------------------------


def test_tag_values_escape_spaces_commas_equals_and_backslashes() -> None:
    point = Point("m", (("stall", "east 3,row=2"), ("path", "a\\b")), {"n": 1}, 7)

    assert point.to_line() == "m,stall=east\\ 3\\,row\\=2,path=a\\\\b n=1i 7"


def test_one_tags_tuple_shared_by_two_measurements_gives_each_its_own_series() -> None:
    tags = (("site", "a"), ("device", "g 1"))  # the series text is remembered by this tuple's identity
    first, second = Point("gate_event", tags, {"n": 1}, 7), Point("device_state", tags, {"n": 1}, 7)

    assert [first.to_line(), second.to_line(), first.to_line()] == [
        "gate_event,site=a,device=g\\ 1 n=1i 7", "device_state,site=a,device=g\\ 1 n=1i 7",
        "gate_event,site=a,device=g\\ 1 n=1i 7"]


def test_string_fields_escape_quotes_backslashes_and_newlines() -> None:
    point = Point("m", (("t", "v"),), {"detail": 'say "hi"\\\nbye'}, 7)

    assert point.to_line() == 'm,t=v detail="say \\"hi\\"\\\\\\nbye" 7'


def test_ints_get_the_i_suffix_and_bools_are_true_or_false() -> None:
    point = Point("m", (("t", "v"),), {"net_g": 1500, "zero": 0, "online": True, "truncated": False}, 9)

    assert point.to_line() == "m,t=v net_g=1500i,zero=0i,online=true,truncated=false 9"


printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20)


@given(
    tags=st.lists(
        st.tuples(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), printable), min_size=1, max_size=4
    ),
    fields=st.dictionaries(
        st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
        st.text(max_size=20) | st.integers(-(2**63), 2**63 - 1) | st.booleans(),
        min_size=1,
        max_size=5,
    ),
    time_ns=st.integers(0, 2**62),
)
def test_a_line_reads_back_as_the_point_it_was_written_from(
    tags: list[tuple[str, str]], fields: dict[str, FieldValue], time_ns: int
) -> None:
    point = Point("gate_event", tuple(tags), fields, time_ns)

    assert read_line(point.to_line()) == point


def test_a_stored_gate_event_reads_back_from_its_line() -> None:
    point = stored(GATE_TOPIC, gate_payload(credential="6217001234567890"))

    assert read_line(point.to_line()) == point


# -- identity -----------------------------------------------------------------------------------


def test_the_same_event_received_twice_is_the_same_point_identity() -> None:
    first = stored(GATE_TOPIC, gate_payload(), received_ns=TS_MS * NS_PER_MS + 40_000_000)
    again = stored(GATE_TOPIC, gate_payload(), received_ns=TS_MS * NS_PER_MS + 90_000_000_000)

    assert (first.measurement, first.tags, first.time_ns) == (again.measurement, again.tags, again.time_ns)
    assert (first.fields["delay_ms"], again.fields["delay_ms"]) == (40, 90_000)


def test_the_same_scale_record_received_twice_is_the_same_point_identity() -> None:
    data = json.dumps(
        {
            "record_id": "r-9",
            "ts": TS_MS,
            "stall": "A-01",
            "plu": "1001",
            "net_g": 500,
            "unit_price_fen": 1200,
            "amount_fen": 600,
            "trace_code": "TR-1",
        }
    ).encode()

    first, again = stored(SCALE_TOPIC, data, 10**18), stored(SCALE_TOPIC, data, 2 * 10**18)

    assert (first.tags, first.time_ns) == (again.tags, again.time_ns)


def test_two_events_in_the_same_millisecond_are_two_points_within_that_millisecond() -> None:
    first = stored(GATE_TOPIC, gate_payload(event_id="ev-1"))
    second = stored(GATE_TOPIC, gate_payload(event_id="ev-2"))

    assert first.tags == second.tags
    assert first.time_ns != second.time_ns
    for point in (first, second):
        assert TS_MS * NS_PER_MS <= point.time_ns < (TS_MS + 1) * NS_PER_MS


@given(millis=st.integers(946_684_800_000, 4_102_444_799_999), identity=st.text(min_size=1, max_size=64))
def test_identity_time_is_stable_and_inside_the_events_millisecond(millis: int, identity: str) -> None:
    ts = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)

    time_ns = identity_time_ns(ts, identity)

    assert time_ns == identity_time_ns(ts, identity)
    assert millis * NS_PER_MS <= time_ns < (millis + 1) * NS_PER_MS


def test_identity_time_ignores_microseconds_below_the_millisecond() -> None:
    ts = datetime(2025, 11, 23, 1, 30, 0, 123_000, tzinfo=UTC)

    assert identity_time_ns(ts, "ev-1") == identity_time_ns(ts + timedelta(microseconds=999), "ev-1")


def test_an_ack_without_a_device_time_is_stored_at_its_receive_time() -> None:
    topic = parse_topic("sc/v1/site-a/gate/gate-01/ack")

    point = point_for(topic, CommandAck(cmd_id="c1", ok=True), 123_456_789, HASH)

    assert point.time_ns == 123_456_789


# -- credentials --------------------------------------------------------------------------------


def test_the_raw_credential_never_appears_in_the_line() -> None:
    line = stored(GATE_TOPIC, gate_payload(credential="6217001234567890")).to_line()

    assert "6217001234567890" not in line
    assert "credential_hash=" in line


def test_credential_hash_is_stable_per_key_and_differs_across_keys() -> None:
    point = stored(GATE_TOPIC, gate_payload(credential="6217001234567890"))

    assert point.fields["credential_hash"] == CredentialHasher(b"k")("6217001234567890")
    assert CredentialHasher(b"k")("6217001234567890") == HASH("6217001234567890")
    assert CredentialHasher(b"other")("6217001234567890") != HASH("6217001234567890")
    assert HASH("6217001234567891") != HASH("6217001234567890")
    assert len(HASH("6217001234567890")) == 32


def test_an_event_without_a_credential_has_no_credential_hash() -> None:
    assert "credential_hash" not in stored(GATE_TOPIC, gate_payload()).fields


@pytest.mark.parametrize(("body", "denied"), [
    ({"kind": "granted", "method": "card"}, 0),
    ({"kind": "denied", "method": "card", "reason": "expired"}, 1),
    ({"kind": "door_open"}, None),
    ({"kind": "forced"}, None),
])
def test_entry_attempts_carry_a_denied_field_to_average(body: dict[str, Any], denied: int | None) -> None:
    event = GateEvent.model_validate_json(json.dumps({"event_id": "e", "ts": TS_MS, "door": 1, **body}))

    fields = point_for(parse_topic(GATE_TOPIC), event, 1, HASH).fields

    assert fields.get("denied") == denied


# -- tags ---------------------------------------------------------------------------------------

GATE_MINIMAL = GateEvent.model_validate_json(f'{{"event_id":"e","ts":{TS_MS},"door":1,"kind":"door_open"}}')
SCALE_MINIMAL = ScaleRecord.model_validate_json(
    f'{{"record_id":"r","ts":{TS_MS},"stall":"A","plu":"1","net_g":1,"unit_price_fen":1,'
    '"amount_fen":0,"trace_code":"t"}'
)


@pytest.mark.parametrize(
    ("topic", "message", "measurement"),
    [
        ("sc/v1/s/gate/g/event", GATE_MINIMAL, Measurement.GATE_EVENT),
        ("sc/v1/s/scale/c/record", SCALE_MINIMAL, Measurement.SCALE_RECORD),
        ("sc/v1/s/gate/g/state", DeviceState(online=False), Measurement.DEVICE_STATE),
        ("sc/v1/s/scale/c/ack", CommandAck(cmd_id="c", ok=False, error="e"), Measurement.DEVICE_ACK),
    ],
)
def test_every_measurement_carries_exactly_its_tag_keys_in_order(
    topic: str, message: Any, measurement: str
) -> None:
    point = point_for(parse_topic(topic), message, 1, HASH)

    assert point.measurement == measurement
    assert [key for key, _ in point.tags] == list(TAG_KEYS[measurement])
    assert all(value for _, value in point.tags)


def test_absent_gate_event_values_are_tagged_none() -> None:
    point = point_for(parse_topic("sc/v1/s/gate/g/event"), GATE_MINIMAL, 1, HASH)

    assert dict(point.tags) == {
        "site": "s",
        "device": "g",
        "door": "1",
        "kind": "door_open",
        "method": "none",
        "direction": "none",
        "reason": "none",
        "offline": "false",
    }


def test_a_scale_record_is_tagged_with_its_mismatch_and_payment() -> None:
    record = SCALE_MINIMAL.model_copy(update={"net_g": 1500, "unit_price_fen": 2000, "amount_fen": 2998})

    point = point_for(parse_topic("sc/v1/s/scale/c/record"), record, 1, HASH)

    assert dict(point.tags)["amount_mismatch"] == "true"
    assert dict(point.tags)["payment"] == "none"
    assert point.fields["expected_amount_fen"] == 3000


def test_a_dead_letter_carries_exactly_its_tag_keys() -> None:
    point = dead_letter_point("nowhere", b"", "unknown_topic", "bad", 1, 10)

    assert [key for key, _ in point.tags] == list(TAG_KEYS[Measurement.DEAD_LETTER])
    assert dict(point.tags) == {"site": "none", "reason": "unknown_topic"}


# -- dead letters -------------------------------------------------------------------------------


def test_a_dead_letter_keeps_at_most_the_limit_of_raw_payload_and_says_it_truncated() -> None:
    raw = bytes(range(256)) * 4

    point = dead_letter_point(GATE_TOPIC, raw, "schema", "door: bad", 42, max_payload_bytes=100)

    assert base64.b64decode(point.fields["payload_b64"]) == raw[:100]  # type: ignore[arg-type]
    assert point.fields["payload_bytes"] == 1024
    assert point.fields["truncated"] is True
    assert point.time_ns == 42
    assert dict(point.tags) == {"site": "site-a", "reason": "schema"}


def test_a_dead_letter_within_the_limit_is_kept_whole() -> None:
    point = dead_letter_point(GATE_TOPIC, b"\xff{", "not_utf8", "x", 1, max_payload_bytes=2)

    assert base64.b64decode(point.fields["payload_b64"]) == b"\xff{"  # type: ignore[arg-type]
    assert point.fields["truncated"] is False


def test_a_dead_letter_detail_and_topic_with_control_characters_stay_on_one_line() -> None:
    point = dead_letter_point("sc/v1/x\n/gate", b"", "unknown_topic", "line one\nline\x00two", 1, 10)

    line = point.to_line()

    assert "\n" not in line
    assert "\x00" not in line
    assert point.fields["detail"] == "line one\ufffdline\ufffdtwo"


@pytest.mark.parametrize(("payload", "value"), [
    (b'{"event_id": "e1", "door": "x", "credential": "12345678"}', b'"12345678"'),  # schema violation
    (b'{"event_id": "e1", "credential" :  "12345678", "door": 1', b'"12345678"'),  # broken JSON
    (b'{"event_id": "e1", "Credential": 12345678}', b"12345678"),  # another spelling, a number
    (b'{"event_id": "e1", "credential": "12345678', b'"12345678'),  # cut off inside the value
    ('{"note": "门", "credential": "12345678"}'.encode("gbk"), b'"12345678"'),  # not UTF-8
    (b"{'door': 1, 'credential': '12345678'}", b"'12345678'"),  # a Python repr
    (b"door=1&credential=12345678&kind=granted", b"12345678"),  # form-encoded
])
def test_a_dead_letter_keeps_everything_but_a_raw_credential(payload: bytes, value: bytes) -> None:
    point = dead_letter_point(GATE_TOPIC, payload, "schema", "d", 1, 1000, HASH)

    kept = base64.b64decode(point.fields["payload_b64"])  # type: ignore[arg-type]
    assert kept == payload.replace(value, f'"redacted:{HASH("12345678")}"'.encode())
    assert point.fields["payload_bytes"] == len(payload)


def test_a_redacted_dead_letter_keeps_within_the_bound_and_says_whether_it_was_cut() -> None:
    short = b'{"credential": "1"}'  # its redaction is longer than itself
    whole = dead_letter_point(GATE_TOPIC, short, "schema", "d", 1, 1000, HASH)
    bounded = dead_letter_point(GATE_TOPIC, short, "schema", "d", 1, len(short), HASH)
    longer = dead_letter_point(GATE_TOPIC, b'{"credential": "123456789012345678901234567890123456789012"}' + b" " * 10,
                               "schema", "d", 1, 40, HASH)  # cut inside the value

    assert whole.fields["truncated"] is False
    assert len(base64.b64decode(bounded.fields["payload_b64"])) == len(short)  # type: ignore[arg-type]
    assert bounded.fields["truncated"] is True, "part of the redacted payload was cut to keep the bound"
    assert longer.fields["truncated"] is True and longer.fields["payload_bytes"] == 70
    assert b"1234567890" not in base64.b64decode(longer.fields["payload_b64"])  # type: ignore[arg-type]


def test_a_redacted_credential_hashes_as_the_gate_events_hash_of_it() -> None:
    credential = "QR:ab\\cé"
    payload = json.dumps({"credential": credential, "door": "x"}).encode()

    kept = base64.b64decode(dead_letter_point(GATE_TOPIC, payload, "schema", "d", 1, 1000, HASH)
                            .fields["payload_b64"])  # type: ignore[arg-type]

    assert json.loads(kept)["credential"] == f"redacted:{HASH(credential)}"


def test_a_dead_letter_without_a_hasher_still_hides_the_credential() -> None:
    point = dead_letter_point(GATE_TOPIC, b'{"credential": "87654321"}', "schema", "d", 1, 1000)

    assert base64.b64decode(point.fields["payload_b64"]) == b'{"credential": "redacted"}'  # type: ignore[arg-type]


def test_dead_letter_site_is_none_unless_the_segment_is_an_identifier() -> None:
    assert dict(dead_letter_point("sc/v1/bad site/gate", b"", "r", "d", 1, 0).tags)["site"] == "none"
    assert dict(dead_letter_point("sc/v1/ok-site/gate", b"", "r", "d", 1, 0).tags)["site"] == "ok-site"


def test_a_state_point_uses_its_device_time_when_given() -> None:
    state = DeviceState(online=True, ts=TS_MS, firmware="2.1.0")

    point = point_for(parse_topic("sc/v1/s/gate/g/state"), state, 5, HASH)

    assert TS_MS * NS_PER_MS <= point.time_ns < (TS_MS + 1) * NS_PER_MS
    assert point.fields == {"online": True, "firmware": "2.1.0"}
