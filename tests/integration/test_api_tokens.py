"""The accounts' API over HTTP on both databases, with the real accounts checking every token: /api/accounts/me
shows what the caller acts on; integration tokens are created by an administrator or staff for one staff role and
a scope within the creator's, for at most a year, listed to those who may see them, revoked at once; a token of a
deleted or disabled account is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.api import mount
from accounts.organisations import OrganisationKind
from accounts.service import AccountService
from accounts.storage import account_scopes, accounts
from accounts.tenancy import TenancyService
from tests.integration.helpers import assert_openapi_describes_the_routes
from webkit.auth import check_tokens_with
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
AUTHORITY = TokenAuthority(b"a" * 32)
TOKENS = "/api/accounts/tokens"
ME = "/api/accounts/me"
PASSWORD = "a long password"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def scope(communities: tuple[str, ...] = (), markets: tuple[str, ...] = ()) -> Scope:
    return Scope.of(communities, markets)


ORGANISATIONS = [
    ("lvcheng", OrganisationKind.PROPERTY_COMPANY, scope(("demo", "demo-north"))),
    ("wanke", OrganisationKind.PROPERTY_COMPANY, scope(("east",))),
    ("nongmao", OrganisationKind.MARKET_OPERATOR, scope(markets=("demo", "demo-north"))),
    ("chengdong", OrganisationKind.SUPERVISION_OFFICE, scope(("demo",), ("demo",))),
]
PEOPLE = [
    ("root", Role.ADMIN, None, scope()),
    ("pm-1", Role.PROPERTY_MANAGER, "lvcheng", scope(("demo", "demo-north"))),
    ("pm-2", Role.PROPERTY_MANAGER, "lvcheng", scope(("demo",))),
    ("pm-w", Role.PROPERTY_MANAGER, "wanke", scope(("east",))),
    ("op-1", Role.MARKET_OPERATOR, "nongmao", scope(markets=("demo",))),
    ("sv-1", Role.SUPERVISOR, "chengdong", scope(("demo",), ("demo",))),
    ("wang", Role.RESIDENT, None, scope(("demo",))),
]
ROLES = {account_id: role for account_id, role, _, _ in PEOPLE}


def bearer(subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {AUTHORITY.issue(subject, [ROLES[subject]], NOW, timedelta(days=30))}"}


def as_bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Api:
    client: TestClient[Any, Any]
    clock: Clock
    engine: AsyncEngine
    accounts: AccountService

    async def me(self, headers: dict[str, str]) -> dict[str, Any]:
        response = await self.client.get(ME, headers=headers)
        assert response.status == 200, await response.text()
        return dict(await response.json())

    async def create(self, subject: str, status: int = 201, **body: Any) -> dict[str, Any]:
        response = await self.client.post(TOKENS, json=body, headers=bearer(subject))
        assert response.status == status, await response.text()
        return dict(await response.json())

    async def listed(self, subject: str) -> set[str]:
        response = await self.client.get(TOKENS, headers=bearer(subject))
        assert response.status == 200, await response.text()
        return {token["label"] for token in (await response.json())["tokens"]}


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    clock, service = Clock(), AccountService(engine)
    tenancy = TenancyService(engine)
    for organisation_id, kind, held in ORGANISATIONS:
        await tenancy.create_organisation(organisation_id, organisation_id, kind, NOW)
        await tenancy.hold(organisation_id, held)
    for account_id, role, member_of, assigned in PEOPLE:
        await tenancy.create_account(account_id, account_id, {role}, PASSWORD, NOW, organisation_id=member_of,
                                     scope=assigned)
    app = web.Application()
    mount(app, tenancy, AUTHORITY, clock)
    check_tokens_with(app, service)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, clock, engine, service)


async def test_me_says_who_the_caller_is_and_what_they_act_on(api: Api) -> None:
    assert await api.me(bearer("pm-1")) == {
        "account_id": "pm-1", "roles": ["property_manager"], "organisation_id": "lvcheng", "everything": False,
        "communities": ["demo", "demo-north"], "markets": []}
    supervisor = await api.me(bearer("sv-1"))
    assert (supervisor["communities"], supervisor["markets"]) == (["demo"], ["demo"])
    resident = await api.me(bearer("wang"))
    assert (resident["organisation_id"], resident["communities"], resident["markets"]) == (None, ["demo"], [])
    admin = await api.me(bearer("root"))
    assert admin["everything"] is True and admin["organisation_id"] is None
    assert (await api.client.get(ME)).status == 401


async def test_an_assignment_taken_away_is_out_of_scope_at_once(api: Api) -> None:
    await api.accounts.tenancy.unassign("pm-1", scope(("demo-north",)))
    assert (await api.me(bearer("pm-1")))["communities"] == ["demo"]


async def test_an_administrator_creates_a_token_that_works_and_carries_its_scope(api: Api) -> None:
    created = await api.create("root", label="智慧家园平台 event sync", role="property_manager",
                               communities=["demo"], ttl_days=30)
    assert created["account_id"].startswith("api-") and created["organisation_id"] == "lvcheng", \
        "the one property company holding demo"
    assert datetime.fromisoformat(created["expires_at"]) == NOW + timedelta(days=30) and created["active"] is True
    assert (created["created_by"], created["communities"], created["markets"]) == ("root", ["demo"], [])
    me = await api.me(as_bearer(created["token"]))
    assert me == {"account_id": created["account_id"], "roles": ["property_manager"], "organisation_id": "lvcheng",
                  "everything": False, "communities": ["demo"], "markets": []}

    named = await api.create("root", label="east sync", role="property_manager", communities=["east"],
                             organisation_id="wanke")
    assert named["organisation_id"] == "wanke"
    wrong_kind = await api.create("root", 422, label="x", role="market_operator", communities=["demo"])
    assert "name the organisation the integration works for" in wrong_kind["error"]
    outside = await api.create("root", 422, label="x", role="property_manager", communities=["east"],
                               organisation_id="lvcheng")
    assert "not held by organisation 'lvcheng': east" in outside["error"]


async def test_the_created_token_is_shown_once_and_not_cached(api: Api) -> None:
    response = await api.client.post(TOKENS, json={"label": "sync", "role": "market_operator", "markets": ["demo"]},
                                     headers=bearer("op-1"))
    assert response.status == 201 and response.headers["Cache-Control"] == "no-store"
    listed = await api.client.get(TOKENS, headers=bearer("op-1"))
    assert "token" not in (await listed.json())["tokens"][0], "a listing never shows a token again"


async def test_a_manager_creates_tokens_within_their_scope_and_role(api: Api) -> None:
    created = await api.create("pm-1", label="门禁同步", role="property_manager", communities=["demo-north"])
    assert created["organisation_id"] == "lvcheng" and created["created_by"] == "pm-1"
    assert (await api.me(as_bearer(created["token"])))["communities"] == ["demo-north"]
    assert (await api.create("op-1", label="秤", role="market_operator", markets=["demo"]))["markets"] == ["demo"]


@pytest.mark.parametrize(("body", "reason"), [
    ({"role": "property_manager", "communities": ["east"]}, "a token's scope is within your own"),
    ({"role": "property_manager", "communities": ["demo"], "markets": ["demo"]}, "a token's scope is within your own"),
    ({"role": "market_operator", "markets": ["demo"]}, "only a role you hold"),
    ({"role": "supervisor", "communities": ["demo"]}, "only a role you hold"),
    ({"role": "admin", "communities": ["demo"]}, "never carries the admin role"),
    ({"role": "resident", "communities": ["demo"]}, "carries a staff role"),
    ({"role": "property_manager", "communities": ["demo"], "ttl_days": 366}, "1 to 365 days"),
    ({"role": "property_manager", "communities": ["demo"], "ttl_days": 0}, "1 to 365 days"),
    ({"role": "property_manager", "communities": ["demo"], "ttl_days": 10**30}, "1 to 365 days"),
    ({"role": "property_manager"}, "name the communities or markets"),
    ({"role": "property_manager", "communities": ["demo"], "organisation_id": "wanke"}, "your own organisation"),
    ({"role": "property_manager", "communities": ["demo"], "label": "a\u0000b"}, "printable"),
])
async def test_what_a_manager_may_not_give_a_token_is_a_clear_422(api: Api, body: dict[str, Any],
                                                                  reason: str) -> None:
    refused = await api.create("pm-2", 422, **{"label": "sync", **body})
    assert reason in refused["error"] and refused["reason"] == "refused", refused
    assert await api.listed("root") == set(), "nothing created"


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b"null", b'{"label": "x"}', b"\xff\xfe",
                                  b'{"label": "   ", "role": "property_manager", "communities": ["demo"]}',
                                  b'{"label": "x", "role": "king", "communities": ["demo"]}',
                                  b'{"label": "x", "role": "property_manager", "communities": ["de mo"]}',
                                  b'{"label": "x", "role": "property_manager", "communities": ["demo\\n"]}',
                                  b'{"label": "x", "role": "property_manager", "communities": "demo"}',
                                  b'{"label": "x", "role": "property_manager", "communities": ["demo"], "x": 1}'])
async def test_a_malformed_request_is_a_400(api: Api, body: bytes) -> None:
    response = await api.client.post(TOKENS, data=body, headers=bearer("pm-1"))
    assert response.status == 400 and (await response.json())["error"] == "invalid token request"


async def test_only_administrators_and_staff_who_run_things_handle_tokens(api: Api) -> None:
    body = {"label": "x", "role": "supervisor", "communities": ["demo"]}
    for subject in ("sv-1", "wang"):
        for method, path in (("POST", TOKENS), ("GET", TOKENS), ("POST", f"{TOKENS}/anything/revoke")):
            response = await api.client.request(method, path, json=body, headers=bearer(subject))
            assert response.status == 403, (subject, method, path)
    assert (await api.client.get(TOKENS)).status == 401
    created = await api.create("root", label="office", role="supervisor", communities=["demo"])
    assert created["organisation_id"] == "chengdong", "an administrator gives a supervisor's role too"


async def test_an_integration_token_creates_lists_and_revokes_no_tokens(api: Api) -> None:
    first = await api.create("pm-1", label="first", role="property_manager", communities=["demo"])
    integration = as_bearer(first["token"])
    again = await api.client.post(TOKENS, json={"label": "child", "role": "property_manager",
                                                "communities": ["demo"]}, headers=integration)
    assert again.status == 403 and "an integration's token creates no tokens" in (await again.json())["error"]
    assert (await (await api.client.get(TOKENS, headers=integration)).json())["tokens"] == []
    revoked = await api.client.post(f"{TOKENS}/{first['token_id']}/revoke", headers=integration)
    assert revoked.status == 404


async def test_each_sees_the_tokens_of_their_organisation_within_their_scope(api: Api) -> None:
    await api.create("pm-1", label="demo sync", role="property_manager", communities=["demo"])
    await api.create("pm-1", label="north sync", role="property_manager", communities=["demo-north"])
    await api.create("root", label="east sync", role="property_manager", communities=["east"])
    await api.create("op-1", label="scales", role="market_operator", markets=["demo"])
    assert await api.listed("root") == {"demo sync", "north sync", "east sync", "scales"}
    assert await api.listed("pm-1") == {"demo sync", "north sync"}
    assert await api.listed("pm-2") == {"demo sync"}, "north is outside pm-2's scope"
    assert await api.listed("pm-w") == {"east sync"}, "another company's tokens are not shown"
    assert await api.listed("op-1") == {"scales"}


async def test_a_revoked_token_is_refused_at_once(api: Api) -> None:
    created = await api.create("pm-2", label="demo sync", role="property_manager", communities=["demo"])
    token = as_bearer(created["token"])
    assert (await api.client.get(ME, headers=token)).status == 200
    revoked = await api.client.post(f"{TOKENS}/{created['token_id']}/revoke", headers=bearer("pm-1"))
    assert revoked.status == 200
    body = await revoked.json()
    assert body["active"] is False and "token" not in body
    refused = await api.client.get(ME, headers=token)
    assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    listed = await (await api.client.get(TOKENS, headers=bearer("root"))).json()
    assert [t["active"] for t in listed["tokens"]] == [False]
    twice = await api.client.post(f"{TOKENS}/{created['token_id']}/revoke", headers=bearer("root"))
    assert twice.status == 200, "revoking again changes nothing"


async def test_a_token_the_caller_may_not_see_is_not_found_like_an_unknown_one(api: Api) -> None:
    north = await api.create("pm-1", label="north sync", role="property_manager", communities=["demo-north"])
    unknown = await api.client.post(f"{TOKENS}/no-such-token/revoke", headers=bearer("pm-w"))
    for subject in ("pm-w", "pm-2", "op-1"):
        hidden = await api.client.post(f"{TOKENS}/{north['token_id']}/revoke", headers=bearer(subject))
        assert hidden.status == unknown.status == 404, subject
        assert await hidden.read() == await unknown.read(), subject
    assert (await api.client.get(ME, headers=as_bearer(north["token"]))).status == 200, "still works"


async def test_an_expired_token_is_refused_and_listed_inactive(api: Api) -> None:
    created = await api.create("pm-1", label="short", role="property_manager", communities=["demo"], ttl_days=1)
    api.clock.now = NOW + timedelta(days=1)
    assert (await api.client.get(ME, headers=as_bearer(created["token"]))).status == 401
    listed = await (await api.client.get(TOKENS, headers=bearer("pm-1"))).json()
    assert listed["tokens"][0]["active"] is False


async def test_a_token_of_a_disabled_account_is_refused(api: Api) -> None:
    created = await api.create("pm-1", label="sync", role="property_manager", communities=["demo"])
    assert await api.accounts.set_enabled("pm-1", False)
    refused = await api.client.get(ME, headers=bearer("pm-1"))
    assert refused.status == 401 and (await refused.json())["error"] == "the token's account is disabled"
    assert await api.accounts.set_enabled(created["account_id"], False)
    assert (await api.client.get(ME, headers=as_bearer(created["token"]))).status == 401


async def test_a_token_whose_account_was_deleted_is_refused(api: Api) -> None:
    token = bearer("pm-2")
    async with api.engine.begin() as connection:
        await connection.execute(delete(account_scopes).where(account_scopes.c.account_id == "pm-2"))
        await connection.execute(delete(accounts).where(accounts.c.account_id == "pm-2"))
    refused = await api.client.get(ME, headers=token)
    assert refused.status == 401 and (await refused.json())["error"] == "the token's subject has no account"


async def test_the_routes_are_described_with_who_may_call_them(api: Api) -> None:
    document = await (await api.client.get("/openapi.json")).json()
    assert_openapi_describes_the_routes(document, api.client.app)
    assert document["paths"]["/api/accounts/me"]["get"]["x-roles"] == []
    for method, path in (("post", TOKENS), ("get", TOKENS), ("post", TOKENS + "/{token_id}/revoke")):
        assert set(document["paths"][path][method]["x-roles"]) == {"property_manager", "market_operator"}, path
