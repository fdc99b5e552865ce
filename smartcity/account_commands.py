"""``smartcity account`` and ``smartcity token``: accounts and their bearer tokens from the command line, on the
database of SC_DATABASE_URL (migrated first). A token is issued only for an existing, enabled account: the API
refuses any other, so a token printed for one would be a token that does not work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import click

from accounts.domain import AccountRefusal
from accounts.service import AccountService
from config.settings import Settings
from smartcity.bootstrap import ServicesUnavailable, migrated_engine, token_authority
from webkit.identity import AuthError, Role

Result = TypeVar("Result")


def on_accounts(settings: Settings, use: Callable[[AccountService], Awaitable[Result]]) -> Result:
    """``use(AccountService)`` on SC_DATABASE_URL; a database that cannot be reached is a message, not a trace."""

    async def run() -> Result:
        try:
            engine = await migrated_engine(settings)
        except ServicesUnavailable as error:
            raise click.ClickException(str(error)) from None
        try:
            return await use(AccountService(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def issue_token(settings: Settings, subject: str, roles: Iterable[Role], ttl: timedelta) -> str:
    async def issue(accounts: AccountService) -> str:
        account = await accounts.account(subject)
        if account is None:
            raise click.ClickException(
                f"no account {subject!r} in the database at SC_DATABASE_URL: tokens are issued only for accounts "
                "(create it with 'smartcity account create')")
        if not account.enabled:
            raise click.ClickException(f"account {subject!r} is disabled: its tokens would be refused "
                                       "('smartcity account enable' first)")
        return token_authority(settings).issue(subject, roles, datetime.now(UTC), ttl)

    return on_accounts(settings, issue)


def revoke_token(settings: Settings, token: str) -> str:
    now = datetime.now(UTC)
    try:
        principal = token_authority(settings).verify(token.strip(), now)
    except AuthError as error:
        raise click.ClickException(f"nothing to revoke: {error}") from None

    async def revoke(accounts: AccountService) -> str:
        await accounts.revoke(principal, now)
        expiry = f"{principal.expires_at:%Y-%m-%d %H:%M} UTC"
        return f"token of {principal.subject!r} revoked (it would have expired at {expiry})"

    return on_accounts(settings, revoke)


def create_account(settings: Settings, account_id: str, name: str, roles: Iterable[Role], password: str) -> str:
    async def create(accounts: AccountService) -> str:
        outcome = await accounts.create_account(account_id, name, roles, password, datetime.now(UTC))
        if isinstance(outcome, AccountRefusal):
            raise click.ClickException(f"account {account_id!r} not created: {outcome.message}")
        return f"account {account_id!r} created"

    return on_accounts(settings, create)


def enable_account(settings: Settings, account_id: str, enabled: bool) -> str:
    async def set_enabled(accounts: AccountService) -> str:
        if not await accounts.set_enabled(account_id, enabled):
            raise click.ClickException(f"no account {account_id!r} in the database at SC_DATABASE_URL")
        return f"account {account_id!r} {'enabled' if enabled else 'disabled: its tokens are refused from now on'}"

    return on_accounts(settings, set_enabled)
