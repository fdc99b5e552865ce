"""Storage of the market context (SQLAlchemy Core, async): the tables in :mod:`market.storage.tables`, a
repository per aggregate beside them, and :class:`MarketRepository`, all of them on one connection, for
the use cases. The domain's dataclasses are converted in the repositories, at the edge."""

from market.storage.market_repository import MarketRepository

__all__ = ["MarketRepository"]
