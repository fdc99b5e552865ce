"""``smartcity account``, ``smartcity admin``, ``smartcity org`` and ``smartcity token``: accounts (the first
administrator's too), the organisations they belong to, what both act on, and bearer tokens from the command line, on
the database of SC_DATABASE_URL (migrated first). A token is issued only for an existing, enabled account: the API
refuses any other, so a token printed for one would be a token that does not work. Whatever the tenancy rules
(``accounts.organisations``) refuse is a message and a non-zero exit, with nothing changed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import click

from accounts.organisations import Organisation, OrganisationKind
from accounts.service import AccountService
from accounts.tenancy import Member, TenancyRefused, TenancyService
from config.settings import Settings
from smartcity.bootstrap import ServicesUnavailable, migrated_engine, token_authority
from webkit.identity import NOTHING, AuthError, Role, Scope

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


def on_tenancy(settings: Settings, use: Callable[[TenancyService], Awaitable[Result]],
               refused: str = "") -> Result:
    """``use(TenancyService)`` on SC_DATABASE_URL; a refusal is a message (after ``refused``) and exit status 1."""

    async def run(accounts: AccountService) -> Result:
        try:
            return await use(accounts.tenancy)
        except TenancyRefused as refusal:
            raise click.ClickException(f"{refused}{refusal}") from None

    return on_accounts(settings, run)


def create_account(settings: Settings, account_id: str, name: str, roles: Iterable[Role], password: str,
                   organisation_id: str | None = None, scope: Scope = NOTHING) -> str:
    """Create an account, in ``organisation_id`` and assigned ``scope``, all or nothing."""

    async def create(tenancy: TenancyService) -> str:
        await tenancy.create_account(account_id, name, roles, password, datetime.now(UTC),
                                     organisation_id=organisation_id, scope=scope)
        placed = [f"organisation {organisation_id!r}"] if organisation_id else []
        placed += _scope_lines(scope) if scope != NOTHING else []
        return f"account {account_id!r} created" + (f" ({'; '.join(placed)})" if placed else "")

    return on_tenancy(settings, create, refused=f"account {account_id!r} not created: ")


def create_admin(settings: Settings, username: str, name: str, password: str) -> str:
    """Create an administrator (``smartcity admin create``): no organisation, everything in scope."""

    async def create(tenancy: TenancyService) -> str:
        await tenancy.create_account(username, name, {Role.ADMIN}, password, datetime.now(UTC))
        return (f"administrator {username!r} created: sign in at /signin, then create the organisations "
                "('smartcity org create') and invite their staff")

    return on_tenancy(settings, create, refused=f"administrator {username!r} not created: ")


def assign(settings: Settings, account_id: str, scope: Scope, organisation_id: str | None) -> str:
    async def run(tenancy: TenancyService) -> str:
        now = await tenancy.assign(account_id, scope, organisation_id)
        joined = f", in organisation {organisation_id!r}" if organisation_id else ""
        return f"account {account_id!r} assigned{joined}; it acts on {'; '.join(_scope_lines(now))}"

    return on_tenancy(settings, run, refused=f"account {account_id!r} not assigned: ")


def unassign(settings: Settings, account_id: str, scope: Scope) -> str:
    async def run(tenancy: TenancyService) -> str:
        now = await tenancy.unassign(account_id, scope)
        return f"account {account_id!r} unassigned; it acts on {'; '.join(_scope_lines(now))}"

    return on_tenancy(settings, run)


def show_account(settings: Settings, account_id: str) -> str:
    async def run(tenancy: TenancyService) -> str:
        return member_text(await tenancy.member(account_id))

    return on_tenancy(settings, run)


def member_text(member: Member) -> str:
    """What ``smartcity account show`` prints: the account, its roles, organisation and scope, one per line."""
    account = member.account
    organisation = member.organisation
    lines = [
        ("account", f"{account.account_id} ({account.display_name})"),
        ("roles", ", ".join(sorted(account.roles))),
        ("enabled", "yes" if account.enabled else "no (it cannot sign in and its tokens are refused)"),
        ("organisation", "none" if organisation is None else _organisation_text(organisation)),
    ]
    if Role.ADMIN in account.roles:
        lines.append(("scope", "everything: an administrator acts on every community and market"))
    else:
        lines += [("communities", _ids(member.scope.communities)), ("markets", _ids(member.scope.markets))]
    if member.integration:
        lines.append(("kind", "an integration token's account (smartcity shows its token once, when created)"))
    return "\n".join(f"{label + ':':<14}{value}" for label, value in lines)


def create_organisation(settings: Settings, organisation_id: str, name: str, kind: OrganisationKind) -> str:
    async def run(tenancy: TenancyService) -> str:
        organisation = await tenancy.create_organisation(organisation_id, name, kind, datetime.now(UTC))
        return (f"organisation {_organisation_text(organisation)} created; give it what it holds with "
                f"'smartcity org hold {organisation_id} --community C' or '--market M'")

    return on_tenancy(settings, run, refused=f"organisation {organisation_id!r} not created: ")


def hold(settings: Settings, organisation_id: str, scope: Scope) -> str:
    async def run(tenancy: TenancyService) -> str:
        elsewhere = await tenancy.hold(organisation_id, scope)
        notes = [f"\nnote: {_ids(ids)} held by organisation {other!r} too (release it there when it hands over: "
                 f"'smartcity org release {other} ...')" for other, ids in sorted(elsewhere.items())]
        return f"organisation {organisation_id!r} holds {'; '.join(_scope_lines(scope))}" + "".join(notes)

    return on_tenancy(settings, run, refused=f"organisation {organisation_id!r} unchanged: ")


def release(settings: Settings, organisation_id: str, scope: Scope) -> str:
    async def run(tenancy: TenancyService) -> str:
        affected = await tenancy.release(organisation_id, scope)
        unassigned = f"; its accounts {_ids(affected)} are no longer assigned it" if affected else ""
        return f"organisation {organisation_id!r} no longer holds {'; '.join(_scope_lines(scope))}{unassigned}"

    return on_tenancy(settings, run)


def list_organisations(settings: Settings) -> str:
    async def run(tenancy: TenancyService) -> str:
        blocks = []
        for organisation, held in await tenancy.organisations():
            members = await tenancy.members(organisation.organisation_id)
            lines = [_organisation_text(organisation), *_scope_lines(held), f"accounts: {_ids(members)}"]
            blocks.append("\n  ".join(lines))
        return "\n".join(blocks) or "no organisations yet: 'smartcity org create ORG_ID --name NAME --kind KIND'"

    return on_tenancy(settings, run)


def _organisation_text(organisation: Organisation) -> str:
    return f"{organisation.organisation_id} ({organisation.name}, {organisation.kind.value})"


def _scope_lines(scope: Scope) -> list[str]:
    return [f"communities: {_ids(scope.communities)}", f"markets: {_ids(scope.markets)}"]


def _ids(ids: Iterable[str]) -> str:
    return ", ".join(sorted(ids)) or "none"


def enable_account(settings: Settings, account_id: str, enabled: bool) -> str:
    async def set_enabled(accounts: AccountService) -> str:
        if not await accounts.set_enabled(account_id, enabled):
            raise click.ClickException(f"no account {account_id!r} in the database at SC_DATABASE_URL")
        return f"account {account_id!r} {'enabled' if enabled else 'disabled: its tokens are refused from now on'}"

    return on_accounts(settings, set_enabled)
