"""Accounts and their passwords: plain Python, no I/O, no clock (sign-in throttling: ``accounts.throttling``; what
makes a password too weak to set: ``accounts.passwords``).

Passwords are kept as scrypt hashes (``hashlib.scrypt``, a memory-hard function, so a stolen table
is slow to attack on GPUs) in a self-describing string that carries its own cost parameters, so
the cost can be raised later without invalidating stored hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from accounts.passwords import PasswordProblem, password_problem
from webkit.identity import Role

ACCOUNT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
"""The shape of the owner ids on the voter roll (and of every id in the APIs)."""
MAX_DISPLAY_NAME_CHARS = 100
SALT_BYTES = 16
KEY_BYTES = 32
SCHEME = "scrypt"
MAX_SCRYPT_MEMORY = 64 * 1024 * 1024
"""No stored hash can make one sign-in take more memory than this (a hash is data, not trusted code)."""


@dataclass(frozen=True)
class ScryptCost:
    """scrypt's work factors: ``n`` (CPU/memory, a power of two), ``r`` (block size), ``p`` (parallelism)."""

    n: int = 2**14
    r: int = 8
    p: int = 1

    @property
    def memory_bytes(self) -> int:
        return 128 * self.r * (self.n + self.p + 2)

    @property
    def is_acceptable(self) -> bool:
        power_of_two = self.n > 1 and self.n & (self.n - 1) == 0
        return power_of_two and 1 <= self.r <= 32 and 1 <= self.p <= 16 and self.memory_bytes <= MAX_SCRYPT_MEMORY


DEFAULT_COST = ScryptCost()  # 16 MiB and some 50 ms per check on a small server


def hash_password(password: str, salt: bytes, cost: ScryptCost = DEFAULT_COST) -> str:
    """``scrypt$n$r$p$<salt>$<key>`` (base64) for ``password`` with ``salt`` (random, SALT_BYTES long)."""
    if len(salt) < SALT_BYTES:
        raise ValueError(f"a salt has at least {SALT_BYTES} bytes")
    if not cost.is_acceptable:
        raise ValueError(f"unacceptable scrypt cost {cost}")
    key = _derive(password, salt, cost)
    return "$".join((SCHEME, str(cost.n), str(cost.r), str(cost.p), _b64(salt), _b64(key)))


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` hashes to ``stored``; compared in constant time. A malformed or
    too-costly stored hash never matches (and never raises)."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    cost, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, cost), key)


def _derive(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    # NFC: the same password typed on two keyboards (composed or decomposed accents) is one password
    secret = unicodedata.normalize("NFC", password).encode("utf-8")
    return hashlib.scrypt(secret, salt=salt, n=cost.n, r=cost.r, p=cost.p, dklen=KEY_BYTES,
                          maxmem=MAX_SCRYPT_MEMORY + 1024 * 1024)


def _parse(stored: str) -> tuple[ScryptCost, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME or not all(part.isascii() and part.isdigit() for part in parts[1:4]):
        return None
    cost = ScryptCost(int(parts[1]), int(parts[2]), int(parts[3]))
    try:
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except (binascii.Error, ValueError):
        return None
    if not cost.is_acceptable or len(salt) < SALT_BYTES or len(key) != KEY_BYTES:
        return None
    return cost, salt, key


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Account:
    account_id: str
    """The subject of the account's bearer token; for a resident, their owner id on the voter roll."""
    display_name: str
    roles: frozenset[Role]
    password_hash: str = field(repr=False)
    enabled: bool = True
    """A disabled account cannot sign in, and no token of its subject is taken."""


class AccountRefusal(Enum):
    """Why an account cannot be created as asked."""

    BAD_ID = "bad_id"
    BAD_NAME = "bad_name"
    SHORT_PASSWORD = "short_password"
    LONG_PASSWORD = "long_password"
    PASSWORD_LIKE_ID = "password_like_id"
    COMMON_PASSWORD = "common_password"
    ONE_KIND_PASSWORD = "one_kind_password"
    REPETITIVE_PASSWORD = "repetitive_password"
    NO_ROLE = "no_role"
    EXISTS = "exists"

    @property
    def message(self) -> str:
        return _ACCOUNT_REFUSALS[self]


PASSWORD_REFUSALS = {
    PasswordProblem.TOO_SHORT: AccountRefusal.SHORT_PASSWORD,
    PasswordProblem.TOO_LONG: AccountRefusal.LONG_PASSWORD,
    PasswordProblem.LIKE_ACCOUNT_ID: AccountRefusal.PASSWORD_LIKE_ID,
    PasswordProblem.COMMON: AccountRefusal.COMMON_PASSWORD,
    PasswordProblem.ONE_KIND: AccountRefusal.ONE_KIND_PASSWORD,
    PasswordProblem.REPETITIVE: AccountRefusal.REPETITIVE_PASSWORD,
}
"""The refusal of an account whose password has each problem (:mod:`accounts.passwords`)."""
_ACCOUNT_REFUSALS = {
    AccountRefusal.BAD_ID: "the account id is 1–64 letters, digits or . _ : -",
    AccountRefusal.BAD_NAME: f"the display name has 1–{MAX_DISPLAY_NAME_CHARS} printable characters",
    **{refusal: problem.message for problem, refusal in PASSWORD_REFUSALS.items()},
    AccountRefusal.NO_ROLE: "an account has at least one role",
    AccountRefusal.EXISTS: "an account with this id exists already",
}


def check_new_account(
    account_id: str, display_name: str, roles: Iterable[Role], password: str
) -> AccountRefusal | None:
    """Why an account with these values must not be created, or None (a weak password: see
    :mod:`accounts.passwords`)."""
    if not ACCOUNT_ID.fullmatch(account_id):
        return AccountRefusal.BAD_ID
    name = display_name.strip()
    if not name or len(name) > MAX_DISPLAY_NAME_CHARS or not name.isprintable():
        return AccountRefusal.BAD_NAME
    if not set(roles):
        return AccountRefusal.NO_ROLE
    problem = password_problem(password, account_id)
    return None if problem is None else PASSWORD_REFUSALS[problem]
