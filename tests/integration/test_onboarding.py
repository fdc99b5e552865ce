"""Onboarding over HTTP on both databases, with the real accounts checking every token: the first administrator by
the setup link; staff invited by a one-time link and choosing their own account id and password; password reset
links that end every session; disabling and enabling; residents' activation codes and the /activate page. Who may
do it for whom: an administrator for anyone, staff within their organisation and scope — an account or invitation
outside it is answered exactly as one that does not exist. Unknown, used, expired or revoked codes: a page that
says so, never a 500; a weak password: the reason next to the field, nothing written."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.api import mount
from accounts.onboarding_pages import mount_onboarding_pages
from accounts.organisations import OrganisationKind
from accounts.pages import mount_pages
from accounts.residents import DirectoryResident
from accounts.service import AccountService
from accounts.tenancy import INTEGRATION_PREFIX, TenancyService
from relational.database import migrate
from tests.integration.conftest import empty_engine
from tests.integration.test_tenancy import downgrade
from webkit.identity import Principal, Role, Scope, TokenAuthority
from webkit.pages import SESSION_COOKIE

pytestmark = pytest.mark.integration

NOW = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
AUTHORITY = TokenAuthority(b"o" * 32)
PASSWORD = "a long password"
NEW_PASSWORD = "lotus pond 2027"
HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
INVITATIONS = "/api/accounts/invitations"
CODES = "/api/accounts/activation-codes"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def scope(communities: tuple[str, ...] = (), markets: tuple[str, ...] = ()) -> Scope:
    return Scope.of(communities, markets)


class Directory:
    """The access directory as the accounts see it: two compounds of one company and one of another."""

    def __init__(self) -> None:
        self.names = {"demo": "阳光花园", "demo-north": "北苑", "east": "东区"}
        self.people = {resident.resident_id: resident for resident in (
            DirectoryResident("R-101", "demo", "1-1-101", "王芳", True),
            DirectoryResident("R-102", "demo", "1-1-102", "李明", True),
            DirectoryResident("R-103", "demo", "1-1-103", "赵丽", False),
            DirectoryResident("R-N01", "demo-north", "N-1-101", "孙北", True),
            DirectoryResident("R-E01", "east", "E-1-101", "钱东", True),
        )}

    async def community_name(self, community_id: str) -> str | None:
        return self.names.get(community_id)

    async def communities(self) -> list[tuple[str, str]]:
        return sorted(self.names.items())

    async def residents(self, community_id: str) -> list[DirectoryResident]:
        return [resident for resident in self.people.values() if resident.community_id == community_id]

    async def resident(self, resident_id: str) -> DirectoryResident | None:
        return self.people.get(resident_id)


ORGANISATIONS = [
    ("lvcheng", OrganisationKind.PROPERTY_COMPANY, scope(("demo", "demo-north"))),
    ("wanke", OrganisationKind.PROPERTY_COMPANY, scope(("east",))),
    ("nongmao", OrganisationKind.MARKET_OPERATOR, scope(markets=("demo",))),
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
    ("sun", Role.RESIDENT, None, scope(("demo-north",))),
]
ROLES = {account_id: role for account_id, role, _, _ in PEOPLE}


def bearer(subject: str, role: Role | None = None, at: datetime = NOW) -> dict[str, str]:
    token = AUTHORITY.issue(subject, [role or ROLES[subject]], at, timedelta(days=30))
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Site:
    client: TestClient[Any, Any]
    clock: Clock
    accounts: AccountService
    directory: Directory

    async def send(self, path: str, subject: str, status: int, body: Any = None) -> Any:
        response = await self.client.post(path, json=body, headers=bearer(subject))
        assert response.status == status, await response.text()
        return await response.json()

    async def invite(self, subject: str, status: int = 201, **body: Any) -> Any:
        return await self.send(INVITATIONS, subject, status, body)

    async def form(self, path: str, fields: dict[str, str], status: int) -> str:
        """Open the page at ``path`` on a fresh browser and submit its form with ``fields``."""
        self.client.session.cookie_jar.clear()
        page = await self.client.get(path, headers=HTML)
        found = CSRF.search(await page.text())
        assert found is not None, await page.text()
        response = await self.client.post(path, data={"csrf_token": found.group(1), **fields}, headers=HTML)
        text = await response.text()
        assert response.status == status, text
        assert "Traceback" not in text
        return text

    async def page(self, path: str) -> tuple[int, str]:
        response = await self.client.get(path, headers=HTML, allow_redirects=False)
        return response.status, await response.text()

    async def signs_in(self, account_id: str, password: str) -> bool:
        self.client.session.cookie_jar.clear()
        page = await self.client.get("/signin", headers=HTML)
        found = CSRF.search(await page.text())
        assert found is not None
        response = await self.client.post("/signin", data={"csrf_token": found.group(1), "account_id": account_id,
                                                           "password": password}, allow_redirects=False)
        return response.status == 303


def build_app(accounts: AccountService, clock: Clock) -> web.Application:
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount(app, accounts.tenancy, AUTHORITY, clock, accounts.onboarding)
    mount_onboarding_pages(app, accounts)
    return app


@pytest.fixture
async def empty_site(engine: AsyncEngine) -> AsyncIterator[Site]:
    clock, directory = Clock(), Directory()
    accounts = AccountService(engine, residents=directory)
    async with TestClient(TestServer(build_app(accounts, clock))) as client:
        yield Site(client, clock, accounts, directory)


@pytest.fixture
async def site(empty_site: Site) -> Site:
    tenancy = empty_site.accounts.tenancy
    for organisation_id, kind, held in ORGANISATIONS:
        await tenancy.create_organisation(organisation_id, organisation_id, kind, NOW)
        await tenancy.hold(organisation_id, held)
    for account_id, role, member_of, assigned in PEOPLE:
        await tenancy.create_account(account_id, account_id, {role}, PASSWORD, NOW, organisation_id=member_of,
                                     scope=assigned)
    return empty_site


# --- the first administrator --------------------------------------------------------------------------------

async def test_an_empty_installation_gets_a_setup_link_that_makes_the_first_administrator_once(
        empty_site: Site) -> None:
    site = empty_site
    link = await site.accounts.setup_link_if_empty(NOW, "http://127.0.0.1:8080/")
    assert link is not None and link.startswith("http://127.0.0.1:8080/setup/")
    path = link.removeprefix("http://127.0.0.1:8080")
    earlier = await site.accounts.setup_link_if_empty(NOW, "")
    assert earlier is not None and earlier != path, "a new link at each start while there is no account"

    status, text = await site.page(path)
    assert status == 200 and "创建第一个管理员" in text
    text = await site.form(path, {"account_id": "root", "display_name": "系统管理员",
                                          "password": "88888888", "password2": "88888888"}, 422)
    assert "最常见的密码之一" in text and await site.accounts.count() == 0
    text = await site.form(path, {"account_id": "root", "display_name": "系统管理员",
                                          "password": NEW_PASSWORD, "password2": "another thing"}, 422)
    assert "两次输入的密码不一致" in text and await site.accounts.count() == 0
    text = await site.form(path, {"account_id": "root", "display_name": "系统管理员",
                                          "password": NEW_PASSWORD, "password2": NEW_PASSWORD}, 200)
    assert "管理员账号已创建" in text and "root" in text
    account = await site.accounts.account("root")
    assert account is not None and account.roles == {Role.ADMIN}
    assert await site.signs_in("root", NEW_PASSWORD)

    for gone in (path, earlier, "/setup/no-such-code"):
        status, text = await site.page(gone)
        assert status == 404 and "链接无效" in text, "once there is an account, /setup/* is gone"
    assert await site.accounts.setup_link_if_empty(NOW, "") is None


async def test_a_setup_link_expires(empty_site: Site) -> None:
    path = await empty_site.accounts.setup_link_if_empty(NOW)
    assert path is not None
    empty_site.clock.now = NOW + timedelta(hours=24)
    status, text = await empty_site.page(path)
    assert status == 410 and "已经过期" in text


# --- invitations ------------------------------------------------------------------------------------------

async def test_an_invitee_chooses_their_account_and_is_placed_as_invited(site: Site) -> None:
    created = await site.invite("pm-1", role="property_manager", display_name="张三", communities=["demo-north"])
    assert created["organisation_id"] == "lvcheng", "staff invite to their own organisation"
    assert created["link"] == f"/invite/{created['code']}" and created["state"] == "pending"
    assert datetime.fromisoformat(created["expires_at"]) == NOW + timedelta(days=7)

    status, text = await site.page(created["link"])
    assert status == 200 and "张三" in text and "物业管理人员" in text
    text = await site.form(created["link"], {"account_id": "pm-1", "display_name": "张三",
                                                     "password": NEW_PASSWORD, "password2": NEW_PASSWORD}, 422)
    assert "这个账号已被使用" in text
    text = await site.form(created["link"], {"account_id": "zhang.san", "display_name": "张三",
                                                     "password": "zhang.san-2027", "password2": "zhang.san-2027"},
                                   422)
    assert "不能是账号本身" in text and await site.accounts.account("zhang.san") is None
    text = await site.form(created["link"], {"account_id": "zhang.san", "display_name": "张三丰",
                                                     "password": NEW_PASSWORD, "password2": NEW_PASSWORD}, 200)
    assert "账号已开通" in text
    assert await site.accounts.tenancy.scope_of("zhang.san") == ("lvcheng", scope(("demo-north",)))
    assert (await site.accounts.display_name("zhang.san")) == "张三丰"
    assert await site.signs_in("zhang.san", NEW_PASSWORD)

    status, text = await site.page(created["link"])
    assert status == 410 and "已经用过" in text
    listed = await (await site.client.get(INVITATIONS, headers=bearer("pm-1"))).json()
    assert [(i["state"], i["account_id"]) for i in listed["invitations"]] == [("used", "zhang.san")]
    assert "code" not in listed["invitations"][0], "a code is shown once"


@pytest.mark.parametrize(("subject", "body", "status", "problem"), [
    ("pm-2", {"communities": ["demo-north"]}, 422, "within your own"),
    ("pm-1", {"communities": ["east"]}, 422, "within your own"),
    ("pm-1", {"communities": ["demo"], "organisation_id": "wanke"}, 422, "your own organisation"),
    ("pm-1", {"communities": ["demo"], "role": "market_operator"}, 422, "a role you hold"),
    ("pm-1", {"communities": ["demo"], "role": "admin"}, 422, "only an administrator"),
    ("pm-1", {"communities": ["demo"], "role": "resident"}, 422, "activation letter"),
    ("pm-1", {"communities": ["demo"], "expires_in_days": 31}, 422, "1 to 30 days"),
    ("pm-1", {"communities": []}, 422, "name the communities"),
    ("root", {"communities": ["demo"]}, 422, "name the organisation"),
    ("root", {"communities": ["east"], "organisation_id": "lvcheng"}, 422, "not held by organisation"),
    ("root", {"markets": ["demo"], "organisation_id": "lvcheng", "role": "market_operator"}, 422,
     "organisation 'lvcheng' is a property_company"),
    ("sv-1", {"communities": ["demo"]}, 403, "needs one of the roles"),
    ("wang", {"communities": ["demo"]}, 403, "needs one of the roles"),
    ("pm-1", {"communities": ["demo"], "display_name": ""}, 400, "invalid invitation"),
    ("pm-1", {"communities": ["demo"], "surprise": 1}, 400, "invalid invitation"),
    ("pm-1", {"communities": ["x y"]}, 400, "invalid invitation"),
])
async def test_staff_invite_within_their_organisation_and_scope(site: Site, subject: str, body: dict[str, Any],
                                                                status: int, problem: str) -> None:
    refused = await site.invite(subject, status, **{"role": "property_manager", "display_name": "某人", **body})
    assert problem in refused["error"], refused
    listed = await (await site.client.get(INVITATIONS, headers=bearer("root"))).json()
    assert listed == {"invitations": []}, "nothing made"


async def test_an_administrator_invites_an_administrator_and_any_staff(site: Site) -> None:
    admin = await site.invite("root", role="admin", display_name="第二管理员")
    assert (admin["organisation_id"], admin["communities"]) == (None, [])
    office = await site.invite("root", role="supervisor", display_name="吴科长", organisation_id="chengdong",
                               communities=["demo"], markets=["demo"], expires_in_days=30)
    assert office["organisation_id"] == "chengdong"
    await site.form(admin["link"], {"account_id": "root-2", "display_name": "第二管理员", "password": NEW_PASSWORD,
                                    "password2": NEW_PASSWORD}, 200)
    member = await site.accounts.tenancy.member("root-2")
    assert member.account.roles == {Role.ADMIN} and member.organisation is None


async def test_invitations_are_listed_and_revoked_by_those_who_may_see_them(site: Site) -> None:
    north = await site.invite("pm-1", role="property_manager", display_name="北苑新人", communities=["demo-north"])
    east = await site.invite("pm-w", role="property_manager", display_name="东区新人", communities=["east"])

    def names(body: Any) -> set[str]:
        return {invitation["display_name"] for invitation in body["invitations"]}

    assert names(await (await site.client.get(INVITATIONS, headers=bearer("pm-1"))).json()) == {"北苑新人"}
    assert names(await (await site.client.get(INVITATIONS, headers=bearer("pm-2"))).json()) == set(), \
        "a colleague whose scope does not cover it"
    assert names(await (await site.client.get(INVITATIONS, headers=bearer("root"))).json()) == {"北苑新人", "东区新人"}

    revoke = f"{INVITATIONS}/{north['invitation_id']}/revoke"
    outside = await site.send(revoke, "pm-w", 404)
    unknown = await site.send(f"{INVITATIONS}/zz-unknown/revoke", "pm-w", 404)
    assert outside == unknown == {"error": "no such invitation"}
    assert (await site.send(revoke, "pm-1", 200))["state"] == "revoked"
    assert (await site.send(revoke, "pm-1", 200))["state"] == "revoked", "once is enough"
    status, text = await site.page(north["link"])
    assert status == 410 and "已被撤销" in text

    site.clock.now = NOW + timedelta(days=8)
    status, text = await site.page(east["link"])
    assert status == 410 and "已经过期" in text
    status, text = await site.page("/invite/" + "x" * 200)
    assert status == 404 and "链接无效" in text


async def test_an_invitation_whose_scope_its_organisation_gave_up_makes_no_account(site: Site) -> None:
    created = await site.invite("pm-1", role="property_manager", display_name="北苑新人", communities=["demo-north"])
    await site.accounts.tenancy.release("lvcheng", scope(("demo-north",)))
    text = await site.form(created["link"], {"account_id": "bei", "display_name": "北苑新人",
                                                     "password": NEW_PASSWORD, "password2": NEW_PASSWORD}, 422)
    assert "管理范围已经变更" in text and await site.accounts.account("bei") is None
    assert (await site.page(created["link"]))[0] == 200, "the invitation is left as it was"


async def test_an_integration_token_invites_no_one(site: Site) -> None:
    creator = Principal("pm-1", frozenset({Role.PROPERTY_MANAGER}), NOW + timedelta(days=1), "t", scope(("demo",)))
    token = await site.accounts.tenancy.create_api_token(creator, "sync", Role.PROPERTY_MANAGER, scope(("demo",)),
                                                         timedelta(days=30), NOW)
    assert token.account_id.startswith(INTEGRATION_PREFIX)
    headers = {"Authorization": "Bearer " + AUTHORITY.issue(token.account_id, [Role.PROPERTY_MANAGER], NOW,
                                                            timedelta(days=1), token_id=token.token_id)}
    response = await site.client.post(INVITATIONS, headers=headers, json={
        "role": "property_manager", "display_name": "某人", "communities": ["demo"]})
    assert response.status == 403 and "integration" in (await response.json())["error"]
    response = await site.client.post("/api/accounts/wang/password-reset", headers=headers)
    assert response.status == 403


# --- password resets, disabling ----------------------------------------------------------------------------

async def test_a_reset_link_sets_a_new_password_and_ends_every_session(site: Site) -> None:
    old_token = bearer("wang", at=NOW - timedelta(hours=1))
    assert (await site.client.get("/api/accounts/me", headers=old_token)).status == 200
    assert await site.signs_in("wang", PASSWORD)
    session = site.client.session.cookie_jar.filter_cookies(site.client.make_url("/"))[SESSION_COOKIE].value

    issued = await site.send("/api/accounts/wang/password-reset", "pm-2", 201)
    assert issued["link"] == f"/reset/{issued['code']}" and issued["account_id"] == "wang"
    assert datetime.fromisoformat(issued["expires_at"]) == NOW + timedelta(hours=24)
    status, text = await site.page(issued["link"])
    assert status == 200 and "wang" in text
    text = await site.form(issued["link"], {"password": "12345678", "password2": "12345678"}, 422)
    assert "最常见的密码之一" in text and await site.signs_in("wang", PASSWORD), "nothing changed"

    site.clock.now = NOW + timedelta(minutes=5)
    await site.form(issued["link"], {"password": NEW_PASSWORD, "password2": NEW_PASSWORD}, 200)
    refused = await site.client.get("/api/accounts/me", headers=old_token)
    assert refused.status == 401 and (await refused.json())["error"] == "token revoked"
    page = await site.client.get("/voting", headers={**HTML, "Cookie": f"{SESSION_COOKIE}={session}"},
                                 allow_redirects=False)
    assert page.status in (303, 404), "the old session is over"
    assert (await site.client.get("/api/accounts/me", headers=bearer("wang", at=site.clock.now))).status == 200
    assert not await site.signs_in("wang", PASSWORD)
    assert await site.signs_in("wang", NEW_PASSWORD)
    status, text = await site.page(issued["link"])
    assert status == 410 and "已经用过" in text


async def test_a_new_reset_link_replaces_the_one_before(site: Site) -> None:
    first = await site.send("/api/accounts/pm-2/password-reset", "pm-1", 201)
    second = await site.send("/api/accounts/pm-2/password-reset", "root", 201)
    assert (await site.page(first["link"]))[0] == 410
    assert (await site.page(second["link"]))[0] == 200


@pytest.mark.parametrize(("subject", "account_id"), [
    ("pm-2", "pm-1"),  # a colleague whose scope is wider
    ("pm-2", "sun"),  # a resident of a community not theirs
    ("pm-w", "wang"),  # another company's resident
    ("pm-1", "op-1"),  # another organisation's staff
    ("pm-1", "root"),  # an administrator
    ("op-1", "wang"),  # an operator looks after no resident
])
async def test_an_account_outside_ones_care_is_answered_as_one_that_does_not_exist(site: Site, subject: str,
                                                                                    account_id: str) -> None:
    for action in ("password-reset", "disable", "enable"):
        outside = await site.send(f"/api/accounts/{account_id}/{action}", subject, 404)
        unknown = await site.send(f"/api/accounts/zz-unknown/{action}", subject, 404)
        assert outside == {"error": f"no account {account_id!r}"} and unknown == {"error": "no account 'zz-unknown'"}
    account = await site.accounts.account(account_id)
    assert account is not None and account.enabled


async def test_staff_disable_and_enable_the_accounts_they_look_after(site: Site) -> None:
    disabled = await site.send("/api/accounts/pm-2/disable", "pm-1", 200)
    assert disabled == {"account_id": "pm-2", "display_name": "pm-2", "roles": ["property_manager"], "enabled": False}
    assert (await site.client.get("/api/accounts/me", headers=bearer("pm-2"))).status == 401
    assert not await site.signs_in("pm-2", PASSWORD)
    assert (await site.send("/api/accounts/pm-2/enable", "pm-1", 200))["enabled"] is True
    assert await site.signs_in("pm-2", PASSWORD)

    assert (await site.send("/api/accounts/wang/disable", "pm-2", 200))["enabled"] is False
    refused = await site.send("/api/accounts/pm-1/disable", "pm-1", 422)
    assert "your own account" in refused["error"]
    assert (await site.send("/api/accounts/wang/enable", "sv-1", 403))["error"].startswith("needs one of the roles")
    assert (await site.send("/api/accounts/pm-1/disable", "root", 200))["enabled"] is False


# --- residents' activation codes -------------------------------------------------------------------------

async def test_a_resident_activates_their_account_with_the_code_of_their_letter(site: Site) -> None:
    batch = await site.send(CODES, "pm-2", 201, {"community_id": "demo", "resident_ids": ["R-101", "R-102"]})
    assert (batch["community_name"], batch["replaced"]) == ("阳光花园", 0)
    assert datetime.fromisoformat(batch["expires_at"]) == NOW + timedelta(days=60)
    codes = {entry["resident_id"]: entry for entry in batch["codes"]}
    assert (codes["R-101"]["name"], codes["R-101"]["unit_id"]) == ("王芳", "1-1-101")
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", codes["R-101"]["code"])

    typed = codes["R-101"]["code"].lower().replace("-", " ")  # as a resident may type it
    text = await site.form("/activate", {"code": typed, "password": "R-101-home", "password2": "R-101-home"},
                                   422)
    assert "不能是账号本身" in text and await site.accounts.account("R-101") is None
    text = await site.form("/activate", {"code": typed, "password": NEW_PASSWORD,
                                                 "password2": NEW_PASSWORD}, 200)
    assert "账号已开通" in text and "R-101" in text
    member = await site.accounts.tenancy.member("R-101")
    assert (member.account.display_name, member.account.roles, member.scope) == ("王芳", frozenset({Role.RESIDENT}),
                                                                                 scope(("demo",)))
    assert await site.signs_in("R-101", NEW_PASSWORD)

    text = await site.form("/activate", {"code": codes["R-101"]["code"], "password": NEW_PASSWORD,
                                                 "password2": NEW_PASSWORD}, 422)
    assert "已经用过" in text
    text = await site.form("/activate", {"code": "ABCD-EFGH-JKLM", "password": NEW_PASSWORD,
                                                 "password2": NEW_PASSWORD}, 422)
    assert "激活码不正确" in text
    text = await site.form("/activate", {"code": "我不知道", "password": "x", "password2": "y"}, 422)
    assert "激活码不正确" in text


async def test_a_lost_letter_is_replaced_and_the_old_code_stops_working(site: Site) -> None:
    first = await site.send(CODES, "pm-2", 201, {"community_id": "demo", "resident_ids": ["R-102"]})
    again = await site.send(CODES, "pm-1", 201, {"community_id": "demo", "resident_ids": ["R-102", "R-102"],
                                                 "expires_in_days": 30})
    assert again["replaced"] == 1 and len(again["codes"]) == 1
    text = await site.form("/activate", {"code": first["codes"][0]["code"], "password": NEW_PASSWORD,
                                                 "password2": NEW_PASSWORD}, 422)
    assert "已失效" in text
    site.clock.now = NOW + timedelta(days=31)
    text = await site.form("/activate", {"code": again["codes"][0]["code"], "password": NEW_PASSWORD,
                                                 "password2": NEW_PASSWORD}, 422)
    assert "已过期" in text and await site.accounts.account("R-102") is None


async def test_a_resident_who_moved_out_meanwhile_cannot_activate(site: Site) -> None:
    batch = await site.send(CODES, "pm-2", 201, {"community_id": "demo", "resident_ids": ["R-102"]})
    moved = site.directory.people["R-102"]
    site.directory.people["R-102"] = DirectoryResident(moved.resident_id, moved.community_id, moved.unit_id,
                                                       moved.name, False)
    text = await site.form("/activate", {"code": batch["codes"][0]["code"], "password": NEW_PASSWORD,
                                                 "password2": NEW_PASSWORD}, 422)
    assert "已失效" in text and await site.accounts.account("R-102") is None


async def test_activation_codes_are_issued_for_residents_of_ones_communities_all_or_none(site: Site) -> None:
    refused = await site.send(CODES, "pm-2", 422, {"community_id": "demo",
                                                   "resident_ids": ["R-101", "R-103", "R-N01", "ghost", "wang"]})
    assert {r["resident_id"]: r["problem"] for r in refused["residents"]} == {
        "R-103": "moved out or revoked: no activation code",
        "R-N01": "not a resident of community 'demo'",
        "ghost": "not a resident of community 'demo'",
        "wang": "not a resident of community 'demo'",
    }
    outside = await site.send(CODES, "pm-2", 404, {"community_id": "demo-north", "resident_ids": ["R-N01"]})
    unknown = await site.send(CODES, "pm-2", 404, {"community_id": "nowhere", "resident_ids": ["R-N01"]})
    assert (outside["error"], unknown["error"]) == ("no community 'demo-north'", "no community 'nowhere'")
    assert (await site.send(CODES, "pm-w", 404, {"community_id": "demo", "resident_ids": ["R-101"]}))["error"] \
        == "no community 'demo'"
    for subject in ("op-1", "sv-1", "wang"):
        await site.send(CODES, subject, 403, {"community_id": "demo", "resident_ids": ["R-101"]})
    for body in ({"community_id": "demo", "resident_ids": []}, {"community_id": "demo"},
                 {"community_id": "demo", "resident_ids": ["R-101"], "expires_in_days": "soon"}, [1, 2]):
        assert (await site.send(CODES, "pm-2", 400, body))["error"] == "invalid activation codes request"
    too_long = await site.send(CODES, "pm-2", 422, {"community_id": "demo", "resident_ids": ["R-101"],
                                                    "expires_in_days": 181})
    assert "1 to 180 days" in too_long["error"]
    await site.send(CODES, "pm-2", 201, {"community_id": "demo", "resident_ids": ["R-101"]})
    await site.form("/activate", {"code": "", "password": "", "password2": ""}, 422)


async def test_a_resident_with_an_account_gets_no_code(site: Site) -> None:
    batch = await site.send(CODES, "pm-2", 201, {"community_id": "demo", "resident_ids": ["R-101"]})
    await site.form("/activate", {"code": batch["codes"][0]["code"], "password": NEW_PASSWORD,
                                  "password2": NEW_PASSWORD}, 200)
    refused = await site.send(CODES, "pm-2", 422, {"community_id": "demo", "resident_ids": ["R-101"]})
    assert refused["residents"] == [{"resident_id": "R-101",
                                     "problem": "has an account already (reset its password if it is lost)"}]


async def test_the_onboarding_routes_are_described(site: Site) -> None:
    document = await (await site.client.get("/openapi.json")).json()
    assert {(path, method) for path, operations in document["paths"].items() for method in operations
            if path.startswith((INVITATIONS, CODES)) or "{account_id}" in path} == {
        (INVITATIONS, "post"), (INVITATIONS, "get"), (INVITATIONS + "/{invitation_id}/revoke", "post"),
        (CODES, "post"), ("/api/accounts/{account_id}/password-reset", "post"),
        ("/api/accounts/{account_id}/disable", "post"), ("/api/accounts/{account_id}/enable", "post"),
        ("/api/accounts/{account_id}/committee", "put")}
    assert document["paths"]["/api/accounts/{account_id}/password-reset"]["post"]["x-roles"] == [
        "market_operator", "property_manager"]


# --- the staff's invitations page ----------------------------------------------------------------------------

async def signed_in_csrf(site: Site, account_id: str) -> str:
    assert await site.signs_in(account_id, PASSWORD)
    page = await site.client.get("/accounts/invitations", headers=HTML)
    found = CSRF.search(await page.text())
    assert page.status == 200 and found is not None
    return found.group(1)


async def test_a_manager_invites_a_colleague_from_the_page_and_revokes_another(site: Site) -> None:
    token = await signed_in_csrf(site, "pm-1")
    form = await (await site.client.get("/accounts/invitations", headers=HTML)).text()
    assert 'value="demo-north"' in form and 'value="east"' not in form, "the manager's own communities only"
    assert 'value="admin"' not in form and 'value="market_operator"' not in form, "roles they hold only"
    invited = await site.client.post("/accounts/invitations", headers=HTML, data=[
        ("csrf_token", token), ("display_name", "北苑新人"), ("role", "property_manager"), ("community", "demo-north"),
        ("days", "3")])
    text = await invited.text()
    found = re.search(r'value="http://[^"]+(/invite/[A-Za-z0-9_-]+)"', text)
    assert invited.status == 200 and found is not None and "只显示这一次" in text, text
    assert (await site.page(found.group(1)))[0] == 200

    listed = await site.invite("pm-1", role="property_manager", display_name="撤销我", communities=["demo"])
    revoke = f"/accounts/invitations/{listed['invitation_id']}/revoke"
    await site.signs_in("pm-w", PASSWORD)
    outside = await site.client.post(revoke, headers=HTML, data={"csrf_token": await signed_in_csrf(site, "pm-w")})
    unknown = await site.client.post("/accounts/invitations/zz-unknown/revoke", headers=HTML,
                                     data={"csrf_token": await signed_in_csrf(site, "pm-w")})
    assert outside.status == unknown.status == 404
    token = await signed_in_csrf(site, "pm-1")
    revoked = await site.client.post(revoke, headers=HTML, data={"csrf_token": token})
    assert revoked.status == 200 and "邀请已撤销" in await revoked.text()
    assert (await site.page(listed["link"]))[0] == 410


@pytest.mark.parametrize(("fields", "message"), [
    ([("display_name", "某人"), ("role", "property_manager"), ("community", "east")], "within your own"),
    ([("display_name", "某人"), ("role", "admin")], "请选择角色"),
    ([("display_name", ""), ("role", "property_manager"), ("community", "demo")], "请填写被邀请人的姓名"),
    ([("display_name", "某人"), ("role", "property_manager"), ("community", "demo"), ("days", "60")], "1 到 30 天"),
    ([("display_name", "某人"), ("role", "property_manager")], "name the communities"),
])
async def test_a_bad_invitation_form_says_why_and_invites_no_one(site: Site, fields: list[tuple[str, str]],
                                                                 message: str) -> None:
    token = await signed_in_csrf(site, "pm-1")
    refused = await site.client.post("/accounts/invitations", headers=HTML,
                                     data=[("csrf_token", token), *fields, ("days", "7")])
    assert refused.status == 422 and message in await refused.text()
    assert await site.accounts.onboarding.invitations(
        AUTHORITY.verify(AUTHORITY.issue("root", [Role.ADMIN], NOW, timedelta(hours=1)), NOW)) == []


# --- the schema ----------------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_at_0003(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    await migrate(made, "accounts", "0003_tenancy")
    yield made
    await made.dispose()


async def test_upgrading_keeps_accounts_placed_and_their_tokens_taken(engine_at_0003: AsyncEngine) -> None:
    tenancy = TenancyService(engine_at_0003)  # the code of 0003 wrote the same rows, but for the new column
    async with engine_at_0003.begin() as connection:
        await connection.execute(text(
            "INSERT INTO organisations (organisation_id, name, kind, created_at) "
            "VALUES ('lvcheng', '绿城物业', 'property_company', :now)"), {"now": NOW})
        await connection.execute(text(
            "INSERT INTO organisation_scopes VALUES ('lvcheng', 'community', 'demo')"))
        await connection.execute(text(
            "INSERT INTO accounts (account_id, display_name, roles, password_hash, created_at, enabled, "
            "organisation_id) VALUES ('pm-1', '张经理', '[\"property_manager\"]', 'scrypt$x', :now, true, "
            "'lvcheng')"), {"now": NOW})
        await connection.execute(text("INSERT INTO account_scopes VALUES ('pm-1', 'community', 'demo')"))
    await migrate(engine_at_0003, "accounts")
    assert await tenancy.scope_of("pm-1") == ("lvcheng", scope(("demo",)))
    principal = AUTHORITY.verify(AUTHORITY.issue("pm-1", [Role.PROPERTY_MANAGER], NOW, timedelta(days=1)), NOW)
    assert (await AccountService(engine_at_0003).standing(principal)).status.value == "active", \
        "no reset yet: every token is taken as before"

    await downgrade(engine_at_0003, "0003_tenancy")  # and back, in place, the assignments kept
    assert await tenancy.scope_of("pm-1") == ("lvcheng", scope(("demo",)))
    await migrate(engine_at_0003, "accounts")


# --- the owners' committee, as the owners' assembly elected it ----------------------------------------------

async def put_committee(site: Site, account_id: str, subject: str, status: int, body: Any) -> Any:
    response = await site.client.put(f"/api/accounts/{account_id}/committee", json=body, headers=bearer(subject))
    assert response.status == status, await response.text()
    return await response.json()


async def test_the_property_manager_records_a_resident_as_a_committee_member_and_removes_them(site: Site) -> None:
    # a token as sign-in issues it once the account has both roles: before that, it is worth a resident's only
    both = {"Authorization": "Bearer " + AUTHORITY.issue("wang", [Role.RESIDENT, Role.COMMITTEE], NOW,
                                                         timedelta(days=1))}
    assert (await (await site.client.get("/api/accounts/me", headers=both)).json())["roles"] == ["resident"]
    recorded = await put_committee(site, "wang", "pm-2", 200, {"member": True})
    assert recorded == {"account_id": "wang", "display_name": "wang", "roles": ["committee", "resident"],
                        "enabled": True}
    me = await (await site.client.get("/api/accounts/me", headers=both)).json()
    assert sorted(me["roles"]) == ["committee", "resident"]
    assert (await put_committee(site, "wang", "root", 200, {"member": False}))["roles"] == ["resident"]
    me = await (await site.client.get("/api/accounts/me", headers=both)).json()
    assert me["roles"] == ["resident"], "a removal takes effect on the next request"


@pytest.mark.parametrize(("subject", "account_id", "status", "words"), [
    ("pm-1", "pm-2", 422, "not a resident's"),  # staff are not committee members
    ("op-1", "wang", 403, "needs one of the roles"),  # an operator records no committee
    ("sv-1", "wang", 403, "needs one of the roles"),  # a supervisor writes nothing
    ("wang", "wang", 403, "needs one of the roles"),  # nor does a resident, for themselves
    ("pm-w", "wang", 404, "no account 'wang'"),  # another company's resident: as if there were none
    ("pm-2", "sun", 404, "no account 'sun'"),  # a resident of a community outside the manager's scope
    ("pm-2", "zz-unknown", 404, "no account 'zz-unknown'"),
])
async def test_a_committee_member_is_recorded_only_by_their_communitys_manager(site: Site, subject: str,
                                                                              account_id: str, status: int,
                                                                              words: str) -> None:
    refused = await put_committee(site, account_id, subject, status, {"member": True})
    assert words in refused["error"]
    account = await site.accounts.account(account_id)
    assert account is None or Role.COMMITTEE not in account.roles


async def test_a_committee_body_that_is_not_a_yes_or_no_is_refused(site: Site) -> None:
    for body in ({}, {"member": "maybe"}, {"member": True, "role": "admin"}, [True]):
        refused = await put_committee(site, "wang", "pm-2", 400, body)
        assert refused["error"] == "invalid committee membership"
    account = await site.accounts.account("wang")
    assert account is not None and account.roles == frozenset({Role.RESIDENT})
