"""The framing of an HTTP ingestion body: one message, or an array whose elements keep their bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.inputs.http_framing import Framed, Unframed, array_elements, frame


def test_a_body_that_is_not_an_array_is_one_message_byte_for_byte() -> None:
    for body in (b'{"event_id": "e1"}', b"not json", b"\xff\xfe", b"", b"  [", b'["unterminated', b"[1,]"):
        assert frame(body, 10) == Framed([body], batch=False), body


def test_each_element_of_an_array_keeps_its_own_bytes() -> None:
    body = b' [ {"a": "x,]}\\"[", "b": [1, {"c": 2}]} ,\n{"a":1.0e3} , "s" ] '
    assert frame(body, 10) == Framed([b'{"a": "x,]}\\"[", "b": [1, {"c": 2}]}', b'{"a":1.0e3}', b'"s"'], batch=True)


def test_an_empty_array_or_too_many_messages_are_not_framed() -> None:
    assert frame(b"[]", 10) == Unframed(frame(b"[ ]", 10).why)  # type: ignore[union-attr]
    too_many = frame(json.dumps([{}] * 11).encode(), 10)
    assert isinstance(too_many, Unframed) and too_many.too_many and "11 messages" in too_many.why


def test_an_array_in_utf16_is_one_message_as_mqtt_would_take_it() -> None:
    body = '[{"a": 1}]'.encode("utf-16")
    assert frame(body, 10) == Framed([body], batch=False)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=12,
)


@given(elements=st.lists(json_values, min_size=1, max_size=8), indent=st.sampled_from([None, 1]),
       ascii_only=st.booleans())
def test_the_elements_found_are_the_arrays_elements(elements: list[Any], indent: int | None,
                                                    ascii_only: bool) -> None:
    body = json.dumps(elements, indent=indent, ensure_ascii=ascii_only).encode()
    found = array_elements(body)
    assert [json.loads(element) for element in found] == elements
