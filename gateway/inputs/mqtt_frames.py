"""Splitting the broker's byte stream into inbound PUBLISH packets, with no I/O.

The gateway's hot path reads a backlog of QoS 1 PUBLISH packets; paho-mqtt decodes each one through several
layers of Python (a packet dictionary, an ``MQTTMessage``, ``MQTTMessageInfo`` with its lock, a properties object)
and cost about a third of the gateway's time. This decodes only what the gateway uses of a QoS 0 or 1 PUBLISH
(topic, packet id, retain flag, payload) straight from the buffer; every other packet (CONNACK, SUBACK, PINGRESP,
a QoS 2 PUBLISH, anything malformed) is left where it is for paho, which stays the protocol's state machine.
MQTT 3.1.1 and 5 differ here only by the properties after the packet id, skipped (the gateway asks for no topic
aliases, so a broker sends every topic in full).
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

TOPIC_CACHE_MAX = 65_536
TOPIC_CACHED_BYTES = 256  # a contract topic is far shorter; longer ones (anyone may publish) are not kept


class Inbound(NamedTuple):
    """A message as received; ``generation`` names the connection its ``mid`` belongs to.

    A named tuple rather than a dataclass: one is made per message, and a tuple is made several times faster."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    retained: bool = False


# A named tuple's own constructor is a Python function; this makes one with tuple's, every field given in order.
_new_inbound = tuple.__new__


class Next(Enum):
    """Why :func:`split_publishes` stopped."""

    MORE_BYTES = "the next packet is not complete yet"
    OTHER_PACKET = "the next packet is complete but not a QoS 0/1 PUBLISH: paho's to read"
    LIMIT = "as many messages as asked for"


_topics: dict[bytes, str] = {}


def _topic_text(raw: bytes) -> str:
    # devices publish on a bounded set of topics: decoding each once saves a decode per message
    topic = _topics.get(raw)
    if topic is None:
        try:
            topic = raw.decode("utf-8")
        except UnicodeDecodeError:  # dead-lettered as an unknown topic, readably
            topic = raw.decode("utf-8", "backslashreplace")
        if len(raw) <= TOPIC_CACHED_BYTES:
            if len(_topics) >= TOPIC_CACHE_MAX:
                _topics.clear()
            _topics[raw] = topic
    return topic


def split_publishes(
    data: bytes, offset: int, *, mqtt5: bool, generation: int, limit: int, into: list[Inbound]
) -> tuple[int, Next]:
    """Append to ``into`` each complete QoS 0/1 PUBLISH at ``data[offset:]``, up to ``limit`` of them.

    Returns the offset of the first packet not taken and why it was not: incomplete (read more bytes first), not a
    PUBLISH this reads (hand it to paho, which will read exactly that packet), or the limit.
    """
    end = len(data)
    taken = 0
    while taken < limit:
        if offset + 2 > end:
            return offset, Next.MORE_BYTES
        header = data[offset]
        # the remaining length: up to four 7-bit groups, least significant first
        index = offset + 1
        length = 0
        shift = 0
        while True:
            if index >= end:
                return offset, Next.MORE_BYTES
            byte = data[index]
            index += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift > 21:
                return offset, Next.OTHER_PACKET  # malformed: paho says so and drops the connection
        packet_end = index + length
        if packet_end > end:
            return offset, Next.MORE_BYTES
        qos = (header >> 1) & 3
        if header >> 4 != 3 or qos == 3 or qos == 2 or length < 2:
            return offset, Next.OTHER_PACKET
        topic_end = index + 2 + ((data[index] << 8) | data[index + 1])
        if topic_end == index + 2:
            return offset, Next.OTHER_PACKET  # an empty topic means a topic alias: paho resolves those
        body = topic_end
        mid = 0
        if qos:
            mid = (data[body] << 8) | data[body + 1] if body + 2 <= packet_end else 0
            body += 2
        if mqtt5 and body < packet_end:
            properties = 0
            shift = 0
            while body < packet_end:
                byte = data[body]
                body += 1
                properties |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
            body += properties
        if body > packet_end or (qos and mid == 0) or (mqtt5 and body == topic_end + (2 if qos else 0)):
            return offset, Next.OTHER_PACKET  # fields run past the packet, or packet id 0: malformed
        into.append(_new_inbound(Inbound, (_topic_text(data[index + 2 : topic_end]), data[body:packet_end], mid, qos,
                                           generation, bool(header & 1))))
        offset = packet_end
        taken += 1
    return offset, Next.LIMIT
