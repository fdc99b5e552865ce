"""The accounts' JSON API: who the caller is and what they may act on (``/api/accounts/me``), and the
integrations' API tokens — created by an administrator or staff for a role and a scope within their own,
listed, revoked. A token is shown once, when it is created; only its id is kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from accounts.onboarding import OnboardingService
from accounts.onboarding_api import ONBOARDING
from accounts.onboarding_api import ROUTES as ONBOARDING_ROUTES
from accounts.organisations import ORGANISATION_ID, SCOPE_ID
from accounts.tenancy import (
    TOKEN_CREATORS,
    ApiToken,
    NotPermitted,
    NotVisible,
    TenancyRefused,
    TenancyService,
    token_ttl,
)
from webkit.auth import AUTHORITY, CLOCK, PRINCIPAL, serve_tokens
from webkit.context_app import ContextApp
from webkit.identity import MAX_TOKEN_TTL, Role, Scope, TokenAuthority
from webkit.json_errors import json_error
from webkit.openapi import Route, add_routes

TENANCY = web.AppKey("tenancy_service", TenancyService)
PREFIX = "/api/accounts"
# anchored: pydantic searches a pattern, where the accounts' rules match it whole
Id = Annotated[str, StringConstraints(pattern=f"^{SCOPE_ID.pattern}$")]
OrganisationId = Annotated[str, StringConstraints(pattern=f"^{ORGANISATION_ID.pattern}$")]
ANYONE_SIGNED_IN: tuple[Role, ...] = ()


class MeOut(BaseModel):
    account_id: str
    roles: list[Role]
    organisation_id: str | None
    everything: bool = Field(description="An administrator: every community and market")
    communities: list[str]
    markets: list[str]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)] = Field(
        description="What the integration is, e.g. 智慧家园平台 event sync")
    role: Role = Field(description="One staff role: property_manager, market_operator or supervisor")
    communities: Annotated[list[Id], Field(max_length=1000)] = []
    markets: Annotated[list[Id], Field(max_length=1000)] = []
    ttl_days: int = Field(default=90, description=f"1 to {MAX_TOKEN_TTL.days}")
    organisation_id: OrganisationId | None = Field(
        default=None, description="The organisation the integration works for: staff, their own (the default); "
        "an administrator names it unless one organisation of the role's kind holds the whole scope")


class TokenOut(BaseModel):
    token_id: str
    account_id: str
    label: str
    role: Role
    communities: list[str]
    markets: list[str]
    organisation_id: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    active: bool


class CreatedTokenOut(TokenOut):
    token: str = Field(description="The bearer token: shown this once, keep it in the integration's secret store")


class TokensOut(BaseModel):
    tokens: list[TokenOut]


async def me(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    organisation_id, _ = await request.app[TENANCY].scope_of(principal.subject)
    scope = principal.scope
    return web.json_response(MeOut(
        account_id=principal.subject, roles=sorted(principal.roles), organisation_id=organisation_id,
        everything=scope.everything, communities=sorted(scope.communities), markets=sorted(scope.markets),
    ).model_dump(mode="json"))


async def create_token(request: web.Request) -> web.Response:
    try:
        data = TokenIn.model_validate_json(await request.read())
    except ValidationError as error:
        raise json_error(web.HTTPBadRequest, "invalid token request", details=error.errors(
            include_url=False, include_context=False, include_input=False)) from None
    principal, now = request[PRINCIPAL], request.config_dict[CLOCK]()
    try:
        token = await request.app[TENANCY].create_api_token(
            principal, data.label, data.role, Scope.of(data.communities, data.markets),
            token_ttl(data.ttl_days), now, organisation_id=data.organisation_id)
    except TenancyRefused as refusal:
        raise json_error(web.HTTPUnprocessableEntity, str(refusal), reason="refused") from None
    except NotPermitted as refusal:
        raise json_error(web.HTTPForbidden, str(refusal)) from None
    signed = request.config_dict[AUTHORITY].issue(token.account_id, [token.role], now, token.expires_at - now,
                                                  token_id=token.token_id)
    out = CreatedTokenOut(**_token_out(token, now).model_dump(), token=signed)
    return web.json_response(out.model_dump(mode="json"), status=201, headers={"Cache-Control": "no-store"})


async def list_tokens(request: web.Request) -> web.Response:
    now = request.config_dict[CLOCK]()
    tokens = await request.app[TENANCY].api_tokens(request[PRINCIPAL])
    return web.json_response(TokensOut(tokens=[_token_out(t, now) for t in tokens]).model_dump(mode="json"))


async def revoke_token(request: web.Request) -> web.Response:
    token_id = request.match_info["token_id"]
    now = request.config_dict[CLOCK]()
    try:
        token = await request.app[TENANCY].revoke_api_token(request[PRINCIPAL], token_id, now)
    except NotVisible:
        # the same answer for a token that does not exist and one the caller may not see
        raise json_error(web.HTTPNotFound, "no such token") from None
    return web.json_response(_token_out(token, now).model_dump(mode="json"))


def _token_out(token: ApiToken, now: datetime) -> TokenOut:
    return TokenOut(token_id=token.token_id, account_id=token.account_id, label=token.label, role=token.role,
                    communities=sorted(token.scope.communities), markets=sorted(token.scope.markets),
                    organisation_id=token.organisation_id, created_by=token.created_by,
                    created_at=token.created_at, expires_at=token.expires_at, active=token.active(now))


CREATORS = tuple(sorted(TOKEN_CREATORS - {Role.ADMIN}))  # sorted: the same /openapi.json on every run
ROUTES = [
    Route("GET", PREFIX + "/me", me, "Who the caller is: roles, organisation, the communities and markets they may "
          "act on", None, MeOut, 200, ANYONE_SIGNED_IN),
    Route("POST", PREFIX + "/tokens", create_token, "Create an API token for an integration: one staff role, a scope "
          "within the caller's, at most a year; the token is shown once", TokenIn, CreatedTokenOut, 201, CREATORS,
          (400, 403, 422)),
    Route("GET", PREFIX + "/tokens", list_tokens, "The integration tokens the caller may see (an administrator: all; "
          "staff: their organisation's within their scope)", None, TokensOut, 200, CREATORS),
    Route("POST", PREFIX + "/tokens/{token_id}/revoke", revoke_token, "Revoke an integration token: refused from now "
          "on", None, TokenOut, 200, CREATORS, (404,)),
]


def mount(app: web.Application, service: TenancyService, authority: TokenAuthority,
          now: Callable[[], datetime], onboarding: OnboardingService | None = None) -> web.Application:
    """Serve this API from its own sub-application of ``app`` at /api/accounts; with ``onboarding``, its
    invitations, password resets, enabling and activation codes too (:mod:`accounts.onboarding_api`)."""
    serve_tokens(app, authority, now)
    api = ContextApp(PREFIX)
    api.app[TENANCY] = service
    routes = ROUTES
    if onboarding is not None:
        api.app[ONBOARDING] = onboarding
        routes = [*ROUTES, *ONBOARDING_ROUTES]
    add_routes(app, routes, context=api)
    return api.attach(app)
