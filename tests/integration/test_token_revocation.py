"""Tokens the accounts no longer stand behind, over HTTP on both databases: signing out revokes the session's token
(as a cookie and as a bearer token), a token of a subject without an account or of a disabled account is refused,
revocations are kept only until their tokens would have expired; and the accounts' schema upgrades in place."""

from __future__ import annotations

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

from accounts.demo import DEMO_PASSWORD, seed_demo_accounts
from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.pages import mount_voting_pages
from community.voting.service import VotingService
from community.voting.web import mount as mount_voting_api
from relational.database import migrate
from tests.integration.conftest import empty_engine
from tests.integration.test_pages_site import HTML, csrf_of, sign_in
from webkit.identity import Principal, PrincipalStatus, Role, TokenAuthority
from webkit.pages import SESSION_COOKIE

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
AUTHORITY = TokenAuthority(b"p" * 32)
PROPOSAL = "/api/voting/proposals/nope"
"""A route that needs a token: 404 (no such proposal) with one that is taken, 401 without."""
TAKEN = 404


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    client: TestClient[Any, Any]
    accounts: AccountService
    clock: Clock


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[Site]:
    clock, accounts, voting = Clock(), AccountService(engine), VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    await seed_demo_accounts(accounts, NOW)
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_voting_pages(app, voting)
    mount_voting_api(app, voting, AUTHORITY, clock)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, accounts, clock)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def session_token(site: Site, account: str) -> str:
    signed_in = await sign_in(site.client, account)
    assert signed_in.status == 303
    return str(signed_in.cookies[SESSION_COOKIE].value)


async def test_signing_out_revokes_the_sessions_token_as_a_cookie_and_as_a_bearer_token(site: Site) -> None:
    token = await session_token(site, "wang")
    assert (await site.client.get(PROPOSAL, headers=bearer(token))).status == TAKEN, "the cookie's value is a token"
    signed_out = await site.client.post("/signout", data={"csrf_token": await csrf_of(site.client, "/voting")},
                                        allow_redirects=False)
    assert signed_out.status == 303

    site.client.session.cookie_jar.clear()  # a copy of the cookie, kept by someone else
    replayed = await site.client.get("/voting", headers={**HTML, "Cookie": f"{SESSION_COOKIE}={token}"},
                                     allow_redirects=False)
    assert replayed.status == 303 and replayed.headers["Location"].startswith("/signin")
    refused = await site.client.get(PROPOSAL, headers=bearer(token))
    assert refused.status == 401 and (await refused.json())["error"] == "token revoked"

    other = await session_token(site, "wang")  # signing in again opens a new session, unaffected
    assert (await site.client.get(PROPOSAL, headers=bearer(other))).status == TAKEN


async def test_a_token_whose_subject_has_no_account_is_refused(site: Site) -> None:
    token = AUTHORITY.issue("ghost", [Role.ADMIN], NOW, timedelta(days=30))
    refused = await site.client.get(PROPOSAL, headers=bearer(token))
    assert refused.status == 401 and (await refused.json())["error"] == "the token's subject has no account"
    page = await site.client.get("/voting", headers={**HTML, "Cookie": f"{SESSION_COOKIE}={token}"},
                                 allow_redirects=False)
    assert page.status == 303, "nor is it a session"


async def test_a_disabled_account_cannot_sign_in_and_its_tokens_are_refused_at_once(site: Site) -> None:
    session = await session_token(site, "li")
    api_token = AUTHORITY.issue("li", [Role.COMMITTEE], NOW, timedelta(days=30))
    assert await site.accounts.set_enabled("li", False)

    refused = await site.client.get(PROPOSAL, headers=bearer(api_token))
    assert refused.status == 401 and (await refused.json())["error"] == "the token's account is disabled"
    assert (await site.client.get("/voting", headers=HTML, allow_redirects=False)).status == 303, "session ended"
    assert (await site.client.get(PROPOSAL, headers=bearer(session))).status == 401
    site.client.session.cookie_jar.clear()
    again = await sign_in(site.client, "li", DEMO_PASSWORD)
    assert again.status == 403 and "已停用" in await again.text()
    wrong = await sign_in(site.client, "li", "not the password")
    assert wrong.status == 401 and "已停用" not in await wrong.text(), "only whoever knows the password is told"

    assert await site.accounts.set_enabled("li", True)
    assert (await site.client.get(PROPOSAL, headers=bearer(api_token))).status == TAKEN
    assert not await site.accounts.set_enabled("nobody", False)


async def test_revocations_are_kept_until_their_tokens_would_have_expired(engine: AsyncEngine) -> None:
    accounts = AccountService(engine)
    await seed_demo_accounts(accounts, NOW)
    short = AUTHORITY.verify(AUTHORITY.issue("wang", [Role.RESIDENT], NOW, timedelta(hours=1)), NOW)
    long = AUTHORITY.verify(AUTHORITY.issue("wang", [Role.RESIDENT], NOW, timedelta(days=30)), NOW)
    await accounts.revoke(short, NOW)
    await accounts.revoke(short, NOW)  # twice (two tabs signing out): once is enough
    await accounts.revoke(long, NOW + timedelta(minutes=30))
    assert await _revoked(engine) == 2
    later = AUTHORITY.verify(AUTHORITY.issue("li", [Role.RESIDENT], NOW, timedelta(hours=12)), NOW)
    await accounts.revoke(later, NOW + timedelta(hours=2))
    assert await _revoked(engine) == 2, "the expired token's revocation was let go"
    assert {(await accounts.standing(principal)).status for principal in (long, later)} == {PrincipalStatus.REVOKED}


async def _revoked(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await AccountRepository(connection).revoked_count()


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_at_0001(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    await migrate(made, "accounts", "0001_accounts")
    yield made
    await made.dispose()


async def test_upgrading_keeps_every_account_enabled_and_adds_the_revocations(engine_at_0001: AsyncEngine) -> None:
    async with engine_at_0001.begin() as connection:  # as the code of revision 0001 wrote
        await connection.execute(text(
            "INSERT INTO accounts (account_id, display_name, roles, password_hash, created_at) "
            "VALUES ('wang', '王芳', '[\"resident\"]', 'scrypt$x', :now)"), {"now": NOW})
    await migrate(engine_at_0001, "accounts")
    accounts = AccountService(engine_at_0001)
    stored = await accounts.account("wang")
    assert stored is not None and stored.enabled
    principal = Principal("wang", frozenset({Role.RESIDENT}), NOW + timedelta(hours=1), "some-token-id")
    await accounts.revoke(principal, NOW)
    assert await _revoked(engine_at_0001) == 1
