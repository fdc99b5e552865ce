"""/openapi.json describes the routes of every context mounted on one app, in one document."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel

from webkit.identity import Role
from webkit.openapi import Route, add_routes


class Price(BaseModel):
    plu: str
    unit_price_fen: int


async def ok(_request: web.Request) -> web.Response:
    return web.json_response({})


async def test_two_contexts_routes_are_served_in_one_document() -> None:
    app = web.Application()
    add_routes(app, [Route("GET", "/api/market/prices", ok, "Price board", response=Price)])
    add_routes(app, [Route("POST", "/api/access/gates/{gate_id}/open", ok, "Open a door",
                           roles=(Role.PROPERTY_MANAGER,), errors=(404,))])
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/openapi.json")
        document = await response.json()
    assert response.status == 200
    assert set(document["paths"]) == {"/api/market/prices", "/api/access/gates/{gate_id}/open"}
    opening = document["paths"]["/api/access/gates/{gate_id}/open"]["post"]
    assert opening["parameters"][0]["name"] == "gate_id"
    assert set(opening["responses"]) == {"200", "401", "403", "404"}
    assert "Price" in document["components"]["schemas"]


async def test_query_parameters_are_described_as_optional_with_their_types() -> None:
    from webkit.openapi import LIMIT, QueryParam

    app = web.Application()
    add_routes(app, [Route("GET", "/api/events", ok, "Events", query=(
        LIMIT, QueryParam("gate_id", description="Only these gates", repeated=True)))])
    async with TestClient(TestServer(app)) as client:
        document = await (await client.get("/openapi.json")).json()
    parameters = {p["name"]: p for p in document["paths"]["/api/events"]["get"]["parameters"]}
    assert parameters["limit"] == {"name": "limit", "in": "query", "required": False,
                                   "schema": {"type": "integer"}, "description": "Page size"}
    assert parameters["gate_id"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert parameters["gate_id"]["explode"] is True
