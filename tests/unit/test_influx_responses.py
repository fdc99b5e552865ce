"""How the InfluxDB sink reads HTTP answers: which keep the data for later, which are final.

A tiny aiohttp server stands in for InfluxDB's /write answers that a real one is hard to make give
(a proxy's 413, a redirect); the real server is covered by tests/integration/test_store_contract.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.outputs import StoreRejected, StoreUnavailable
from gateway.outputs.influxdb import InfluxStore
from gateway.processors.points import Point


def point(n: int) -> Point:
    return Point("gate_event", (("site", "s"),), {"event_id": f"e{n}"}, 1_795_000_000_000_000_000 + n)


@pytest.fixture
async def influx_answering() -> AsyncIterator[Callable[..., object]]:
    servers: list[TestServer] = []
    stores: list[InfluxStore] = []

    async def start(answer: Callable[[bytes], web.Response]) -> tuple[InfluxStore, list[bytes]]:
        bodies: list[bytes] = []

        async def write(request: web.Request) -> web.Response:
            body = await request.read()
            bodies.append(body)
            return answer(body)

        app = web.Application()
        app.router.add_post("/write", write)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        store = InfluxStore(str(server.make_url("")).rstrip("/"), "db", create_database=False)
        await store.open()
        stores.append(store)
        return store, bodies

    yield start  # type: ignore[misc]
    for store in stores:
        await store.close()
    for server in servers:
        await server.close()


@pytest.mark.parametrize("status", [301, 302, 401, 403, 404, 408, 429, 500, 502, 503, 418])
async def test_answers_that_may_be_mended_keep_the_data_for_later(influx_answering, status: int) -> None:  # type: ignore[no-untyped-def]
    store, _ = await influx_answering(lambda body: web.Response(status=status, text="nope"))
    with pytest.raises(StoreUnavailable, match=str(status)):
        await store.write([point(1)])


@pytest.mark.parametrize("status", [400, 422])
async def test_a_refusal_of_the_data_itself_is_final(influx_answering, status: int) -> None:  # type: ignore[no-untyped-def]
    store, _ = await influx_answering(lambda body: web.Response(status=status, text="field type conflict"))
    with pytest.raises(StoreRejected, match="field type conflict"):
        await store.write([point(1)])


async def test_a_body_too_large_for_a_proxy_is_written_in_halves(influx_answering) -> None:  # type: ignore[no-untyped-def]
    def answer(body: bytes) -> web.Response:
        return web.Response(status=413) if body.count(b"\n") >= 2 else web.Response(status=204)

    store, bodies = await influx_answering(answer)
    await store.write([point(n) for n in range(8)])
    accepted = [body for body in bodies if body.count(b"\n") < 2]
    assert sorted(line for body in accepted for line in body.split(b"\n")) == sorted(
        point(n).to_line().encode() for n in range(8)
    )


async def test_a_single_point_too_large_is_refused_for_good(influx_answering) -> None:  # type: ignore[no-untyped-def]
    store, _ = await influx_answering(lambda body: web.Response(status=413))
    with pytest.raises(StoreRejected, match="larger"):
        await store.write([point(1)])
