"""Password guessing on the sign-in page, over HTTP on both databases: concurrent guesses are counted before their
hashes are computed, each address has a limit of its own, an attacker's guesses do not lock the owner out, and
the log says which account was tried from where (the client behind a trusted proxy only)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import AccountRefusal
from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.throttling import SignInRules, SignInThrottle
from webkit.identity import Role, TokenAuthority
from webkit.pages import SESSION_COOKIE

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
AUTHORITY = TokenAuthority(b"g" * 32)
PASSWORD = "the right password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ATTACKER, OWNER = "198.51.100.7", "203.0.113.9"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class SignInPage:
    client: TestClient[Any, Any]
    clock: Clock
    csrf: str

    async def attempt(self, account_id: str, password: str, address: str | None = None) -> Any:
        """One sign-in; ``address``: the client a trusted proxy (the test client's loopback) says it forwards."""
        headers = {"X-Forwarded-For": address} if address else {}
        return await self.client.post("/signin", allow_redirects=False, headers=headers, data={
            "csrf_token": self.csrf, "account_id": account_id, "password": password})


async def open_sign_in_page(engine: AsyncEngine, trusted_proxies: tuple[str, ...]) -> AsyncIterator[SignInPage]:
    accounts = AccountService(engine, SignInThrottle(SignInRules()))
    created = await accounts.create_account("wang", "王芳", {Role.RESIDENT}, PASSWORD, NOW)
    assert not isinstance(created, AccountRefusal)
    clock, app = Clock(), web.Application()
    mount_pages(app, accounts, AUTHORITY, clock, trusted_proxies=trusted_proxies)
    async with TestClient(TestServer(app)) as client:
        form = await client.get("/signin")
        found = CSRF.search(await form.text())
        assert found is not None
        yield SignInPage(client, clock, found.group(1))


@pytest.fixture
async def page(engine: AsyncEngine) -> AsyncIterator[SignInPage]:
    async for opened in open_sign_in_page(engine, trusted_proxies=("127.0.0.1",)):
        yield opened


@pytest.fixture
async def page_without_proxy(engine: AsyncEngine) -> AsyncIterator[SignInPage]:
    async for opened in open_sign_in_page(engine, trusted_proxies=()):
        yield opened


async def test_concurrent_guesses_are_counted_before_their_hashes_so_none_gets_past_the_limit(
        page: SignInPage) -> None:
    guesses = [f"guess number {n}" for n in range(399)] + [PASSWORD]  # the right one among them, last
    responses = await asyncio.gather(*(page.attempt("wang", guess, ATTACKER) for guess in guesses))
    statuses = [response.status for response in responses]
    checked = [status for status in statuses if status != 429]
    assert len(checked) <= SignInRules().free_failures, "only the free attempts had their password checked"
    assert statuses[-1] == 429 and SESSION_COOKIE not in responses[-1].cookies, "the right one did not get in"
    assert all(int(response.headers["Retry-After"]) >= 1 for response in responses if response.status == 429)


async def test_an_attackers_guesses_do_not_lock_the_owner_out(page: SignInPage) -> None:
    for _ in range(30):
        await page.attempt("wang", "a wrong guess", ATTACKER)
    refused = await page.attempt("wang", PASSWORD, ATTACKER)
    assert refused.status == 429, "the guessing address waits"
    owner = await page.attempt("wang", PASSWORD, OWNER)
    assert owner.status == 303 and SESSION_COOKIE in owner.cookies, "the owner, from elsewhere, gets in"


async def test_the_owner_gets_in_after_a_short_wait_when_another_new_address_just_tried(page: SignInPage) -> None:
    for _ in range(5):
        await page.attempt("wang", "a wrong guess", ATTACKER)
    await page.attempt("wang", "another guess", "192.0.2.1")  # a second address takes the new addresses' turn
    waiting = await page.attempt("wang", PASSWORD, OWNER)
    assert waiting.status == 429 and "秒后再试" in await waiting.text()
    page.clock.now += timedelta(seconds=int(waiting.headers["Retry-After"]))
    assert (await page.attempt("wang", PASSWORD, OWNER)).status == 303


async def test_an_address_failing_on_many_accounts_is_refused_on_every_account(page: SignInPage) -> None:
    for number in range(SignInRules().address_failures):
        assert (await page.attempt(f"made-up-{number}", "a guess", ATTACKER)).status == 401
    refused = await page.attempt("wang", PASSWORD, ATTACKER)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) == 15 * 60
    assert "15 分钟后再试" in await refused.text()
    assert (await page.attempt("wang", PASSWORD, OWNER)).status == 303, "other addresses are not refused"


async def test_an_address_is_not_taken_from_x_forwarded_for_unless_the_peer_is_a_trusted_proxy(
        page_without_proxy: SignInPage) -> None:
    page = page_without_proxy
    for number in range(SignInRules().address_failures):
        await page.attempt(f"made-up-{number}", "a guess", f"192.0.2.{number}")  # each claiming another address
    assert (await page.attempt("wang", PASSWORD, OWNER)).status == 429, "all came from the one peer"


async def test_the_sign_in_log_names_the_account_as_typed_and_the_client(
        page: SignInPage, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="accounts.service")
    await page.attempt("wang", "a wrong guess", ATTACKER)
    await page.attempt("x" * 500, "a wrong guess", OWNER)
    for _ in range(5):
        await page.attempt("wang", "a wrong guess", ATTACKER)
    refused = [(record.getMessage(), getattr(record, "account_id", None), getattr(record, "client", None))
               for record in caplog.records if record.name == "accounts.service"]
    assert refused[0] == ("sign-in refused", "wang", ATTACKER)
    assert refused[1] == ("sign-in refused", "x" * 64, OWNER), "what was typed, cut short"
    assert refused[-1] == ("sign-in throttled", "wang", ATTACKER)
