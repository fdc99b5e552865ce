"""Accounts: scrypt password hashes checked in constant time, what an account may be (sign-in throttling:
test_sign_in_throttle.py)."""

from __future__ import annotations

import base64
import time
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.domain import (
    DEFAULT_COST,
    SALT_BYTES,
    AccountRefusal,
    ScryptCost,
    check_new_account,
    hash_password,
    password_matches,
)
from webkit.identity import Role

CHEAP = ScryptCost(n=2**4, r=1, p=1)  # fast enough for many examples; the format is the same
SALT = b"s" * SALT_BYTES


def test_a_password_matches_its_hash_and_nothing_else() -> None:
    stored = hash_password("正确的密码 horse", SALT)
    assert stored.startswith(f"scrypt${DEFAULT_COST.n}${DEFAULT_COST.r}${DEFAULT_COST.p}$")
    assert password_matches("正确的密码 horse", stored)
    assert not password_matches("正确的密码 horsE", stored)
    assert not password_matches("", stored)


def test_the_salt_makes_equal_passwords_hash_differently() -> None:
    assert hash_password("same password", SALT, CHEAP) != hash_password("same password", b"t" * SALT_BYTES, CHEAP)


def test_composed_and_decomposed_accents_are_one_password() -> None:
    composed, decomposed = "caf\u00e9-1234", "cafe\u0301-1234"
    assert password_matches(decomposed, hash_password(composed, SALT, CHEAP))


@settings(max_examples=40, deadline=None)
@given(password=st.text(min_size=1, max_size=64), other=st.text(min_size=1, max_size=64))
def test_only_the_hashed_password_matches(password: str, other: str) -> None:
    stored = hash_password(password, SALT, CHEAP)
    assert password_matches(password, stored)
    assert password_matches(other, stored) == (other == password or _nfc(other) == _nfc(password))


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@pytest.mark.parametrize("stored", [
    "",
    "plain-text-password",
    "bcrypt$12$abc",
    "scrypt$16$1$1$!!notbase64!!$AAAA",
    "scrypt$16$1$1$" + base64.b64encode(b"short").decode() + "$" + base64.b64encode(b"k" * 32).decode(),
    "scrypt$16$1$1$" + base64.b64encode(SALT).decode() + "$" + base64.b64encode(b"k" * 31).decode(),
    "scrypt$15$1$1$" + base64.b64encode(SALT).decode() + "$" + base64.b64encode(b"k" * 32).decode(),
    "scrypt$-16$1$1$" + base64.b64encode(SALT).decode() + "$" + base64.b64encode(b"k" * 32).decode(),
])
def test_a_malformed_stored_hash_never_matches_and_never_raises(stored: str) -> None:
    assert password_matches("anything", stored) is False


def test_a_stored_hash_cannot_demand_unbounded_memory() -> None:
    greedy = "scrypt$1048576$8$1$" + base64.b64encode(SALT).decode() + "$" + base64.b64encode(b"k" * 32).decode()
    started = time.perf_counter()
    assert password_matches("anything", greedy) is False
    assert time.perf_counter() - started < 0.5, "refused before deriving"


def test_hashing_refuses_a_short_salt_or_a_bad_cost() -> None:
    with pytest.raises(ValueError, match="salt"):
        hash_password("password", b"short")
    with pytest.raises(ValueError, match="cost"):
        hash_password("password", SALT, ScryptCost(n=1000))


@pytest.mark.parametrize(("account_id", "name", "roles", "password", "refusal"), [
    ("wang", "王芳", {Role.RESIDENT}, "long enough", None),
    ("owner:3301-0007", "王芳", {Role.RESIDENT}, "long enough", None),
    ("", "王芳", {Role.RESIDENT}, "long enough", AccountRefusal.BAD_ID),
    ("wang fang", "王芳", {Role.RESIDENT}, "long enough", AccountRefusal.BAD_ID),
    ("x" * 65, "王芳", {Role.RESIDENT}, "long enough", AccountRefusal.BAD_ID),
    ("wang", "   ", {Role.RESIDENT}, "long enough", AccountRefusal.BAD_NAME),
    ("wang", "王\n芳", {Role.RESIDENT}, "long enough", AccountRefusal.BAD_NAME),
    ("wang", "王芳", set(), "long enough", AccountRefusal.NO_ROLE),
    ("wang", "王芳", {Role.RESIDENT}, "short", AccountRefusal.SHORT_PASSWORD),
    ("wang", "王芳", {Role.RESIDENT}, "x" * 129, AccountRefusal.LONG_PASSWORD),
])
def test_what_an_account_may_be(account_id: str, name: str, roles: set[Role], password: str,
                                refusal: AccountRefusal | None) -> None:
    assert check_new_account(account_id, name, roles, password) is refusal
