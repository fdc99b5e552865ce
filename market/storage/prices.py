"""Storage of the prices the stalls publish: each stall's products with their unit price from a moment on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from market.pricing import PublishedPrice
from market.storage.repository import Repository
from market.storage.tables import prices

PricePair = tuple[str, str]  # stall, PLU


class PriceRepository(Repository):
    """Published prices, none ever changed: a new price is a new row from its moment on."""

    async def add_prices(self, site: str, published: Sequence[PublishedPrice]) -> None:
        await self._connection.execute(prices.insert(), [
            {"site": site, "stall": p.stall, "plu": p.plu, "product": p.product, "unit_price_fen": p.unit_price_fen,
             "effective_from": p.effective_from, "published_at": p.published_at, "published_by": p.published_by}
            for p in published])

    async def prices_from(self, site: str, at: datetime, stall: str | None = None,
                          pairs: Iterable[PricePair] | None = None, until: datetime | None = None
                          ) -> list[PublishedPrice]:
        """The prices in force at ``at`` (with any rival for the same moment) and every later one up to
        ``until`` (inclusive; all if None), for one stall, some stall/PLU pairs, or the whole market."""
        scope: list[ColumnElement[bool]] = [prices.c.site == site]
        if stall is not None:
            scope.append(prices.c.stall == stall)
        if pairs is not None:
            wanted = sorted(set(pairs))
            if not wanted:
                return []
            scope.append(tuple_(prices.c.stall, prices.c.plu).in_(wanted))
        anchor = (select(prices.c.stall, prices.c.plu, func.max(prices.c.effective_from).label("since"))
                  .where(*scope, prices.c.effective_from <= at).group_by(prices.c.stall, prices.c.plu).subquery())
        in_force = (select(prices).join(anchor, and_(prices.c.stall == anchor.c.stall, prices.c.plu == anchor.c.plu,
                                                     prices.c.effective_from == anchor.c.since)).where(*scope))
        later_scope = [*scope, prices.c.effective_from > at]
        if until is not None:
            later_scope.append(prices.c.effective_from <= until)
        rows = [*await self._rows(in_force), *await self._rows(select(prices).where(*later_scope))]
        return [_price(row) for row in rows]

    async def price_history(self, site: str, stall: str, plu: str | None, limit: int, offset: int
                            ) -> list[PublishedPrice]:
        statement = select(prices).where(prices.c.site == site, prices.c.stall == stall)
        if plu is not None:
            statement = statement.where(prices.c.plu == plu)
        rows = await self._rows(statement.order_by(prices.c.effective_from.desc(), prices.c.price_id.desc())
                                .limit(limit).offset(offset))
        return [_price(row) for row in rows]


def _price(row: Mapping[str, Any]) -> PublishedPrice:
    return PublishedPrice(row["stall"], row["plu"], row["product"], int(row["unit_price_fen"]), row["effective_from"],
                          row["published_at"], row["published_by"])
