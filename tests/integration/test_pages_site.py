"""The shared page machinery over HTTP, on both databases: accounts, sign-in and the session cookie,
the guard by role, CSRF on every form, friendly error pages that leave the JSON API's errors alone."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo_accounts
from accounts.domain import AccountRefusal
from accounts.pages import mount_pages
from accounts.service import AccountService, SignInRefused
from accounts.throttling import SignInRules, SignInThrottle
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.pages import mount_voting_pages
from community.voting.service import VotingService
from community.voting.web import mount as mount_voting_api
from webkit.identity import Role, TokenAuthority
from webkit.pages import PRESESSION_COOKIE, SESSION_COOKIE, STATIC_DIR

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
AUTHORITY = TokenAuthority(b"p" * 32)
HTML = {"Accept": "text/html,application/xhtml+xml"}
PEER = "192.0.2.1"
"""The address the service's sign-ins come from."""
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    client: TestClient[Any, Any]
    clock: Clock
    accounts: AccountService
    voting: VotingService


def build_app(engine: AsyncEngine, clock: Clock, accounts: AccountService, *, https: bool = False) -> web.Application:
    app = web.Application()
    if https:
        @web.middleware
        async def behind_tls(request: web.Request, handler: Any) -> web.StreamResponse:
            return await handler(request.clone(scheme="https"))  # type: ignore[no-any-return]

        app.middlewares.append(behind_tls)
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_voting_pages(app, voting)
    mount_voting_api(app, voting, AUTHORITY, clock)
    return app


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[Site]:
    clock = Clock()
    accounts = AccountService(engine)
    await seed_demo_accounts(accounts, NOW)
    async with TestClient(TestServer(build_app(engine, clock, accounts))) as client:
        yield Site(client, clock, accounts, VotingService(engine, notice=TEST_INSTALLATION_NOTICE))


async def csrf_of(client: TestClient[Any, Any], path: str) -> str:
    page = await client.get(path, headers=HTML)
    found = CSRF.search(await page.text())
    assert found, f"no CSRF field on {path}"
    return found.group(1)


async def sign_in(client: TestClient[Any, Any], account: str, password: str = DEMO_PASSWORD,
                  next_path: str = "/") -> Any:
    token = await csrf_of(client, "/signin")
    return await client.post("/signin", data={"csrf_token": token, "account_id": account, "password": password,
                                              "next": next_path}, allow_redirects=False)


def set_cookie_header(response: Any, name: str) -> str:
    return str(next(value for value in response.headers.getall("Set-Cookie", []) if value.startswith(f"{name}=")))


async def test_accounts_are_created_once_and_checked_on_sign_in(engine: AsyncEngine) -> None:
    accounts = AccountService(engine, SignInThrottle(SignInRules(free_failures=3)))
    created = await accounts.create_account("owner:0007", " 王芳 ", {Role.RESIDENT}, "a long password", NOW)
    assert not isinstance(created, AccountRefusal) and created.display_name == "王芳"
    assert await accounts.create_account("owner:0007", "别人", {Role.RESIDENT}, "another password", NOW) \
        is AccountRefusal.EXISTS
    assert await accounts.create_account("x y", "别人", {Role.RESIDENT}, "another password", NOW) \
        is AccountRefusal.BAD_ID
    signed_in = await accounts.sign_in("owner:0007", "a long password", NOW, client=PEER)
    assert not isinstance(signed_in, SignInRefused) and signed_in.roles == {Role.RESIDENT}
    assert await accounts.sign_in("owner:0007", "a long passwort", NOW, client=PEER) is SignInRefused.WRONG_CREDENTIALS
    assert await accounts.sign_in("nobody", "a long password", NOW, client=PEER) is SignInRefused.WRONG_CREDENTIALS
    for _ in range(2):
        await accounts.sign_in("owner:0007", "guess", NOW, client=PEER)
    assert await accounts.sign_in("owner:0007", "a long password", NOW, client=PEER) is SignInRefused.TOO_MANY_ATTEMPTS
    stored = await accounts.account("owner:0007")
    assert stored is not None and stored.password_hash.startswith("scrypt$")
    assert "a long password" not in stored.password_hash


async def test_the_demo_accounts_are_seeded_only_into_an_empty_table(engine: AsyncEngine) -> None:
    accounts = AccountService(engine)
    assert await accounts.create_account("someone", "某人", {Role.ADMIN}, "a long password", NOW) is not None
    assert await seed_demo_accounts(accounts, NOW) == []
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM accounts"))
    seeded = await seed_demo_accounts(accounts, NOW)
    assert [account.account_id for account in seeded] == [demo.account_id for demo in DEMO_ACCOUNTS]
    li = await accounts.sign_in("li", DEMO_PASSWORD, NOW, client=PEER)
    assert not isinstance(li, SignInRefused) and li.roles == {Role.RESIDENT, Role.COMMITTEE}


async def test_a_page_sends_a_visitor_to_sign_in_and_back_with_a_strict_session_cookie(site: Site) -> None:
    client = site.client
    guarded = await client.get("/voting?tab=open", headers=HTML, allow_redirects=False)
    assert guarded.status == 303
    target = urlsplit(guarded.headers["Location"])
    assert target.path == "/signin" and parse_qs(target.query) == {"next": ["/voting?tab=open"]}

    form = await client.get("/signin?next=/voting", headers=HTML)
    assert form.status == 200 and "登录" in await form.text()
    presession = set_cookie_header(form, PRESESSION_COOKIE)
    assert "HttpOnly" in presession and "SameSite=Strict" in presession

    wrong = await sign_in(client, "wang", "not the password", next_path="/voting")
    assert wrong.status == 401 and "账号或密码不正确" in await wrong.text()
    signed_in = await sign_in(client, "wang", next_path="/voting")
    assert signed_in.status == 303 and signed_in.headers["Location"] == "/voting"
    cookie = set_cookie_header(signed_in, SESSION_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie, "plain http on loopback: a Secure cookie would never come back"
    token = cookie.split(";")[0].split("=", 1)[1]
    assert AUTHORITY.verify(token, NOW).subject == "wang", "the cookie carries a bearer token of the authority"

    listing = await client.get("/voting", headers=HTML)
    assert listing.status == 200 and "王芳" in await listing.text()


async def test_the_session_cookie_is_secure_when_the_request_came_over_https(engine: AsyncEngine) -> None:
    accounts = AccountService(engine)
    await seed_demo_accounts(accounts, NOW)
    async with TestClient(TestServer(build_app(engine, Clock(), accounts, https=True))) as client:
        form = await client.get("/signin", headers=HTML)
        presession = set_cookie_header(form, PRESESSION_COOKIE)
        assert "Secure" in presession
        token = CSRF.search(await form.text())
        assert token is not None
        # the test client speaks plain http, so it would not send a Secure cookie back: send it by hand
        signed_in = await client.post(
            "/signin", data={"csrf_token": token.group(1), "account_id": "wang", "password": DEMO_PASSWORD},
            headers={"Cookie": presession.split(";")[0]}, allow_redirects=False)
        assert signed_in.status == 303
        assert "Secure" in set_cookie_header(signed_in, SESSION_COOKIE)


async def test_signing_in_without_a_next_page_lands_on_the_first_page_of_ones_roles(site: Site) -> None:
    signed_in = await sign_in(site.client, "chen")
    assert signed_in.headers["Location"] == "/voting"


async def test_a_session_expires_and_the_visitor_is_told_so(site: Site) -> None:
    await sign_in(site.client, "wang")
    site.clock.now = NOW + timedelta(hours=12)
    expired = await site.client.get("/voting", headers=HTML, allow_redirects=False)
    assert expired.status == 303 and expired.headers["Location"] == "/signin?next=/voting&expired=1"
    notice = await site.client.get(expired.headers["Location"], headers=HTML)
    assert "登录已过期，请重新登录。" in await notice.text()


async def test_a_form_posted_after_the_session_expired_comes_back_to_its_page(site: Site) -> None:
    await sign_in(site.client, "wang")
    token = await csrf_of(site.client, "/voting")
    site.clock.now = NOW + timedelta(hours=13)
    host = f"{site.client.host}:{site.client.port}"
    late = await site.client.post("/voting/proposals/p-1/comments", data={"csrf_token": token, "body": "x"},
                                  headers={"Referer": f"http://{host}/voting/proposals/p-1"}, allow_redirects=False)
    assert late.status == 303
    assert parse_qs(urlsplit(late.headers["Location"]).query)["next"] == ["/voting/proposals/p-1"]
    foreign = await site.client.post("/voting/proposals/p-1/comments", data={"body": "x"},
                                     headers={"Referer": "https://evil.example/voting"}, allow_redirects=False)
    assert parse_qs(urlsplit(foreign.headers["Location"]).query)["next"] == ["/"]


async def test_a_person_without_the_pages_role_gets_the_friendly_403_page(site: Site) -> None:
    await sign_in(site.client, "market-liu")
    refused = await site.client.get("/voting", headers=HTML)
    body = await refused.text()
    assert refused.status == 403 and refused.content_type == "text/html"
    assert "没有权限" in body and "刘主任（市场）" in body, "the layout still shows who is signed in"


async def test_every_form_post_needs_the_sessions_csrf_token(site: Site) -> None:
    client = site.client
    await sign_in(client, "wang")
    token = await csrf_of(client, "/voting")
    missing = await client.post("/voting/proposals/anything/comments", data={"body": "你好"}, headers=HTML)
    assert missing.status == 403 and "表单已失效" in await missing.text()

    client.session.cookie_jar.clear()  # another person signs in on another browser
    await sign_in(client, "li")
    foreign = await client.post("/signout", data={"csrf_token": token}, headers=HTML, allow_redirects=False)
    assert foreign.status == 403, "another session's token is refused"
    assert (await client.get("/voting", headers=HTML, allow_redirects=False)).status == 200, "still signed in"

    own = await csrf_of(client, "/voting")
    assert own != token
    signed_out = await client.post("/signout", data={"csrf_token": own}, allow_redirects=False)
    assert signed_out.status == 303 and signed_out.headers["Location"] == "/signin?signed_out=1"
    cleared = set_cookie_header(signed_out, SESSION_COOKIE)
    assert cleared.startswith(f'{SESSION_COOKIE}="";') and "Max-Age=0" in cleared
    assert (await client.get("/voting", headers=HTML, allow_redirects=False)).status == 303


async def test_the_sign_in_form_needs_its_pre_session_token(site: Site) -> None:
    forged = await site.client.post("/signin", data={"account_id": "wang", "password": DEMO_PASSWORD},
                                    headers=HTML, allow_redirects=False)
    assert forged.status == 403 and SESSION_COOKIE not in forged.cookies


async def test_unknown_pages_get_a_friendly_404_and_the_apis_errors_stay_json(site: Site) -> None:
    page = await site.client.get("/no/such/page", headers=HTML)
    assert page.status == 404 and page.content_type == "text/html" and "页面不存在" in await page.text()
    plain = await site.client.get("/no/such/page")
    assert plain.status == 404 and plain.content_type != "text/html"
    bearer = {"Authorization": "Bearer " + AUTHORITY.issue("wang", [Role.RESIDENT], NOW, timedelta(hours=1)),
              **HTML}
    api = await site.client.get("/api/voting/proposals/nope", headers=bearer)
    assert api.status == 404 and (await api.json())["error"] == "no proposal 'nope'"
    unauthenticated = await site.client.get("/api/voting/proposals/nope", headers=HTML)
    assert unauthenticated.status == 401 and "error" in await unauthenticated.json()


async def test_the_pages_share_the_static_folder_an_app_already_serves(engine: AsyncEngine) -> None:
    app = web.Application()
    app.router.add_static("/static", STATIC_DIR)  # as gateway.web does, before the pages are mounted
    mount_pages(app, AccountService(engine), AUTHORITY, Clock())
    async with TestClient(TestServer(app)) as client:
        stylesheet = await client.get("/static/pages.css")
        assert stylesheet.status == 200 and stylesheet.content_type == "text/css"
        assert "Noto Sans CJK SC" in await stylesheet.text()


async def test_after_signing_in_one_never_leaves_the_site(site: Site) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = await sign_in(site.client, "wang", next_path=target)
        assert response.headers["Location"] == "/voting", target
