"""The SQLite market site the market's browser tests stand up: a database with the market's and the accounts'
tables, an embedded time-series store, a clock the test sets, accounts with their markets, and the market's pages
(with the sign-in pages and the portal) served in-process on a free loopback port. Each test seeds its own markets
between :func:`market_backend` and :func:`serving_market_pages`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from gateway.outputs.embedded import EmbeddedStore
from market.pages import mount_market_pages
from market.service import MarketService, MarketSettings
from messaging.downlink import RecordingDownlink
from relational.database import create_engine, migrate
from tests.browser.conftest import Clock
from tests.servers import free_port
from webkit.identity import Role, Scope, TokenAuthority
from webkit.pages import mount_portal

AUTHORITY = TokenAuthority(b"browser-test-secret-of-32-bytes!")
SITE_NAME = "智慧农贸市场"


@dataclass
class MarketBackend:
    """What the market's pages stand on, before they are served."""

    engine: AsyncEngine
    store: EmbeddedStore
    clock: Clock
    accounts: AccountService
    downlink: RecordingDownlink = field(default_factory=RecordingDownlink)
    """The commands the market service sends to devices, for tests that answer them as the scales would."""

    async def add_account(self, account_id: str, name: str, role: Role, password: str,
                          markets: Collection[str] | None = None) -> None:
        """An account created at the clock's time; ``markets``: the markets it works in (its scope)."""
        await self.accounts.create_account(account_id, name, (role,), password, self.clock.now)
        if markets is not None:
            async with self.engine.begin() as connection:
                await AccountRepository(connection).assign(account_id, Scope(markets=frozenset(markets)))

    def market_service(self, settings: MarketSettings | None = None) -> MarketService:
        return MarketService(self.engine, self.downlink, self.store, self.clock, settings)


@asynccontextmanager
async def market_backend(tmp_path: Path, now: datetime) -> AsyncIterator[MarketBackend]:
    """A migrated SQLite database and a time-series store under ``tmp_path``, the clock at ``now``."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'smartcity.db'}")
    await migrate(engine, "market")
    await migrate(engine, "accounts")
    store = EmbeddedStore(tmp_path / "timeseries.sqlite")
    await store.open()
    try:
        yield MarketBackend(engine, store, Clock(now), AccountService(engine))
    finally:
        await store.close()
        await engine.dispose()


@asynccontextmanager
async def serving_market_pages(backend: MarketBackend, service: MarketService, site: str) -> AsyncIterator[str]:
    """The sign-in pages, the market's pages (their public links to market ``site``) and the portal, served on a
    free loopback port; yields the base URL."""
    app = web.Application()
    mount_pages(app, backend.accounts, AUTHORITY, backend.clock, site_name=SITE_NAME)
    mount_market_pages(app, service, site, AUTHORITY, backend.clock)
    mount_portal(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
