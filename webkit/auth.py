"""Bearer tokens on HTTP: routes declare the roles they accept with :func:`require_roles`; the token is checked
by the app's :class:`~webkit.identity.TokenAuthority` against the app's clock, then by its :class:`TokenChecker`
(the accounts): a token whose subject has no account, or a disabled one, or that was revoked, is refused too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps

from aiohttp import web

from webkit.identity import AuthError, Principal, PrincipalStatus, Role, TokenAuthority, TokenChecker
from webkit.json_errors import json_error

PRINCIPAL = web.RequestKey("principal", Principal)
AUTHORITY = web.AppKey("token_authority", TokenAuthority)
Clock = Callable[[], datetime]
CLOCK: web.AppKey[Clock] = web.AppKey("clock")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


TOKEN_CHECKER = web.AppKey("token_checker", TokenChecker)


def require_roles(*roles: Role) -> Callable[[Handler], Handler]:
    """Route decorator: 401 without a valid bearer token, 403 when it lacks every given role
    (``admin`` may do everything)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            principal = await authenticate(request)
            if roles and not principal.has_any(roles):
                raise json_error(web.HTTPForbidden, f"needs one of the roles: {', '.join(roles)}")
            request[PRINCIPAL] = principal
            return await handler(request)

        return guarded

    return decorate


async def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorised("send Authorization: Bearer <token>")
    try:
        return await checked_principal(request, token.strip())
    except AuthError as error:
        raise _unauthorised(str(error)) from None


async def checked_principal(request: web.Request, token: str) -> Principal:
    """Who ``token`` names, if it is well signed, unexpired, not revoked and its account is enabled; else
    :class:`AuthError` saying which."""
    principal = request.config_dict[AUTHORITY].verify(token, request.config_dict[CLOCK]())
    standing = await request.config_dict[TOKEN_CHECKER].standing(principal)
    if standing.status is not PrincipalStatus.ACTIVE:
        raise AuthError(standing.status.refusal)
    return standing.applied_to(principal)


def _unauthorised(message: str) -> web.HTTPUnauthorized:
    return json_error(web.HTTPUnauthorized, message, headers={"WWW-Authenticate": 'Bearer realm="smartcity"'})


def serve_tokens(app: web.Application, authority: TokenAuthority, now: Clock) -> None:
    """Check bearer tokens and sessions on ``app`` — the root application — with ``authority`` against ``now``;
    every context mounted on it finds them there (``request.config_dict``). Mounting several contexts gives the
    same pair each time; a different one is a wiring mistake, refused rather than silently replacing the first.
    The application will not start until a :class:`TokenChecker` is installed too (:func:`check_tokens_with`)."""
    for key, value in ((AUTHORITY, authority), (CLOCK, now)):
        if key in app and app[key] is not value:
            raise ValueError(f"{key} is already set to another value on this application")
    if AUTHORITY not in app:
        app.on_startup.append(_require_token_checker)
    app[AUTHORITY] = authority
    app[CLOCK] = now


def check_tokens_with(app: web.Application, checker: TokenChecker) -> None:
    """Ask ``checker`` about every token ``app`` (the root application) and its contexts are shown."""
    if TOKEN_CHECKER in app and app[TOKEN_CHECKER] is not checker:
        raise ValueError(f"{TOKEN_CHECKER} is already set to another value on this application")
    app[TOKEN_CHECKER] = checker


async def _require_token_checker(app: web.Application) -> None:
    # fail at start-up, not on the first request: without the accounts, a token of a deleted or disabled
    # account, or one signed out, would still be taken
    if TOKEN_CHECKER not in app:
        raise RuntimeError("this application takes bearer tokens but has no token checker: install the accounts "
                           "service with webkit.auth.check_tokens_with (accounts.pages.mount_pages does)")
