"""A bounded context's own aiohttp sub-application, mounted on the installation's application at a path prefix.

Each context (the market, access, ownership and voting APIs and pages) serves its routes from a sub-application of
its own: its keys (its service, its page state) live there instead of on one shared application, and its
resources are opened and closed by the sub-application's ``cleanup_ctx``. What every context shares — the token
authority, the clock, the page site — is set once on the root application and read with ``request.config_dict``.

Routes are declared by their full paths, as /openapi.json, the templates and the tests name them; the prefix is
taken off here, because aiohttp prefixes a sub-application's routes when it is added.
"""

from __future__ import annotations

from aiohttp import web

from webkit.auth import Handler


class ContextApp:
    """The sub-application of one context at ``prefix`` (for example ``/api/voting``)."""

    def __init__(self, prefix: str) -> None:
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"a sub-application prefix starts with / and does not end with one: {prefix!r}")
        self.prefix = prefix
        self.app = web.Application()

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, self._relative(path), handler)

    def add_get(self, path: str, handler: Handler) -> None:
        self.add_route("GET", path, handler)

    def add_post(self, path: str, handler: Handler) -> None:
        self.add_route("POST", path, handler)

    def attach(self, parent: web.Application) -> web.Application:
        """Serve the routes added so far from ``parent`` (aiohttp prefixes them now: add every route first)."""
        parent.add_subapp(self.prefix, self.app)
        return self.app

    def _relative(self, path: str) -> str:
        if path == self.prefix:
            return ""
        if not path.startswith(self.prefix + "/"):
            raise ValueError(f"{path!r} is not under this sub-application's prefix {self.prefix!r}")
        return path[len(self.prefix):]
