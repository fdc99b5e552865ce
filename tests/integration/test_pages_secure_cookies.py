"""The pages' cookies over HTTP behind a TLS-terminating proxy: Secure when the browser came over https
(SC_TRUSTED_PROXIES saying X-Forwarded-Proto: https) or when the installation says it always does
(SC_SECURE_COOKIES=always), never because an untrusted client wrote the header."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.demo import DEMO_PASSWORD, seed_demo_accounts
from accounts.pages import mount_pages
from accounts.service import AccountService
from config.settings import load_settings
from smartcity.bootstrap import cookie_policy
from webkit.identity import TokenAuthority
from webkit.pages import PRESESSION_COOKIE, SESSION_COOKIE

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("engine", ["sqlite"], indirect=True)]

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PROXY_SAYS_HTTPS = {**HTML, "X-Forwarded-Proto": "https"}

Pages = Callable[..., AbstractAsyncContextManager[TestClient[Any, Any]]]


@pytest.fixture
def pages(engine: AsyncEngine) -> Pages:
    """The sign-in pages served with the cookie policy the composition root builds from these settings."""

    @asynccontextmanager
    async def serve(**settings: object) -> AsyncIterator[TestClient[Any, Any]]:
        accounts = AccountService(engine)
        await seed_demo_accounts(accounts, NOW)
        app = web.Application()
        mount_pages(app, accounts, TokenAuthority(b"c" * 32), lambda: NOW,
                    cookie_policy=cookie_policy(load_settings(**settings)))
        async with TestClient(TestServer(app)) as client:  # it connects from 127.0.0.1
            yield client

    return serve


def set_cookie(response: Any, name: str) -> str:
    return str(next(value for value in response.headers.getall("Set-Cookie", []) if value.startswith(f"{name}=")))


async def signed_in_cookies(client: TestClient[Any, Any], headers: dict[str, str]) -> tuple[str, str]:
    """The pre-session cookie of the sign-in form and the session cookie of signing in, both asked with
    ``headers``. The test client speaks plain http and would keep a Secure cookie to itself: it is sent by hand."""
    form = await client.get("/signin", headers=headers)
    presession = set_cookie(form, PRESESSION_COOKIE)
    token = CSRF.search(await form.text())
    assert token is not None
    signed_in = await client.post(
        "/signin", data={"csrf_token": token.group(1), "account_id": "wang", "password": DEMO_PASSWORD},
        headers={**headers, "Cookie": presession.split(";")[0]}, allow_redirects=False)
    assert signed_in.status == 303
    return presession, set_cookie(signed_in, SESSION_COOKIE)


async def test_over_plain_http_directly_the_cookies_are_not_secure(pages: Pages) -> None:
    async with pages(trusted_proxies="127.0.0.1") as client:
        for cookie in await signed_in_cookies(client, HTML):
            assert "HttpOnly" in cookie and "Secure" not in cookie


async def test_from_a_trusted_proxy_that_says_https_the_cookies_are_secure(pages: Pages) -> None:
    async with pages(trusted_proxies="10.0.0.0/8, 127.0.0.1") as client:
        for cookie in await signed_in_cookies(client, PROXY_SAYS_HTTPS):
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_a_trusted_proxy_that_says_http_gets_no_secure_cookie(pages: Pages) -> None:
    async with pages(trusted_proxies="127.0.0.0/8") as client:
        for cookie in await signed_in_cookies(client, {**HTML, "X-Forwarded-Proto": "http"}):
            assert "Secure" not in cookie


async def test_an_untrusted_peer_saying_https_is_not_believed(pages: Pages) -> None:
    for proxies in ("", "10.0.0.0/8"):
        async with pages(trusted_proxies=proxies) as client:
            for cookie in await signed_in_cookies(client, PROXY_SAYS_HTTPS):
                assert "Secure" not in cookie, proxies


async def test_secure_cookies_always_are_secure_whatever_the_request(pages: Pages) -> None:
    async with pages(secure_cookies="always") as client:
        for cookie in await signed_in_cookies(client, HTML):
            assert "Secure" in cookie
