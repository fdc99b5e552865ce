"""QR visitor passes: issued and verified offline under an HMAC key; tampering, time, doors, uses, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from community.access import Door, PassRefusal, RevocationList, VisitorPass, issue, verify

KEY = b"server-pass-key-for-tests-0123456789"
START = datetime(2025, 3, 3, 10, tzinfo=UTC)
END = START + timedelta(hours=4)
FRONT, GARAGE = Door("gate-n", 1), Door("gate-p", 1)
PASS = VisitorPass("p-1", "alice", frozenset({FRONT}), START, END, max_uses=2, visitor_name="王师傅")
TEXT = issue(PASS, KEY)


def test_issued_pass_verifies_at_its_door_and_round_trips_every_field() -> None:
    assert verify(TEXT, KEY, FRONT, START, 0) == PASS
    assert TEXT.startswith("v1.")
    assert all(c.isalnum() or c in "._-" for c in TEXT)  # URL-safe, no padding


def test_pass_without_visitor_name_verifies() -> None:
    anonymous = VisitorPass("p-2", "alice", frozenset({FRONT, GARAGE}), START, END)
    assert verify(issue(anonymous, KEY), KEY, GARAGE, START, 0) == anonymous


def test_validity_starts_inclusive_and_ends_exclusive() -> None:
    assert verify(TEXT, KEY, FRONT, START - timedelta(seconds=1), 0) is PassRefusal.NOT_YET_VALID
    assert verify(TEXT, KEY, FRONT, END - timedelta(microseconds=1), 0) == PASS
    assert verify(TEXT, KEY, FRONT, END, 0) is PassRefusal.EXPIRED


def test_wrong_door_is_refused() -> None:
    assert verify(TEXT, KEY, GARAGE, START, 0) is PassRefusal.WRONG_DOOR
    assert verify(TEXT, KEY, Door("gate-n", 2), START, 0) is PassRefusal.WRONG_DOOR


def test_pass_is_used_up_after_max_uses() -> None:
    assert verify(TEXT, KEY, FRONT, START, 1) == PASS
    assert verify(TEXT, KEY, FRONT, START, 2) is PassRefusal.USED_UP


def test_revoked_pass_is_refused_and_forgotten_once_expired() -> None:
    revocations = RevocationList().revoke(PASS)
    assert verify(TEXT, KEY, FRONT, START, 0, revocations) is PassRefusal.REVOKED
    assert "p-1" not in revocations.pruned(END)
    assert "p-1" in revocations.pruned(END - timedelta(seconds=1))


def test_other_key_gives_bad_signature() -> None:
    assert verify(TEXT, b"another-server-key-0123456789abcdef", FRONT, START, 0) is PassRefusal.BAD_SIGNATURE


def test_garbage_is_malformed() -> None:
    for text in ("", "hello", "v2.abc.def", "v1.abc", "v1.a b.c", "v1..", "x" * 5000):
        assert verify(text, KEY, FRONT, START, 0) is PassRefusal.MALFORMED, text


def test_pass_longer_than_a_day_is_not_issued() -> None:
    week = VisitorPass("p-3", "alice", frozenset({FRONT}), START, START + timedelta(days=7))
    with pytest.raises(ValueError, match="at most"):
        issue(week, KEY)
    assert issue(week, KEY, max_validity=timedelta(days=7))


def test_invalid_passes_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="end after"):
        VisitorPass("p", "alice", frozenset({FRONT}), START, START)
    with pytest.raises(ValueError, match="whole second"):
        VisitorPass("p", "alice", frozenset({FRONT}), START + timedelta(microseconds=5), END)
    with pytest.raises(ValueError, match="doors"):
        VisitorPass("p", "alice", frozenset(), START, END)
    with pytest.raises(ValueError, match="max_uses"):
        VisitorPass("p", "alice", frozenset({FRONT}), START, END, max_uses=0)
    with pytest.raises(ValueError, match="32 bytes"):
        issue(PASS, b"short")


@given(st.data())
def test_any_changed_character_fails(data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(TEXT) - 1))
    replacement = data.draw(st.characters(codec="utf-8").filter(lambda c: c != TEXT[position]))
    tampered = TEXT[:position] + replacement + TEXT[position + 1 :]
    assert not isinstance(verify(tampered, KEY, FRONT, START, 0), VisitorPass)


@given(st.text(max_size=300))
def test_arbitrary_text_never_verifies(text: str) -> None:
    assert isinstance(verify(text, KEY, FRONT, START, 0), PassRefusal)


@given(
    st.text(min_size=1, max_size=20),
    st.text(min_size=1, max_size=32),
    st.integers(1, 86_400),
    st.integers(1, 100),
)
def test_any_valid_pass_round_trips(pass_id: str, name: str, seconds: int, uses: int) -> None:
    visitor_pass = VisitorPass(
        pass_id, "alice", frozenset({FRONT}), START, START + timedelta(seconds=seconds), uses, name
    )
    assert verify(issue(visitor_pass, KEY), KEY, FRONT, START, uses - 1) == visitor_pass
