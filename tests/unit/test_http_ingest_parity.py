"""The HTTP source takes and refuses exactly what the MQTT source does: the same payload on the same topic gives the
same points — stored messages and dead letters alike, reason, detail and kept bytes — whichever way it came, and
the HTTP answer says what became of each (200 all stored, 422 with the dead letters' reasons)."""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.topics import Channel, DeviceKind, topic_for
from gateway.batching.pipeline import Pipeline, PipelineLimits
from gateway.batching.spool import Spool
from gateway.inputs.http import DeviceTokens, HttpIngestLimits, HttpSource
from gateway.inputs.http_framing import Framed, frame
from gateway.inputs.mqtt import Inbound
from gateway.metrics import GatewayMetrics
from gateway.processors.points import CredentialHasher, Measurement, Point
from gateway.processors.redaction import redact_credentials
from tests.unit.test_pipeline import FakeIntake, FakeStore, running

HASHER = CredentialHasher(b"k")
LIMITS = PipelineLimits(batch_size=50, batch_interval_s=0.005, max_batches_in_flight=4, write_retries=0,
                        max_payload_bytes=400, dead_letter_payload_bytes=64)
TOPICS = [topic_for("site-a", DeviceKind.GATE, "gate-01", channel) for channel in (Channel.EVENT, Channel.STATE,
                                                                                     Channel.ACK)]
TOPICS += [topic_for("site-a", DeviceKind.SCALE, "scale-01", Channel.RECORD)]
TIMED = {Measurement.GATE_EVENT, Measurement.SCALE_RECORD}
"""Measurements whose time is the message's own; the others' is the receive time, which differs by path."""

GATE_EVENT = {"event_id": "e-1", "ts": 1_795_000_000_000, "door": 1, "kind": "granted", "method": "card",
              "credential": "0012345678"}
SCALE_RECORD = {"record_id": "r-1", "ts": "2026-11-23T08:30:00+08:00", "stall": "A01", "plu": "1001", "net_g": 1250,
                "unit_price_fen": 680, "amount_fen": 850, "trace_code": "T-1"}
STATE = {"online": True, "ts": 1_795_000_000_000}
ACK = {"cmd_id": "c-1", "ok": False, "error": "door jammed"}

values = st.none() | st.booleans() | st.integers(-5, 2_000_000) | st.text(max_size=12) | st.sampled_from(
    ["2026-11-23T08:30:00+08:00", "1999-01-01T00:00:00Z", "granted", "denied", "expired", "gate-01", "gate-02"])


@st.composite
def message(draw: st.DrawFn) -> dict[str, Any]:
    """A contract message of some channel, with a few of its fields changed, dropped or added."""
    body = dict(draw(st.sampled_from([GATE_EVENT, SCALE_RECORD, STATE, ACK])))
    for key in draw(st.lists(st.sampled_from([*body, "device", "extra", "reason"]), max_size=3)):
        if draw(st.booleans()):
            body[key] = draw(values)
        else:
            body.pop(key, None)
    return body


payloads = st.one_of(
    message().map(lambda body: json.dumps(body).encode()),
    st.lists(message(), min_size=1, max_size=4).map(lambda bodies: json.dumps(bodies).encode()),
    st.binary(max_size=60),
    st.sampled_from([b"", b"[]", b"[1, 2", b'{"event_id": ', b"\xff\xfe{}", b" " * 500, b"null", b"[[]]",
                     json.dumps([GATE_EVENT] * 3).encode(), json.dumps({**GATE_EVENT, "pad": "x" * 500}).encode()]),
)


def _pipeline(folder: Path, metrics: GatewayMetrics) -> tuple[Pipeline, FakeStore]:
    store = FakeStore()
    pipeline = Pipeline(store, Spool(folder, 10**8), metrics, HASHER, LIMITS)
    pipeline.attach(FakeIntake())
    return pipeline, store


def _comparable(point: Point) -> tuple[object, ...]:
    fields = sorted((key, value) for key, value in point.fields.items() if key != "delay_ms")  # receive time
    return (point.measurement, point.tags, fields,
            point.time_ns if point.measurement in TIMED else None)


async def _both_ways(topic: str, body: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        mqtt, mqtt_store = _pipeline(Path(folder) / "mqtt", GatewayMetrics())
        metrics = GatewayMetrics()
        http, http_store = _pipeline(Path(folder) / "http", metrics)
        source = HttpSource(http, DeviceTokens(None), HttpIngestLimits(max_messages=3, wait_s=5), metrics)

        async with running(http):
            response = await source.ingest(topic, body)
        framed = frame(body, 3)
        if not isinstance(framed, Framed):  # an empty array or too many messages: refused whole, nothing stored
            assert response.status in (400, 413) and not http_store.points
            return
        mqtt.on_messages([Inbound(topic, payload, mid, 1, 1) for mid, payload in enumerate(framed.payloads, 1)])
        await mqtt.drain()

        assert sorted(map(_comparable, http_store.points)) == sorted(map(_comparable, mqtt_store.points))
        dead = [point for point in mqtt_store.points if point.measurement == Measurement.DEAD_LETTER]
        answer = json.loads(response.body)  # type: ignore[arg-type]
        assert response.status == (422 if dead else 200)
        assert answer["dead_letters"] == len(dead) and answer["stored"] == len(framed.payloads) - len(dead)
        reasons = [item["reason"] for item in answer["results"] if item["status"] == "dead_letter"]
        assert sorted(reasons) == sorted(dict(point.tags)["reason"] for point in dead)
        for point in dead:  # the dead letter keeps the element's own bytes, as MQTT's keeps its payload's
            kept = base64.b64decode(str(point.fields["payload_b64"]))
            assert any(redact_credentials(payload, HASHER).startswith(kept) for payload in framed.payloads)
        assert metrics.value("sc_gateway_messages_received_total", channel="invalid", transport="http") == len(dead)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=st.sampled_from(TOPICS), body=payloads)
def test_the_http_source_takes_and_refuses_what_the_mqtt_source_does(topic: str, body: bytes) -> None:
    asyncio.run(_both_ways(topic, body))


def test_a_valid_message_is_stored_and_answered_200() -> None:
    asyncio.run(_both_ways(TOPICS[0], json.dumps(GATE_EVENT).encode()))


def test_a_mixed_array_stores_the_valid_and_dead_letters_the_rest() -> None:
    body = json.dumps([GATE_EVENT, {**GATE_EVENT, "event_id": "e-2", "door": "1"}]).encode()
    asyncio.run(_both_ways(TOPICS[0], body))
