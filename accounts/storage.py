"""Storage of the accounts, the revoked tokens, the organisations, what they hold and what their accounts are
assigned, and the integrations' tokens (SQLAlchemy Core, async); the tables mirror the migrations in
``accounts/migrations``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    delete,
    func,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from accounts.domain import Account
from accounts.organisations import Organisation, OrganisationKind
from relational.database import UtcDateTime
from webkit.identity import NOTHING, Principal, PrincipalStatus, Role, Scope, Standing

metadata = MetaData()

accounts = Table(
    "accounts", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("display_name", String(100), nullable=False),
    Column("roles", JSON(), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("enabled", Boolean(), nullable=False, server_default=true()),
    Column("organisation_id", String(64), ForeignKey("organisations.organisation_id"), nullable=True, index=True),
    Column("tokens_valid_after", UtcDateTime(), nullable=True),
)
"""``tokens_valid_after``: tokens issued before it are refused (a password reset ends every session)."""

organisations = Table(
    "organisations", metadata,
    Column("organisation_id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

COMMUNITY, MARKET = "community", "market"

organisation_scopes = Table(
    "organisation_scopes", metadata,
    Column("organisation_id", String(64), ForeignKey("organisations.organisation_id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target_id", String(64), nullable=False),
    PrimaryKeyConstraint("organisation_id", "kind", "target_id"),
)
"""The communities and markets an organisation holds (kind: community or market)."""

account_scopes = Table(
    "account_scopes", metadata,
    Column("account_id", String(64), ForeignKey("accounts.account_id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target_id", String(64), nullable=False),
    PrimaryKeyConstraint("account_id", "kind", "target_id"),
)
"""The communities and markets an account is assigned (kind: community or market)."""

api_tokens = Table(
    "api_tokens", metadata,
    Column("token_id", String(64), primary_key=True),
    Column("account_id", String(64), ForeignKey("accounts.account_id"), nullable=False, index=True),
    Column("label", String(100), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)
"""Tokens for integrations, each with an account of its own (no password) holding its role and scope."""

revoked_tokens = Table(
    "revoked_tokens", metadata,
    Column("token_id", String(64), primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
    Column("revoked_at", UtcDateTime(), nullable=False),
)
"""Tokens refused before they expire (signed out); a row is kept only until its token would have expired anyway."""


one_time_codes = Table(
    "one_time_codes", metadata,
    Column("code_id", String(32), primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("account_id", String(64), nullable=True),
    Column("display_name", String(100), nullable=True),
    Column("role", String(32), nullable=True),
    Column("organisation_id", String(64), nullable=True),
    Column("communities", JSON(), nullable=False),
    Column("markets", JSON(), nullable=False),
    Column("created_by", String(64), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_one_time_codes_kind_account", "kind", "account_id"),
)
"""Setup links, invitations, password resets and activation codes, each stored as its digest only
(:mod:`accounts.one_time_codes`)."""


class AccountExists(Exception):
    pass


class AccountRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, account: Account, now: datetime, organisation_id: str | None = None) -> None:
        """Store a new account; raises :class:`AccountExists` when the id is taken."""
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(accounts.insert().values(
                    account_id=account.account_id, display_name=account.display_name,
                    roles=sorted(role.value for role in account.roles), password_hash=account.password_hash,
                    created_at=now, enabled=account.enabled, organisation_id=organisation_id,
                ))
        except IntegrityError:
            raise AccountExists(account.account_id) from None

    async def organisation_of(self, account_id: str) -> str | None:
        return (await self._connection.execute(
            select(accounts.c.organisation_id).where(accounts.c.account_id == account_id))).scalar_one_or_none()

    async def add_organisation(self, organisation: Organisation, now: datetime) -> bool:
        """Store a new organisation; False when the id is taken."""
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(organisations.insert().values(
                    organisation_id=organisation.organisation_id, name=organisation.name,
                    kind=organisation.kind.value, created_at=now))
        except IntegrityError:
            return False
        return True

    async def organisation(self, organisation_id: str) -> Organisation | None:
        row = (await self._connection.execute(
            select(organisations).where(organisations.c.organisation_id == organisation_id))).mappings().first()
        return None if row is None else Organisation(row["organisation_id"], row["name"],
                                                     OrganisationKind(row["kind"]))

    async def organisations(self) -> list[Organisation]:
        rows = (await self._connection.execute(
            select(organisations).order_by(organisations.c.organisation_id))).mappings()
        return [Organisation(row["organisation_id"], row["name"], OrganisationKind(row["kind"])) for row in rows]

    async def organisation_scope(self, organisation_id: str) -> Scope:
        rows = (await self._connection.execute(
            select(organisation_scopes.c.kind, organisation_scopes.c.target_id)
            .where(organisation_scopes.c.organisation_id == organisation_id))).all()
        return _scope(rows)

    async def assign_to_organisation(self, organisation_id: str, scope: Scope) -> None:
        await _insert_missing(self._connection, organisation_scopes, "organisation_id", organisation_id, scope,
                              await self.organisation_scope(organisation_id))

    async def release_from_organisation(self, organisation_id: str, scope: Scope) -> list[str]:
        """``organisation_id`` holds ``scope`` no more, nor do its accounts keep it; returns the accounts that
        had some of it."""
        members = select(accounts.c.account_id).where(accounts.c.organisation_id == organisation_id)
        affected: set[str] = set()
        for kind, ids in ((COMMUNITY, scope.communities), (MARKET, scope.markets)):
            if not ids:
                continue
            await self._connection.execute(delete(organisation_scopes).where(and_(
                organisation_scopes.c.organisation_id == organisation_id, organisation_scopes.c.kind == kind,
                organisation_scopes.c.target_id.in_(sorted(ids)))))
            held = and_(account_scopes.c.account_id.in_(members), account_scopes.c.kind == kind,
                        account_scopes.c.target_id.in_(sorted(ids)))
            affected |= set((await self._connection.execute(select(account_scopes.c.account_id).where(held))).scalars())
            await self._connection.execute(delete(account_scopes).where(held))
        return sorted(affected)

    async def members(self, organisation_id: str) -> list[str]:
        """The ids of the accounts in ``organisation_id``, integrations' included."""
        return list((await self._connection.execute(
            select(accounts.c.account_id).where(accounts.c.organisation_id == organisation_id)
            .order_by(accounts.c.account_id))).scalars())

    async def placed(self) -> list[tuple[Account, str | None, Scope]]:
        """Every account by id, with its organisation and what it is assigned: two queries, however many there are
        (no IN list of ids)."""
        rows = (await self._connection.execute(select(accounts).order_by(accounts.c.account_id))).mappings().all()
        assigned: dict[str, list[tuple[str, str]]] = {}
        for account_id, kind, target in await self._connection.execute(
                select(account_scopes.c.account_id, account_scopes.c.kind, account_scopes.c.target_id)):
            assigned.setdefault(account_id, []).append((kind, target))
        return [(_account(row), row["organisation_id"], _scope(assigned.get(row["account_id"], [])))
                for row in rows]

    async def holders(self, kind: str, target_id: str, roles: Iterable[Role]) -> list[str]:
        """The enabled people (not integrations' accounts) assigned the community or market ``target_id`` (``kind``:
        community or market) who hold one of ``roles``: who hears of what happens there (the notifications)."""
        wanted = {role.value for role in roles}
        rows = (await self._connection.execute(
            select(accounts.c.account_id, accounts.c.roles)
            .select_from(accounts.join(account_scopes, account_scopes.c.account_id == accounts.c.account_id))
            .where(account_scopes.c.kind == kind, account_scopes.c.target_id == target_id, accounts.c.enabled,
                   accounts.c.account_id.not_in(select(api_tokens.c.account_id)))
            .order_by(accounts.c.account_id))).all()
        return [account_id for account_id, held in rows if wanted & set(held)]

    async def reachable(self, account_ids: Iterable[str]) -> list[str]:
        """Which of ``account_ids`` are enabled people (not integrations' accounts), in order: who may be told of
        something (the notifications' owners of a community)."""
        wanted = sorted(set(account_ids))
        found: list[str] = []
        for start in range(0, len(wanted), _IN_BATCH):
            found += (await self._connection.execute(
                select(accounts.c.account_id).where(accounts.c.account_id.in_(wanted[start:start + _IN_BATCH]),
                                                    accounts.c.enabled,
                                                    accounts.c.account_id.not_in(select(api_tokens.c.account_id)))
                .order_by(accounts.c.account_id))).scalars().all()
        return found

    async def organisations_holding(self, kind: str, target_id: str) -> list[str]:
        """The organisations that hold the community or market ``target_id``."""
        return list((await self._connection.execute(
            select(organisation_scopes.c.organisation_id)
            .where(organisation_scopes.c.kind == kind, organisation_scopes.c.target_id == target_id)
            .order_by(organisation_scopes.c.organisation_id))).scalars())

    async def integration_ids(self) -> set[str]:
        """The accounts of integration tokens."""
        return set((await self._connection.execute(select(api_tokens.c.account_id).distinct())).scalars())

    async def is_integration(self, account_id: str) -> bool:
        """Whether ``account_id`` is an integration token's account."""
        return (await self._connection.execute(
            select(api_tokens.c.token_id).where(api_tokens.c.account_id == account_id).limit(1))).first() is not None

    async def account_scope(self, account_id: str) -> Scope:
        rows = (await self._connection.execute(
            select(account_scopes.c.kind, account_scopes.c.target_id)
            .where(account_scopes.c.account_id == account_id))).all()
        return _scope(rows)

    async def assign(self, account_id: str, scope: Scope) -> None:
        await _insert_missing(self._connection, account_scopes, "account_id", account_id, scope,
                              await self.account_scope(account_id))

    async def scopes(self, account_ids: Iterable[str]) -> dict[str, Scope]:
        """What each of ``account_ids`` is assigned, in one query."""
        found: dict[str, list[tuple[str, str]]] = {account_id: [] for account_id in account_ids}
        if found:
            rows = await self._connection.execute(
                select(account_scopes.c.account_id, account_scopes.c.kind, account_scopes.c.target_id)
                .where(account_scopes.c.account_id.in_(sorted(found))))
            for account_id, kind, target in rows:
                found[account_id].append((kind, target))
        return {account_id: _scope(rows) for account_id, rows in found.items()}

    async def unassign(self, account_id: str, scope: Scope) -> None:
        for kind, ids in ((COMMUNITY, scope.communities), (MARKET, scope.markets)):
            if ids:
                await self._connection.execute(delete(account_scopes).where(and_(
                    account_scopes.c.account_id == account_id, account_scopes.c.kind == kind,
                    account_scopes.c.target_id.in_(sorted(ids)))))

    async def add_api_token(self, token_id: str, account_id: str, label: str, created_by: str, now: datetime,
                            expires_at: datetime) -> None:
        await self._connection.execute(api_tokens.insert().values(
            token_id=token_id, account_id=account_id, label=label, created_by=created_by, created_at=now,
            expires_at=expires_at))

    async def api_tokens(self) -> list[dict[str, Any]]:
        """Every integration token with its account's roles, enablement, organisation and revocation."""
        rows = (await self._connection.execute(
            select(api_tokens, accounts.c.roles, accounts.c.enabled, accounts.c.organisation_id,
                   revoked_tokens.c.revoked_at)
            .select_from(api_tokens.join(accounts, accounts.c.account_id == api_tokens.c.account_id)
                         .outerjoin(revoked_tokens, revoked_tokens.c.token_id == api_tokens.c.token_id))
            .order_by(api_tokens.c.created_at, api_tokens.c.token_id))).mappings().all()
        return [dict(row) for row in rows]

    async def get(self, account_id: str) -> Account | None:
        row = (await self._connection.execute(
            select(accounts).where(accounts.c.account_id == account_id))).mappings().first()
        return None if row is None else _account(row)

    async def set_enabled(self, account_id: str, enabled: bool) -> bool:
        """Enable or disable an account; False when there is none with this id."""
        result = await self._connection.execute(
            update(accounts).where(accounts.c.account_id == account_id).values(enabled=enabled))
        return bool(result.rowcount)

    async def set_roles(self, account_id: str, roles: Iterable[Role]) -> bool:
        """Replace an account's roles; False when there is none with this id."""
        result = await self._connection.execute(update(accounts).where(accounts.c.account_id == account_id).values(
            roles=sorted(role.value for role in roles)))
        return bool(result.rowcount)

    async def set_organisation(self, account_id: str, organisation_id: str | None) -> None:
        await self._connection.execute(
            update(accounts).where(accounts.c.account_id == account_id).values(organisation_id=organisation_id))

    async def set_password(self, account_id: str, password_hash: str, now: datetime) -> bool:
        """A new password, and every token issued before ``now`` refused (its sessions end); False when there is
        no such account."""
        result = await self._connection.execute(update(accounts).where(accounts.c.account_id == account_id).values(
            password_hash=password_hash, tokens_valid_after=now.replace(microsecond=0)))
        return bool(result.rowcount)

    async def existing(self, account_ids: Iterable[str]) -> set[str]:
        """Which of ``account_ids`` have an account."""
        wanted = sorted(set(account_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), _IN_BATCH):
            found |= set((await self._connection.execute(select(accounts.c.account_id).where(
                accounts.c.account_id.in_(wanted[start:start + _IN_BATCH])))).scalars())
        return found

    async def count(self) -> int:
        return int((await self._connection.execute(select(func.count()).select_from(accounts))).scalar_one())

    async def standing(self, principal: Principal) -> Standing:
        """One query by two primary keys (the subject's account, and the token among the revoked ones), and one
        for the account's assignments when the token may be used."""
        row = (await self._connection.execute(
            select(accounts.c.enabled, accounts.c.roles, accounts.c.tokens_valid_after, revoked_tokens.c.token_id)
            .select_from(accounts.outerjoin(revoked_tokens, revoked_tokens.c.token_id == principal.token_id))
            .where(accounts.c.account_id == principal.subject)
        )).first()
        if row is None:
            return Standing(PrincipalStatus.NO_ACCOUNT)
        if not row.enabled:
            return Standing(PrincipalStatus.DISABLED)
        if row.token_id is not None or _issued_before(principal, row.tokens_valid_after):
            return Standing(PrincipalStatus.REVOKED)
        roles = frozenset(Role(role) for role in row.roles)
        if Role.ADMIN in roles & principal.roles:  # everything (Standing.applied_to): no assignment to read
            return Standing(PrincipalStatus.ACTIVE, roles)
        return Standing(PrincipalStatus.ACTIVE, roles, await self.account_scope(principal.subject))

    async def revoke(self, principal: Principal, now: datetime) -> None:
        """Refuse ``principal``'s token from now on, and forget the revocations of tokens expired by ``now``."""
        await self._connection.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at <= now))
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(revoked_tokens.insert().values(
                    token_id=principal.token_id, subject=principal.subject, expires_at=principal.expires_at,
                    revoked_at=now))
        except IntegrityError:
            pass  # revoked already (signed out twice, in two tabs): once is enough

    async def revoked_count(self) -> int:
        return int((await self._connection.execute(select(func.count()).select_from(revoked_tokens))).scalar_one())


_IN_BATCH = 500
"""Ids per IN (...) list: well under SQLite's bound on a statement's parameters."""


def _issued_before(principal: Principal, valid_after: datetime | None) -> bool:
    """Whether ``principal``'s token was issued before its account's ``tokens_valid_after`` (to the second, as a
    token's ``iat``; a principal that does not say when its token was issued is taken as issued before)."""
    if valid_after is None:
        return False
    return principal.issued_at is None or principal.issued_at < valid_after


def _scope(rows: Any) -> Scope:
    communities = frozenset(target for kind, target in rows if kind == COMMUNITY)
    markets = frozenset(target for kind, target in rows if kind == MARKET)
    return Scope(communities, markets) if communities or markets else NOTHING


async def _insert_missing(connection: AsyncConnection, table: Table, owner_column: str, owner: str, scope: Scope,
                          held: Scope) -> None:
    rows = [{owner_column: owner, "kind": kind, "target_id": target}
            for kind, wanted, have in ((COMMUNITY, scope.communities, held.communities),
                                       (MARKET, scope.markets, held.markets))
            for target in sorted(wanted - have)]
    if rows:
        await connection.execute(table.insert(), rows)


def _account(row: Any) -> Account:
    return Account(row["account_id"], row["display_name"], frozenset(Role(role) for role in row["roles"]),
                   row["password_hash"], bool(row["enabled"]))
