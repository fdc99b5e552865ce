"""Tenancy use cases: organisations, what they hold, what their people are assigned, and the integrations'
API tokens — each token with an account of its own (no password) holding one role and a scope within its
creator's, so listing, revoking and the scope checks treat it like any other principal."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import MAX_DISPLAY_NAME_CHARS, Account
from accounts.organisations import (
    STAFF_ROLE,
    Organisation,
    OrganisationKind,
    check_assignment,
    check_membership,
    check_new_organisation,
    check_organisation_scope,
)
from accounts.storage import AccountRepository
from webkit.identity import MAX_TOKEN_TTL, TOKEN_ID_BYTES, Principal, Role, Scope

log = logging.getLogger(__name__)

NO_PASSWORD = "!"
"""The password hash of an integration's account: no password matches it (``accounts.domain``), so it holds
tokens and never signs in."""
INTEGRATION_PREFIX = "api-"
TOKEN_CREATORS = frozenset({Role.ADMIN, Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR})
"""Who creates, lists and revokes integration tokens: an administrator, or staff for their own scope."""


class TenancyRefused(Exception):
    """What was asked cannot be done; the message says why."""


class NotVisible(Exception):
    """No such thing within the caller's scope (answered as not found)."""


@dataclass(frozen=True)
class ApiToken:
    token_id: str
    account_id: str
    label: str
    role: Role
    scope: Scope
    organisation_id: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked: bool

    def active(self, now: datetime) -> bool:
        return not self.revoked and now < self.expires_at


class TenancyService:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_organisation(self, organisation_id: str, name: str, kind: OrganisationKind,
                                  now: datetime) -> Organisation:
        problem = check_new_organisation(organisation_id, name)
        if problem:
            raise TenancyRefused(problem)
        organisation = Organisation(organisation_id, name.strip(), kind)
        async with self._engine.begin() as connection:
            if not await AccountRepository(connection).add_organisation(organisation, now):
                raise TenancyRefused(f"organisation {organisation_id!r} exists already")
        log.info("organisation created", extra={"organisation_id": organisation_id, "kind": kind.value})
        return organisation

    async def organisations(self) -> list[tuple[Organisation, Scope]]:
        async with self._engine.connect() as connection:
            repository = AccountRepository(connection)
            return [(organisation, await repository.organisation_scope(organisation.organisation_id))
                    for organisation in await repository.organisations()]

    async def hold(self, organisation_id: str, scope: Scope) -> None:
        """``organisation_id`` holds ``scope``'s communities and markets too."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            organisation = await repository.organisation(organisation_id)
            if organisation is None:
                raise TenancyRefused(f"no organisation {organisation_id!r}")
            problem = check_organisation_scope(organisation, scope)
            if problem:
                raise TenancyRefused(problem)
            await repository.assign_to_organisation(organisation_id, scope)

    async def join(self, account_id: str, organisation_id: str | None) -> None:
        """Make ``account_id`` a member of ``organisation_id`` (None: of none)."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            account = await _account(repository, account_id)
            organisation = await _organisation(repository, organisation_id)
            problem = check_membership(account.roles, organisation)
            if problem:
                raise TenancyRefused(problem)
            await repository.set_organisation(account_id, organisation_id)

    async def assign(self, account_id: str, scope: Scope) -> Scope:
        """Assign ``scope`` to ``account_id`` besides what it has; returns its scope now."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            account = await _account(repository, account_id)
            organisation = await _organisation(repository, await repository.organisation_of(account_id))
            held = (await repository.organisation_scope(organisation.organisation_id)
                    if organisation is not None else Scope())
            has = await repository.account_scope(account_id)
            wanted = Scope(has.communities | scope.communities, has.markets | scope.markets)
            problem = check_assignment(account.roles, organisation, held, wanted)
            if problem:
                raise TenancyRefused(problem)
            await repository.assign(account_id, scope)
            return wanted

    async def unassign(self, account_id: str, scope: Scope) -> None:
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            await _account(repository, account_id)
            await repository.unassign(account_id, scope)

    async def scope_of(self, account_id: str) -> tuple[str | None, Scope]:
        """An account's organisation and what it is assigned."""
        async with self._engine.connect() as connection:
            repository = AccountRepository(connection)
            return await repository.organisation_of(account_id), await repository.account_scope(account_id)

    async def create_api_token(self, creator: Principal, label: str, role: Role, scope: Scope, ttl: timedelta,
                               now: datetime) -> ApiToken:
        """A token's account (role and scope within the creator's, in the creator's organisation) and its
        record; the caller signs the token with the returned id and expiry."""
        if not creator.has_any(TOKEN_CREATORS):
            raise TenancyRefused("integration tokens are created by an administrator or staff")
        _check_token_terms(creator, label, role, scope, ttl)
        token_id = secrets.token_urlsafe(TOKEN_ID_BYTES)
        account_id = INTEGRATION_PREFIX + secrets.token_hex(8)
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            organisation_id = None if creator.is_admin else await repository.organisation_of(creator.subject)
            organisation = await _organisation(repository, organisation_id)
            problem = check_membership({role}, organisation)
            if problem:
                raise TenancyRefused(problem)
            await repository.add(Account(account_id, label.strip(), frozenset({role}), NO_PASSWORD), now,
                                 organisation_id)
            await repository.assign(account_id, scope)
            await repository.add_api_token(token_id, account_id, label.strip(), creator.subject, now, now + ttl)
        log.info("integration token created", extra={"account_id": account_id, "created_by": creator.subject,
                                                     "role": role.value})
        return ApiToken(token_id, account_id, label.strip(), role, scope, organisation_id, creator.subject, now,
                        now + ttl, revoked=False)

    async def api_tokens(self, viewer: Principal) -> list[ApiToken]:
        """The integration tokens ``viewer`` may see: all for an administrator; for staff, their organisation's
        whose scope is within theirs."""
        async with self._engine.connect() as connection:
            repository = AccountRepository(connection)
            rows = await repository.api_tokens()
            organisation_id = await repository.organisation_of(viewer.subject)
            tokens = [ApiToken(row["token_id"], row["account_id"], row["label"], Role(row["roles"][0]),
                               await repository.account_scope(row["account_id"]), row["organisation_id"],
                               row["created_by"], row["created_at"], row["expires_at"],
                               revoked=row["revoked_at"] is not None or not row["enabled"]) for row in rows]
        if viewer.is_admin:
            return tokens
        if not viewer.has_any(TOKEN_CREATORS) or organisation_id is None:
            return []
        return [token for token in tokens
                if token.organisation_id == organisation_id and viewer.scope.covers(token.scope)]

    async def revoke_api_token(self, viewer: Principal, token_id: str, now: datetime) -> ApiToken:
        """Revoke a token ``viewer`` may see: its account is disabled, so it is refused at once."""
        token = next((t for t in await self.api_tokens(viewer) if t.token_id == token_id), None)
        if token is None:
            raise NotVisible(token_id)
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            await repository.set_enabled(token.account_id, False)
            await repository.revoke(Principal(token.account_id, frozenset(), token.expires_at, token_id), now)
        log.info("integration token revoked", extra={"account_id": token.account_id, "revoked_by": viewer.subject})
        return ApiToken(token.token_id, token.account_id, token.label, token.role, token.scope,
                        token.organisation_id, token.created_by, token.created_at, token.expires_at, revoked=True)


def _check_token_terms(creator: Principal, label: str, role: Role, scope: Scope, ttl: timedelta) -> None:
    if not label.strip() or len(label.strip()) > MAX_DISPLAY_NAME_CHARS or not label.strip().isprintable():
        raise TenancyRefused(f"a token's label is 1–{MAX_DISPLAY_NAME_CHARS} printable characters")
    if role is Role.ADMIN:
        raise TenancyRefused("an integration token never carries the admin role")
    if role not in set(STAFF_ROLE.values()):
        raise TenancyRefused(f"an integration token carries a staff role: "
                             f"{', '.join(sorted(r.value for r in STAFF_ROLE.values()))}")
    if not creator.is_admin and role not in creator.roles:
        raise TenancyRefused(f"you can give a token only a role you hold ({', '.join(sorted(creator.roles))})")
    if not timedelta(0) < ttl <= MAX_TOKEN_TTL:
        raise TenancyRefused(f"a token lives at most {MAX_TOKEN_TTL.days} days")
    if not scope.communities and not scope.markets:
        raise TenancyRefused("name the communities or markets the token may act on")
    if not creator.scope.covers(scope):
        raise TenancyRefused("a token's scope is within your own")


async def _account(repository: AccountRepository, account_id: str) -> Account:
    account = await repository.get(account_id)
    if account is None:
        raise TenancyRefused(f"no account {account_id!r}")
    return account


async def _organisation(repository: AccountRepository, organisation_id: str | None) -> Organisation | None:
    if organisation_id is None:
        return None
    organisation = await repository.organisation(organisation_id)
    if organisation is None:
        raise TenancyRefused(f"no organisation {organisation_id!r}")
    return organisation


def scope_of_ids(communities: Iterable[str] = (), markets: Iterable[str] = ()) -> Scope:
    return Scope(frozenset(communities), frozenset(markets))

