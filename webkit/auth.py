"""Bearer tokens on HTTP: routes declare the roles they accept with :func:`require_roles`; the token is checked
by the app's :class:`~webkit.identity.TokenAuthority` against the app's clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps

from aiohttp import web

from webkit.identity import AuthError, Principal, Role, TokenAuthority
from webkit.json_errors import json_error

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
        return request.config_dict[AUTHORITY].verify(token.strip(), request.config_dict[CLOCK]())
    except AuthError as error:
        raise _unauthorised(str(error)) from None


def _unauthorised(message: str) -> web.HTTPUnauthorized:
    return json_error(web.HTTPUnauthorized, message, headers={"WWW-Authenticate": 'Bearer realm="smartcity"'})


def serve_tokens(app: web.Application, authority: TokenAuthority, now: Clock) -> None:
    """Check bearer tokens and sessions on ``app`` — the root application — with ``authority`` against ``now``;
    every context mounted on it finds them there (``request.config_dict``). Mounting several contexts gives the
    same pair each time; a different one is a wiring mistake, refused rather than silently replacing the first."""
    for key, value in ((AUTHORITY, authority), (CLOCK, now)):
        if key in app and app[key] is not value:
            raise ValueError(f"{key} is already set to another value on this application")
    app[AUTHORITY] = authority
    app[CLOCK] = now
