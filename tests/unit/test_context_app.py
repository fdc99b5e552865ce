"""A context's sub-application serves the routes it was given by their full paths, and says so when misused."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from webkit.context_app import ContextApp

SHARED = web.AppKey("shared", str)
OWN = web.AppKey("own", str)


async def _answer(request: web.Request) -> web.Response:
    return web.Response(text=f"{request.path} {request.config_dict[SHARED]} {request.app[OWN]}")


async def test_routes_are_served_at_their_full_paths_and_find_the_root_keys() -> None:
    root = web.Application()
    root[SHARED] = "root"
    context = ContextApp("/voting")
    context.app[OWN] = "voting"
    context.add_get("/voting", _answer)
    context.add_get("/voting/proposals/{proposal_id}", _answer)
    context.attach(root)
    async with TestClient(TestServer(root)) as client:
        assert await (await client.get("/voting")).text() == "/voting root voting"
        assert await (await client.get("/voting/proposals/p-1")).text() == "/voting/proposals/p-1 root voting"
        assert (await client.get("/votingx")).status == 404


def test_a_route_outside_the_prefix_or_after_attaching_is_refused() -> None:
    context = ContextApp("/api/access")
    with pytest.raises(ValueError, match="not under"):
        context.add_get("/api/accessories", _answer)
    context.attach(web.Application())
    with pytest.raises(RuntimeError, match="before attach"):
        context.add_get("/api/access/gates", _answer)


def test_a_prefix_is_a_path_without_a_trailing_slash() -> None:
    for prefix in ("voting", "/voting/", ""):
        with pytest.raises(ValueError, match="prefix"):
            ContextApp(prefix)
