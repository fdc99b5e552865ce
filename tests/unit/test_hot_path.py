"""The hot path takes only what the contract's models take, with the same point (docs/performance.md).

Whatever it declines goes to the models (:func:`decode`), so a rejection's dead-letter reason is always theirs;
these properties prove the other half: every message it takes, the models accept, and the point is identical.
Inputs: the simulator's traffic, then hypothesis-made messages with valid and invalid values in every field,
mutated bytes, duplicate keys, escapes and whitespace.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devices.simulator import TrafficGenerator
from gateway.processors import points
from gateway.processors.decoding import Accepted, decode
from gateway.processors.hot_path import HotPath
from gateway.processors.points import CredentialHasher, point_for

HASH = CredentialHasher(b"hot-path-test")
MAX_PAYLOAD = 4096
hot_path = HotPath(HASH, MAX_PAYLOAD)
RECEIVED_NS = 1_796_621_426_957_123_456


def _same_as_the_models(topic: str, payload: bytes) -> bool:
    """Assert the property for one message; True if the hot path took it."""
    reference = decode(topic, payload, MAX_PAYLOAD)
    expected = (point_for(reference.topic, reference.message, RECEIVED_NS, HASH)
                if isinstance(reference, Accepted) else None)
    points.forget_tag_sets()  # each path builds its own tag set: a shared one would hide a difference
    taken = hot_path(topic, payload, RECEIVED_NS)
    if taken is None:
        return False
    assert isinstance(reference, Accepted) and expected is not None, (topic, payload, reference)
    assert taken == (reference.topic, expected), payload
    # == takes 1 for True and 1.0: the stored text and the types must be the same too
    assert taken[1].to_line() == expected.to_line()
    assert [type(value) for value in taken[1].fields.values()] == [type(value) for value in expected.fields.values()]
    return True


def test_it_takes_the_simulators_traffic_with_the_same_points() -> None:
    generator = TrafficGenerator("hot", gates=5, scales=5, seed=3, bad_ratio=0.0)
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    taken = hot = 0
    for _ in range(2000):
        message = generator.next_message(now)
        now += timedelta(milliseconds=7)
        if message.topic.endswith(("/event", "/record")):
            hot += 1
            taken += _same_as_the_models(message.topic, message.payload)
    assert hot > 1000 and taken == hot  # all of them: the hot path is the path, not a curiosity


def test_the_simulators_bad_messages_are_all_left_to_the_models() -> None:
    generator = TrafficGenerator("hot", gates=5, scales=5, seed=4, bad_ratio=1.0)
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    for _ in range(500):
        message = generator.next_message(now)
        if not isinstance(decode(message.topic, message.payload, MAX_PAYLOAD), Accepted):
            assert hot_path(message.topic, message.payload, RECEIVED_NS) is None, message


# -- hypothesis: values valid and not, for every field ----------------------------------------------------------

texts = st.one_of(
    st.from_regex(r"[A-Za-z0-9_.:-]{1,32}", fullmatch=True),
    st.text(max_size=70),
    st.sampled_from(["", "a\n", "\n", "a\x7f", "A27\n", "ab$", "x" * 64, "x" * 65, "x" * 129, "½", "A٣", "é", "ǅ",
                     "a\u0301", "\u2028", "中文摊位", "a b", "a\x00"]),
)
ints = st.one_of(
    st.integers(-5, 1100),
    st.sampled_from([0, 1, 1024, 1025, 1_000_000, 1_000_001, 100_000_000, 100_000_001, 100_000_000_000,
                     100_000_000_001, 2**63, 2**64 + 1, -(2**63)]),
)
millis = st.one_of(
    st.integers(946_684_800_000 - 2, 946_684_800_000 + 2),
    st.integers(4_102_444_800_000 - 2, 4_102_444_800_000 + 2),
    st.integers(946_684_800_000, 4_102_444_800_000),
    st.integers(-(2**70), 2**70),
)
rfc3339 = st.builds(
    lambda moment, offset, sep, frac, z: (
        moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + frac
        + (z if offset is None else f"{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}")),
    st.datetimes(datetime(1999, 12, 31), datetime(2100, 1, 2)),
    st.one_of(st.none(), st.integers(-24 * 60 + 1, 24 * 60 - 1)),
    st.sampled_from(["T", "t", " ", "_"]),
    st.sampled_from(["", ".9", ".123", ".123456", ".123456789", ".1234567891", "."]),
    st.sampled_from(["Z", "z", ""]),
)
times = st.one_of(millis, rfc3339, st.sampled_from(["2026-12-07T08:00:00", "1796621426957", 1.5, True, None,
                                                    "2026-02-30T08:00:00Z", "2026-12-07T24:00:00Z"]))
anything = st.one_of(st.none(), st.booleans(), ints, texts, st.floats(allow_nan=False), st.just([]), st.just({}))


identifiers = st.from_regex(r"[^\x00-\x1f\x7f]{1,64}", fullmatch=True)
short_texts = st.from_regex(r"[^\x00-\x1f\x7f]{1,128}", fullmatch=True)
tag_codes = st.one_of(st.from_regex(r"[A-Za-z0-9_.:-]{1,32}", fullmatch=True),
                      st.from_regex(r"[\w.:-]{1,32}", fullmatch=True))
valid_times = st.one_of(st.integers(946_684_800_000, 4_102_444_800_000 - 1), rfc3339)


@st.composite
def valid_gate_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["granted", "denied", "forced", "held_open", "tamper", "door_open", "door_closed"]))
    body: dict[str, Any] = {"event_id": draw(identifiers), "ts": draw(valid_times), "door": draw(st.integers(1, 1024)),
                            "kind": kind}
    if kind in ("granted", "denied") or draw(st.booleans()):
        body["method"] = draw(st.sampled_from(["card", "qr", "face", "pin", "fingerprint", "remote", "button"]))
    if kind == "denied":
        body["reason"] = draw(st.sampled_from(["no_permission", "expired", "unknown_credential", "outside_schedule",
                                               "blacklisted"]))
    optional = {"credential": short_texts, "direction": st.sampled_from(["in", "out"]), "offline": st.booleans(),
                "device": st.just("g1")}
    for key, values in optional.items():
        if draw(st.booleans()):
            body[key] = draw(st.one_of(values, st.none()) if key != "offline" else values)
    return body


@st.composite
def valid_scale_records(draw: st.DrawFn) -> dict[str, Any]:
    net_g, price = draw(st.integers(1, 1_000_000)), draw(st.integers(0, 100_000_000))
    expected = (net_g * price + 500) // 1000
    body: dict[str, Any] = {
        "record_id": draw(identifiers), "ts": draw(valid_times), "stall": draw(tag_codes), "plu": draw(tag_codes),
        "net_g": net_g, "unit_price_fen": price,
        "amount_fen": draw(st.one_of(st.just(expected), st.integers(0, 100_000_000_000))),
        "trace_code": draw(identifiers)}
    optional = {"product": short_texts, "batch": identifiers, "device": st.just("s1"),
                "payment": st.sampled_from(["cash", "wechat", "alipay", "unionpay", "card", "other"])}
    for key, values in optional.items():
        if draw(st.booleans()):
            body[key] = draw(st.one_of(values, st.none()))
    return body


edge_values = st.one_of(anything, texts, ints, times, st.sampled_from(
    ["granted", "denied", "door_open", "Granted", "card", "nfc", "in", "up", "expired", "late", "wechat", "bitcoin",
     "g1", "g2", "g 1", "s1\n"]))


@st.composite
def perturbed(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    """A valid message, then up to two changes: a field's value replaced, a field removed, or one added."""
    body = draw(valid)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        key = draw(st.sampled_from(keys))
        if key in body and draw(st.booleans()):
            del body[key]
        else:
            body[key] = draw(edge_values)
    return body


gate_events = perturbed(valid_gate_events(), ["event_id", "ts", "door", "kind", "method", "credential", "direction",
                                              "reason", "offline", "device", "extra"])
scale_records = perturbed(valid_scale_records(), ["record_id", "ts", "stall", "plu", "product", "net_g",
                                                  "unit_price_fen", "amount_fen", "trace_code", "batch", "payment",
                                                  "device", "extra"])


def _encoded(body: dict[str, Any], style: int) -> bytes:
    if style == 0:
        return json.dumps(body).encode()
    if style == 1:
        return json.dumps(body, ensure_ascii=False, indent=1).encode()
    if style == 2 and body:  # a key twice: the last one counts, for both decoders
        key = next(iter(body))
        return ("{" + json.dumps(key) + ":" + json.dumps("first") + "," + json.dumps(body)[1:]).encode()
    return (" \n" + json.dumps(body, separators=(",", ":")) + "\t").encode()


def _mutated(payload: bytes, data: st.DataObject) -> bytes:
    choice = data.draw(st.integers(0, 10))
    if choice >= 6 or not payload:
        return payload
    at = data.draw(st.integers(0, len(payload) - 1))
    if choice == 1:
        return payload[:at]
    if choice == 2:
        return payload[:at] + data.draw(st.binary(min_size=1, max_size=3)) + payload[at + 1:]
    if choice == 3:
        return payload[:at] + data.draw(st.sampled_from([b"\\u0000", b"\\n", b"\xff", b"\xc3", b"\\ud800", b" "]))
    if choice == 4:
        return b"\xef\xbb\xbf" + payload
    return payload + payload


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(gate_events, st.integers(0, 3), st.sampled_from(["sc/v1/s/gate/g1/event", "sc/v1/s/scale/g1/event"]),
       st.data())
@example({"event_id": "e", "ts": 1796621426957, "door": 1, "kind": "granted", "method": "card"}, 0,
         "sc/v1/s/gate/g1/event", None)
@example({"event_id": "e\n", "ts": 1796621426957, "door": 1, "kind": "door_open"}, 0, "sc/v1/s/gate/g1/event", None)
def test_what_it_takes_of_gate_events_the_models_take_with_the_same_point(
    body: dict[str, Any], style: int, topic: str, data: st.DataObject | None
) -> None:
    payload = _encoded(body, style)
    if data is not None:
        payload = _mutated(payload, data)
    _same_as_the_models(topic, payload)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(scale_records, st.integers(0, 3), st.data())
def test_what_it_takes_of_scale_records_the_models_take_with_the_same_point(
    body: dict[str, Any], style: int, data: st.DataObject
) -> None:
    _same_as_the_models("sc/v1/s/scale/s1/record", _mutated(_encoded(body, style), data))


@given(st.binary(max_size=300), st.sampled_from(["sc/v1/s/gate/g1/event", "sc/v1/s/scale/s1/record",
                                                 "sc/v1/s/gate/g1/state", "sc/v1/s/gate/g1/ack", "x/y"]))
def test_what_it_takes_of_any_bytes_the_models_take(payload: bytes, topic: str) -> None:
    _same_as_the_models(topic, payload)


def test_it_leaves_states_acks_oversized_and_foreign_topics_to_the_models() -> None:
    event = json.dumps({"event_id": "e", "ts": 1796621426957, "door": 1, "kind": "door_open"}).encode()
    assert hot_path("sc/v1/s/gate/g1/event", event, RECEIVED_NS) is not None
    assert hot_path("sc/v1/s/gate/g1/state", b'{"online": true}', RECEIVED_NS) is None
    assert hot_path("sc/v1/s/gate/g1/ack", b'{"cmd_id": "c", "ok": true}', RECEIVED_NS) is None
    assert hot_path("sc/v2/s/gate/g1/event", event, RECEIVED_NS) is None
    assert HotPath(HASH, len(event) - 1)("sc/v1/s/gate/g1/event", event, RECEIVED_NS) is None
