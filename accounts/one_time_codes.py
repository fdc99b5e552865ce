"""One-time codes: the first administrator's setup link, a staff invitation, a password reset, a resident's
activation letter. Plain Python, no I/O, no clock, no randomness (the caller draws the random bytes and passes
``now``).

A code is shown once, to whoever asked for it, and stored only as its SHA-256 digest: a stolen table gives no
usable code. A fast hash is enough, as the codes are random and long (a link's 192 bits, a letter's 60), not
chosen by people. Each is used at most once and expires; an activation or reset code is also let go when a new
one is issued for the same person (a lost letter is replaced, not duplicated).
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from webkit.identity import NOTHING, Role, Scope

LINK_CODE_BYTES: Final = 24
"""A code carried in a link (setup, invitation, reset): 192 random bits, 32 URL-safe characters."""
ACTIVATION_ALPHABET: Final = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
"""The letters of a typed code: no 0/O, 1/I (misread on paper); 32 symbols, 5 bits each."""
ACTIVATION_CODE_CHARS: Final = 12
ACTIVATION_CODE_BYTES: Final = ACTIVATION_CODE_CHARS * 5 // 8 + 1
MAX_TYPED_CODE_CHARS: Final = 64

SETUP_TTL: Final = timedelta(hours=24)
RESET_TTL: Final = timedelta(hours=24)
INVITATION_DEFAULT_DAYS: Final = 7
INVITATION_MAX_DAYS: Final = 30
ACTIVATION_DEFAULT_DAYS: Final = 60
ACTIVATION_MAX_DAYS: Final = 180


class CodeKind(StrEnum):
    SETUP = "setup"
    INVITATION = "invitation"
    RESET = "reset"
    ACTIVATION = "activation"


class CodeState(StrEnum):
    PENDING = "pending"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    """Withdrawn by whoever issued it, or replaced by a newer code for the same person."""

    @property
    def text(self) -> str:
        return {CodeState.PENDING: "待使用", CodeState.USED: "已使用", CodeState.EXPIRED: "已过期",
                CodeState.REVOKED: "已撤销"}[self]


@dataclass(frozen=True)
class CodeRecord:
    """A code as stored: its digest and what using it does."""

    code_id: str
    """A public id of the code (to list and revoke an invitation), which reveals nothing of the code."""
    digest: str
    kind: CodeKind
    created_at: datetime
    expires_at: datetime
    account_id: str | None = None
    """The account it resets or activates; for an invitation, the account made with it once used."""
    display_name: str | None = None
    role: Role | None = None
    organisation_id: str | None = None
    scope: Scope = NOTHING
    created_by: str | None = None
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    def state(self, now: datetime) -> CodeState:
        if self.used_at is not None:
            return CodeState.USED
        if self.revoked_at is not None:
            return CodeState.REVOKED
        if now >= self.expires_at:
            return CodeState.EXPIRED
        return CodeState.PENDING


def link_code(random_bytes: bytes) -> str:
    """The code of a link from ``random_bytes`` (at least :data:`LINK_CODE_BYTES`), URL-safe."""
    if len(random_bytes) < LINK_CODE_BYTES:
        raise ValueError(f"a link's code takes {LINK_CODE_BYTES} random bytes")
    return base64.urlsafe_b64encode(random_bytes[:LINK_CODE_BYTES]).decode("ascii")


def activation_code(random_bytes: bytes) -> str:
    """A code to type from a letter, from ``random_bytes`` (at least :data:`ACTIVATION_CODE_BYTES`): twelve
    letters and digits in three groups, ``7KQ4-MX2P-9HTD``."""
    if len(random_bytes) < ACTIVATION_CODE_BYTES:
        raise ValueError(f"an activation code takes {ACTIVATION_CODE_BYTES} random bytes")
    number = int.from_bytes(random_bytes[:ACTIVATION_CODE_BYTES], "big")
    symbols = []
    for _ in range(ACTIVATION_CODE_CHARS):
        number, index = divmod(number, len(ACTIVATION_ALPHABET))
        symbols.append(ACTIVATION_ALPHABET[index])
    text = "".join(symbols)
    return "-".join(text[start:start + 4] for start in range(0, ACTIVATION_CODE_CHARS, 4))


def typed_activation_code(typed: str) -> str | None:
    """The activation code someone typed or pasted, as issued (grouped, upper case), or None when it cannot be
    one: full-width characters, lower case, spaces and dashes anywhere are forgiven; a character no code has
    (O, I, 0, 1...) makes it none."""
    if len(typed) > MAX_TYPED_CODE_CHARS:
        return None
    text = "".join(char for char in unicodedata.normalize("NFKC", typed).upper() if char not in " -\t")
    if len(text) != ACTIVATION_CODE_CHARS or any(char not in ACTIVATION_ALPHABET for char in text):
        return None
    return "-".join(text[start:start + 4] for start in range(0, ACTIVATION_CODE_CHARS, 4))


def code_digest(code: str) -> str:
    """What is stored of ``code`` (hex SHA-256)."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def days_of_validity(days: int, maximum: int) -> timedelta | None:
    """``days`` as a code's lifetime, or None when it is not 1 to ``maximum``."""
    return timedelta(days=days) if 1 <= days <= maximum else None
