"""The market's notifications (issue 14), recorded in the outbox on the connection of the use case's transaction:
a failed rapid test, a recall, a release, a price or amount finding — notified if and only if the change commits.
Without an outbox (tests of the market alone) nothing is recorded. The daily licence check is
:mod:`market.service.licence_check`; the words are :mod:`market.notices`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from market.findings import Finding
from market.notices import (
    PRICE_FINDINGS,
    finding_event,
    recalled_event,
    released_event,
    test_failed_event,
)
from market.stalls import Market
from market.storage import MarketRepository
from market.tracing import Batch, RapidTest
from notifications.outbox import Outbox


class MarketNotices:
    def __init__(self, outbox: Outbox | None) -> None:
        self._outbox = outbox

    async def test_failed(self, repository: MarketRepository, site: str, batch: Batch, test: RapidTest,
                          now: datetime) -> None:
        if self._outbox is not None:
            market = await _market(repository, site)
            await self._outbox.add(repository.connection, test_failed_event(market, batch, test, now))

    async def recalled(self, repository: MarketRepository, site: str, batch: Batch, reason: str, by: str,
                       now: datetime) -> None:
        if self._outbox is not None:
            market = await _market(repository, site)
            await self._outbox.add(repository.connection, recalled_event(market, batch, reason, by, now))

    async def released(self, repository: MarketRepository, site: str, batch: Batch, reason: str, by: str,
                       now: datetime) -> None:
        if self._outbox is not None:
            market = await _market(repository, site)
            await self._outbox.add(repository.connection, released_event(market, batch, reason, by, now))

    async def findings(self, repository: MarketRepository, site: str, new: Sequence[Finding]) -> None:
        """The new price and amount findings among ``new``."""
        told = [finding for finding in new if finding.kind in PRICE_FINDINGS]
        if self._outbox is None or not told:
            return
        market = await _market(repository, site)
        for finding in told:
            await self._outbox.add(repository.connection, finding_event(market, finding))


async def _market(repository: MarketRepository, site: str) -> Market:
    market = await repository.market(site)
    assert market is not None  # the use case found its batch at this market in the same transaction
    return market
