"""Browser tests: Debian's Chromium driven by Playwright against the pages served in-process
(aiohttp on a free loopback port, SQLite in tmp_path, a clock the test sets).

Screenshots of every page visited go to test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, async_playwright

from accounts.pages import mount_pages
from community.access.directory import Community
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.pages import mount_voting_pages
from community.voting.service import VotingService
from community.voting.web import mount as mount_voting_api
from relational.database import create_engine, migrate
from tests.browser.compound import COMMUNITY, DURING, Seeded, seed_compound
from tests.integration.voting_accounts import demo_accounts_of
from tests.servers import free_port
from webkit.identity import TokenAuthority

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class RunningSite:
    url: str
    clock: Clock
    voting: VotingService
    seeded: Seeded


@pytest.fixture
async def running_site(tmp_path: Path) -> AsyncIterator[RunningSite]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'smartcity.db'}")
    await migrate(engine, "community")
    await migrate(engine, "accounts")
    clock = Clock(DURING)
    accounts = await demo_accounts_of(engine, Community(COMMUNITY, COMMUNITY, "荷花小区"), clock())
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    seeded = await seed_compound(voting)
    authority = TokenAuthority(b"browser-test-secret-of-32-bytes!")
    app = web.Application()
    mount_pages(app, accounts, authority, clock)
    mount_voting_pages(app, voting)
    mount_voting_api(app, voting, authority, clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield RunningSite(f"http://127.0.0.1:{port}", clock, voting, seeded)
    await runner.cleanup()
    await engine.dispose()


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium (and fonts-noto-cjk) as root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


# --- the access pages: the demo community on the console and the residents' pages (tests/browser/access_compound.py)

@pytest.fixture
async def access_site(tmp_path: Path) -> AsyncIterator[object]:
    from tests.browser.access_compound import running_access_site

    async with running_access_site(tmp_path) as site:
        yield site


@pytest.fixture
async def access_broker(access_site: object) -> AsyncIterator[object]:
    """A real Mosquitto and the access service's own MQTT session on it (ServiceFeed → AccessService.handle)."""
    from tests.browser.access_compound import AccessSite, feeding_from_broker

    assert isinstance(access_site, AccessSite)
    async with feeding_from_broker(access_site) as broker:
        yield broker
