"""Commands to the scales, the outbox way: a use case creates its deliveries (a price table, a block, a
release) inside its transaction, and they are sent only after that transaction committed; a tick resends
what is due, and a scale back online is caught up with what it missed.

Which state a delivery moves to is decided in :mod:`market.scale_delivery`; here it is stored and sent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from devices.contract import Command
from devices.scale_commands import (
    BLOCK_BATCH,
    MAX_PRICES_PER_TABLE,
    SET_PRICES,
    UNBLOCK_BATCH,
    BlockBatchArgs,
    ScalePrice,
    SetPricesArgs,
    UnblockBatchArgs,
    block_batch_command,
    set_prices_command,
    unblock_batch_command,
)
from devices.topics import DeviceKind
from market.pricing import scale_price_table
from market.scale_delivery import (
    Delivery,
    DeliveryStatus,
    given_up,
    new_delivery,
    not_sent,
    out_of_attempts,
    rearmed,
    sent,
    superseded,
)
from market.service.errors import Refused
from market.service.lookup import existing_market
from market.service.settings import MarketSettings
from market.stalls import ScaleRegistration
from market.storage import MarketRepository
from market.tracing import Batch
from messaging.downlink import Downlink, DownlinkUnavailable

log = logging.getLogger(__name__)

SUPERSEDE_PAGE: Final = 200  # undelivered commands of a scale read at a time, when a block or release replaces one


@dataclass
class Outbox:
    """Commands to send once the transaction that produced them has committed."""

    deliveries: list[Delivery] = field(default_factory=list)


class CommandDelivery:
    """Creates the deliveries of commands inside a use case's transaction, and sends them after it."""

    def __init__(self, engine: AsyncEngine, downlink: Downlink, settings: MarketSettings) -> None:
        self._engine = engine
        self._downlink = downlink
        self._settings = settings

    async def deliveries(self, site: str, statuses: Iterable[DeliveryStatus] | None, scale: str | None,
                         limit: int, offset: int) -> list[Delivery]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_market(repository, site)
            return await repository.deliveries(site, scale=scale, statuses=statuses, limit=limit, offset=offset)

    async def tick(self, now: datetime) -> None:
        """Send the deliveries whose time has come (retries), give up those out of attempts."""
        async with self._engine.connect() as connection:
            due = await MarketRepository(connection).due_deliveries(now, self._settings.deliveries_per_tick)
        if due:
            await self.dispatch([delivery for delivery, _ in due], now)

    # -- inside the use case's transaction --------------------------------------------------------

    async def catch_up(self, repository: MarketRepository, site: str, registration: ScaleRegistration,
                       now: datetime) -> list[Delivery]:
        """A scale back online: its price table again if the last one was not acknowledged, and every
        unanswered recall and release at once."""
        due: list[Delivery] = []
        for op in (BLOCK_BATCH, UNBLOCK_BATCH):
            for waiting in await repository.deliveries(site, scale=registration.scale, op=op,
                                                       statuses=(DeliveryStatus.PENDING, DeliveryStatus.GIVEN_UP),
                                                       limit=100):
                again = rearmed(waiting, now)
                await repository.save_delivery(again)
                due.append(again)
        last = await repository.deliveries(site, scale=registration.scale, op=SET_PRICES, limit=1)
        if not last or last[0].status is not DeliveryStatus.ACKED:
            due.extend(await self.push_price_table(repository, site, registration.stall, now,
                                                   only=registration.scale))
        return due

    async def push_price_table(self, repository: MarketRepository, site: str, stall: str, now: datetime,
                               only: str | None = None) -> list[Delivery]:
        """A new ``set_prices`` delivery of the stall's table to each of its scales (or just ``only``),
        superseding the unanswered older ones."""
        table = scale_price_table(await repository.prices_from(site, now, stall=stall), stall, now)
        if not table:
            return []
        if len(table) > MAX_PRICES_PER_TABLE:
            raise Refused(f"a scale holds at most {MAX_PRICES_PER_TABLE} prices; stall {stall!r} has {len(table)}")
        args = SetPricesArgs(stall=stall, prices=[
            ScalePrice(plu=p.plu, product=p.product, unit_price_fen=p.unit_price_fen, effective_from=p.effective_from)
            for p in table])
        created = []
        for registration in await repository.scales(site, stall=stall):
            if only is not None and registration.scale != only:
                continue
            for older in await repository.deliveries(site, scale=registration.scale, op=SET_PRICES,
                                                     statuses=(DeliveryStatus.PENDING, DeliveryStatus.GIVEN_UP),
                                                     limit=100):
                await repository.save_delivery(superseded(older, now))
            cmd_id = _command_id("sp")
            delivery = new_delivery(cmd_id, site, registration.scale, stall, set_prices_command(cmd_id, args, now), now)
            await repository.add_delivery(delivery)
            created.append(delivery)
        return created

    async def block_on_scales(self, repository: MarketRepository, site: str, batch: Batch, reason: str,
                              now: datetime) -> list[Delivery]:
        """A ``block_batch`` delivery to every scale that may sell the batch, superseding the release not
        yet delivered."""
        args = BlockBatchArgs(batch=batch.batch_id, plu=batch.plu, reason=reason[:128], blocked_at=now)
        return await self._to_each_scale(repository, site, batch, UNBLOCK_BATCH, now,
                                         lambda: block_batch_command(_command_id("bb"), args, now))

    async def unblock_on_scales(self, repository: MarketRepository, site: str, batch: Batch, reason: str,
                                now: datetime) -> list[Delivery]:
        """An ``unblock_batch`` delivery to every scale a block would go to, superseding the block not
        yet delivered (a scale offline all along need not hear of it at all)."""
        args = UnblockBatchArgs(batch=batch.batch_id, plu=batch.plu, reason=reason[:128], released_at=now)
        return await self._to_each_scale(repository, site, batch, BLOCK_BATCH, now,
                                         lambda: unblock_batch_command(_command_id("ub"), args, now))

    async def _to_each_scale(self, repository: MarketRepository, site: str, batch: Batch, superseded_op: str,
                             now: datetime, new_command: Callable[[], Command]) -> list[Delivery]:
        """A delivery of a new command to every scale that may sell the batch, each superseding that
        scale's undelivered ``superseded_op`` for the batch (a block and its release cancel out)."""
        created = []
        for scale, stall in sorted((await self._scales_of_batch(repository, site, batch)).items()):
            await self._supersede(repository, site, scale, superseded_op, batch.batch_id, now)
            command = new_command()
            delivery = new_delivery(command.cmd_id, site, scale, stall, command, now)
            await repository.add_delivery(delivery)
            created.append(delivery)
        return created

    async def _scales_of_batch(self, repository: MarketRepository, site: str, batch: Batch) -> dict[str, str]:
        """The scales that may sell the batch, with their stalls: those at its stall and any other that
        has sold from it."""
        scales = {r.scale: r.stall for r in await repository.scales(site, stall=batch.stall)}
        for sale in await repository.sales_of_batch(site, batch.batch_id, None):
            scales.setdefault(sale.scale, sale.stall)
        return scales

    async def _supersede(self, repository: MarketRepository, site: str, scale: str, op: str, batch_id: str,
                         now: datetime) -> None:
        """Settle as superseded every undelivered ``op`` of the batch to the scale, however many other
        commands wait for that scale (read page by page, all of them before any is changed)."""
        unsettled: list[Delivery] = []
        while True:
            page = await repository.deliveries(site, scale=scale, op=op, limit=SUPERSEDE_PAGE, offset=len(unsettled),
                                               statuses=(DeliveryStatus.PENDING, DeliveryStatus.GIVEN_UP))
            unsettled += page
            if len(page) < SUPERSEDE_PAGE:
                break
        for older in unsettled:
            if older.args.get("batch") == batch_id:
                await repository.save_delivery(superseded(older, now))

    # -- after it committed ---------------------------------------------------------------------------

    async def dispatch(self, deliveries: Sequence[Delivery], now: datetime) -> list[Delivery]:
        """Send what is due (give up what is out of attempts) and store each outcome, unless someone
        settled that delivery meanwhile (an ack that came in, a newer table)."""
        if not deliveries:
            return []
        policy = self._settings.delivery
        offline = await self._offline_scales(deliveries)
        outcomes: list[tuple[Delivery, Delivery]] = []
        waiting: list[Delivery] = []
        broker_down: str | None = None
        for delivery in deliveries:
            if (delivery.site, delivery.scale) in offline:
                waiting.append(delivery)  # sent when the scale says it is back
                continue
            if out_of_attempts(delivery, policy):
                outcomes.append((delivery, given_up(delivery, now)))
                log.warning("scale never answered; given up",
                            extra={"site": delivery.site, "scale": delivery.scale, "cmd_id": delivery.cmd_id,
                                   "op": delivery.op, "attempts": delivery.attempts})
                continue
            if broker_down is None:
                try:
                    await self._downlink.send(delivery.site, DeviceKind.SCALE, delivery.scale, delivery.command())
                except DownlinkUnavailable as unavailable:
                    broker_down = str(unavailable) or "downlink unavailable"
            if broker_down is None:
                outcomes.append((delivery, sent(delivery, now, policy)))
            else:
                outcomes.append((delivery, not_sent(delivery, now, broker_down, policy)))
        if broker_down is not None:
            log.warning("commands wait for the broker", extra={"commands": len(deliveries), "error": broker_down})
        stored = list(waiting)
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            for before, after in outcomes:
                if await repository.save_delivery(after, expected=before):
                    stored.append(after)
                else:
                    current = await repository.delivery(before.cmd_id)
                    stored.append(current or after)
        return stored

    async def _offline_scales(self, deliveries: Sequence[Delivery]) -> set[tuple[str, str]]:
        offline: set[tuple[str, str]] = set()
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            for site in {delivery.site for delivery in deliveries}:
                scales = await repository.scales(site, ids={d.scale for d in deliveries if d.site == site})
                offline.update((site, r.scale) for r in scales if r.online is False)
        return offline


def _command_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"
