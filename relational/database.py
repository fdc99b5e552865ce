"""Relational database plumbing shared by the services: engines from SC_DATABASE_URL, migrations.

Each bounded context keeps its own Alembic scripts (``<package>/migrations``) and its own version
table, so the market and community schemas evolve independently in one database.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import DateTime, TypeDecorator


def create_engine(url: str) -> AsyncEngine:
    """An async engine; for SQLite the file is created private (see :func:`_private_sqlite_file`) and foreign
    keys are enforced."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_file(Path(parsed.database))
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _private_sqlite_file(path: Path) -> None:
    """The database holds phone numbers and password hashes: a folder made for it is 0700 and the file is
    created 0600 before SQLite opens it, which gives its -wal and -shm files the database file's mode.
    (config.private_files does the same for the data directory; relational may not import config.)"""
    missing = [folder for folder in path.parents if not folder.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by someone else: theirs to set
            continue
        folder.chmod(0o700)  # mkdir's mode passes through the umask
    with contextlib.suppress(FileExistsError):  # an existing file is left as it is
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # let SQLAlchemy, not the driver, begin transactions (see _begin_immediate)
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock when a transaction begins, not at its first write: two
    read-then-write transactions (a ballot reading the log tail) then queue instead of failing,
    which is what PostgreSQL's row lock gives the same code."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


KEPT_VERSION_TABLES = {"accounts": "alembic_version_gateway_accounts"}
"""Contexts whose package moved keep the version table their databases already have (the accounts lived in
``gateway.accounts`` until December 2026): a renamed table would make Alembic create their tables again."""


def version_table(package: str) -> str:
    return KEPT_VERSION_TABLES.get(package, f"alembic_version_{package.replace('.', '_')}")


async def migrate(engine: AsyncEngine, package: str, revision: str = "head") -> None:
    """Bring ``package``'s schema to ``revision`` (its scripts live in ``<package>/migrations``)."""

    def upgrade(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", f"{package}:migrations")
        config.attributes["connection"] = connection
        config.attributes["version_table"] = version_table(package)
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every database (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
