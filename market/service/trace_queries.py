"""Tracing queries: where a batch went (its forward trace, and the same as an EPCIS document), and what a
shopper may learn from the trace code printed on a receipt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from market.epcis import MarketIdentifiers, batch_document
from market.service.errors import Refused
from market.service.lookup import existing_batch
from market.service.settings import MarketSettings
from market.stalls import Market
from market.storage import MarketRepository
from market.tracing import Batch, ForwardTrace, MassBalance, RapidTest, Sale, latest_tests


@dataclass(frozen=True)
class PublicTrace:
    """What a shopper may learn from a receipt's trace code: nothing about anyone's contact, payment,
    or who tested the produce. The stall's name and vendor are those of the time of sale."""

    market: Market | None
    sale: Sale
    stall_name: str | None
    vendor_name: str | None
    batch: Batch | None
    tests: list[RapidTest]


class TraceQueries:
    """Reads only: a batch forward to its sales, a sale back to its batch."""

    def __init__(self, engine: AsyncEngine, settings: MarketSettings) -> None:
        self._engine = engine
        self._settings = settings

    async def forward_trace(self, site: str, batch_id: str, limit: int, offset: int) -> ForwardTrace:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            batch = await existing_batch(repository, site, batch_id)
            count, grams, first, last = (await repository.batch_totals(site, [batch_id]))[batch_id]
            page = await repository.sales_of_batch(site, batch_id, limit, offset)
        return ForwardTrace(batch, MassBalance(batch.quantity_g, grams), count, page, first, last)

    async def trace(self, site: str, trace_code: str) -> PublicTrace | None:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            sale = await repository.sale_by_trace_code(site, trace_code)
            if sale is None:
                return None
            batch = await repository.batch(site, sale.batch_id) if sale.batch_id else None
            tests = (await repository.tests(site, [batch.batch_id]))[batch.batch_id] if batch else []
            market = await repository.market(site)
        # the stall and vendor as they were at the sale: a stall handed on since is someone else's now
        return PublicTrace(market, sale, sale.stall_name, sale.vendor_name, batch, latest_tests(tests))

    async def batch_epcis(self, site: str, batch_id: str, identifier_base: str, now: datetime) -> dict[str, Any]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            batch = await existing_batch(repository, site, batch_id)
            count, _, _, _ = (await repository.batch_totals(site, [batch_id]))[batch_id]
            if count > self._settings.epcis_max_sales:
                raise Refused(f"batch {batch_id!r} has {count} sales, more than one document holds "
                              f"({self._settings.epcis_max_sales})")
            tests = (await repository.tests(site, [batch_id]))[batch_id]
            sold = await repository.sales_of_batch(site, batch_id, None)
        return batch_document(batch, tests, sold, MarketIdentifiers(identifier_base), now)
