"""The framing of an HTTP ingestion body, with no I/O: one contract message, or a JSON array of them.

Each message is handed on as the very bytes the device sent for it (a slice of the body, never re-serialised),
so the decoder and the dead-letter store see exactly what they would have seen had it come over MQTT: a body
that is not a JSON array is one MQTT payload, byte for byte — invalid JSON and all — and each element of an
array is the payload of one message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

WHITESPACE = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class Framed:
    """The payloads of a body; ``batch``: it was a JSON array (each element one message)."""

    payloads: list[bytes]
    batch: bool


@dataclass(frozen=True, slots=True)
class Unframed:
    """A body that cannot be taken as messages at all: an empty batch, or more messages than allowed."""

    why: str
    too_many: bool = False


def frame(body: bytes, max_messages: int) -> Framed | Unframed:
    """Split ``body`` into message payloads; never raises."""
    if not body.lstrip(WHITESPACE).startswith(b"["):
        return Framed([body], batch=False)
    try:
        # strictly UTF-8 (json.loads of bytes would also take UTF-16 and UTF-32, which the contract refuses)
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Framed([body], batch=False)  # not valid JSON: one message, dead-lettered as MQTT would
    if not isinstance(parsed, list):
        return Framed([body], batch=False)
    if not parsed:
        return Unframed("an empty array: send one message, or an array of 1 to "
                        f"{max_messages} messages")
    if len(parsed) > max_messages:
        return Unframed(f"{len(parsed)} messages in one request, at most {max_messages} "
                        "(SC_HTTP_INGEST_MAX_MESSAGES)", too_many=True)
    return Framed(array_elements(body), batch=True)


def array_elements(body: bytes) -> list[bytes]:
    """The raw bytes of each top-level element of ``body``, a valid JSON array (UTF-8): bytes of multi-byte
    characters are never ASCII, so scanning bytes for brackets, quotes and commas is exact."""
    start = body.index(b"[") + 1
    elements: list[bytes] = []
    depth = 0
    in_string = False
    escaped = False
    begun = start
    for index in range(start, len(body)):
        byte = body[index]
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
        elif byte in (0x5D, 0x7D):  # ] }
            if depth == 0:  # the array's own closing bracket
                element = body[begun:index].strip(WHITESPACE)
                if element:
                    elements.append(element)
                break
            depth -= 1
        elif byte == 0x2C and depth == 0:  # a comma between elements
            elements.append(body[begun:index].strip(WHITESPACE))
            begun = index + 1
    return elements
