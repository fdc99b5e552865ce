"""Which markets the caller may act on (the principal's scope, which the accounts supply on every request).

A route that needs a role and names a market in its path (``/api/markets/{site}/...``) answers for a market
outside the caller's scope exactly what it answers for a market that does not exist: 404 with the same body, so
another operator's market cannot be told from no market at all. It checks before it reads the request's body,
so a bad body changes nothing about that. What is addressed inside the market (a vendor, a document, a stall, a
batch, a finding) is looked up by the market's site id and the object's id together (``market.storage``), so
an id of another market is not found there either. Listings show the caller's markets only.

The supervisor (``supervisor``, a district market-supervision office) reads the operators' views of its markets
and changes nothing: its roles are on the GET routes only. A vendor's contact phone is personal data it has no
need of to supervise (it reaches a vendor through the market operator, who keeps the contact): it sees none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import wraps
from typing import Final

from aiohttp import web

from market.service import no_market
from market.web.handling import site_of
from webkit.auth import PRINCIPAL, Handler
from webkit.identity import Principal, Role
from webkit.json_errors import json_error
from webkit.openapi import Route

OPERATORS: Final = (Role.MARKET_OPERATOR,)
"""Who changes a market (and an administrator, who passes every role check)."""
READERS: Final = (Role.MARKET_OPERATOR, Role.SUPERVISOR)
"""Who reads the operators' views of a market: its operators, and the supervision office over it."""


def unknown_market(site: str) -> web.HTTPNotFound:
    """The answer for a market that does not exist, and for one outside the caller's scope."""
    return json_error(web.HTTPNotFound, str(no_market(site)))


def in_market_scope(handler: Handler) -> Handler:
    """``handler`` for a market the caller may act on; any other is answered as unknown. Runs after the role
    check (``require_roles``), which puts the principal on the request."""

    @wraps(handler)
    async def scoped(request: web.Request) -> web.StreamResponse:
        site = site_of(request)
        if not request[PRINCIPAL].has_market(site):
            raise unknown_market(site)
        return await handler(request)

    return scoped


def scoped_routes(routes: Sequence[Route]) -> list[Route]:
    """``routes``, each that needs a role and names a market in its path checking the caller's scope first (the
    public ones — price board, history, trace lookup, stall display — stay open to all, by law: 明码标价)."""
    return [replace(route, handler=in_market_scope(route.handler))
            if route.roles is not None and "{site}" in route.path else route for route in routes]


def sites_in_scope(principal: Principal) -> frozenset[str] | None:
    """The markets a listing shows ``principal``: None for all of them (an administrator's)."""
    return None if principal.is_admin or principal.scope.everything else principal.scope.markets


def sees_contacts(principal: Principal) -> bool:
    """Whether ``principal`` is shown vendors' contact phones: their market's operators (and administrators),
    not a supervisor."""
    return principal.has_any(OPERATORS)
