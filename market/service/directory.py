"""The market's directory: markets (and their own licence policy), their stalls (what each sells, who works there,
who held each when) and the scales standing at them; with :func:`stall_overviews`, the licence status each stall
shows, as the screens and reviews read it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from devices.scale_commands import SET_PRICES
from market.corrections import Correction, CorrectionKind
from market.licences import LicencePolicy, StaffMember, StallLicenceStatus, assess_stall, roster_problem
from market.market_time import market_day
from market.scale_delivery import Delivery
from market.service.command_delivery import CommandDelivery, Outbox
from market.service.errors import Conflict, NotFound, Refused, Unchanged
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
    staff: tuple[StaffMember, ...] = ()
    """The stall's roster, by name (each person's certificate, when they need one, is in ``licences``)."""


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

    async def set_licence_policy(self, site: str, policy: LicencePolicy, reason: str, by: str, now: datetime
                                 ) -> Market:
        """Change what the market asks of its stalls beyond the law, saying why (an audit entry)."""
        if not reason.strip():
            raise Refused("say why the market's licence rules change")
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            before = await existing_market(repository, site)
            if before.policy == policy:
                raise Unchanged("the market asks this already: nothing to change")
            await repository.set_policy(site, policy)
            await repository.add_correction(site, Correction(
                CorrectionKind.LICENCE_POLICY, site, reason, by, now,
                {"health_certificate_every_stall_before": before.policy.health_certificate_every_stall,
                 "health_certificate_every_stall": policy.health_certificate_every_stall,
                 "licence_for_farmers_before": before.policy.licence_for_farmers,
                 "licence_for_farmers": policy.licence_for_farmers}))
        log.info("licence policy changed", extra={"site": site, "by": by})
        return replace(before, policy=policy)

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
            market = await existing_market(repository, site)
            found = await repository.stalls(site, limit, offset)
            return await stall_overviews(repository, market, found, market_day(now), self._settings.warning_days)

    async def set_staff(self, site: str, stall: str, staff: Sequence[StaffMember], by: str, now: datetime) -> None:
        """Make ``staff`` the stall's roster (who works there, and who of them handles ready-to-eat food)."""
        problem = roster_problem(staff)
        if problem is not None:
            raise Refused(problem)
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            await existing_stall(repository, site, stall)
            await repository.replace_staff(site, stall, staff, by, now)
        log.info("stall roster changed", extra={"site": site, "stall": stall, "staff": len(staff), "by": by})

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


async def stall_overviews(repository: MarketRepository, market: Market, found: Sequence[Stall], today: date,
                          warning_days: tuple[int, ...]) -> list[StallOverview]:
    """Each stall with its vendor, its roster and the licence status ``today`` of what it sells, by its vendor's
    documents, its roster and the market's policy."""
    site = market.site
    vendor_ids = [stall.vendor_id for stall in found if stall.vendor_id]
    held = await repository.documents(site, vendor_ids)
    vendors = await repository.vendors_by_id(site, vendor_ids)
    rosters = await repository.staff(site, [stall.stall for stall in found])
    overviews = []
    for stall in found:
        vendor = vendors.get(stall.vendor_id) if stall.vendor_id else None
        staff = tuple(rosters.get(stall.stall, ()))
        licences = assess_stall(stall.offerings, held.get(stall.vendor_id, []) if stall.vendor_id else [], today,
                                warning_days, staff=staff, self_producing=vendor is not None and vendor.self_producing,
                                policy=market.policy)
        overviews.append(StallOverview(stall, vendor, licences, staff))
    return overviews
