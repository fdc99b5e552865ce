"""Visitor passes (访客通行码): short-lived QR codes a gate verifies offline with an HMAC-SHA256 server key.

The text in the QR code is ``v1.<payload>.<signature>``, both parts unpadded URL-safe base64; the payload is compact
JSON with one-letter keys to keep the code small. The signature covers ``v1.<payload>`` exactly as written, and the
signature text must be the canonical encoding of the MAC, so changing any character of the pass makes it fail.

A pass is signed, not encrypted: whoever holds it can read the visitor's name. Keep the name short or leave it out.
Nothing here reads a clock: the caller passes `now` and how often the pass was used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from community.access.permissions import Door
from devices.gate_memory import sign_visitor_pass

VERSION = "v1"
DEFAULT_MAX_VALIDITY = timedelta(hours=24)
MAX_DOORS = 16
MAX_NAME_LENGTH = 32
MAX_TEXT_LENGTH = 1024
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class PassRefusal(StrEnum):
    """Why a gate refuses a visitor pass."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    WRONG_DOOR = "wrong_door"
    USED_UP = "used_up"


@dataclass(frozen=True)
class VisitorPass:
    """A pass a resident issues to a visitor, valid in [valid_from, valid_to) for `max_uses` openings of `doors`.

    Times are kept to the second (what the QR code carries); build them without microseconds.
    """

    pass_id: str
    resident_id: str
    doors: frozenset[Door]
    valid_from: datetime
    valid_to: datetime
    max_uses: int = 1
    visitor_name: str | None = None

    def __post_init__(self) -> None:
        for name, moment in (("valid_from", self.valid_from), ("valid_to", self.valid_to)):
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError(f"{name} must be a timezone-aware datetime")
            if moment.microsecond:
                raise ValueError(f"{name} must be a whole second (the pass carries seconds)")
        if self.valid_to <= self.valid_from:
            raise ValueError("a pass must end after it starts")
        if not self.pass_id or not self.resident_id:
            raise ValueError("a pass needs a pass id and the inviting resident")
        if not 1 <= len(self.doors) <= MAX_DOORS:
            raise ValueError(f"a pass opens 1..{MAX_DOORS} doors")
        if isinstance(self.max_uses, bool) or not 1 <= self.max_uses <= 100:
            raise ValueError("max_uses must be 1..100")
        if self.visitor_name is not None and not 1 <= len(self.visitor_name) <= MAX_NAME_LENGTH:
            raise ValueError(f"the visitor name must be 1..{MAX_NAME_LENGTH} characters (or left out)")


def issue(visitor_pass: VisitorPass, key: bytes, *, max_validity: timedelta = DEFAULT_MAX_VALIDITY) -> str:
    """The signed text to put in the QR code. Raises ValueError for a pass valid longer than `max_validity`."""
    _check_key(key)
    if visitor_pass.valid_to - visitor_pass.valid_from > max_validity:
        raise ValueError(f"a visitor pass may be valid for at most {max_validity}")
    # the gates' own encoder (the wire contract): what they read is by construction what is issued
    text = sign_visitor_pass(key, visitor_pass.pass_id, visitor_pass.resident_id,
                             [(door.gate_id, door.number) for door in visitor_pass.doors], visitor_pass.valid_from,
                             visitor_pass.valid_to, visitor_pass.max_uses, visitor_pass.visitor_name)
    if len(text) > MAX_TEXT_LENGTH:
        raise ValueError("the pass is too long for a QR code; use fewer doors or a shorter name")
    return text


def verify(
    text: str,
    key: bytes,
    door: Door,
    now: datetime,
    uses_so_far: int,
    revoked: Container[str] = frozenset(),
) -> VisitorPass | PassRefusal:
    """The pass, if it opens `door` at `now` after `uses_so_far` uses; otherwise why not.

    Checked in order: shape, signature, content, revocation, validity period (start inclusive, end exclusive),
    door, uses.
    """
    _check_key(key)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    parts = text.split(".") if len(text) <= MAX_TEXT_LENGTH else []
    if len(parts) != 3 or parts[0] != VERSION or not all(_B64URL.fullmatch(part) for part in parts[1:]):
        return PassRefusal.MALFORMED
    signed = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(parts[2], _b64encode(_mac(key, signed))):
        return PassRefusal.BAD_SIGNATURE
    visitor_pass = _decode(parts[1])
    if visitor_pass is None:
        return PassRefusal.MALFORMED
    if visitor_pass.pass_id in revoked:
        return PassRefusal.REVOKED
    if now < visitor_pass.valid_from:
        return PassRefusal.NOT_YET_VALID
    if now >= visitor_pass.valid_to:
        return PassRefusal.EXPIRED
    if door not in visitor_pass.doors:
        return PassRefusal.WRONG_DOOR
    if uses_so_far >= visitor_pass.max_uses:
        return PassRefusal.USED_UP
    return visitor_pass


@dataclass(frozen=True)
class RevocationList:
    """Revoked pass ids, each kept only until the pass would have expired anyway, so the list stays short."""

    expires: Mapping[str, datetime] = field(default_factory=lambda: MappingProxyType({}))

    def __contains__(self, pass_id: object) -> bool:
        return pass_id in self.expires

    def revoke(self, visitor_pass: VisitorPass) -> RevocationList:
        return RevocationList(MappingProxyType({**self.expires, visitor_pass.pass_id: visitor_pass.valid_to}))

    def pruned(self, now: datetime) -> RevocationList:
        """Without the entries for passes that have expired by `now` (they are refused as expired anyway)."""
        return RevocationList(MappingProxyType({pid: end for pid, end in self.expires.items() if end > now}))


def _decode(payload_text: str) -> VisitorPass | None:
    try:
        body = json.loads(_b64decode(payload_text))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(body, dict) or not {"i", "r", "d", "f", "t", "u"} <= body.keys() <= {*"irdftun"}:
        return None
    try:
        doors = body["d"]
        if not isinstance(doors, list) or not all(
            isinstance(d, list) and len(d) == 2 and isinstance(d[0], str) and type(d[1]) is int for d in doors
        ):
            return None
        for key_ in ("f", "t", "u"):
            if type(body[key_]) is not int:
                return None
        for key_ in ("i", "r"):
            if not isinstance(body[key_], str):
                return None
        name = body.get("n")
        if name is not None and not isinstance(name, str):
            return None
        return VisitorPass(
            pass_id=body["i"],
            resident_id=body["r"],
            doors=frozenset(Door(gate, number) for gate, number in doors),
            valid_from=datetime.fromtimestamp(body["f"], UTC),
            valid_to=datetime.fromtimestamp(body["t"], UTC),
            max_uses=body["u"],
            visitor_name=name,
        )
    except (ValueError, OverflowError, OSError):
        return None


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check_key(key: bytes) -> None:
    if len(key) < 32:
        raise ValueError("the pass signing key must be at least 32 bytes")
