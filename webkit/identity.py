"""Who a request is from: roles, principals, and the signed bearer tokens (JWT, HS256) that carry them, so
any service instance can check a token without a session store; each names a subject and its roles and expires.

Roles: ``admin``, ``property_manager``, ``market_operator``, ``resident``, ``committee``. Issue tokens with
``smartcity token issue``; HTTP routes declare the roles they accept with :func:`webkit.auth.require_roles`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import jwt

ALGORITHM = "HS256"
ISSUER = "smartcity"


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
        claims = {
            "iss": ISSUER,
            "sub": subject,
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
                options={"require": ["exp", "sub", "iss"], "verify_exp": False, "verify_iat": False},
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
        return Principal(str(claims["sub"]), roles, expires_at)


