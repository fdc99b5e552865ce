"""The composition root of the domain services: builds the market, access, e-voting and accounts
services from :class:`Settings` in one place, connects them to the broker (a ServiceFeed per device
kind, one Downlink), runs their periodic work, and mounts their APIs and pages on one aiohttp app.

``smartcity run`` (beside the gateway and the simulator) and ``smartcity services`` (alone, as in
the compose stack) both come through :func:`running_services`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.service import AccessKeys, AccessService, AccessSettings
from community.access.service import NotFound as ResidentNotFound
from community.ownership.service import OwnershipService
from community.voting.service import VotingService
from devices.simulator import TrafficGenerator
from devices.topics import DeviceKind
from gateway.accounts.service import AccountService
from gateway.auth import Role, TokenAuthority, load_or_create_secret
from gateway.database import create_engine, migrate
from gateway.downlink import MqttDownlink
from gateway.pages import NavLink
from gateway.service_feed import ServiceFeed
from gateway.settings import MqttEndpoint, Settings
from gateway.sinks import TimeSeriesStore
from market.service import MarketService, MarketSettings

log = logging.getLogger(__name__)

CONTEXTS = ("community", "market", "gateway.accounts")
"""The packages whose Alembic migrations make up the relational schema."""


class ServicesUnavailable(Exception):
    """The services cannot start (the database cannot be reached or migrated); the message says why."""


@dataclass
class Services:
    engine: AsyncEngine
    authority: TokenAuthority
    accounts: AccountService
    voting: VotingService
    access: AccessService
    ownership: OwnershipService
    market: MarketService
    feeds: tuple[ServiceFeed, ...]
    downlink: MqttDownlink


def token_authority(settings: Settings) -> TokenAuthority:
    secret = settings.auth_secret.get_secret_value() if settings.auth_secret else None
    return TokenAuthority(load_or_create_secret(secret, settings.data_dir))


async def migrated_engine(settings: Settings) -> AsyncEngine:
    engine = create_engine(settings.database_url)
    try:
        for package in CONTEXTS:
            await migrate(engine, package)
    except Exception as failure:
        await engine.dispose()
        raise ServicesUnavailable(f"cannot prepare the database at SC_DATABASE_URL: {failure}") from None
    return engine


def access_settings(settings: Settings) -> AccessSettings:
    """The access service's alarm thresholds and presence cutoff from their SC_ variables."""
    return AccessSettings(
        denial_threshold=settings.access_denial_threshold,
        denial_window=timedelta(seconds=settings.access_denial_window_s),
        door_held_open_after=timedelta(seconds=settings.access_door_held_open_s),
        gate_offline_after=timedelta(seconds=settings.access_gate_offline_s),
        resident_presence_stale_after=timedelta(hours=settings.access_presence_stale_h),
    )


def build_services(settings: Settings, engine: AsyncEngine, mqtt_url: str, store: TimeSeriesStore,
                   clock: Callable[[], datetime]) -> Services:
    from gateway.service import gate_site_key, visitor_pass_key

    endpoint = MqttEndpoint.parse(mqtt_url)
    client_id = settings.mqtt_client_id
    downlink = MqttDownlink(endpoint, f"{client_id}-downlink"[:64])
    access = AccessService(engine, downlink, clock, AccessKeys(gate_site_key(settings), visitor_pass_key(settings)),
                           access_settings(settings))
    market_settings = MarketSettings(public_base_url=settings.public_base_url,
                                     trusted_proxies=settings.trusted_proxy_list)
    market = MarketService(engine, downlink, store, clock, market_settings)
    feeds = (
        ServiceFeed(endpoint, f"{client_id}-access"[:64], DeviceKind.GATE, access, protocol=settings.mqtt_protocol),
        ServiceFeed(endpoint, f"{client_id}-market"[:64], DeviceKind.SCALE, market, protocol=settings.mqtt_protocol),
    )
    return Services(engine, token_authority(settings), AccountService(engine), VotingService(engine), access,
                    OwnershipService(engine), market, feeds, downlink)


def mount_services(app: web.Application, services: Services, store: TimeSeriesStore,
                   clock: Callable[[], datetime], site: str, system_links: tuple[NavLink, ...] = ()) -> None:
    """The services' JSON APIs (one /openapi.json) and the people's pages on ``app``, with the
    portal at "/" (``system_links``: the gateway's status page, when it runs in the same process);
    ``site``: the market the pages' links lead to."""
    from community.access.pages import mount_access_pages
    from community.access.web import mount as mount_access_api
    from community.ownership.web import mount as mount_ownership_api
    from community.voting.pages import mount_voting_pages
    from community.voting.web import mount as mount_voting_api
    from gateway.pages import mount_pages, mount_portal
    from market.pages import mount_market_pages
    from market.web import mount as mount_market_api

    app.on_shutdown.append(_end_live_streams(services))
    mount_voting_api(app, services.voting, services.authority, clock)
    mount_access_api(app, services.access, services.authority, clock)
    mount_ownership_api(app, services.ownership, services.authority, clock)
    mount_market_api(app, services.market, services.authority, clock)
    mount_pages(app, services.accounts, services.authority, clock)
    # the first link a person may open is where they land after sign-in: managers on the console
    mount_market_pages(app, services.market, site)
    mount_access_pages(app, services.access, store)
    mount_voting_pages(app, services.voting)
    mount_portal(app, (*system_links, NavLink("API 文档", "/openapi.json", (Role.ADMIN,), "OpenAPI 3.1 (JSON)")))


def _end_live_streams(services: Services) -> Callable[[web.Application], Awaitable[None]]:
    async def end(_app: web.Application) -> None:
        # the console's feed streams until told otherwise: without this the server waits out its
        # shutdown timeout for every open console before it stops
        services.access.feed.close()

    return end


DEMO_OWNERS = (
    ("P010001", (Role.RESIDENT,)),  # owns two flats of building 1
    ("P010004", (Role.RESIDENT,)),  # represents a co-owned flat
    ("P010005", (Role.RESIDENT,)),  # the other co-owner: someone else votes for that flat
    ("P020001", (Role.RESIDENT, Role.COMMITTEE)),
)
"""Owners of the demo compound who get sign-in accounts (the ids the access demo gives its residents
and the ownership demo makes owners, whatever the simulator's seed)."""


async def seed_demo(services: Services, site: str, generator: TrafficGenerator, now: datetime) -> list[str]:
    """Demo data matching the simulated devices (each part only where the database has none):
    the compound and its ownership register, two proposals, the market, and sign-in accounts.
    Returns lines telling the user how to sign in."""
    from community.access.demo import seed_demo as seed_demo_community
    from community.ownership.demo import seed_demo_ownership
    from community.voting.demo import seed_demo_proposals
    from gateway.accounts.demo import DEMO_PASSWORD, DEMO_STAFF, DemoAccount, seed_demo_accounts
    from market.demo import seed_demo_market

    await seed_demo_community(services.access, site, generator.community_roster(), now)
    await seed_demo_ownership(services.ownership, services.access, site, now)
    await seed_demo_proposals(services.voting, site, now)
    await seed_demo_market(services.market, site, now, generator.market_roster(now))
    owners = []
    for owner_id, roles in DEMO_OWNERS:
        try:
            resident, _community = await services.access.resident(owner_id)
        except ResidentNotFound:  # a demo compound too small to have this person
            continue
        name = f"{resident.name}（业委会）" if Role.COMMITTEE in roles else resident.name
        owners.append(DemoAccount(owner_id, name, roles))
    created = await seed_demo_accounts(services.accounts, now, (*owners, *DEMO_STAFF))
    if not created:
        return []
    names = ", ".join(f"{account.account_id} {account.display_name} "
                      f"({', '.join(sorted(role.value for role in account.roles))})" for account in created)
    return [f"Demo accounts, password {DEMO_PASSWORD!r}: {names}"]


async def _tick(services: Services, interval_s: float, clock: Callable[[], datetime],
                stopping: asyncio.Event) -> None:
    """The services' periodic work: command retries and timeouts, offline gates, alarm rules."""
    while not await _stopped_within(stopping, interval_s):
        for name, tick in (("access", services.access.tick), ("market", services.market.tick),
                           ("voting", services.voting.tick)):
            try:
                await tick(clock())
            except Exception:  # the database may be down for a while: log and try again next time
                log.exception("service tick failed", extra={"service": name})


DEMO_REFRESH_S = 3600.0


async def _keep_demo_market(services: Services, site: str, generator: TrafficGenerator,
                            clock: Callable[[], datetime], stopping: asyncio.Event) -> None:
    """The simulated scales print batch ids with the day in them: register each day's batches."""
    from market.demo import seed_demo_market

    while not await _stopped_within(stopping, DEMO_REFRESH_S):
        try:
            await seed_demo_market(services.market, site, clock(), generator.market_roster(clock()))
        except Exception:
            log.exception("demo market refresh failed")


async def _stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stopping`` is set; True if it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()


DOWNLINK_WAIT_S = 5.0
STOP_WAIT_S = 15.0


@contextlib.asynccontextmanager
async def running(services: Services, settings: Settings,
                  clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                  demo: TrafficGenerator | None = None) -> AsyncIterator[list[str]]:
    """Connect the services to the broker and run their periodic work until the block ends; with
    ``demo``, seed the demo data first (yields the lines telling how to sign in).

    Order matters: the downlink first, so commands planned while seeding go out at once; the feeds
    after seeding, so the devices' retained states find their gates and scales registered. At the
    end the work in hand is let finish (a burst of uplinks, a tick) rather than cancelled in the
    middle of a transaction; the downlink goes last, as that work may still send commands."""
    downlink = asyncio.create_task(services.downlink.run(), name="downlink")
    with contextlib.suppress(TimeoutError):  # a broker slow to answer: commands wait and are retried
        await asyncio.wait_for(services.downlink.connected.wait(), DOWNLINK_WAIT_S)
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        notes = await seed_demo(services, settings.site, demo, clock()) if demo is not None else []
        if demo is not None:
            tasks.append(asyncio.create_task(_keep_demo_market(services, settings.site, demo, clock, stopping),
                                             name="demo"))
        tasks += [asyncio.create_task(feed.run(), name=f"service-feed-{index}") for index, feed in
                  enumerate(services.feeds)]
        tasks.append(asyncio.create_task(_tick(services, settings.service_tick_s, clock, stopping),
                                         name="service-tick"))
        yield notes
    finally:
        stopping.set()
        await asyncio.gather(*(feed.stop() for feed in services.feeds), return_exceptions=True)
        await _finish(tasks, STOP_WAIT_S)
        downlink.cancel()  # it keeps a connection and nothing else: nothing to finish
        await asyncio.gather(downlink, return_exceptions=True)


async def _finish(tasks: list[asyncio.Task[None]], wait_s: float) -> None:
    """Give ``tasks`` ``wait_s`` seconds to end by themselves, then cancel what is left."""
    if not tasks:
        return
    _done, late = await asyncio.wait(tasks, timeout=wait_s)
    for task in late:
        log.warning("cancelling a task that did not stop in time", extra={"task": task.get_name()})
        task.cancel()
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, Exception):
            log.error("a service task had failed", extra={"error": f"{type(outcome).__name__}: {outcome}"})
