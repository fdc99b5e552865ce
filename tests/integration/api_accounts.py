"""The accounts behind the API tests' bearer tokens: the API takes no token whose subject has no (enabled) account,
so a test application checks its tokens against the accounts on the test's database, where each subject the
test issues tokens for is given an account first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import Account
from accounts.service import AccountService
from accounts.storage import AccountRepository
from webkit.auth import check_tokens_with
from webkit.identity import Role

NO_PASSWORD = "!"
"""The password hash of an API client's account: no password matches it (see ``accounts.domain``), so it can hold
tokens but never sign in to the pages."""


async def give_accounts(engine: AsyncEngine, subjects: Mapping[str, Iterable[Role]]) -> None:
    """An account for each subject (with its roles) on ``engine``."""
    async with engine.begin() as connection:
        repository = AccountRepository(connection)
        for subject, roles in subjects.items():
            await repository.add(Account(subject, subject, frozenset(roles), NO_PASSWORD), datetime.now(UTC))


async def check_tokens_with_accounts(app: web.Application, engine: AsyncEngine,
                                     subjects: Mapping[str, Iterable[Role]]) -> web.Application:
    """``app``, its tokens checked against the accounts on ``engine``, where each of ``subjects`` has one."""
    await give_accounts(engine, subjects)
    check_tokens_with(app, AccountService(engine))
    return app
