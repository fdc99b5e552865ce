"""What the scales say, applied in bursts: records become sales (once each, linked to their batch, with
the findings they raise), acks settle deliveries, and states track availability, catching a returning
scale up. Idempotent: a redelivered record is one sale, a redelivered ack changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from devices.contract import CommandAck, DeviceState, ScaleRecord, UplinkModel
from devices.topics import DeviceKind, DeviceTopic
from market.findings import Finding
from market.pricing import PublishedPrice, price_in_force, pricing_findings
from market.scale_delivery import Delivery, acknowledged
from market.service.command_delivery import CommandDelivery, Outbox
from market.service.notices import MarketNotices
from market.service.oversight import raise_findings
from market.service.settings import MarketSettings
from market.stalls import tenure_at
from market.storage import MarketRepository
from market.tracing import Batch, MassBalance, Sale, link_sale, oversold_finding, tracing_findings

log = logging.getLogger(__name__)


class ScaleUplinks:
    """The scales' records, acks and states, one transaction per site of a burst."""

    def __init__(self, engine: AsyncEngine, commands: CommandDelivery, clock: Callable[[], datetime],
                 settings: MarketSettings, notices: MarketNotices | None = None) -> None:
        self._engine = engine
        self._notices = notices
        self._commands = commands
        self._clock = clock
        self._settings = settings

    async def handle(self, messages: Sequence[tuple[DeviceTopic, UplinkModel]]) -> None:
        """Apply a burst of scale uplinks: records become sales (once each), acks settle deliveries,
        states track availability and catch a returning scale up."""
        now = self._clock()
        by_site: dict[str, list[tuple[DeviceTopic, UplinkModel]]] = {}
        for topic, message in messages:
            if topic.kind is DeviceKind.SCALE:
                by_site.setdefault(topic.site, []).append((topic, message))
        for site, burst in by_site.items():
            outbox = Outbox()
            async with self._engine.begin() as connection:
                repository = MarketRepository(connection)
                await self._record_sales(repository, site, [(t.device, m) for t, m in burst
                                                            if isinstance(m, ScaleRecord)], now)
                await self._apply_acks(repository, site, [(t.device, m) for t, m in burst
                                                          if isinstance(m, CommandAck)], now)
                outbox.deliveries.extend(await self._apply_states(
                    repository, site, [(t.device, m) for t, m in burst if isinstance(m, DeviceState)], now))
            await self._commands.dispatch(outbox.deliveries, now)

    async def _record_sales(self, repository: MarketRepository, site: str,
                            records: Sequence[tuple[str, ScaleRecord]], now: datetime) -> None:
        unique: dict[tuple[str, str], Sale] = {}
        for scale, record in records:
            unique.setdefault((scale, record.record_id), Sale.from_record(scale, record))
        known = await repository.known_sales(site, unique)
        fresh = [sale for key, sale in unique.items() if key not in known]
        if not fresh:
            return
        registered = {r.scale: r.stall for r in await repository.scales(site, ids={s.scale for s in fresh})}
        pairs = {(s.stall, s.plu) for s in fresh}
        earliest, latest = min(s.ts for s in fresh), max(s.ts for s in fresh)
        published: dict[tuple[str, str], list[PublishedPrice]] = {}
        for price in await repository.prices_from(site, earliest, pairs=pairs, until=latest):
            published.setdefault((price.stall, price.plu), []).append(price)
        named = await repository.batches_by_id(site, {s.claimed_batch for s in fresh if s.claimed_batch})
        nearby = await repository.batches(site, pairs=pairs, arrived_since=earliest - self._settings.
                                          current_batch_lookback, arrived_until=latest, limit=None)
        tenures = await repository.tenures(site, {s.stall for s in fresh})
        holders = await repository.vendors_by_id(site, {t.vendor_id for ts in tenures.values() for t in ts
                                                        if t.vendor_id})
        linked, findings = [], []
        for sale in fresh:
            link = link_sale(sale, named, nearby)
            tenure = tenure_at(tenures.get(sale.stall, ()), sale.ts)
            holder = holders.get(tenure.vendor_id) if tenure and tenure.vendor_id else None
            sale = replace(sale, batch_id=link.batch.batch_id if link.batch else None,
                           stall_name=tenure.name if tenure else None, vendor_id=holder.vendor_id if holder else None,
                           vendor_name=holder.name if holder else None)
            linked.append(sale)
            findings.extend(tracing_findings(sale, link))
            in_force = price_in_force(published.get((sale.stall, sale.plu), ()), sale.stall, sale.plu, sale.ts)
            findings.extend(pricing_findings(sale, in_force, registered.get(sale.scale)))
        await repository.add_sales(site, linked, now)
        findings.extend(await self._mass_balance(repository, site, linked, {**{b.batch_id: b for b in nearby},
                                                                             **named}))
        raised = await raise_findings(repository, site, findings, now, self._notices)
        log.debug("sales recorded", extra={"site": site, "sales": len(linked), "findings": raised})

    async def _mass_balance(self, repository: MarketRepository, site: str, linked: Sequence[Sale],
                            batches: dict[str, Batch]) -> list[Finding]:
        last_sale: dict[str, datetime] = {}
        for sale in linked:
            if sale.batch_id is not None:
                last_sale[sale.batch_id] = max(sale.ts, last_sale.get(sale.batch_id, sale.ts))
        totals = await repository.batch_totals(site, last_sale)
        found = []
        for batch_id, at in last_sale.items():
            batch = batches[batch_id]
            finding = oversold_finding(batch, MassBalance(batch.quantity_g, totals[batch_id][1]), at,
                                       self._settings.oversold_tolerance_g)
            if finding is not None:
                found.append(finding)
        return found

    async def _apply_acks(self, repository: MarketRepository, site: str, acks: Sequence[tuple[str, CommandAck]],
                          now: datetime) -> None:
        if not acks:
            return
        found = await repository.deliveries_by_id(ack.cmd_id for _, ack in acks)
        for scale, ack in acks:
            delivery = found.get(ack.cmd_id)
            if delivery is None or delivery.site != site or delivery.scale != scale:
                log.info("ack of no command of ours", extra={"site": site, "scale": scale, "cmd_id": ack.cmd_id})
                continue
            settled = acknowledged(delivery, ack.ok, ack.error, ack.result, now)
            if settled != delivery:
                await repository.save_delivery(settled)
                found[ack.cmd_id] = settled
                log.info("scale answered", extra={"site": site, "scale": scale, "cmd_id": ack.cmd_id,
                                                  "op": delivery.op, "status": settled.status.value})

    async def _apply_states(self, repository: MarketRepository, site: str,
                            states: Sequence[tuple[str, DeviceState]], now: datetime) -> list[Delivery]:
        if not states:
            return []
        registered = {r.scale: r for r in await repository.scales(site, ids={scale for scale, _ in states})}
        pushes: list[Delivery] = []
        for scale, state in states:
            registration = registered.get(scale)
            if registration is None or registration.online is state.online:
                continue
            await repository.set_online(site, scale, state.online, state.ts or now)
            registered[scale] = replace(registration, online=state.online)
            log.info("scale availability", extra={"site": site, "scale": scale, "online": state.online})
            if state.online:
                pushes.extend(await self._commands.catch_up(repository, site, registration, now))
        return pushes
