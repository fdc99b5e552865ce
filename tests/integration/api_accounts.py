"""The accounts behind the API tests' bearer tokens: the API takes no token whose subject has no (enabled) account,
so a test application checks its tokens against the accounts on the test's database, where each subject the
test issues tokens for is given an account first.

What a token's account may act on (its scope) is the matter of the permission-matrix and scope tests, which give
accounts real assignments (``scope=``). A context's behaviour tests, which create their communities and markets as
they go, check tokens with :class:`UnscopedAccounts` instead: the accounts' answer, with every community and
market in scope — a test double only; no installation has such a non-administrator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import Account
from accounts.service import AccountService
from accounts.storage import AccountRepository
from accounts.tenancy import NO_PASSWORD
from webkit.auth import check_tokens_with
from webkit.identity import EVERYTHING, Principal, PrincipalStatus, Role, Scope, Standing


async def give_accounts(engine: AsyncEngine, subjects: Mapping[str, Iterable[Role]],
                        scope: Mapping[str, Scope] | None = None) -> None:
    """An account for each subject (with its roles) on ``engine``, assigned its ``scope`` when given."""
    async with engine.begin() as connection:
        repository = AccountRepository(connection)
        for subject, roles in subjects.items():
            await repository.add(Account(subject, subject, frozenset(roles), NO_PASSWORD), datetime.now(UTC))
            if scope and subject in scope:
                await repository.assign(subject, scope[subject])


class UnscopedAccounts:
    """The accounts' check of each token (account, enablement, revocation, roles), with everything in scope."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._accounts = AccountService(engine)

    async def standing(self, principal: Principal) -> Standing:
        standing = await self._accounts.standing(principal)
        return replace(standing, scope=EVERYTHING) if standing.status is PrincipalStatus.ACTIVE else standing


async def check_tokens_with_accounts(app: web.Application, engine: AsyncEngine,
                                     subjects: Mapping[str, Iterable[Role]]) -> web.Application:
    """``app``, its tokens checked against the accounts on ``engine``, where each of ``subjects`` has one, every
    community and market in their scope (see :class:`UnscopedAccounts`)."""
    await give_accounts(engine, subjects)
    check_tokens_with(app, UnscopedAccounts(engine))
    return app
