"""The property manager's activation letters on both databases, over the real access directory (the composition
root's adapter, ``smartcity.bootstrap.AccessResidents``): the residents of their communities listed with whether
they have an account or a code already; the selected ones get a code each, shown once, on a printable page (one
letter a page); a resident activates with it; a community outside the manager's scope is answered as one that does
not exist."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.onboarding_pages import mount_onboarding_pages
from accounts.organisations import OrganisationKind
from accounts.pages import mount_pages
from accounts.service import AccountService
from community.access.service import AccessService
from messaging.downlink import RecordingDownlink
from smartcity.bootstrap import AccessResidents
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_access_scope import PLUM
from tests.integration.test_access_service import KEYS, LOTUS, SETTINGS, T0, Clock
from webkit.identity import Role, Scope, TokenAuthority
from webkit.pages import mount_portal

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"l" * 32)
PASSWORD = "letters-test-password"
LETTERS = "/accounts/activation-letters"
CODE = re.compile(r'<dd class="code">([2-9A-Z-]{14})</dd>')


class Browser(PageSession):
    landing: ClassVar[str] = LETTERS
    password: ClassVar[str] = PASSWORD


@dataclass
class Site:
    browser: Browser
    accounts: AccountService
    access: AccessService

    @property
    def client(self) -> TestClient[Any, Any]:
        return self.browser.client


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[Site]:
    clock = Clock(T0)
    access = AccessService(engine, RecordingDownlink(), clock, KEYS, SETTINGS)
    await access.import_community(LOTUS)
    await access.import_community(PLUM)
    accounts = AccountService(engine, residents=AccessResidents(access))
    tenancy = accounts.tenancy
    await tenancy.create_organisation("lvcheng", "绿城物业", OrganisationKind.PROPERTY_COMPANY, T0)
    await tenancy.hold("lvcheng", Scope(frozenset({"lotus"})))
    await tenancy.create_organisation("nongmao", "农贸市场", OrganisationKind.MARKET_OPERATOR, T0)
    await tenancy.hold("nongmao", Scope(markets=frozenset({"lotus"})))
    await tenancy.create_account("pm-a", "张经理", {Role.PROPERTY_MANAGER}, PASSWORD, T0, organisation_id="lvcheng",
                                 scope=Scope(frozenset({"lotus"})))
    await tenancy.create_account("op-a", "刘主任", {Role.MARKET_OPERATOR}, PASSWORD, T0, organisation_id="nongmao",
                                 scope=Scope(markets=frozenset({"lotus"})))
    await tenancy.create_account("root", "管理员", {Role.ADMIN}, PASSWORD, T0)
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_onboarding_pages(app, accounts)
    mount_portal(app)
    async with TestClient(TestServer(app)) as client:
        yield Site(Browser(client), accounts, access)


async def test_a_manager_prints_letters_and_a_resident_activates_with_one(site: Site) -> None:
    token = await site.browser.sign_in("pm-a")
    form = await site.browser.page(LETTERS)
    assert "荷花小区" in form and "梅园" not in form, "the manager's communities only"
    for resident in ("wang", "li", "zhao"):
        assert f'name="resident" value="{resident}"' in form
    assert form.count(" checked") >= 3 and "未发放" in form

    printed = await site.browser.post(LETTERS, [("community", "lotus"), ("resident", "wang"), ("resident", "li"),
                                                ("days", "30")], token)
    letters = await printed.text()
    assert printed.status == 200 and letters.count("<h1>住户激活通知</h1>") == 2
    assert "page-break-after:always" in letters and "王芳" in letters and "b1-2-301" in letters
    assert "/activate" in letters and "只在这一页显示一次" in letters and "<svg" in letters
    codes = CODE.findall(letters)
    assert len(codes) == 2

    again = await site.browser.page(LETTERS)
    assert again.count("已发放，") == 2 and codes[0] not in again, "a code is shown once"

    site.client.session.cookie_jar.clear()
    activate = await site.client.get(f"/activate?code={codes[0]}", headers=HTML)
    found = re.search(r'name="csrf_token" value="([^"]+)"', await activate.text())
    assert found is not None and codes[0] in await activate.text(), "the letter's QR code fills the code in"
    done = await site.client.post("/activate", headers=HTML, data={
        "csrf_token": found.group(1), "code": codes[0], "password": "荷花池边 2025", "password2": "荷花池边 2025"})
    assert done.status == 200 and "wang" in await done.text()
    member = await site.accounts.tenancy.member("wang")
    assert (member.account.display_name, member.scope) == ("王芳", Scope(frozenset({"lotus"})))

    await site.browser.sign_in("pm-a")
    assert "已开通" in await site.browser.page(LETTERS)


async def test_a_community_outside_the_managers_scope_is_not_there(site: Site) -> None:
    token = await site.browser.sign_in("pm-a")
    outside = await site.client.get(f"{LETTERS}?community=plum", headers=HTML)
    unknown = await site.client.get(f"{LETTERS}?community=nowhere", headers=HTML)
    assert outside.status == unknown.status == 404
    assert await outside.text() == await unknown.text()
    for community in ("plum", "nowhere"):
        posted = await site.browser.post(LETTERS, {"community": community, "resident": "mei"}, token)
        assert posted.status == 404 and "小区不存在" in await posted.text()
    assert await site.accounts.account("mei") is None


async def test_bad_letter_requests_are_refused_next_to_the_rows_with_nothing_issued(site: Site) -> None:
    await site.access.move_out("zhao", "pm-a")
    token = await site.browser.sign_in("pm-a")
    form = await site.browser.page(LETTERS)
    assert "已迁出" in form
    cases: list[tuple[list[tuple[str, str]], str]] = [
        ([("community", "lotus")], "请至少选择一位住户"),
        ([("resident", "wang")], "请选择小区"),
        ([("community", "lotus"), ("resident", "wang"), ("days", "999")], "有效期为 1 到 180 天"),
        ([("community", "lotus"), ("resident", "wang"), ("days", "三十")], "有效期为 1 到 180 天"),
        ([("community", "lotus"), ("resident", "wang"), ("resident", "zhao"), ("resident", "mei")],
         "2 位住户不能发放激活码"),
    ]
    for fields, message in cases:
        refused = await site.browser.post(LETTERS, fields, token)
        assert refused.status == 422 and message in await refused.text(), message
    assert await site.accounts.onboarding.letter_states(["wang"], T0) == (set(), {})


async def test_only_property_managers_and_administrators_issue_letters(site: Site) -> None:
    site.browser.landing = "/"
    await site.browser.sign_in("op-a")
    refused = await site.client.get(LETTERS, headers=HTML)
    assert refused.status == 403
    token = await site.browser.sign_in("root")
    chooser = await site.browser.page(LETTERS)
    assert "荷花小区" in chooser and "梅园" in chooser, "an administrator chooses among every community"
    printed = await site.browser.post(LETTERS, {"community": "plum", "resident": "mei"}, token)
    assert printed.status == 200 and "梅兰" in await printed.text()
