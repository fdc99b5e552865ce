"""A simulated traceability scale (追溯秤): the stall it serves and the goods on its price board, the sales it
records, and what it does with the market's commands (a pushed price table, a blocked or released batch)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from pydantic import ValidationError

from devices.contract import Command, CommandAck, Payment, ScaleRecord, expected_amount_fen
from devices.scale_commands import (
    BLOCK_BATCH,
    SET_PRICES,
    UNBLOCK_BATCH,
    BlockBatchArgs,
    BlockBatchResult,
    ScalePrice,
    SetPricesArgs,
    SetPricesResult,
    UnblockBatchArgs,
    UnblockBatchResult,
)
from devices.simulator.catalogue import BATCH_AGE_DAYS, PRODUCTS, Product, StallZone
from devices.simulator.firmware import CHINA_STANDARD_TIME, SimulatedDevice, new_device, wire_body
from devices.topics import DeviceKind

SHORT_WEIGHT_SHARE: Final = 0.01  # share of scale records whose amount is deliberately off by several fen
SHORT_WEIGHT_FEN: Final = (3, 15)
ANSWERS_KEPT: Final = 256  # acks remembered by command id, so that a redelivered command is not done twice

_PAYMENTS: Final[tuple[Payment | None, ...]] = (
    Payment.WECHAT,
    Payment.ALIPAY,
    Payment.CASH,
    Payment.UNIONPAY,
    Payment.CARD,
    Payment.OTHER,
    None,  # older scales do not know how the customer paid
)
_PAYMENT_WEIGHTS: Final = (45, 35, 9, 4, 2, 1, 4)

_SCALE_FIRMWARE: Final = ("TS-15 v2.1.7", "TS-30 v2.2.0", "TS-15 v1.9.4")


@dataclass(frozen=True, slots=True)
class StallItem:
    """A product on a stall's price board."""

    product: Product
    price_fen: int
    slot: int  # position on the stall's price board, part of the batch id
    batch_age_days: int


@dataclass(slots=True)
class TraceabilityScale(SimulatedDevice):
    """A scale's stall, goods and what the market told it; its sales come from the site's random stream."""

    stall: str = ""
    items: tuple[StallItem, ...] = ()
    price_table: dict[str, list[ScalePrice]] | None = None  # once the market has pushed one (set_prices)
    blocked_batches: set[str] = field(default_factory=set)
    answered: dict[str, CommandAck] = field(default_factory=dict)  # by cmd_id: a retry is acked, not redone

    def next_sale(self, now: datetime) -> dict[str, object] | None:
        """The record of the next sale as the scale sends it; None when there is nothing it may sell (no price
        in force, its batches blocked)."""
        return self._sale(now, self._sellable(now))

    def any_sale(self, now: datetime) -> dict[str, object] | None:
        """The record of a sale of anything on its board, price table and blocks aside."""
        return self._sale(now, [(item, item.price_fen) for item in self.items])

    def obey(self, command: Command, now: datetime) -> CommandAck:
        """Do what the market says and say how it went; a command seen before gets the same ack again."""
        if (known := self.answered.get(command.cmd_id)) is not None:
            return known
        if command.expires_at is not None and now >= command.expires_at:
            return CommandAck(cmd_id=command.cmd_id, ok=False, error="expired before it arrived")
        try:
            if command.op == SET_PRICES:
                result = self._load_prices(SetPricesArgs.model_validate(command.args))
            elif command.op == BLOCK_BATCH:
                self.blocked_batches.add(BlockBatchArgs.model_validate(command.args).batch)
                result = BlockBatchResult(blocked=True).model_dump()
            elif command.op == UNBLOCK_BATCH:
                # a block that never reached this scale is nothing to lift: acked all the same
                self.blocked_batches.discard(UnblockBatchArgs.model_validate(command.args).batch)
                result = UnblockBatchResult(unblocked=True).model_dump()
            else:
                return CommandAck(cmd_id=command.cmd_id, ok=False, error=f"unknown op {command.op!r}")
        except ValidationError as invalid:
            first = invalid.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            return CommandAck(cmd_id=command.cmd_id, ok=False, error=f"bad args: {where}: {first['msg']}"[:128])
        except ValueError as refused:
            return CommandAck(cmd_id=command.cmd_id, ok=False, error=str(refused)[:128])
        ack = self.answered[command.cmd_id] = CommandAck(cmd_id=command.cmd_id, ok=True, result=result)
        if len(self.answered) > ANSWERS_KEPT:
            del self.answered[next(iter(self.answered))]
        return ack

    def _sale(self, now: datetime, sellable: list[tuple[StallItem, int]]) -> dict[str, object] | None:
        rng = self.rng
        local = now.astimezone(CHINA_STANDARD_TIME)
        if not sellable:
            return None
        item, price_fen = rng.choice(sellable)
        low, high = item.product.sale_grams
        net_g = round(rng.triangular(low, high, low + (high - low) / 3))
        amount_fen = expected_amount_fen(net_g, price_fen)
        if rng.random() < SHORT_WEIGHT_SHARE:
            amount_fen += rng.randint(*SHORT_WEIGHT_FEN)
        record_id = self.next_id(now)
        record = ScaleRecord(
            device=self.device_id if self.names_itself else None,
            record_id=record_id,
            ts=now,
            stall=self.stall,
            plu=item.product.plu,
            product=item.product.name,
            net_g=net_g,
            unit_price_fen=price_fen,
            amount_fen=amount_fen,
            # as printed on the receipt: site, stall, sale time and the scale's counter
            trace_code=f"{self.site[:20]}-{self.stall}-{local:%Y%m%d%H%M%S}-{self.sequence:04d}",
            batch=batch_id(self.stall, item, local),
            payment=rng.choices(_PAYMENTS, _PAYMENT_WEIGHTS)[0],
        )
        return wire_body(record, now, self.ts_style)

    def _sellable(self, now: datetime) -> list[tuple[StallItem, int]]:
        """What the scale may sell now, at which price per kg: its board prices until the market pushes a
        table, then only the PLUs in it with a price in force; never from a blocked batch."""
        local = now.astimezone(CHINA_STANDARD_TIME)
        sellable = []
        for item in self.items:
            if batch_id(self.stall, item, local) in self.blocked_batches:
                continue
            if self.price_table is None:
                sellable.append((item, item.price_fen))
                continue
            in_force = [p for p in self.price_table.get(item.product.plu, ()) if p.effective_from <= now]
            if in_force:
                sellable.append((item, max(in_force, key=lambda p: p.effective_from).unit_price_fen))
        return sellable

    def _load_prices(self, args: SetPricesArgs) -> dict[str, object]:
        """Replace the scale's price table; a product it did not sell before is put on its board."""
        if args.stall != self.stall:
            raise ValueError(f"wrong stall: this scale serves {self.stall}, not {args.stall}")
        table: dict[str, list[ScalePrice]] = {}
        for price in args.prices:
            table.setdefault(price.plu, []).append(price)
        carried = {item.product.plu for item in self.items}
        known = {product.plu: product for product in PRODUCTS}
        new_items = [
            StallItem(known[plu], table[plu][0].unit_price_fen, slot, BATCH_AGE_DAYS[known[plu].zone])
            for slot, plu in enumerate(sorted((set(table) - carried) & set(known)), start=len(self.items) + 1)
        ]
        self.items = (*self.items, *new_items)
        self.price_table = table
        return SetPricesResult(prices_loaded=len(args.prices)).model_dump()


def new_scales(rng: random.Random, site: str, count: int, prefix: str = "") -> list[TraceabilityScale]:
    """``count`` scales spread over the zones in turn, each at its own stall with a few of the zone's goods;
    ``prefix`` goes before their ids."""
    zones = list(StallZone)
    per_zone = {zone: (count + len(zones) - 1 - index) // len(zones) for index, zone in enumerate(zones)}
    stall_numbers = {
        zone: iter(rng.sample(range(1, max(40, wanted) + 1), wanted))
        for zone, wanted in per_zone.items()
    }
    scales = []
    for number in range(1, count + 1):
        zone = zones[(number - 1) % len(zones)]
        stall = f"{zone.value}{next(stall_numbers[zone]):02d}"
        scales.append(_new_scale(rng, site, number, stall, zone, prefix))
    return scales


def _new_scale(rng: random.Random, site: str, number: int, stall: str, zone: StallZone,
               prefix: str) -> TraceabilityScale:
    scale = new_device(TraceabilityScale, rng, site, DeviceKind.SCALE, number, _SCALE_FIRMWARE, prefix)
    offered = [product for product in PRODUCTS if product.zone is zone]
    chosen = rng.sample(offered, min(len(offered), rng.randint(3, 6)))
    scale.stall = stall
    scale.items = tuple(
        StallItem(
            product,
            price_fen=_board_price(rng, product),
            slot=slot,
            batch_age_days=rng.randint(0, BATCH_AGE_DAYS[zone]),
        )
        for slot, product in enumerate(chosen, start=1)
    )
    return scale


def batch_id(stall: str, item: StallItem, local: datetime) -> str:
    """The incoming batch a scale prints on a sale on ``local``'s day (进货批次: arrival day, stall, slot)."""
    return f"B{local - timedelta(days=item.batch_age_days):%Y%m%d}-{stall}-{item.slot:02d}"


def _board_price(rng: random.Random, product: Product) -> int:
    low, high = product.price_fen_per_kg
    return rng.randint(low // 10, high // 10) * 10  # price boards show whole jiao per kg
