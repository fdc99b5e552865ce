"""The market's directory: markets, their stalls (and who held each when) and the scales standing at them;
with :func:`stall_overviews`, the licence status each stall shows, as the screens and reviews read it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from devices.scale_commands import SET_PRICES
from market.licences import StallLicenceStatus, assess_stall
from market.market_time import market_day
from market.scale_delivery import Delivery
from market.service.command_delivery import CommandDelivery, Outbox
from market.service.errors import Conflict, NotFound
from market.service.lookup import existing_market, existing_stall, require_vendor
from market.service.settings import MarketSettings
from market.stalls import Market, ScaleRegistration, Stall, Vendor
from market.storage import MarketRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StallOverview:
    stall: Stall
    vendor: Vendor | None
    licences: StallLicenceStatus


@dataclass(frozen=True)
class ScaleOverview:
    registration: ScaleRegistration
    last_price_push: Delivery | None


class MarketDirectory:
    """Markets, stalls and scales: created, changed, listed."""

    def __init__(self, engine: AsyncEngine, commands: CommandDelivery, clock: Callable[[], datetime],
                 settings: MarketSettings) -> None:
        self._engine = engine
        self._commands = commands
        self._clock = clock
        self._settings = settings

    async def create_market(self, market: Market, now: datetime) -> None:
        try:
            async with self._engine.begin() as connection:
                await MarketRepository(connection).add_market(market, now)
        except IntegrityError:
            raise Conflict(f"market {market.site!r} exists already") from None

    async def market(self, site: str) -> Market:
        async with self._engine.connect() as connection:
            return await existing_market(MarketRepository(connection), site)

    async def markets(self, limit: int, offset: int, sites: Collection[str] | None = None) -> list[Market]:
        async with self._engine.connect() as connection:
            return await MarketRepository(connection).markets(limit, offset, sites)

    async def add_stall(self, site: str, stall: Stall, now: datetime | None = None) -> None:
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            await existing_market(repository, site)
            await require_vendor(repository, site, stall.vendor_id)
            if await repository.stall(site, stall.stall) is not None:
                raise Conflict(f"stall {stall.stall!r} exists already")
            await repository.add_stall(site, stall)
            await repository.add_tenure(site, stall, now or self._clock())

    async def update_stall(self, site: str, stall: Stall, now: datetime | None = None) -> None:
        """Change a stall; a new name or vendor begins a new tenure, so the sales made before keep the
        name and vendor they were made under."""
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            await require_vendor(repository, site, stall.vendor_id)
            before = await repository.stall(site, stall.stall)
            if before is None or not await repository.update_stall(site, stall):
                raise NotFound(f"no stall {stall.stall!r} at market {site!r}")
            if (before.name, before.vendor_id) != (stall.name, stall.vendor_id):
                await repository.add_tenure(site, stall, now or self._clock())

    async def stalls(self, site: str, now: datetime, limit: int, offset: int) -> list[StallOverview]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_market(repository, site)
            found = await repository.stalls(site, limit, offset)
            return await stall_overviews(repository, site, found, market_day(now), self._settings.warning_days)

    async def register_scale(self, site: str, scale: str, stall: str, now: datetime) -> list[Delivery]:
        """Put a scale at a stall; it is sent the stall's price table at once."""
        outbox = Outbox()
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            await existing_stall(repository, site, stall)
            await repository.register_scale(site, scale, stall, now)
            outbox.deliveries.extend(await self._commands.push_price_table(repository, site, stall, now, only=scale))
        log.info("scale registered", extra={"site": site, "scale": scale, "stall": stall})
        return await self._commands.dispatch(outbox.deliveries, now)

    async def scales(self, site: str, limit: int, offset: int, stall: str | None = None) -> list[ScaleOverview]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_market(repository, site)
            found = await repository.scales(site, stall=stall, limit=limit, offset=offset)
            overviews = []
            for registration in found:
                last = await repository.deliveries(site, scale=registration.scale, op=SET_PRICES, limit=1)
                overviews.append(ScaleOverview(registration, last[0] if last else None))
        return overviews


async def stall_overviews(repository: MarketRepository, site: str, found: Sequence[Stall], today: date,
                          warning_days: tuple[int, ...]) -> list[StallOverview]:
    """Each stall with its vendor and the licence status its vendor's documents give it ``today``."""
    vendor_ids = [stall.vendor_id for stall in found if stall.vendor_id]
    held = await repository.documents(site, vendor_ids)
    vendors = await repository.vendors_by_id(site, vendor_ids)
    return [StallOverview(stall, vendors.get(stall.vendor_id) if stall.vendor_id else None,
                          assess_stall(stall.stall_type, held.get(stall.vendor_id, []) if stall.vendor_id else [],
                                       today, warning_days))
            for stall in found]
