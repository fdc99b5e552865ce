"""Storage of the accounts (SQLAlchemy Core, async). The table mirrors gateway/accounts/migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, MetaData, String, Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from accounts.domain import Account
from relational.database import UtcDateTime
from webkit.identity import Role

metadata = MetaData()

accounts = Table(
    "accounts", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("display_name", String(100), nullable=False),
    Column("roles", JSON(), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)


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
                    created_at=now,
                ))
        except IntegrityError:
            raise AccountExists(account.account_id) from None

    async def get(self, account_id: str) -> Account | None:
        row = (await self._connection.execute(
            select(accounts).where(accounts.c.account_id == account_id))).mappings().first()
        return None if row is None else _account(row)

    async def count(self) -> int:
        return int((await self._connection.execute(select(func.count()).select_from(accounts))).scalar_one())


def _account(row: Any) -> Account:
    return Account(row["account_id"], row["display_name"], frozenset(Role(role) for role in row["roles"]),
                   row["password_hash"])
