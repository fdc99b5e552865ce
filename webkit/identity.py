"""Who a request is from: roles, principals, and the signed bearer tokens (JWT, HS256) that carry them, so
any service instance can check a token's signature without a session store; each names a subject and its roles,
carries an id of its own (``jti``, so one token can be revoked) and expires, at most :data:`MAX_TOKEN_TTL` after
it was issued. Whether its subject still has an enabled account and the token is not revoked is the accounts'
to say (:class:`TokenChecker`, installed by :func:`webkit.auth.check_tokens_with`).

Roles: ``admin``, ``property_manager``, ``market_operator``, ``resident``, ``committee``. Issue tokens with
``smartcity token issue``; HTTP routes declare the roles they accept with :func:`webkit.auth.require_roles`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Protocol

import jwt

ALGORITHM = "HS256"
ISSUER = "smartcity"
MAX_TOKEN_TTL = timedelta(days=365)
"""No token lives longer: one that leaks is usable for at most this long, even if no one revokes it."""
TOKEN_ID_BYTES = 16
MAX_TOKEN_ID_CHARS = 64


class Role(StrEnum):
    ADMIN = "admin"
    PROPERTY_MANAGER = "property_manager"
    MARKET_OPERATOR = "market_operator"
    RESIDENT = "resident"
    COMMITTEE = "committee"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: frozenset[Role]
    expires_at: datetime
    token_id: str
    """The ``jti`` of the token that names this principal: what signing out revokes."""

    def has_any(self, roles: Iterable[Role]) -> bool:
        return bool(self.roles & set(roles)) or Role.ADMIN in self.roles


class AuthError(Exception):
    """The request carries no usable token; the message says why, without echoing the token."""


class TokenAuthority:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the token secret must be at least 32 bytes")
        self._secret = secret

    def issue(self, subject: str, roles: Iterable[Role], now: datetime, ttl: timedelta) -> str:
        if not subject:
            raise ValueError("a token names its subject")
        if not timedelta(0) < ttl <= MAX_TOKEN_TTL:
            raise ValueError(f"a token lives more than no time and at most {MAX_TOKEN_TTL.days} days")
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "jti": secrets.token_urlsafe(TOKEN_ID_BYTES),
            "roles": sorted(Role(role).value for role in roles),
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str, now: datetime) -> Principal:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], issuer=ISSUER,
                # times are checked below against the caller's clock, not the machine's
                options={"require": ["exp", "sub", "iss", "jti"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError as error:
            raise AuthError(f"invalid token: {type(error).__name__}") from None
        expires_at = datetime.fromtimestamp(claims["exp"], tz=now.tzinfo)
        if now >= expires_at:  # checked against the caller's clock, so tests can pass one in
            raise AuthError("token expired")
        try:
            roles = frozenset(Role(role) for role in claims.get("roles", []))
        except ValueError:
            raise AuthError("token names an unknown role") from None
        token_id = claims["jti"]
        if not isinstance(token_id, str) or not 0 < len(token_id) <= MAX_TOKEN_ID_CHARS:
            raise AuthError("invalid token: its id (jti) is no short string")
        return Principal(str(claims["sub"]), roles, expires_at, token_id)


class PrincipalStatus(Enum):
    """What the accounts say of a token whose signature and expiry are good."""

    ACTIVE = "active"
    NO_ACCOUNT = "no_account"
    DISABLED = "disabled"
    REVOKED = "revoked"

    @property
    def refusal(self) -> str:
        return _REFUSALS[self]


_REFUSALS = {
    PrincipalStatus.ACTIVE: "",
    PrincipalStatus.NO_ACCOUNT: "the token's subject has no account",
    PrincipalStatus.DISABLED: "the token's account is disabled",
    PrincipalStatus.REVOKED: "token revoked",
}


class TokenChecker(Protocol):
    """Whether a well-signed, unexpired token may still be used (the accounts service): kept cheap, as every
    authenticated request asks."""

    async def principal_status(self, principal: Principal) -> PrincipalStatus: ...
