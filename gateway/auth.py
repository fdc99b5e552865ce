"""Bearer tokens for the services' APIs: signed (JWT, HS256) so any service instance can check
them without a session store; each names a subject and its roles and expires.

Roles: ``admin``, ``property_manager``, ``market_operator``, ``resident``, ``committee``.
Issue tokens with ``smartcity token issue``; routes declare the roles they accept with
:func:`require_roles`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import wraps
from pathlib import Path

import jwt
from aiohttp import web

from gateway.json_errors import json_error
from gateway.local_secrets import configured_or_generated

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


def load_or_create_secret(configured: str | None, data_dir: Path) -> bytes:
    """The configured secret (SC_AUTH_SECRET), else one generated once under the data directory."""
    return configured_or_generated(configured, data_dir / "auth-token.key", "SC_AUTH_SECRET")


PRINCIPAL = web.RequestKey("principal", Principal)
AUTHORITY = web.AppKey("token_authority", TokenAuthority)
Clock = Callable[[], datetime]
CLOCK: web.AppKey[Clock] = web.AppKey("clock")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def require_roles(*roles: Role) -> Callable[[Handler], Handler]:
    """Route decorator: 401 without a valid bearer token, 403 when it lacks every given role
    (``admin`` may do everything)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            principal = authenticate(request)
            if roles and not principal.has_any(roles):
                raise json_error(web.HTTPForbidden, f"needs one of the roles: {', '.join(roles)}")
            request[PRINCIPAL] = principal
            return await handler(request)

        return guarded

    return decorate


def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorised("send Authorization: Bearer <token>")
    try:
        return request.app[AUTHORITY].verify(token.strip(), request.app[CLOCK]())
    except AuthError as error:
        raise _unauthorised(str(error)) from None


def _unauthorised(message: str) -> web.HTTPUnauthorized:
    return json_error(web.HTTPUnauthorized, message, headers={"WWW-Authenticate": 'Bearer realm="smartcity"'})
