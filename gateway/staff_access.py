"""Who may read the gateway's HTTP face: its status page and APIs show raw device messages (dead letters), device
identities and activity of every community and market of the installation, so they answer its administrators
only (a property manager or market operator sees their own devices through the services' pages, scoped to
their communities and markets; the gateway's pages are not) — proved by a bearer token (``smartcity token
issue``) or, where the gateway is served beside the people's pages (``smartcity run``), by a page session.
``/healthz`` and ``/readyz`` stay open for load balancers; ``/metrics`` is for administrators too unless the
operator opens it for a scraper (``SC_METRICS_PUBLIC``). "Staff" in the names below means these administrators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps

from aiohttp import web

from webkit.auth import PRINCIPAL, Handler, checked_principal
from webkit.identity import AuthError, Principal, PrincipalStatus, Role, Standing, TokenAuthority, TokenChecker
from webkit.json_errors import json_error
from webkit.pages import page, session_principal

STAFF = (Role.ADMIN,)
"""The roles that may read the gateway's pages and APIs: administrators only, as they span every tenant."""

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="smartcity"'}
HOW_TO_SEND_A_TOKEN = ("send Authorization: Bearer <token> with an administrator's token; issue one with: "
                       "smartcity token issue --subject <you> --role admin")


@dataclass(frozen=True, slots=True)
class StaffAccess:
    """How the gateway checks that a request is from staff; built by the composition root."""

    authority: TokenAuthority
    now: Callable[[], datetime]
    sign_in_page: bool = False
    """Whether the people's pages (with /signin) are served beside the gateway, as in ``smartcity run``: a browser
    without a session is sent there. Alone (``smartcity gateway``) there is no sign-in page: 401 with a text
    saying how to send a token."""
    metrics_public: bool = False
    """``/metrics`` without a token, for a Prometheus scraper on a private network (SC_METRICS_PUBLIC)."""
    checker: TokenChecker | None = None
    """Who says whether a well-signed token may still be used; None: the accounts installed it on the same
    application already (``smartcity run``)."""


class SignatureAlone:
    """The token check of a gateway that runs alone (``smartcity gateway``): it has no accounts database, so a
    well-signed, unexpired staff token is taken; revocation and disabled accounts are enforced by the services.
    Give the tokens for gateways short lifetimes (docs/security.md)."""

    async def standing(self, principal: Principal) -> Standing:
        return Standing(PrincipalStatus.ACTIVE, principal.roles)


class NotStaff(Exception):
    """The request is not from staff: ``status`` 401 (no usable token or session) or 403 (not a staff role)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def staff_principal(request: web.Request) -> Principal:
    """The staff member a request is from — its bearer token, else its page session; raises :class:`NotStaff`."""
    if "Authorization" in request.headers:
        scheme, _, token = request.headers["Authorization"].partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotStaff(401, "the Authorization header is not Bearer <token>")
        try:
            principal = await checked_principal(request, token.strip())
        except AuthError as error:
            raise NotStaff(401, str(error)) from None
    else:
        found = await session_principal(request)
        if found is None:
            raise NotStaff(401, "no bearer token, and no signed-in session")
        principal = found
    if not principal.has_any(STAFF):
        raise NotStaff(403, "needs the admin role: the gateway shows every community's and market's devices")
    return principal


def staff_api(handler: Handler) -> Handler:
    """An API route that answers staff only: JSON 401 or 403 with the reason for anyone else."""

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            request[PRINCIPAL] = await staff_principal(request)
        except NotStaff as refusal:
            if refusal.status == 401:
                raise json_error(web.HTTPUnauthorized, f"{refusal.reason}: {HOW_TO_SEND_A_TOKEN}",
                                 headers=BEARER_CHALLENGE) from None
            raise json_error(web.HTTPForbidden, refusal.reason) from None
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"  # raw device messages: no cache keeps a copy
        return response

    return guarded


def staff_page(handler: Handler, sign_in_page: bool) -> Handler:
    """The status page for staff only. Beside the people's pages (``sign_in_page``) a browser signs in there (the
    pages' own guard: to /signin and back, their 403 page); a bearer token is taken too, for scripts. Alone, a
    request without a staff token gets 401 with a short text saying how to send one."""
    signed_in_page = page(*STAFF)(handler)

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        if sign_in_page and "Authorization" not in request.headers:
            response = await signed_in_page(request)
        else:
            try:
                request[PRINCIPAL] = await staff_principal(request)
            except NotStaff as refusal:
                raise _page_refusal(refusal) from None
            response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    return guarded


def _page_refusal(refusal: NotStaff) -> web.HTTPException:
    text = (f"The gateway's status page is for administrators only ({refusal.reason}).\n"
            f"To see it, {HOW_TO_SEND_A_TOKEN}.\n"
            'For example: curl -H "Authorization: Bearer $TOKEN" http://<host>:<port>/\n')
    if refusal.status == 401:
        return web.HTTPUnauthorized(text=text, headers=BEARER_CHALLENGE)
    return web.HTTPForbidden(text=text)
