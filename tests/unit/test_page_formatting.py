"""The page machinery's pure parts: where a sign-in may lead, and exact percentages as the result pages show them."""

from __future__ import annotations

from fractions import Fraction

import pytest

from webkit.formatting import percent
from webkit.pages import safe_next


@pytest.mark.parametrize(("value", "expected"), [
    ("/voting/proposals/p-1?x=1", "/voting/proposals/p-1?x=1"), (None, "/"), ("", "/"), ("voting", "/"),
    ("//evil.example", "/"), ("/\\evil.example", "/"), ("/ok\r\nSet-Cookie: x", "/"),
])
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


@pytest.mark.parametrize(("ratio", "shown"), [
    (Fraction(2, 3), "66.67%"), (Fraction(1, 1), "100.00%"), (Fraction(0), "0.00%"),
    (Fraction(1, 8), "12.50%"), (Fraction(1, 20000), "0.00%"), (Fraction(3, 20000), "0.02%"),
    (Fraction(5, 80000), "0.01%"), (Fraction(149, 190), "78.42%"),
])
def test_percentages_are_computed_exactly_and_rounded_half_even(ratio: Fraction, shown: str) -> None:
    assert percent(ratio) == shown
