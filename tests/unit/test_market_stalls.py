"""Who held a stall when: a sale is attributed to the stall's name and vendor at the time of sale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from market.stalls import StallTenure, tenure_at

OPENED = datetime(2026, 11, 1, tzinfo=UTC)
FIRST = StallTenure("A03", "王记蔬菜", "v-wang", OPENED)
HANDED_ON = StallTenure("A03", "李家果蔬", "v-li", OPENED + timedelta(days=10))


def test_a_sale_belongs_to_the_tenure_in_force_when_it_was_made() -> None:
    assert tenure_at([HANDED_ON, FIRST], OPENED + timedelta(days=3)) == FIRST
    assert tenure_at([FIRST, HANDED_ON], HANDED_ON.since) == HANDED_ON
    assert tenure_at([FIRST, HANDED_ON], HANDED_ON.since - timedelta(microseconds=1)) == FIRST


def test_a_sale_before_the_stall_was_registered_belongs_to_its_first_tenure() -> None:
    assert tenure_at([HANDED_ON, FIRST], OPENED - timedelta(days=1)) == FIRST
    assert tenure_at([], OPENED) is None
