"""Storage of the accounts and of the revoked tokens (SQLAlchemy Core, async); the tables mirror the migrations
in ``accounts/migrations``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, MetaData, String, Table, delete, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from accounts.domain import Account
from relational.database import UtcDateTime
from webkit.identity import Principal, PrincipalStatus, Role

metadata = MetaData()

accounts = Table(
    "accounts", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("display_name", String(100), nullable=False),
    Column("roles", JSON(), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("enabled", Boolean(), nullable=False, server_default=true()),
)

revoked_tokens = Table(
    "revoked_tokens", metadata,
    Column("token_id", String(64), primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
    Column("revoked_at", UtcDateTime(), nullable=False),
)
"""Tokens refused before they expire (signed out); a row is kept only until its token would have expired anyway."""


class AccountExists(Exception):
    pass


class AccountRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, account: Account, now: datetime) -> None:
        """Store a new account; raises :class:`AccountExists` when the id is taken."""
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(accounts.insert().values(
                    account_id=account.account_id, display_name=account.display_name,
                    roles=sorted(role.value for role in account.roles), password_hash=account.password_hash,
                    created_at=now, enabled=account.enabled,
                ))
        except IntegrityError:
            raise AccountExists(account.account_id) from None

    async def get(self, account_id: str) -> Account | None:
        row = (await self._connection.execute(
            select(accounts).where(accounts.c.account_id == account_id))).mappings().first()
        return None if row is None else _account(row)

    async def set_enabled(self, account_id: str, enabled: bool) -> bool:
        """Enable or disable an account; False when there is none with this id."""
        result = await self._connection.execute(
            update(accounts).where(accounts.c.account_id == account_id).values(enabled=enabled))
        return bool(result.rowcount)

    async def count(self) -> int:
        return int((await self._connection.execute(select(func.count()).select_from(accounts))).scalar_one())

    async def principal_status(self, principal: Principal) -> PrincipalStatus:
        """One query by two primary keys: the subject's account, and the token among the revoked ones."""
        row = (await self._connection.execute(
            select(accounts.c.enabled, revoked_tokens.c.token_id)
            .select_from(accounts.outerjoin(revoked_tokens, revoked_tokens.c.token_id == principal.token_id))
            .where(accounts.c.account_id == principal.subject)
        )).first()
        if row is None:
            return PrincipalStatus.NO_ACCOUNT
        if not row.enabled:
            return PrincipalStatus.DISABLED
        return PrincipalStatus.ACTIVE if row.token_id is None else PrincipalStatus.REVOKED

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


def _account(row: Any) -> Account:
    return Account(row["account_id"], row["display_name"], frozenset(Role(role) for role in row["roles"]),
                   row["password_hash"], bool(row["enabled"]))
