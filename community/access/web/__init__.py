"""The access-control API (aiohttp): directory, credentials, gates and groups, visitor passes, remote open, the
access log, presence, alarms and the live feed (Server-Sent Events).

Handlers translate HTTP to AccessService calls. Roles: property managers (and admins) run their communities;
supervisors (street offices) read their communities' operational data (gates and their sync, alarms, the remote-open
audit, presence counts) and change nothing; a resident (whose token subject is their resident id) sees only their own
unit, their own credentials and the visitors they invited — anything else is 403, or 404 when it does not exist.
Scope: whatever belongs to a community outside the caller's scope is answered as an id that does not exist (the
same 404), and listings and the live feed hold the caller's communities only. Phone numbers are masked in every
answer; a credential is never shown, only its hint. Schema names start with ``Access`` so the combined /openapi.json
of all contexts has no clashes.

* `schemas` — the request and response bodies;
* `handling` — what every handler shares: the service's refusals as 4xx, bodies, ids, page limits, the caller;
* the handlers, per resource: `directory` (communities, buildings, units, residents, the signed-in resident),
  `credentials`, `gates` (gates, whitelists, access groups), `visitors` (passes), `remote_open`, `events` (the
  access log, presence), `alarms`, `live` (the feed), `compound_import` (a compound from a spreadsheet, with
  ``community.onboarding``);
* `routes` — the route table, which /openapi.json describes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from community.access.live_stream import end_streams_at_shutdown
from community.access.service import AccessService
from community.access.web.handling import SERVICE
from community.access.web.routes import ROUTES
from webkit.auth import serve_tokens
from webkit.context_app import ContextApp
from webkit.identity import TokenAuthority
from webkit.openapi import add_routes

PREFIX = "/api/access"


def mount(app: web.Application, service: AccessService, authority: TokenAuthority,
          now: Callable[[], datetime]) -> web.Application:
    """Serve the access API from its own sub-application of ``app`` at /api/access (described in ``app``'s
    /openapi.json, shared with the other contexts); returns the sub-application."""
    serve_tokens(app, authority, now)
    api = ContextApp(PREFIX)
    api.app[SERVICE] = service
    end_streams_at_shutdown(api.app, service.feed)
    add_routes(app, ROUTES, context=api)
    return api.attach(app)


def create_app(service: AccessService, authority: TokenAuthority, now: Callable[[], datetime]) -> web.Application:
    app = web.Application()
    mount(app, service, authority, now)
    return app


__all__ = ["ROUTES", "SERVICE", "create_app", "mount"]
