"""A bounded context's own aiohttp sub-application, mounted on the installation's application at a path prefix.

Each context (the market, access, ownership and voting APIs and pages) serves its routes from a sub-application of
its own: its keys (its service, its page state) live there instead of on one shared application, and its
resources are opened and closed by the sub-application's ``cleanup_ctx``. What every context shares — the token
authority, the clock, the page site — is set once on the root application and read with ``request.config_dict``.

Routes are declared by their full paths, as /openapi.json, the templates and the tests name them; the prefix is
taken off here, because aiohttp prefixes a sub-application's routes when it is added to its parent — after which
the sub-application takes no more routes, so every route is added before :meth:`ContextApp.attach`.
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
        self._attached = False

    def serves(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        if not self.serves(path):
            raise ValueError(f"{path!r} is not under this sub-application's prefix {self.prefix!r}")
        if self._attached:
            raise RuntimeError(f"{self.prefix} is attached already: add its routes before attach()")
        self.app.router.add_route(method, path[len(self.prefix):], handler)

    def add_get(self, path: str, handler: Handler) -> None:
        self.add_route("GET", path, handler)

    def add_post(self, path: str, handler: Handler) -> None:
        self.add_route("POST", path, handler)

    def attach(self, parent: web.Application) -> web.Application:
        """Serve this sub-application's routes from ``parent``."""
        parent.add_subapp(self.prefix, self.app)
        self._attached = True
        return self.app
