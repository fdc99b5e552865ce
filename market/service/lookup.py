"""Loading what a use case names inside its transaction, or answering that it is not there: a missing
market, stall or batch is :class:`NotFound`; a stall given to a vendor not yet added is :class:`Refused`."""

from __future__ import annotations

from market.service.errors import NotFound, Refused
from market.stalls import Market, Stall
from market.storage import MarketRepository
from market.tracing import Batch


def no_market(site: str) -> NotFound:
    """What a use case answers for a market that does not exist; the web layer answers the same for a market
    outside the caller's scope, so the two cannot be told apart."""
    return NotFound(f"no market {site!r}")


async def existing_market(repository: MarketRepository, site: str) -> Market:
    market = await repository.market(site)
    if market is None:
        raise no_market(site)
    return market


async def existing_stall(repository: MarketRepository, site: str, code: str) -> Stall:
    stall = await repository.stall(site, code)
    if stall is None:
        raise NotFound(f"no stall {code!r} at market {site!r}")
    return stall


async def existing_batch(repository: MarketRepository, site: str, batch_id: str) -> Batch:
    batch = await repository.batch(site, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id!r} at market {site!r}")
    return batch


async def require_vendor(repository: MarketRepository, site: str, vendor_id: str | None) -> None:
    """A stall may have no vendor; the one it names must have been added."""
    if vendor_id is not None and await repository.vendor(site, vendor_id) is None:
        raise Refused(f"no vendor {vendor_id!r} at market {site!r}: add the vendor first")
