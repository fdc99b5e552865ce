"""The services at work: connected to the broker, their periodic work (retries, timeouts, alarm rules, the
voting clock) and the notifications' dispatcher running, the demo seeded and kept fresh when asked (nothing seeded
otherwise: a new installation starts empty); and a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from aiohttp import web

from config.settings import Settings
from smartcity.bootstrap import Services
from smartcity.demo import DemoFleet, seed_demo, seed_demo_markets

log = logging.getLogger(__name__)


async def _tick(services: Services, interval_s: float, clock: Callable[[], datetime],
                stopping: asyncio.Event) -> None:
    """The services' periodic work: command retries and timeouts, offline gates, alarm rules."""
    while not await stopped_within(stopping, interval_s):
        for name, tick in (("access", services.access.tick), ("market", services.market.tick),
                           ("voting", services.voting.tick)):
            try:
                await tick(clock())
            except Exception:  # the database may be down for a while: log and try again next time
                log.exception("service tick failed", extra={"service": name})


async def stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stopping`` is set; True if it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()


DOWNLINK_WAIT_S = 5.0


STOP_WAIT_S = 15.0


@contextlib.asynccontextmanager
async def running(services: Services, settings: Settings,
                  clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                  demo: DemoFleet | None = None) -> AsyncIterator[list[str]]:
    """Connect the services to the broker and run their periodic work until the block ends; with
    ``demo``, seed the demo data first (yields the lines telling how to sign in); without, nothing is
    seeded (yields what to do first on an installation without accounts).

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
        notes = await seed_demo(services, settings.site, demo, clock()) if demo is not None else (
            await first_start_notes(services, settings, clock()))
        if demo is not None:
            tasks.append(asyncio.create_task(keep_demo_market(services, settings.site, demo, clock, stopping),
                                             name="demo"))
        tasks += [asyncio.create_task(feed.run(), name=f"service-feed-{index}") for index, feed in
                  enumerate(services.feeds)]
        tasks.append(asyncio.create_task(_tick(services, settings.service_tick_s, clock, stopping),
                                         name="service-tick"))
        tasks.append(asyncio.create_task(services.dispatcher.run(stopping), name="notifications"))
        yield notes
    finally:
        stopping.set()
        await asyncio.gather(*(feed.stop() for feed in services.feeds), return_exceptions=True)
        await _finish(tasks, STOP_WAIT_S)
        await services.http_poster.close()
        downlink.cancel()  # it keeps a connection and nothing else: nothing to finish
        await asyncio.gather(downlink, return_exceptions=True)


EMPTY_INSTALLATION_NOTE = "This installation has no accounts yet: create the first administrator"


async def first_start_notes(services: Services, settings: Settings, now: datetime) -> list[str]:
    """What to tell whoever started an installation without accounts (nothing once it has one): a one-time link
    to create the first administrator with, or the command (docs/accounts.md)."""
    host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::", "") else settings.http_host  # all: this one too
    base_url = settings.public_base_url or f"http://{host}:{settings.http_port}"
    setup = await services.accounts.setup_link_if_empty(now, base_url)
    if setup is None:
        return []
    return [f"{EMPTY_INSTALLATION_NOTE} at {setup} (one use, valid 24 hours), or run 'smartcity admin create "
            "USERNAME'; or start with --demo to try the demo."]


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


DEMO_REFRESH_S = 3600.0


async def keep_demo_market(services: Services, site: str, fleet: DemoFleet,
                            clock: Callable[[], datetime], stopping: asyncio.Event) -> None:
    """The simulated scales print batch ids with the day in them: register each day's batches."""
    while not await stopped_within(stopping, DEMO_REFRESH_S):
        try:
            await seed_demo_markets(services, site, fleet, clock())
        except Exception:
            log.exception("demo market refresh failed")


def services_context(services: Services, settings: Settings, clock: Callable[[], datetime],
                     demo: DemoFleet | None,
                     tell: Callable[[str], None]) -> Callable[[web.Application], AsyncIterator[None]]:
    """The services at work for as long as the application runs, as its ``cleanup_ctx``: started with it (after
    the demo is seeded, when asked for; ``tell`` gets the lines that say how to sign in), stopped with it."""

    async def run_services(_app: web.Application) -> AsyncIterator[None]:
        async with running(services, settings, clock, demo) as notes:
            for line in notes:
                tell(line)
            yield

    return run_services
