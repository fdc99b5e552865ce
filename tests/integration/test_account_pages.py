"""The accounts page (/accounts/people) on both databases: an administrator sees every person's account, a property
manager or market operator only those in their care (colleagues of their company within their scope; a manager the
residents of their communities too); a reset link is shown once and the reset page takes it; disabling and enabling
are confirmed first, and a disabled account cannot sign in; an account outside one's care is the very 404 page of an
unknown one; supervisors and residents are refused (403)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.onboarding_pages import mount_onboarding_pages
from accounts.organisations import OrganisationKind
from accounts.pages import mount_pages
from accounts.service import AccountService
from tests.integration.helpers import CSRF, HTML, PageSession
from webkit.identity import EVERYTHING, Principal, Role, Scope, TokenAuthority
from webkit.pages import mount_portal

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"p" * 32)
PASSWORD = "account-pages-test-password"
NEW_PASSWORD = "荷花池边 2026 新密码"
NOW = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)
PEOPLE = "/accounts/people"
LINK = re.compile(r'id="reset-link" readonly value="(https?://[^"]+/reset/([^"]+))"')


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Browser(PageSession):
    landing: ClassVar[str] = "/"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    accounts: AccountService
    integration: str
    clock: Clock

    async def try_sign_in(self, account: str, password: str) -> int:
        self.client.session.cookie_jar.clear()
        form = await self.client.get("/signin", headers=HTML)
        token = CSRF.search(await form.text())
        assert token is not None
        signed_in = await self.client.post("/signin", allow_redirects=False, headers=HTML, data={
            "csrf_token": token.group(1), "account_id": account, "password": password})
        return signed_in.status

    async def listed(self) -> set[str]:
        return set(re.findall(r'<tr id="account-[^"]+" data-account="([^"]+)"', await self.page(PEOPLE)))


@pytest.fixture
async def browser(engine: AsyncEngine) -> AsyncIterator[Browser]:
    clock = Clock()
    accounts = AccountService(engine)
    tenancy = accounts.tenancy
    lotus, plum, market = Scope.of(["lotus"]), Scope.of(["plum"]), Scope.of(markets=["north"])
    for organisation, name, kind, held in (
            ("lvcheng", "绿城物业", OrganisationKind.PROPERTY_COMPANY, Scope.of(["lotus", "plum"])),
            ("wanke", "万科物业", OrganisationKind.PROPERTY_COMPANY, plum),
            ("nongmao", "城北市场公司", OrganisationKind.MARKET_OPERATOR, market),
            ("office", "街道办", OrganisationKind.SUPERVISION_OFFICE, Scope.of(["lotus"], ["north"]))):
        await tenancy.create_organisation(organisation, name, kind, NOW)
        await tenancy.hold(organisation, held)
    people: list[tuple[str, str, Role, str | None, Scope]] = [
        ("root", "管理员", Role.ADMIN, None, Scope()),
        ("pm-a", "张经理", Role.PROPERTY_MANAGER, "lvcheng", lotus),
        ("pm-a2", "李助理", Role.PROPERTY_MANAGER, "lvcheng", lotus),
        ("pm-plum", "赵经理", Role.PROPERTY_MANAGER, "lvcheng", plum),  # a colleague, but of another community
        ("pm-b", "孙经理", Role.PROPERTY_MANAGER, "wanke", plum),
        ("op-a", "刘主任", Role.MARKET_OPERATOR, "nongmao", market),
        ("op-a2", "周主任", Role.MARKET_OPERATOR, "nongmao", market),
        ("sup-a", "吴科长", Role.SUPERVISOR, "office", Scope.of(["lotus"], ["north"])),
        ("wang", "王芳", Role.RESIDENT, None, lotus),
        ("mei", "梅兰", Role.RESIDENT, None, plum),
    ]
    for account_id, name, role, organisation_id, scope in people:
        await tenancy.create_account(account_id, name, {role}, PASSWORD, NOW, organisation_id=organisation_id,
                                     scope=scope)
    creator = Principal("root", frozenset({Role.ADMIN}), NOW + timedelta(hours=1), "t-root", EVERYTHING)
    token = await tenancy.create_api_token(creator, "物业系统对接", Role.PROPERTY_MANAGER, lotus, timedelta(days=30),
                                           NOW, organisation_id="lvcheng")
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_onboarding_pages(app, accounts)
    mount_portal(app)
    async with TestClient(TestServer(app)) as client:
        yield Browser(client, accounts, token.account_id, clock)


async def test_an_administrator_sees_every_persons_account(browser: Browser) -> None:
    await browser.sign_in("root")
    page = await browser.page(PEOPLE)
    assert await browser.listed() == {"root", "pm-a", "pm-a2", "pm-plum", "pm-b", "op-a", "op-a2", "sup-a", "wang",
                                      "mei"}, "an integration's account is looked after through its token"
    assert browser.integration not in page
    root = _row(page, "root")
    assert "系统管理员" in root and "全部小区和市场" in root and "（您自己）" in root
    assert "/disable" not in root, "no one disables their own account"
    pm = _row(page, "pm-a")
    assert "张经理" in pm and "物业管理人员" in pm and "绿城物业" in pm and "小区 lotus" in pm and "正常" in pm
    assert "市场 north" in _row(page, "op-a") and "城北市场公司" in _row(page, "op-a")
    assert page.index('id="account-root"') < page.index('id="account-pm-a"') < page.index('id="account-wang"'), \
        "administrators, then staff, then residents"
    found = await browser.page(f"{PEOPLE}?q=王")
    assert 'data-account="wang"' in found and 'data-account="pm-a"' not in found and "找到 1 个（共 10 个）" in found


async def test_a_manager_and_an_operator_see_only_the_accounts_in_their_care(browser: Browser) -> None:
    await browser.sign_in("pm-a")
    assert await browser.listed() == {"pm-a", "pm-a2", "wang"}
    await browser.sign_in("op-a")
    assert await browser.listed() == {"op-a", "op-a2"}
    await browser.sign_in("pm-b")
    assert await browser.listed() == {"pm-b", "mei"}


async def test_an_account_outside_ones_care_is_not_found_like_an_unknown_one(browser: Browser) -> None:
    token = await browser.sign_in("pm-a")
    for action in ("reset", "disable", "enable"):
        answers = []
        for account_id in ("pm-b", "mei", "root", "pm-plum", "op-a", browser.integration, "nobody", "%E4%B8%AD"):
            for confirm in ({}, {"confirm": "yes"}):
                response = await browser.post(f"{PEOPLE}/{account_id}/{action}", confirm, token)
                answers.append((response.status, await response.text()))
        assert {status for status, _ in answers} == {404}, (action, answers[0][1][:300])
        assert len({text for _, text in answers}) == 1, "the same page, whoever the id names"
        assert "账号不存在" in answers[0][1]
    for account_id in ("pm-b", "mei", "root", "pm-plum", "op-a"):
        assert (await browser.accounts.account(account_id)) is not None
        assert (await browser.accounts.account(account_id)).enabled  # type: ignore[union-attr]


async def test_a_reset_link_is_shown_once_and_the_reset_page_takes_it(browser: Browser) -> None:
    token = await browser.sign_in("pm-a")
    issued = await browser.post(f"{PEOPLE}/pm-a2/reset", {}, token)
    page = await issued.text()
    assert issued.status == 200, page
    found = LINK.search(page)
    assert found is not None and "只显示这一次" in page and "李助理" in page
    link, code = found.group(1), found.group(2)
    assert code not in await browser.page(PEOPLE), "shown once"
    again = await browser.post(f"{PEOPLE}/pm-a2/reset", {}, token)
    newer = LINK.search(await again.text())
    assert newer is not None and newer.group(2) != code

    browser.client.session.cookie_jar.clear()
    assert (await browser.client.get(f"/reset/{code}", headers=HTML)).status == 410, "the newer link replaces it"
    path = "/reset/" + newer.group(2)
    form = await browser.client.get(path, headers=HTML)
    text = await form.text()
    assert form.status == 200 and "pm-a2" in text and link.startswith("http")
    csrf = CSRF.search(text)
    assert csrf is not None
    done = await browser.client.post(path, headers=HTML, data={
        "csrf_token": csrf.group(1), "account_id": "pm-a2", "password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status == 200 and "密码已更新" in await done.text()
    browser.clock.now = NOW + timedelta(seconds=2)  # a session after the reset's second
    assert await browser.try_sign_in("pm-a2", PASSWORD) != 303
    assert await browser.try_sign_in("pm-a2", NEW_PASSWORD) == 303


async def test_disabling_is_confirmed_first_and_a_disabled_account_cannot_sign_in(browser: Browser) -> None:
    token = await browser.sign_in("pm-a")
    asked = await browser.post(f"{PEOPLE}/wang/disable", {}, token)
    page = await asked.text()
    assert asked.status == 200 and "停用账号？" in page and "王芳" in page and 'name="confirm" value="yes"' in page
    assert (await browser.accounts.account("wang")).enabled, "asking changes nothing"  # type: ignore[union-attr]

    done = await browser.post(f"{PEOPLE}/wang/disable", {"confirm": "yes"}, token)
    assert done.status == 303 and done.headers["Location"].startswith(f"{PEOPLE}?done=disabled&account=wang")
    listed = await browser.page(done.headers["Location"])
    assert "账号 wang 已停用" in listed and "已停用" in _row(listed, "wang") and "/enable" in _row(listed, "wang")
    assert await browser.try_sign_in("wang", PASSWORD) == 403, "disabled: refused with the right password"

    token = await browser.sign_in("pm-a")
    asked = await browser.post(f"{PEOPLE}/wang/enable", {}, token)
    assert asked.status == 200 and "启用账号？" in await asked.text()
    done = await browser.post(f"{PEOPLE}/wang/enable", {"confirm": "yes"}, token)
    assert done.status == 303 and "done=enabled" in done.headers["Location"]
    assert await browser.try_sign_in("wang", PASSWORD) == 303


async def test_a_disabled_accounts_session_ends_at_once(browser: Browser) -> None:
    await browser.sign_in("pm-a2")
    assert "李助理" in await browser.page("/")
    colleague_cookies = browser.client.session.cookie_jar.filter_cookies(browser.client.make_url("/"))
    token = await browser.sign_in("pm-a")
    assert (await browser.post(f"{PEOPLE}/pm-a2/disable", {"confirm": "yes"}, token)).status == 303
    browser.client.session.cookie_jar.clear()
    browser.client.session.cookie_jar.update_cookies(colleague_cookies)
    refused = await browser.client.get(PEOPLE, headers=HTML, allow_redirects=False)
    assert refused.status == 303 and refused.headers["Location"].startswith("/signin")


async def test_one_cannot_disable_oneself(browser: Browser) -> None:
    token = await browser.sign_in("pm-a")
    assert "/disable" not in _row(await browser.page(PEOPLE), "pm-a")
    refused = await browser.post(f"{PEOPLE}/pm-a/disable", {"confirm": "yes"}, token)
    assert refused.status == 422 and "不能停用自己的账号" in await refused.text()
    assert (await browser.accounts.account("pm-a")).enabled  # type: ignore[union-attr]


async def test_supervisors_and_residents_are_refused_and_the_pages_link_to_it(browser: Browser) -> None:
    anonymous = await browser.client.get(PEOPLE, headers=HTML, allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/signin")
    for account in ("sup-a", "wang"):
        token = await browser.sign_in(account)
        assert f'href="{PEOPLE}"' not in await browser.page("/")
        assert (await browser.client.get(PEOPLE, headers=HTML)).status == 403
        for action in ("reset", "disable", "enable"):
            assert (await browser.post(f"{PEOPLE}/pm-a/{action}", {"confirm": "yes"}, token)).status == 403
    assert (await browser.accounts.account("pm-a")).enabled  # type: ignore[union-attr]
    await browser.sign_in("pm-a")
    assert f'href="{PEOPLE}"' in await browser.page("/"), "the portal links the page"
    assert f'href="{PEOPLE}"' in await browser.page("/accounts/invitations"), "so does the invitations page"
    assert (await browser.post(f"{PEOPLE}/pm-a2/disable", {"confirm": "yes"}, None)).status == 403, "no CSRF token"


async def test_a_notice_names_only_an_account_listed(browser: Browser) -> None:
    await browser.sign_in("pm-a")
    crafted = await browser.page(f"{PEOPLE}?done=disabled&account=%E8%AF%B7%E8%BD%AC%E8%B4%A6")
    assert "已停用：" not in crafted and "请转账" not in crafted
    assert "账号 mei 已停用" not in await browser.page(f"{PEOPLE}?done=disabled&account=mei"), "not in their care"


def _row(page: str, account_id: str) -> str:
    found = re.search(rf'<tr id="account-{re.escape(account_id)}".*?</tr>', page, re.S)
    assert found is not None, f"no row for {account_id}"
    return html.unescape(found.group(0))


async def test_the_manager_records_a_resident_on_the_owners_committee_and_removes_them(browser: Browser) -> None:
    token = await browser.sign_in("pm-a")
    page = await browser.page(PEOPLE)
    assert "设为业委会成员" in _row(page, "wang") and "/committee" not in _row(page, "pm-a2"), "residents only"
    asked = await browser.post(f"{PEOPLE}/wang/committee", {"member": "yes"}, token)
    assert asked.status == 200 and "登记为业主委员会成员？" in await asked.text()
    assert (await browser.accounts.account("wang")).roles == {Role.RESIDENT}, "asking changes nothing"  # type: ignore[union-attr]

    done = await browser.post(f"{PEOPLE}/wang/committee", {"member": "yes", "confirm": "yes"}, token)
    assert done.status == 303 and "done=committee&account=wang" in done.headers["Location"]
    listed = await browser.page(done.headers["Location"])
    assert "已登记 wang 为业主委员会成员" in listed and "取消业委会成员" in _row(listed, "wang")
    assert (await browser.accounts.account("wang")).roles == {Role.RESIDENT, Role.COMMITTEE}  # type: ignore[union-attr]

    done = await browser.post(f"{PEOPLE}/wang/committee", {"member": "no", "confirm": "yes"}, token)
    assert done.status == 303 and "done=not-committee" in done.headers["Location"]
    assert (await browser.accounts.account("wang")).roles == {Role.RESIDENT}  # type: ignore[union-attr]


async def test_the_committee_is_recorded_only_for_a_resident_in_ones_care(browser: Browser) -> None:
    token = await browser.sign_in("pm-a")
    refused = await browser.post(f"{PEOPLE}/pm-a2/committee", {"member": "yes", "confirm": "yes"}, token)
    assert refused.status == 422 and "住户账号" in await refused.text(), "a colleague is no committee member"
    outside = await browser.post(f"{PEOPLE}/mei/committee", {"member": "yes", "confirm": "yes"}, token)
    unknown = await browser.post(f"{PEOPLE}/nobody/committee", {"member": "yes", "confirm": "yes"}, token)
    assert outside.status == unknown.status == 404 and "账号不存在" in await outside.text()
    token = await browser.sign_in("op-a")
    operator = await browser.post(f"{PEOPLE}/wang/committee", {"member": "yes", "confirm": "yes"}, token)
    assert operator.status == 404, "an operator looks after no resident"
    for account in ("sup-a", "wang"):
        token = await browser.sign_in(account)
        assert (await browser.post(f"{PEOPLE}/wang/committee", {"member": "yes", "confirm": "yes"},
                                   token)).status == 403
    assert (await browser.accounts.account("wang")).roles == {Role.RESIDENT}  # type: ignore[union-attr]
