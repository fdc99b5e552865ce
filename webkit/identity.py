"""Who a request is from: roles, principals, and the signed bearer tokens (JWT, HS256) that carry them, so
any service instance can check a token's signature without a session store; each names a subject and its roles,
carries an id of its own (``jti``, so one token can be revoked) and expires, at most :data:`MAX_TOKEN_TTL` after
it was issued. Whether its subject still has an enabled account and the token is not revoked is the accounts'
to say (:class:`TokenChecker`, installed by :func:`webkit.auth.check_tokens_with`).

Roles: ``admin``, ``property_manager``, ``market_operator``, ``supervisor``, ``resident``, ``committee``. Issue
tokens with ``smartcity token issue``; HTTP routes declare the roles they accept with
:func:`webkit.auth.require_roles`.

What a principal may act on is its :class:`Scope`: the communities and markets its account is assigned (an
administrator: everything). It is the accounts' to say, with the account's current roles, on every request
(:class:`Standing`), so an assignment taken away takes effect at once. A route that takes the id of something in a
community or a market checks the scope and answers 404 outside it, as if the thing did not exist.
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
    SUPERVISOR = "supervisor"
    """A street office or district market-supervision office: reads its communities and markets, changes nothing."""


@dataclass(frozen=True, slots=True)
class Scope:
    """The communities and markets a principal may act on (``everything``: an administrator's)."""

    communities: frozenset[str] = frozenset()
    markets: frozenset[str] = frozenset()
    everything: bool = False

    @classmethod
    def of(cls, communities: Iterable[str] = (), markets: Iterable[str] = ()) -> Scope:
        """The scope of these community and market ids."""
        return cls(frozenset(communities), frozenset(markets))

    def has_community(self, community_id: str) -> bool:
        return self.everything or community_id in self.communities

    def has_market(self, market_id: str) -> bool:
        return self.everything or market_id in self.markets

    def covers(self, other: Scope) -> bool:
        """Whether every community and market of ``other`` is in this scope."""
        if self.everything:
            return True
        return not other.everything and other.communities <= self.communities and other.markets <= self.markets


NOTHING = Scope()
EVERYTHING = Scope(everything=True)


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: frozenset[Role]
    expires_at: datetime
    token_id: str
    """The ``jti`` of the token that names this principal: what signing out revokes."""
    scope: Scope = NOTHING
    """What it may act on; set once the accounts have checked the token (:func:`webkit.auth.checked_principal`)."""
    issued_at: datetime | None = None
    """When its token was issued (``iat``, to the second): the accounts refuse tokens issued before a password
    reset. None for a principal made in code rather than read from a token."""

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def has_community(self, community_id: str) -> bool:
        return self.is_admin or self.scope.has_community(community_id)

    def has_market(self, market_id: str) -> bool:
        return self.is_admin or self.scope.has_market(market_id)

    def has_any(self, roles: Iterable[Role]) -> bool:
        return bool(self.roles & set(roles)) or Role.ADMIN in self.roles


class AuthError(Exception):
    """The request carries no usable token; the message says why, without echoing the token."""


class TokenAuthority:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the token secret must be at least 32 bytes")
        self._secret = secret

    def issue(self, subject: str, roles: Iterable[Role], now: datetime, ttl: timedelta,
              token_id: str | None = None) -> str:
        """A signed token; ``token_id``: its ``jti`` when the caller keeps a record of it (else a random one)."""
        if not subject:
            raise ValueError("a token names its subject")
        if not timedelta(0) < ttl <= MAX_TOKEN_TTL:
            raise ValueError(f"a token lives more than no time and at most {MAX_TOKEN_TTL.days} days")
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "jti": token_id or secrets.token_urlsafe(TOKEN_ID_BYTES),
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
        issued = claims.get("iat")
        issued_at = datetime.fromtimestamp(issued, tz=now.tzinfo) if isinstance(issued, int) else None
        return Principal(str(claims["sub"]), roles, expires_at, token_id, issued_at=issued_at)


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


@dataclass(frozen=True, slots=True)
class Standing:
    """What the accounts say of a token's principal: whether it may be used, the account's roles now, its scope."""

    status: PrincipalStatus
    roles: frozenset[Role] = frozenset()
    scope: Scope = NOTHING

    def applied_to(self, principal: Principal) -> Principal:
        """``principal`` with the roles both its token and its account hold, and the account's scope (an
        administrator's: everything): a token never gives more than its account has now."""
        roles = principal.roles & self.roles
        scope = EVERYTHING if Role.ADMIN in roles else self.scope
        return Principal(principal.subject, roles, principal.expires_at, principal.token_id, scope,
                         principal.issued_at)


class TokenChecker(Protocol):
    """Whether a well-signed, unexpired token may still be used, and with which roles and scope (the accounts):
    kept cheap, as every authenticated request asks."""

    async def standing(self, principal: Principal) -> Standing: ...
