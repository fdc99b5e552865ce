"""The largest request body the installation takes, set once on the root application, and a clear 413 beyond it.

aiohttp bounds a request body by the ``client_max_size`` of the application that made the request — always the
root application; a sub-application's own is never consulted — and its default, 1 MiB, refuses a 20,000-unit voting
roll or register import that the API documents. So the composition root builds the root application here with the
limit from its settings. A body over the limit is refused while it is read (aiohttp stops reading there): the JSON
API answers 413 in its own error shape, naming the limit; a page's form gets the friendly error page as before.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.typedefs import Middleware

from webkit.auth import Handler

log = logging.getLogger(__name__)

TOO_LARGE = "body_too_large"


def limited_application(max_body_bytes: int) -> web.Application:
    """A root application that takes request bodies of up to ``max_body_bytes`` and answers a larger one with a
    JSON 413 (``reason: body_too_large``, ``max_bytes``); mount the contexts on it."""
    return web.Application(client_max_size=max_body_bytes, middlewares=[_too_large_as_json(max_body_bytes)])


def _too_large_as_json(max_body_bytes: int) -> Middleware:
    @web.middleware
    async def refuse(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge as too_large:
            if too_large.content_type in ("application/json", "text/html"):  # said clearly already (a page)
                raise
            log.info("request body too large", extra={"path": request.path, "max_bytes": max_body_bytes})
            message = (f"the request body is larger than the {max_body_bytes} bytes this server takes "
                       "(SC_HTTP_MAX_BODY_BYTES)")
            raise web.HTTPRequestEntityTooLarge(
                max_body_bytes, content_type="application/json",
                text=json.dumps({"error": message, "reason": TOO_LARGE, "max_bytes": max_body_bytes}),
            ) from None

    return refuse
