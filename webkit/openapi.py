"""A route table that is also the API's OpenAPI 3.1 document: each route declares its request and
response models (pydantic) and roles, so /openapi.json cannot drift from the routes it describes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from webkit.auth import Handler, require_roles
from webkit.context_app import ContextApp
from webkit.identity import Role


@dataclass(frozen=True)
class QueryParam:
    """A query-string parameter a route reads (all are optional: a route states its default)."""

    name: str
    type: str = "string"  # a JSON Schema type: string, integer, boolean
    description: str = ""
    repeated: bool = False  # may be given several times (?gate_id=a&gate_id=b)


LIMIT = QueryParam("limit", "integer", "Page size")
OFFSET = QueryParam("offset", "integer", "Items to skip (the previous page's next_offset)")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    roles: tuple[Role, ...] | None = None  # None: public; (): any signed-in user
    errors: Sequence[int] = field(default_factory=tuple)
    query: Sequence[QueryParam] = field(default_factory=tuple)


API_ROUTES: web.AppKey[list[Route]] = web.AppKey("api_routes", list)
API_TITLE = "smartcity API"


def add_routes(app: web.Application, routes: Sequence[Route], title: str = API_TITLE, version: str = "1", *,
               context: ContextApp | Sequence[ContextApp] = ()) -> None:
    """Register ``routes`` — each on the sub-application (``context``) whose prefix it is under, else on ``app``
    — and describe them in ``app``'s /openapi.json, which the first call serves and which describes every route
    added by any context (market, access, ownership, voting) in one document."""
    contexts = (context,) if isinstance(context, ContextApp) else tuple(context)
    for route in routes:
        handler = route.handler if route.roles is None else require_roles(*route.roles)(route.handler)
        target = next((found for found in contexts if found.serves(route.path)), None)
        (target or app.router).add_route(route.method, route.path, handler)
    if API_ROUTES in app:
        app[API_ROUTES].extend(routes)
        return
    app[API_ROUTES] = list(routes)
    documents: dict[int, dict[str, Any]] = {}

    async def serve(request: web.Request) -> web.Response:
        # built once the app is running, when every context has added its routes
        described = request.config_dict[API_ROUTES]
        if len(described) not in documents:
            documents.clear()
            documents[len(described)] = openapi_document(described, title, version)
        return web.json_response(documents[len(described)])

    app.router.add_get("/openapi.json", serve)


def openapi_document(routes: Sequence[Route], title: str, version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": {"type": "object", "properties": {"error": {"type": "string"}},
                                         "required": ["error"]}}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {"summary": route.summary, "responses": {}}
        if route.roles is not None:
            operation["security"] = [{"bearer": []}]
            if route.roles:
                operation["description"] = "Roles: " + ", ".join(role.value for role in route.roles) + " (or admin)"
            # machine-readable for clients and for the permission-matrix test: who may call this at all (the ids
            # named in the path must also be in the caller's scope, else 404)
            operation["x-roles"] = [role.value for role in route.roles]
        parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                      for name in _path_parameters(route.path)]
        parameters += [_query_parameter(parameter) for parameter in route.query]
        if parameters:
            operation["parameters"] = parameters
        if route.request is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _reference(route.request, schemas)}}}
        success: dict[str, Any] = {"description": "OK"}
        if route.response is not None:
            success["content"] = {"application/json": {"schema": _reference(route.response, schemas)}}
        operation["responses"][str(route.status)] = success
        for status in sorted({*route.errors, *((401, 403) if route.roles is not None else ())}):
            operation["responses"][str(status)] = {
                "description": _ERRORS.get(status, "Error"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


_ERRORS = {400: "Bad request", 401: "No valid bearer token", 403: "Not allowed", 404: "Not found",
           409: "Conflicts with the current state", 422: "Breaks a rule"}


def _reference(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _query_parameter(parameter: QueryParam) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": parameter.type}
    if parameter.repeated:
        schema = {"type": "array", "items": schema}
    described: dict[str, Any] = {"name": parameter.name, "in": "query", "required": False, "schema": schema}
    if parameter.repeated:
        described.update(style="form", explode=True)
    if parameter.description:
        described["description"] = parameter.description
    return described


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
