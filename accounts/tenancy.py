"""Tenancy use cases: organisations, what they hold, what their people are assigned, and the integrations'
API tokens — each token with an account of its own (no password) holding one role and a scope within its
creator's, so listing, revoking and the scope checks treat it like any other principal.

Every change is checked against the rules of :mod:`accounts.organisations` inside the transaction that makes it,
so what is refused leaves nothing behind (an account is created together with its organisation and assignments,
or not at all)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import (
    MAX_DISPLAY_NAME_CHARS,
    SALT_BYTES,
    Account,
    AccountRefusal,
    check_new_account,
    hash_password,
)
from accounts.organisations import (
    STAFF_ROLE,
    STAFF_ROLES,
    Organisation,
    OrganisationKind,
    check_assignment,
    check_membership,
    check_new_organisation,
    check_organisation_scope,
    held_elsewhere,
)
from accounts.storage import AccountExists, AccountRepository
from webkit.identity import MAX_TOKEN_TTL, NOTHING, TOKEN_ID_BYTES, Principal, Role, Scope

log = logging.getLogger(__name__)

NO_PASSWORD = "!"
"""The password hash of an integration's account: no password matches it (``accounts.domain``), so it holds
tokens and never signs in."""
INTEGRATION_PREFIX = "api-"
TOKEN_CREATORS = frozenset({Role.ADMIN, Role.PROPERTY_MANAGER, Role.MARKET_OPERATOR})
"""Who creates, lists and revokes integration tokens: an administrator, or staff for their own scope (never an
integration itself: its token would otherwise outlive its revocation in the tokens it made)."""


class TenancyRefused(Exception):
    """What was asked cannot be done; the message says why."""


class NotPermitted(Exception):
    """The caller may not do this at all, whatever they ask for (answered 403)."""


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


@dataclass(frozen=True)
class Member:
    """An account as the tenancy sees it: its organisation and what it is assigned."""

    account: Account
    organisation: Organisation | None
    scope: Scope
    integration: bool
    """An integration token's account (no password; revoked with its token)."""


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

    async def members(self, organisation_id: str) -> list[str]:
        """The ids of ``organisation_id``'s accounts (its integrations' included)."""
        async with self._engine.connect() as connection:
            return await AccountRepository(connection).members(organisation_id)

    async def hold(self, organisation_id: str, scope: Scope) -> dict[str, frozenset[str]]:
        """``organisation_id`` holds ``scope``'s communities and markets too. Returns what another organisation
        of its kind holds as well, by that organisation (:func:`accounts.organisations.held_elsewhere`): allowed,
        as during a handover, but worth telling whoever assigns it."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            organisation = await repository.organisation(organisation_id)
            if organisation is None:
                raise TenancyRefused(f"no organisation {organisation_id!r}")
            problem = check_organisation_scope(organisation, scope)
            if problem:
                raise TenancyRefused(problem)
            await repository.assign_to_organisation(organisation_id, scope)
            others = [(other, await repository.organisation_scope(other.organisation_id))
                      for other in await repository.organisations() if other.kind is organisation.kind]
        log.info("organisation holds", extra={"organisation_id": organisation_id,
                                              "communities": len(scope.communities), "markets": len(scope.markets)})
        return held_elsewhere(organisation, scope, others)

    async def release(self, organisation_id: str, scope: Scope) -> list[str]:
        """``organisation_id`` holds ``scope`` no more, and its accounts are no longer assigned it (else they
        would keep acting for a company that left); returns the accounts that were."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            if await repository.organisation(organisation_id) is None:
                raise TenancyRefused(f"no organisation {organisation_id!r}")
            affected = await repository.release_from_organisation(organisation_id, scope)
        log.info("organisation released", extra={"organisation_id": organisation_id, "accounts": len(affected)})
        return affected

    async def join(self, account_id: str, organisation_id: str | None) -> None:
        """Make ``account_id`` a member of ``organisation_id`` (None: of none); refused while it is assigned
        something the new organisation does not hold."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            account = await _account(repository, account_id)
            organisation = await _organisation(repository, organisation_id)
            await _check_placement(repository, account.roles, organisation, await repository.account_scope(account_id))
            await repository.set_organisation(account_id, organisation_id)

    async def assign(self, account_id: str, scope: Scope, organisation_id: str | None = None) -> Scope:
        """Assign ``scope`` to ``account_id`` besides what it has — a member of ``organisation_id`` from now on
        when given (in the same transaction); returns its scope now."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            account = await _account(repository, account_id)
            current = await repository.organisation_of(account_id)
            target = current if organisation_id is None else organisation_id
            organisation = await _organisation(repository, target)
            wanted = _union(await repository.account_scope(account_id), scope)
            await _check_placement(repository, account.roles, organisation, wanted)
            if target != current:
                await repository.set_organisation(account_id, target)
            await repository.assign(account_id, scope)
        log.info("account assigned", extra={"account_id": account_id, "organisation_id": target})
        return wanted

    async def unassign(self, account_id: str, scope: Scope) -> Scope:
        """``account_id`` is assigned ``scope`` no more; returns its scope now."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            await _account(repository, account_id)
            await repository.unassign(account_id, scope)
            remaining = await repository.account_scope(account_id)
        log.info("account unassigned", extra={"account_id": account_id})
        return remaining

    async def scope_of(self, account_id: str) -> tuple[str | None, Scope]:
        """An account's organisation and what it is assigned."""
        async with self._engine.connect() as connection:
            repository = AccountRepository(connection)
            return await repository.organisation_of(account_id), await repository.account_scope(account_id)

    async def member(self, account_id: str) -> Member:
        """``account_id`` with its organisation and assignments; :class:`TenancyRefused` when there is none."""
        async with self._engine.connect() as connection:
            repository = AccountRepository(connection)
            account = await _account(repository, account_id)
            organisation = await _organisation(repository, await repository.organisation_of(account_id))
            return Member(account, organisation, await repository.account_scope(account_id),
                          await repository.is_integration(account_id))

    async def create_account(self, account_id: str, display_name: str, roles: Iterable[Role], password: str,
                             now: datetime, *, organisation_id: str | None = None,
                             scope: Scope = NOTHING) -> Account:
        """A person's account, a member of ``organisation_id`` and assigned ``scope`` in the same transaction:
        refused (:class:`TenancyRefused`, nothing created) when the account or its place breaks a rule."""
        roles = frozenset(roles)
        refusal = check_new_account(account_id, display_name, roles, password)
        if refusal is not None:
            raise TenancyRefused(refusal.message)
        password_hash = await asyncio.to_thread(hash_password, password, secrets.token_bytes(SALT_BYTES))
        account = Account(account_id, display_name.strip(), roles, password_hash)
        async with self._engine.begin() as connection:
            await add_placed(AccountRepository(connection), account, now, organisation_id, scope)
        log.info("account created", extra={"roles": sorted(role.value for role in roles),
                                           "organisation_id": organisation_id})
        return account

    async def create_api_token(self, creator: Principal, label: str, role: Role, scope: Scope, ttl: timedelta,
                               now: datetime, *, organisation_id: str | None = None) -> ApiToken:
        """A token's account (role and scope within the creator's, in the creator's organisation) and its
        record; the caller signs the token with the returned id and expiry. An administrator names the
        organisation the integration works for (``organisation_id``), or the one organisation of the role's kind
        that holds the whole scope is taken."""
        if not creator.has_any(TOKEN_CREATORS):
            raise NotPermitted("integration tokens are created by an administrator or staff")
        token_id = secrets.token_urlsafe(TOKEN_ID_BYTES)
        account_id = INTEGRATION_PREFIX + secrets.token_hex(8)
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            if await repository.is_integration(creator.subject):
                raise NotPermitted("an integration's token creates no tokens: an administrator or staff does")
            _check_token_terms(creator, label, role, scope, ttl)
            organisation = await _token_organisation(repository, creator, role, scope, organisation_id)
            await _check_placement(repository, {role}, organisation, scope)
            await repository.add(Account(account_id, label.strip(), frozenset({role}), NO_PASSWORD), now,
                                 organisation.organisation_id)
            await repository.assign(account_id, scope)
            await repository.add_api_token(token_id, account_id, label.strip(), creator.subject, now, now + ttl)
        log.info("integration token created", extra={"account_id": account_id, "created_by": creator.subject,
                                                     "role": role.value})
        return ApiToken(token_id, account_id, label.strip(), role, scope, organisation.organisation_id,
                        creator.subject, now, now + ttl, revoked=False)

    async def api_tokens(self, viewer: Principal) -> list[ApiToken]:
        """The integration tokens ``viewer`` may see: all for an administrator; for staff, their organisation's
        whose scope is within theirs; none for anyone else (an integration's token included)."""
        if not viewer.has_any(TOKEN_CREATORS):
            return []
        async with self._engine.connect() as connection:
            repository = AccountRepository(connection)
            if await repository.is_integration(viewer.subject):
                return []
            organisation_id = None if viewer.is_admin else await repository.organisation_of(viewer.subject)
            if not viewer.is_admin and organisation_id is None:
                return []
            rows = await repository.api_tokens()
            if organisation_id is not None:
                rows = [row for row in rows if row["organisation_id"] == organisation_id]
            scopes = await repository.scopes(row["account_id"] for row in rows)
        tokens = [ApiToken(row["token_id"], row["account_id"], row["label"], Role(row["roles"][0]),
                           scopes[row["account_id"]], row["organisation_id"], row["created_by"], row["created_at"],
                           row["expires_at"], revoked=row["revoked_at"] is not None or not row["enabled"])
                  for row in rows]
        return tokens if viewer.is_admin else [token for token in tokens if viewer.scope.covers(token.scope)]

    async def revoke_api_token(self, viewer: Principal, token_id: str, now: datetime) -> ApiToken:
        """Revoke a token ``viewer`` may see: its account is disabled, so it is refused at once (and stays
        refused after its revocation's record is let go at its expiry). :class:`NotVisible` for any other."""
        token = next((t for t in await self.api_tokens(viewer) if t.token_id == token_id), None)
        if token is None:
            raise NotVisible(token_id)
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            await repository.set_enabled(token.account_id, False)
            await repository.revoke(Principal(token.account_id, frozenset(), token.expires_at, token_id), now)
        log.info("integration token revoked", extra={"account_id": token.account_id, "revoked_by": viewer.subject})
        return replace(token, revoked=True)


async def check_place(repository: AccountRepository, roles: Iterable[Role], organisation_id: str | None,
                      scope: Scope) -> None:
    """:class:`TenancyRefused` unless an account of ``roles`` may be a member of ``organisation_id`` (which must
    exist) assigned ``scope``."""
    await _check_placement(repository, roles, await _organisation(repository, organisation_id), scope)


async def add_placed(repository: AccountRepository, account: Account, now: datetime, organisation_id: str | None,
                     scope: Scope) -> None:
    """Store ``account``, a member of ``organisation_id`` and assigned ``scope``, in ``repository``'s transaction;
    :class:`TenancyRefused` when its place breaks a rule or its id is taken (the caller's transaction then ends
    without it)."""
    await check_place(repository, account.roles, organisation_id, scope)
    try:
        await repository.add(account, now, organisation_id)
    except AccountExists:
        raise TenancyRefused(AccountRefusal.EXISTS.message) from None
    await repository.assign(account.account_id, scope)


def token_ttl(days: int) -> timedelta:
    """``days`` as a token's lifetime: 1 to 365 days, else :class:`TenancyRefused` (never an overflow)."""
    if not 1 <= days <= MAX_TOKEN_TTL.days:
        raise TenancyRefused(f"a token lives 1 to {MAX_TOKEN_TTL.days} days")
    return timedelta(days=days)


def _check_token_terms(creator: Principal, label: str, role: Role, scope: Scope, ttl: timedelta) -> None:
    if not label.strip() or len(label.strip()) > MAX_DISPLAY_NAME_CHARS or not label.strip().isprintable():
        raise TenancyRefused(f"a token's label is 1–{MAX_DISPLAY_NAME_CHARS} printable characters")
    if role is Role.ADMIN:
        raise TenancyRefused("an integration token never carries the admin role")
    if role not in STAFF_ROLES:
        raise TenancyRefused(f"an integration token carries a staff role: "
                             f"{', '.join(sorted(r.value for r in STAFF_ROLES))}")
    if not creator.is_admin and role not in creator.roles:
        raise TenancyRefused(f"you can give a token only a role you hold ({', '.join(sorted(creator.roles))})")
    if not timedelta(0) < ttl <= MAX_TOKEN_TTL:
        raise TenancyRefused(f"a token lives at most {MAX_TOKEN_TTL.days} days")
    if scope.everything or (not scope.communities and not scope.markets):
        raise TenancyRefused("name the communities or markets the token may act on")
    if not creator.scope.covers(scope) and not creator.is_admin:
        raise TenancyRefused("a token's scope is within your own")


async def _token_organisation(repository: AccountRepository, creator: Principal, role: Role, scope: Scope,
                              organisation_id: str | None) -> Organisation:
    """The organisation a new integration token's account belongs to."""
    if not creator.is_admin:
        own = await repository.organisation_of(creator.subject)
        if own is None:
            raise TenancyRefused("you belong to no organisation: an administrator places you in one first")
        if organisation_id not in (None, own):
            raise TenancyRefused(f"you create tokens for your own organisation ({own}) only")
        organisation_id = own
    if organisation_id is not None:
        named = await repository.organisation(organisation_id)
        if named is None:
            raise TenancyRefused(f"no organisation {organisation_id!r}")
        return named
    candidates = [organisation for organisation in await repository.organisations()
                  if STAFF_ROLE[organisation.kind] is role
                  and (await repository.organisation_scope(organisation.organisation_id)).covers(scope)]
    if len(candidates) != 1:
        raise TenancyRefused(f"name the organisation the integration works for (organisation_id): "
                             f"{'none' if not candidates else 'more than one'} of its kind holds all of that scope")
    return candidates[0]


async def _check_placement(repository: AccountRepository, roles: Iterable[Role], organisation: Organisation | None,
                           scope: Scope) -> None:
    """Refuse an account of ``roles`` in ``organisation`` assigned ``scope`` (all of it, not only what is new)
    when the rules of :mod:`accounts.organisations` say no."""
    held = NOTHING if organisation is None else await repository.organisation_scope(organisation.organisation_id)
    problem = check_membership(roles, organisation) or check_assignment(roles, organisation, held, scope)
    if problem:
        raise TenancyRefused(problem)


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


def _union(first: Scope, second: Scope) -> Scope:
    return Scope(first.communities | second.communities, first.markets | second.markets)

