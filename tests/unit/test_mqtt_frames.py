"""The hot path's PUBLISH splitter against packets encoded to the MQTT 3.1.1 and 5 specifications, fed in any
chunking; every packet it does not read (other types, QoS 2, malformed) is left whole where it starts."""

from __future__ import annotations

import itertools
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.inputs.mqtt_frames import Inbound, Next, split_publishes
from tests.mqtt_load import _varint


def _publish(topic: bytes, payload: bytes, mid: int, qos: int, retain: bool, properties: bytes | None) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"")
    if properties is not None:  # MQTT 5: property length, then the properties
        body += _varint(len(properties)) + properties
    body += payload
    return bytes([0x30 | (qos << 1) | int(retain)]) + _varint(len(body)) + body


PINGRESP = bytes([0xD0, 0x00])
SUBACK = bytes([0x90, 0x03, 0x00, 0x01, 0x01])

messages = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=40).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.binary(max_size=300),
        st.integers(1, 65535),
        st.sampled_from([0, 1]),
        st.booleans(),
    ),
    max_size=30,
)


def _split_all(stream: bytes, cuts: list[int], mqtt5: bool) -> list[Inbound]:
    """Feed ``stream`` in pieces cut at ``cuts``, as recv would deliver it, and split what is complete."""
    out: list[Inbound] = []
    data, offset = b"", 0
    edges = sorted({0, *(cut % (len(stream) + 1) for cut in cuts), len(stream)})
    for start, stop in itertools.pairwise(edges):
        data = data[offset:] + stream[start:stop]
        offset, why = split_publishes(data, 0, mqtt5=mqtt5, generation=7, limit=10_000, into=out)
        assert why is Next.MORE_BYTES
    assert offset == len(data)
    return out


@settings(max_examples=300)
@given(messages, st.lists(st.integers(0, 100_000), max_size=8), st.booleans(), st.binary(max_size=20))
def test_every_publish_comes_out_whole_and_in_order_however_the_stream_is_cut(
    sent: list[tuple[bytes, bytes, int, int, bool]], cuts: list[int], mqtt5: bool, properties: bytes
) -> None:
    props = properties if mqtt5 else None  # skipped whatever they say
    stream = b"".join(_publish(topic, payload, mid, qos, retain, props) for topic, payload, mid, qos, retain in sent)
    received = _split_all(stream, cuts, mqtt5)
    assert received == [
        Inbound(topic.decode("utf-8", "backslashreplace"), payload, mid if qos else 0, qos, 7, retain)
        for topic, payload, mid, qos, retain in sent
    ]


@given(messages)
def test_a_packet_it_does_not_read_is_left_whole_at_its_start(sent: list[tuple[bytes, bytes, int, int, bool]]) -> None:
    before = b"".join(_publish(topic, payload, mid, qos, retain, None) for topic, payload, mid, qos, retain in sent)
    qos2 = _publish(b"sc/v1/a/gate/g/event", b"{}", 9, 2, False, None)
    for other in (PINGRESP, SUBACK, qos2):
        out: list[Inbound] = []
        data = before + other + before
        offset, why = split_publishes(data, 0, mqtt5=False, generation=1, limit=10_000, into=out)
        assert (offset, why, len(out)) == (len(before), Next.OTHER_PACKET, len(sent))
        assert data[offset:].startswith(other)


def test_it_stops_at_the_limit_and_goes_on_from_there() -> None:
    stream = b"".join(_publish(b"t/1", b"x%d" % n, n + 1, 1, False, None) for n in range(10))
    out: list[Inbound] = []
    offset, why = split_publishes(stream, 0, mqtt5=False, generation=1, limit=4, into=out)
    assert why is Next.LIMIT and len(out) == 4
    offset, why = split_publishes(stream, offset, mqtt5=False, generation=1, limit=100, into=out)
    assert why is Next.MORE_BYTES and offset == len(stream)
    assert [message.payload for message in out] == [b"x%d" % n for n in range(10)]


def test_malformed_packets_are_left_to_paho() -> None:
    cases = {
        "packet id 0 on QoS 1": _publish(b"t", b"x", 0, 1, False, None),
        "topic longer than the packet": bytes([0x32, 0x04, 0x00, 0x09, ord("t"), ord("x")]),
        "empty topic (an alias)": _publish(b"", b"x", 3, 1, False, None),
        "five length bytes": bytes([0x32, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    }
    for name, packet in cases.items():
        out: list[Inbound] = []
        offset, why = split_publishes(packet + b"\x00" * 8, 0, mqtt5=False, generation=1, limit=10, into=out)
        assert (offset, why, out) == (0, Next.OTHER_PACKET, []), name


def test_an_mqtt5_publish_without_its_property_length_is_malformed() -> None:
    packet = _publish(b"t", b"", 5, 1, False, None)  # no property length: fine in 3.1.1, not in 5
    out: list[Inbound] = []
    assert split_publishes(packet, 0, mqtt5=True, generation=1, limit=10, into=out) == (0, Next.OTHER_PACKET)
    assert split_publishes(packet, 0, mqtt5=False, generation=1, limit=10, into=out) == (len(packet), Next.MORE_BYTES)
    assert out == [Inbound("t", b"", 5, 1, 1)]


def test_a_topic_that_is_not_utf8_is_kept_readably() -> None:
    out: list[Inbound] = []
    split_publishes(_publish(b"sc/\xff/x", b"{}", 1, 1, False, None), 0, mqtt5=False, generation=1, limit=1, into=out)
    assert out[0].topic == "sc/\\xff/x"
