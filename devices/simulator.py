"""Simulated gates (门禁 access controllers) and traceability scales (追溯秤) speaking the device contract.

:class:`TrafficGenerator` is pure: every message follows from the seed and the ``now`` values the caller
passes in, so a test can replay a day at a farmers' market or a residential compound exactly. Each good
message is built from the contract's pydantic models (so it validates) and then serialised the way
firmware does it: ``ts`` as RFC 3339 with the +08:00 offset or as epoch milliseconds, Chinese as UTF-8.
With probability ``bad_ratio`` a deliberately malformed message is produced instead, one for each
dead-letter reason of the gateway in turn.

:func:`run_simulation` at the bottom is the asyncio part: one MQTT connection per simulated device, each
with its own last will, publishing the generator's traffic at a steady rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import json
import logging
import random
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum, StrEnum
from typing import Final, TypeVar

import aiomqtt
from pydantic import BaseModel, ValidationError

from devices.contract import (
    AccessMethod,
    Command,
    CommandAck,
    DenialReason,
    DeviceState,
    Direction,
    GateEvent,
    GateEventKind,
    Payment,
    ScaleRecord,
    expected_amount_fen,
)
from devices.gate_commands import CredentialKind
from devices.gate_memory import Denied, GateMemory, PassAdmitted
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
from devices.topics import DATA_CHANNEL, PREFIX, Channel, DeviceKind, TopicError, parse_topic, topic_for

log = logging.getLogger(__name__)

# Asia/Shanghai has kept +08:00 without daylight saving since 1991; a fixed offset needs no tzdata.
CHINA_STANDARD_TIME: Final = timezone(timedelta(hours=8))
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

DATA_QOS: Final = 1
STATE_QOS: Final = 1
SHORT_WEIGHT_SHARE: Final = 0.01  # share of scale records whose amount is deliberately off by several fen
SHORT_WEIGHT_FEN: Final = (3, 15)
HELD_OPEN_AFTER: Final = timedelta(seconds=30)  # controllers raise held_open when a door stays open this long
VISITOR_SHARE: Final = 0.04  # share of a synced gate's entries that are visitors showing a valid pass
# The gateway's default payload limit is 64 KiB; oversized messages are well past it.
OVERSIZED_PAYLOAD_BYTES: Final = 64 * 1024 + 4096


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One MQTT publication of a simulated device; ``bad`` marks a deliberately malformed one."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    bad: bool


# -- what the market sells --------------------------------------------------------------------------


class StallZone(StrEnum):
    """Market halls are zoned by what is sold; the zone letter starts the stall code (``B07``)."""

    VEGETABLES = "A"  # 蔬菜区
    MEAT = "B"  # 肉禽区
    AQUATIC = "C"  # 水产区
    FRUIT = "D"  # 水果区
    EGGS_AND_SOY = "E"  # 蛋品豆制品区


@dataclass(frozen=True, slots=True)
class Product:
    """A product sold by weight: price range in fen per kg and the usual size of one sale in grams."""

    plu: str
    name: str
    zone: StallZone
    price_fen_per_kg: tuple[int, int]
    sale_grams: tuple[int, int]


_Z = StallZone
PRODUCTS: Final[tuple[Product, ...]] = (
    Product("1001", "西红柿", _Z.VEGETABLES, (600, 900), (300, 1500)),
    Product("1002", "大白菜", _Z.VEGETABLES, (160, 300), (1200, 3500)),
    Product("1003", "土豆", _Z.VEGETABLES, (300, 500), (500, 2500)),
    Product("1004", "黄瓜", _Z.VEGETABLES, (500, 800), (300, 1200)),
    Product("1005", "青椒", _Z.VEGETABLES, (600, 1000), (200, 800)),
    Product("1006", "茄子", _Z.VEGETABLES, (500, 900), (300, 1200)),
    Product("1007", "胡萝卜", _Z.VEGETABLES, (300, 500), (300, 1500)),
    Product("1008", "菠菜", _Z.VEGETABLES, (800, 1400), (200, 700)),
    Product("1009", "芹菜", _Z.VEGETABLES, (400, 700), (300, 1000)),
    Product("1010", "大葱", _Z.VEGETABLES, (400, 700), (300, 1200)),
    Product("1011", "生姜", _Z.VEGETABLES, (1200, 2000), (50, 300)),
    Product("1012", "大蒜", _Z.VEGETABLES, (1000, 1600), (100, 500)),
    Product("2001", "猪肉", _Z.MEAT, (2600, 3200), (300, 2000)),
    Product("2002", "排骨", _Z.MEAT, (4400, 5600), (500, 2000)),
    Product("2003", "牛肉", _Z.MEAT, (7000, 9000), (300, 1500)),
    Product("2004", "羊肉", _Z.MEAT, (7000, 9000), (300, 1500)),
    Product("2005", "鸡胸肉", _Z.MEAT, (1600, 2200), (300, 1200)),
    Product("2006", "鸡腿", _Z.MEAT, (1800, 2600), (400, 1500)),
    Product("3001", "草鱼", _Z.AQUATIC, (1400, 2000), (800, 2500)),
    Product("3002", "鲫鱼", _Z.AQUATIC, (1800, 2600), (300, 1000)),
    Product("3003", "鲈鱼", _Z.AQUATIC, (4000, 6000), (400, 1000)),
    Product("3004", "基围虾", _Z.AQUATIC, (8000, 12000), (250, 1000)),
    Product("3005", "花蛤", _Z.AQUATIC, (1000, 1600), (300, 1000)),
    Product("4001", "苹果", _Z.FRUIT, (800, 1400), (500, 2500)),
    Product("4002", "香蕉", _Z.FRUIT, (500, 800), (500, 2000)),
    Product("4003", "橙子", _Z.FRUIT, (700, 1200), (500, 2500)),
    Product("4004", "葡萄", _Z.FRUIT, (1200, 2400), (300, 1500)),
    Product("4005", "西瓜", _Z.FRUIT, (200, 400), (2000, 8000)),
    Product("5001", "鸡蛋", _Z.EGGS_AND_SOY, (1000, 1300), (500, 2500)),
    Product("5002", "鸭蛋", _Z.EGGS_AND_SOY, (1400, 1800), (500, 1500)),
    Product("5003", "豆腐", _Z.EGGS_AND_SOY, (500, 800), (300, 1000)),
    Product("5004", "豆芽", _Z.EGGS_AND_SOY, (300, 500), (200, 800)),
    Product("5005", "腐竹", _Z.EGGS_AND_SOY, (3000, 4000), (100, 500)),
)

# How many days before the sale a batch may have come in: meat and fish arrive every morning.
_BATCH_AGE_DAYS: Final[Mapping[StallZone, int]] = {
    _Z.VEGETABLES: 1,
    _Z.MEAT: 0,
    _Z.AQUATIC: 0,
    _Z.FRUIT: 3,
    _Z.EGGS_AND_SOY: 4,
}

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

_GATE_FIRMWARE: Final = ("AC-4000 v3.2.1", "AC-4000 v3.3.0", "AC-2100 v2.8.7")
_SCALE_FIRMWARE: Final = ("TS-15 v2.1.7", "TS-30 v2.2.0", "TS-15 v1.9.4")
_DOOR_NAMES: Final = ("东门", "南门", "北门", "地库入口")


# -- simulated devices (mutable state, private to the generator) -----------------------------------


class _TimestampStyle(Enum):
    RFC3339_CST = "rfc3339"
    EPOCH_MS = "epoch_ms"


@dataclass(frozen=True, slots=True)
class _Resident:
    person_id: str
    card: str  # IC card number as printed: the card UID in 10 decimal digits
    face_enrolled: bool
    face_ref: str  # the face template's reference: what a face terminal reports, never the person's id


@dataclass(frozen=True, slots=True)
class _GateDraft:
    """A gate event before it gets its id: the id is given in the order events are sent."""

    ts: datetime
    door: int
    kind: GateEventKind
    method: AccessMethod | None = None
    credential: str | None = None
    direction: Direction | None = None
    reason: DenialReason | None = None
    offline: bool = False


@dataclass(slots=True)
class _Device:
    kind: DeviceKind
    device_id: str
    topic: str
    ts_style: _TimestampStyle
    names_itself: bool  # whether the firmware puts "device" in the body
    firmware: str
    sequence: int = 0
    boot_tag: str | None = None

    def next_id(self, now: datetime) -> str:
        """Boot time and a counter, as controllers number records: unique per device, even across runs."""
        if self.boot_tag is None:
            self.boot_tag = now.astimezone(CHINA_STANDARD_TIME).strftime("%y%m%d%H%M%S")
        self.sequence += 1
        return f"{self.boot_tag}-{self.sequence:06d}"


@dataclass(slots=True)
class _Gate(_Device):
    doors: int = 1
    residents: tuple[_Resident, ...] = ()
    expired_cards: tuple[str, ...] = ()  # moved-out tenants, lapsed contracts
    blacklisted_cards: tuple[str, ...] = ()
    known_cards: frozenset[str] = frozenset()
    backlog: deque[_GateDraft] = field(default_factory=deque)  # buffered while offline, sent first
    scheduled: list[tuple[datetime, int, _GateDraft]] = field(default_factory=list)  # heap by due time
    busy_doors: set[int] = field(default_factory=set)  # doors with an open/close cycle under way
    memory: GateMemory | None = None  # the controller's whitelist, when the platform keeps it in sync
    handled_commands: deque[str] = field(default_factory=lambda: deque(maxlen=256))


@dataclass(frozen=True, slots=True)
class _StallItem:
    product: Product
    price_fen: int
    slot: int  # position on the stall's price board, part of the batch id
    batch_age_days: int


@dataclass(slots=True)
class _Scale(_Device):
    stall: str = ""
    items: tuple[_StallItem, ...] = ()
    price_table: dict[str, list[ScalePrice]] | None = None  # once the market has pushed one (set_prices)
    blocked_batches: set[str] = field(default_factory=set)
    answered: dict[str, CommandAck] = field(default_factory=dict)  # by cmd_id: a retry is acked, not redone


_AnyDevice = TypeVar("_AnyDevice", _Gate, _Scale)


class _Malformation(Enum):
    BAD_JSON = "bad_json"
    NOT_UTF8 = "not_utf8"
    SCHEMA = "schema"
    UNKNOWN_TOPIC = "unknown_topic"
    DEVICE_MISMATCH = "device_mismatch"
    TOO_LARGE = "too_large"


_MALFORMATIONS: Final = tuple(_Malformation)
_VARIANTS_PER_MALFORMATION: Final = 3


class _GateOutcome(Enum):
    GRANTED = "granted"
    DENIED = "denied"
    OFFLINE_BACKLOG = "offline_backlog"
    FORCED = "forced"
    TAMPER = "tamper"


_GATE_OUTCOMES: Final = tuple(_GateOutcome)
_GATE_OUTCOME_WEIGHTS: Final = (880, 100, 8, 3, 1)
_GRANT_METHODS: Final = (
    AccessMethod.CARD,
    AccessMethod.FACE,
    AccessMethod.QR,
    AccessMethod.BUTTON,
    AccessMethod.REMOTE,
)
_GRANT_METHOD_WEIGHTS: Final = (50, 30, 12, 6, 2)
_DENIALS: Final = tuple(DenialReason)
_DENIAL_WEIGHTS: Final = {
    DenialReason.UNKNOWN_CREDENTIAL: 40,
    DenialReason.EXPIRED: 25,
    DenialReason.NO_PERMISSION: 15,
    DenialReason.OUTSIDE_SCHEDULE: 12,
    DenialReason.BLACKLISTED: 8,
}


@dataclass(frozen=True, slots=True)
class SimulatedItem:
    """What a simulated scale sells: the product, its board price and the batch it prints today."""

    plu: str
    product: str
    price_fen_per_kg: int
    batch: str


@dataclass(frozen=True, slots=True)
class SimulatedStall:
    scale_id: str
    stall: str
    zone: StallZone
    items: tuple[SimulatedItem, ...]


@dataclass(frozen=True, slots=True)
class SimulatedResident:
    person_id: str
    card: str
    face_enrolled: bool
    face_ref: str  # what the face terminal reports for them: enrol this, not the person id


@dataclass(frozen=True, slots=True)
class SimulatedGate:
    """A simulated access controller and the people who use it, so the demo's platform data can match."""

    gate_id: str
    doors: int
    residents: tuple[SimulatedResident, ...]
    expired_cards: tuple[str, ...]
    blacklisted_cards: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GateKeys:
    """What real controllers are provisioned with: the site key their readers hash credentials with,
    and the key visitor passes are signed with. Simulated gates given these decide from the whitelist
    the platform syncs to them, as real ones do; without them they decide at random."""

    site_key: bytes
    pass_key: bytes | None = None


class TrafficGenerator:
    """Deterministic traffic of ``gates`` access controllers and ``scales`` traceability scales at ``site``.

    Call :meth:`next_message` with a ``now`` that moves forward: door open/close cycles and alarms
    are scheduled and come out once ``now`` reaches them.
    """

    def __init__(
        self,
        site: str,
        gates: int,
        scales: int,
        seed: int,
        bad_ratio: float = 0.0,
        gate_keys: GateKeys | None = None,
    ) -> None:
        topic_for(site, DeviceKind.GATE, "gate-01", Channel.STATE)  # raises TopicError for a bad site
        if gates < 0 or scales < 0 or gates + scales == 0:
            raise ValueError(f"need at least one device, got gates={gates} scales={scales}")
        if not 0.0 <= bad_ratio <= 1.0:
            raise ValueError(f"bad_ratio must be within 0..1, got {bad_ratio}")
        self.site = site
        self.bad_ratio = bad_ratio
        self._rng = random.Random(seed)
        self._gates = [self._new_gate(number) for number in range(1, gates + 1)]
        self._scales = self._new_scales(scales)
        self._all: list[_Gate | _Scale] = [*self._gates, *self._scales]
        self._by_id = {device.device_id: device for device in self._all}
        if gate_keys is not None:
            for gate in self._gates:
                gate.memory = GateMemory(gate.device_id, gate_keys.site_key, gate_keys.pass_key, doors=gate.doors)
        self._malformed_count = 0
        self._schedule_seq = 0

    @property
    def devices(self) -> tuple[tuple[DeviceKind, str], ...]:
        """Every simulated device as ``(kind, device id)``, gates first."""
        return tuple((device.kind, device.device_id) for device in self._all)

    def market_roster(self, now: datetime) -> tuple[SimulatedStall, ...]:
        """The simulated scales' stalls and goods, with the batch ids they print on ``now``'s day."""
        return tuple(
            SimulatedStall(scale.device_id, scale.stall, StallZone(scale.stall[0]), tuple(
                SimulatedItem(item.product.plu, item.product.name, item.price_fen,
                              _batch_id(scale.stall, item, now.astimezone(CHINA_STANDARD_TIME)))
                for item in scale.items))
            for scale in self._scales
        )

    def community_roster(self) -> tuple[SimulatedGate, ...]:
        """The simulated gates with their residents' cards (and the lapsed and blacklisted ones)."""
        return tuple(
            SimulatedGate(gate.device_id, gate.doors,
                          tuple(SimulatedResident(r.person_id, r.card, r.face_enrolled, r.face_ref)
                                for r in gate.residents),
                          gate.expired_cards, gate.blacklisted_cards)
            for gate in self._gates
        )

    def next_message(self, now: datetime) -> SimMessage:
        """The next publication of a randomly chosen device at ``now`` (an aware datetime)."""
        now = _utc_millis(now)
        device = self._rng.choice(self._all)
        if self._rng.random() < self.bad_ratio:
            return self._malformed(device, now)
        if isinstance(device, _Gate):
            body = self._gate_body(device, self._next_gate_draft(device, now), now)
        elif (sale := self._scale_body(device, now)) is not None:
            body = sale
        else:  # nothing it may sell (no price in force, batches blocked): it only says it is there
            return self.state_message(device.kind, device.device_id, True, now)
        return SimMessage(device.topic, _json_bytes(body), DATA_QOS, retain=False, bad=False)

    def state_message(self, kind: DeviceKind, device_id: str, online: bool, now: datetime) -> SimMessage:
        """The retained availability message of a device; it does not advance the traffic sequence."""
        now = _utc_millis(now)
        known = self._by_id.get(device_id)
        style = known.ts_style if known is not None else _TimestampStyle.RFC3339_CST
        state = DeviceState(
            online=online,
            ts=now,
            device=device_id,
            firmware=known.firmware if known is not None else None,
        )
        body = _wire_body(state, now, style)
        if online and isinstance(known, _Gate) and known.memory is not None:
            # the whitelist it holds (both null when none), on every state: after a reboot the platform can tell
            body.update(known.memory.state_report())
        return SimMessage(
            topic_for(self.site, kind, device_id, Channel.STATE), _json_bytes(body), STATE_QOS, True, False
        )

    # -- commands from the platform ---------------------------------------------------------------

    def held_whitelist(self, device_id: str) -> dict[str, object] | None:
        """What a simulated gate says in its state about the whitelist it holds (None for a scale, or a
        gate without the site key)."""
        device = self._by_id.get(device_id)
        if not isinstance(device, _Gate) or device.memory is None:
            return None
        return dict(device.memory.state_report())

    def answer(self, kind: DeviceKind, device_id: str, payload: bytes, now: datetime) -> SimMessage | None:
        """What a device does with a command received on its ``cmd`` topic: the ack to publish, or
        None when it ignores the command (unreadable, or for a device not simulated here)."""
        device = self._by_id.get(device_id)
        if device is None or device.kind is not kind:
            return None
        try:
            command = Command.model_validate_json(payload)
        except ValidationError:
            return None  # firmware drops what it cannot parse; the platform's retry times out
        now = _utc_millis(now)
        if isinstance(device, _Gate):
            ack = self._gate_answer(device, command, now)
        else:
            ack = self._scale_answer(device, command, now)
        body = _wire_body(ack.model_copy(update={"ts": now}), now, device.ts_style)
        topic = topic_for(self.site, kind, device_id, Channel.ACK)
        return SimMessage(topic, _json_bytes(body), DATA_QOS, retain=False, bad=False)

    def _gate_answer(self, gate: _Gate, command: Command, now: datetime) -> CommandAck:
        if gate.memory is None:
            return CommandAck(cmd_id=command.cmd_id, ok=False, error="not provisioned: this controller has no site key")
        first_time = command.cmd_id not in gate.handled_commands
        ack = gate.memory.apply(command, now)
        gate.handled_commands.append(command.cmd_id)
        if ack.ok and command.op == "open" and first_time and ack.result is not None:
            door = int(ack.result["door"])
            self._schedule(gate, _GateDraft(now, door, GateEventKind.GRANTED, AccessMethod.REMOTE, None, Direction.IN))
            if door not in gate.busy_doors:
                self._schedule_door_cycle(gate, door, opened_at=now + timedelta(milliseconds=500), forced=False)
        return ack

    def _scale_answer(self, scale: _Scale, command: Command, now: datetime) -> CommandAck:
        if (known := scale.answered.get(command.cmd_id)) is not None:
            return known
        if command.expires_at is not None and now >= command.expires_at:
            return CommandAck(cmd_id=command.cmd_id, ok=False, error="expired before it arrived")
        try:
            if command.op == SET_PRICES:
                result = self._load_prices(scale, SetPricesArgs.model_validate(command.args))
            elif command.op == BLOCK_BATCH:
                scale.blocked_batches.add(BlockBatchArgs.model_validate(command.args).batch)
                result = BlockBatchResult(blocked=True).model_dump()
            elif command.op == UNBLOCK_BATCH:
                # a block that never reached this scale is nothing to lift: acked all the same
                scale.blocked_batches.discard(UnblockBatchArgs.model_validate(command.args).batch)
                result = UnblockBatchResult(unblocked=True).model_dump()
            else:
                return CommandAck(cmd_id=command.cmd_id, ok=False, error=f"unknown op {command.op!r}")
        except ValidationError as invalid:
            first = invalid.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            return CommandAck(cmd_id=command.cmd_id, ok=False, error=f"bad args: {where}: {first['msg']}"[:128])
        except ValueError as refused:
            return CommandAck(cmd_id=command.cmd_id, ok=False, error=str(refused)[:128])
        ack = scale.answered[command.cmd_id] = CommandAck(cmd_id=command.cmd_id, ok=True, result=result)
        if len(scale.answered) > 256:
            del scale.answered[next(iter(scale.answered))]
        return ack

    def _load_prices(self, scale: _Scale, args: SetPricesArgs) -> dict[str, object]:
        """Replace the scale's price table; a product it did not sell before is put on its board."""
        if args.stall != scale.stall:
            raise ValueError(f"wrong stall: this scale serves {scale.stall}, not {args.stall}")
        table: dict[str, list[ScalePrice]] = {}
        for price in args.prices:
            table.setdefault(price.plu, []).append(price)
        carried = {item.product.plu for item in scale.items}
        known = {product.plu: product for product in PRODUCTS}
        new_items = [
            _StallItem(known[plu], table[plu][0].unit_price_fen, slot, _BATCH_AGE_DAYS[known[plu].zone])
            for slot, plu in enumerate(sorted((set(table) - carried) & set(known)), start=len(scale.items) + 1)
        ]
        scale.items = (*scale.items, *new_items)
        scale.price_table = table
        return SetPricesResult(prices_loaded=len(args.prices)).model_dump()

    # -- building the site ------------------------------------------------------------------------

    def _new_device(
        self, cls: type[_AnyDevice], kind: DeviceKind, number: int, firmware: Sequence[str]
    ) -> _AnyDevice:
        device_id = f"{kind.value}-{number:02d}"
        # Two vendors on site: one sends RFC 3339 local time, the other epoch milliseconds.
        vendor_a = (number % 2 == 1) == (kind is DeviceKind.GATE)
        return cls(
            kind=kind,
            device_id=device_id,
            topic=topic_for(self.site, kind, device_id, DATA_CHANNEL[kind]),
            ts_style=_TimestampStyle.RFC3339_CST if vendor_a else _TimestampStyle.EPOCH_MS,
            names_itself=self._rng.random() < 0.5,
            firmware=self._rng.choice(firmware),
        )

    def _new_gate(self, number: int) -> _Gate:
        gate = self._new_device(_Gate, DeviceKind.GATE, number, _GATE_FIRMWARE)
        rng = self._rng
        population = rng.randint(60, 240)
        cards = self._unique_cards(population + population // 10 + 3, frozenset())
        gate.residents = tuple(
            _Resident(f"P{number:02d}{index:04d}", card, face_enrolled=rng.random() < 0.7,
                      face_ref=_face_reference(card))
            for index, card in enumerate(cards[:population], start=1)
        )
        gate.expired_cards = tuple(cards[population:-3])
        gate.blacklisted_cards = tuple(cards[-3:])
        gate.known_cards = frozenset(cards)
        gate.doors = rng.randint(1, 4)
        return gate

    def _unique_cards(self, count: int, taken: frozenset[str]) -> list[str]:
        cards: dict[str, None] = {}  # insertion-ordered, so the result is deterministic
        while len(cards) < count:
            card = _card_number(self._rng)
            if card not in taken:
                cards[card] = None
        return list(cards)

    def _new_scales(self, count: int) -> list[_Scale]:
        zones = list(StallZone)
        per_zone = {zone: (count + len(zones) - 1 - index) // len(zones) for index, zone in enumerate(zones)}
        stall_numbers = {
            zone: iter(self._rng.sample(range(1, max(40, wanted) + 1), wanted))
            for zone, wanted in per_zone.items()
        }
        scales = []
        for number in range(1, count + 1):
            zone = zones[(number - 1) % len(zones)]
            stall = f"{zone.value}{next(stall_numbers[zone]):02d}"
            scales.append(self._new_scale(number, stall, zone))
        return scales

    def _new_scale(self, number: int, stall: str, zone: StallZone) -> _Scale:
        scale = self._new_device(_Scale, DeviceKind.SCALE, number, _SCALE_FIRMWARE)
        rng = self._rng
        offered = [product for product in PRODUCTS if product.zone is zone]
        chosen = rng.sample(offered, min(len(offered), rng.randint(3, 6)))
        scale.stall = stall
        scale.items = tuple(
            _StallItem(
                product,
                price_fen=_board_price(rng, product),
                slot=slot,
                batch_age_days=rng.randint(0, _BATCH_AGE_DAYS[zone]),
            )
            for slot, product in enumerate(chosen, start=1)
        )
        return scale

    # -- gates ----------------------------------------------------------------------------------

    def _next_gate_draft(self, gate: _Gate, now: datetime) -> _GateDraft:
        if gate.backlog:
            return gate.backlog.popleft()
        if gate.scheduled and gate.scheduled[0][0] <= now:
            draft = heapq.heappop(gate.scheduled)[2]
            if draft.kind is GateEventKind.DOOR_CLOSED:
                gate.busy_doors.discard(draft.door)
            return draft
        return self._new_gate_draft(gate, now)

    def _new_gate_draft(self, gate: _Gate, now: datetime) -> _GateDraft:
        outcome = self._rng.choices(_GATE_OUTCOMES, _GATE_OUTCOME_WEIGHTS)[0]
        free_doors = [door for door in range(1, gate.doors + 1) if door not in gate.busy_doors]
        if outcome is _GateOutcome.DENIED:
            return self._denied(gate, now, offline=False)
        if outcome is _GateOutcome.OFFLINE_BACKLOG:
            return self._offline_backlog(gate, now)
        if outcome is _GateOutcome.TAMPER:
            return _GateDraft(now, self._rng.randint(1, gate.doors), GateEventKind.TAMPER)
        if outcome is _GateOutcome.FORCED and free_doors:
            door = self._rng.choice(free_doors)
            self._schedule_door_cycle(gate, door, opened_at=now, forced=True)
            return _GateDraft(now, door, GateEventKind.FORCED)
        # a grant, and also a "forced" that found every door already open: nothing left to force
        granted = self._granted(gate, now, offline=False)
        if granted.kind is GateEventKind.GRANTED and granted.door in free_doors:
            opens_at = now + timedelta(seconds=self._rng.uniform(0.5, 2.0))
            self._schedule_door_cycle(gate, granted.door, opened_at=opens_at, forced=False)
        return granted

    def _granted(self, gate: _Gate, ts: datetime, offline: bool) -> _GateDraft:
        if (memory := _synced(gate)) is not None:
            return self._attempt(gate, memory, ts, offline, by_resident=True)
        rng = self._rng
        method = rng.choices(_GRANT_METHODS, _GRANT_METHOD_WEIGHTS)[0]
        enrolled = [resident for resident in gate.residents if resident.face_enrolled]
        if method is AccessMethod.FACE and not enrolled:
            method = AccessMethod.CARD
        if offline and method in (AccessMethod.QR, AccessMethod.REMOTE):
            method = AccessMethod.CARD  # visitor codes and remote opening need the network
        credential: str | None
        direction = Direction.IN if rng.random() < 0.55 else Direction.OUT
        if method is AccessMethod.CARD:
            credential = rng.choice(gate.residents).card
        elif method is AccessMethod.FACE:
            credential = rng.choice(enrolled).face_ref
        elif method is AccessMethod.QR:
            credential = _visitor_code(rng, ts)
            direction = Direction.IN if rng.random() < 0.8 else Direction.OUT
        elif method is AccessMethod.REMOTE:
            credential = f"物业-{rng.randint(1, 6):02d}"  # opened from the property office
            direction = Direction.IN
        else:
            credential, direction = None, Direction.OUT  # the exit button inside the door
        door = rng.randint(1, gate.doors)
        return _GateDraft(ts, door, GateEventKind.GRANTED, method, credential, direction, offline=offline)

    def _denied(self, gate: _Gate, ts: datetime, offline: bool) -> _GateDraft:
        if (memory := _synced(gate)) is not None:
            return self._attempt(gate, memory, ts, offline, by_resident=False)
        rng = self._rng
        reason = rng.choices(_DENIALS, [_DENIAL_WEIGHTS[reason] for reason in _DENIALS])[0]
        method, credential = self._denied_credential(gate, reason, ts)
        door = rng.randint(1, gate.doors)
        return _GateDraft(ts, door, GateEventKind.DENIED, method, credential, Direction.IN, reason, offline)

    def _attempt(self, gate: _Gate, memory: GateMemory, ts: datetime, offline: bool, by_resident: bool) -> _GateDraft:
        """Someone presents a credential at a door and the controller's own list decides, as on a
        real gate: a resident usually gets in; a lapsed, blacklisted or strange card does not."""
        rng = self._rng
        door = rng.randint(1, gate.doors)
        direction = Direction.IN if rng.random() < 0.55 else Direction.OUT
        if by_resident:
            resident = rng.choice(gate.residents)
            if rng.random() < 0.06:  # the exit button inside the door needs no credential
                return _GateDraft(ts, door, GateEventKind.GRANTED, AccessMethod.BUTTON, None, Direction.OUT,
                                  offline=offline)
            if not offline and rng.random() < VISITOR_SHARE:
                visitor = self._visitor(gate, memory, resident, door, ts)
                if visitor is not None:
                    return visitor
            if resident.face_enrolled and rng.random() < 0.35:
                method, kind, credential = AccessMethod.FACE, CredentialKind.FACE, resident.face_ref
            else:
                method, kind, credential = AccessMethod.CARD, CredentialKind.CARD, resident.card
        else:
            pick = rng.random()
            if pick < 0.2:  # a QR code from another compound's app, or a screenshot of an old pass
                code = f"QR{rng.getrandbits(48):012X}"
                verdict = memory.admit_pass(code, door, ts)
                if isinstance(verdict, PassAdmitted):  # cannot happen for an unsigned code, but decide honestly
                    return _GateDraft(ts, door, GateEventKind.GRANTED, AccessMethod.QR, verdict.pass_id,
                                      Direction.IN, offline=offline)
                return _GateDraft(ts, door, GateEventKind.DENIED, AccessMethod.QR, code, Direction.IN,
                                  verdict.reason, offline)
            cards = (gate.expired_cards if pick < 0.5 else gate.blacklisted_cards if pick < 0.65 else ())
            credential = rng.choice(cards) if cards else self._unique_cards(1, gate.known_cards)[0]
            method, kind, direction = AccessMethod.CARD, CredentialKind.CARD, Direction.IN
        decision = memory.present(kind, credential, door, ts)
        if isinstance(decision, Denied):
            return _GateDraft(ts, door, GateEventKind.DENIED, method, credential, Direction.IN, decision.reason,
                              offline)
        return _GateDraft(ts, door, GateEventKind.GRANTED, method, credential, direction, offline=offline)

    def _visitor(self, gate: _Gate, memory: GateMemory, host: _Resident, door: int, ts: datetime) -> _GateDraft | None:
        """A visitor a resident invited shows a pass for this door, signed with the pass key the controller holds
        (as the platform signs them), and the controller verifies it offline. None without a pass key."""
        start = ts.replace(microsecond=0) - timedelta(minutes=self._rng.randint(0, 120))
        try:
            text = memory.sign_pass(f"vp-{self._rng.getrandbits(64):016x}", host.person_id, {(gate.device_id, door)},
                                    start, start + timedelta(hours=4), max_uses=2)
        except ValueError:
            return None
        if text is None:
            return None
        verdict = memory.admit_pass(text, door, ts)
        if isinstance(verdict, PassAdmitted):
            return _GateDraft(ts, door, GateEventKind.GRANTED, AccessMethod.QR, verdict.pass_id, Direction.IN)
        return _GateDraft(ts, door, GateEventKind.DENIED, AccessMethod.QR, verdict.pass_id, Direction.IN,
                          verdict.reason)

    def _denied_credential(self, gate: _Gate, reason: DenialReason, ts: datetime) -> tuple[AccessMethod, str]:
        rng = self._rng
        by_qr = rng.random() < 0.3
        if reason is DenialReason.UNKNOWN_CREDENTIAL:
            if by_qr:
                return AccessMethod.QR, f"QR{rng.getrandbits(48):012X}"  # a code from another compound's app
            return AccessMethod.CARD, self._unique_cards(1, gate.known_cards)[0]
        if reason is DenialReason.EXPIRED:
            if by_qr or not gate.expired_cards:
                return AccessMethod.QR, _visitor_code(rng, ts - timedelta(days=rng.randint(1, 7)))
            return AccessMethod.CARD, rng.choice(gate.expired_cards)
        if reason is DenialReason.BLACKLISTED:
            return AccessMethod.CARD, rng.choice(gate.blacklisted_cards)
        if reason is DenialReason.OUTSIDE_SCHEDULE and by_qr:
            return AccessMethod.QR, _visitor_code(rng, ts)
        resident = rng.choice(gate.residents)
        if resident.face_enrolled and rng.random() < 0.4:
            return AccessMethod.FACE, resident.face_ref
        return AccessMethod.CARD, resident.card

    def _offline_backlog(self, gate: _Gate, now: datetime) -> _GateDraft:
        """The controller lost its network for a while and now uploads what it buffered, oldest first."""
        rng = self._rng
        count = rng.randint(3, 12)
        ts = now - timedelta(minutes=rng.uniform(5, 45))
        latest = now - timedelta(minutes=1)
        for _ in range(count):
            ts = min(latest, ts + timedelta(seconds=rng.uniform(10, 180)))
            stamp = _utc_millis(ts)
            draft = (
                self._granted(gate, stamp, True) if rng.random() < 0.85 else self._denied(gate, stamp, True)
            )
            gate.backlog.append(draft)
        return gate.backlog.popleft()

    def _schedule_door_cycle(self, gate: _Gate, door: int, opened_at: datetime, forced: bool) -> None:
        rng = self._rng
        gate.busy_doors.add(door)
        if not forced:
            self._schedule(gate, _GateDraft(_utc_millis(opened_at), door, GateEventKind.DOOR_OPEN))
        if rng.random() < 0.005:  # wedged open by a delivery trolley
            self._schedule(
                gate, _GateDraft(_utc_millis(opened_at + HELD_OPEN_AFTER), door, GateEventKind.HELD_OPEN)
            )
            open_for = timedelta(seconds=rng.uniform(45, 180))
        else:
            open_for = timedelta(seconds=rng.uniform(3, 12) if not forced else rng.uniform(5, 30))
        self._schedule(gate, _GateDraft(_utc_millis(opened_at + open_for), door, GateEventKind.DOOR_CLOSED))

    def _schedule(self, gate: _Gate, draft: _GateDraft) -> None:
        self._schedule_seq += 1
        heapq.heappush(gate.scheduled, (draft.ts, self._schedule_seq, draft))

    def _gate_body(self, gate: _Gate, draft: _GateDraft, now: datetime) -> dict[str, object]:
        event = GateEvent(
            device=gate.device_id if gate.names_itself else None,
            event_id=gate.next_id(now),
            ts=draft.ts,
            door=draft.door,
            kind=draft.kind,
            method=draft.method,
            credential=draft.credential,
            direction=draft.direction,
            reason=draft.reason,
            offline=draft.offline,
        )
        return _wire_body(event, draft.ts, gate.ts_style)

    # -- scales ---------------------------------------------------------------------------------

    def _scale_body(self, scale: _Scale, now: datetime, any_item: bool = False) -> dict[str, object] | None:
        rng = self._rng
        local = now.astimezone(CHINA_STANDARD_TIME)
        sellable = [(item, item.price_fen) for item in scale.items] if any_item else _sellable(scale, now, local)
        if not sellable:
            return None
        item, price_fen = rng.choice(sellable)
        low, high = item.product.sale_grams
        net_g = round(rng.triangular(low, high, low + (high - low) / 3))
        amount_fen = expected_amount_fen(net_g, price_fen)
        if rng.random() < SHORT_WEIGHT_SHARE:
            amount_fen += rng.randint(*SHORT_WEIGHT_FEN)
        record_id = scale.next_id(now)
        record = ScaleRecord(
            device=scale.device_id if scale.names_itself else None,
            record_id=record_id,
            ts=now,
            stall=scale.stall,
            plu=item.product.plu,
            product=item.product.name,
            net_g=net_g,
            unit_price_fen=price_fen,
            amount_fen=amount_fen,
            # as printed on the receipt: site, stall, sale time and the scale's counter
            trace_code=f"{self.site[:20]}-{scale.stall}-{local:%Y%m%d%H%M%S}-{scale.sequence:04d}",
            batch=_batch_id(scale.stall, item, local),
            payment=rng.choices(_PAYMENTS, _PAYMENT_WEIGHTS)[0],
        )
        return _wire_body(record, now, scale.ts_style)

    # -- malformed traffic ------------------------------------------------------------------------

    def _malformed(self, device: _Gate | _Scale, now: datetime) -> SimMessage:
        """A message the gateway must dead-letter; kinds take turns so that every reason shows up."""
        turn = self._malformed_count
        self._malformed_count += 1
        kind = _MALFORMATIONS[turn % len(_MALFORMATIONS)]
        variant = (turn // len(_MALFORMATIONS)) % _VARIANTS_PER_MALFORMATION
        if isinstance(device, _Gate):
            body = self._gate_body(device, self._granted(device, now, offline=False), now)
        else:
            body = self._scale_body(device, now, any_item=True) or {}
        topic, payload = device.topic, b""
        if kind is _Malformation.BAD_JSON:
            payload = self._broken_json(body, variant)
        elif kind is _Malformation.NOT_UTF8:
            payload = _gbk_encoded(device, body)
        elif kind is _Malformation.SCHEMA:
            payload = _json_bytes(_schema_violation(device, body, variant))
        elif kind is _Malformation.UNKNOWN_TOPIC:
            topic, payload = _unknown_topic(self.site, device, variant), _json_bytes(body)
        elif kind is _Malformation.DEVICE_MISMATCH:
            payload = _json_bytes({**body, "device": self._someone_else(device)})
        else:
            payload = _json_bytes(
                {**body, "coredump": self._rng.randbytes(OVERSIZED_PAYLOAD_BYTES // 2).hex()}
            )
        return SimMessage(topic, payload, DATA_QOS, retain=False, bad=True)

    def _broken_json(self, body: Mapping[str, object], variant: int) -> bytes:
        text = _json_text(body)
        if variant == 0:  # connection dropped mid-message; cut between characters, not inside one
            return text[: self._rng.randint(1, len(text) - 1)].encode()
        if variant == 1:  # firmware printing its dictionary instead of serialising it
            return str(dict(body)).encode()
        return (text + text).encode()  # two messages glued together by a serial-to-MQTT bridge

    def _someone_else(self, device: _Gate | _Scale) -> str:
        """Another device's id, as when a configuration is cloned onto a second controller."""
        same_kind = [
            other.device_id for other in self._all if other.kind is device.kind and other is not device
        ]
        others = same_kind or [other.device_id for other in self._all if other is not device]
        return self._rng.choice(others) if others else f"{device.device_id}-old"


# -- pure helpers -------------------------------------------------------------------------------------


def _sellable(scale: _Scale, now: datetime, local: datetime) -> list[tuple[_StallItem, int]]:
    """What the scale may sell now, at which price per kg: its board prices until the market pushes a
    table, then only the PLUs in it with a price in force; never from a blocked batch."""
    sellable = []
    for item in scale.items:
        if _batch_id(scale.stall, item, local) in scale.blocked_batches:
            continue
        if scale.price_table is None:
            sellable.append((item, item.price_fen))
            continue
        in_force = [p for p in scale.price_table.get(item.product.plu, ()) if p.effective_from <= now]
        if in_force:
            sellable.append((item, max(in_force, key=lambda p: p.effective_from).unit_price_fen))
    return sellable


def _face_reference(card: str) -> str:
    """The face template's reference in the face system, deterministic per resident but unrelated to their id."""
    return "FT" + hashlib.sha256(f"face-template:{card}".encode()).hexdigest()[:14].upper()


def _synced(gate: _Gate) -> GateMemory | None:
    """The gate's whitelist once the platform has synced one; until then the gate decides at random."""
    return gate.memory if gate.memory is not None and gate.memory.version is not None else None


def _batch_id(stall: str, item: _StallItem, local: datetime) -> str:
    """The incoming batch a scale prints on a sale on ``local``'s day (进货批次: arrival day, stall, slot)."""
    return f"B{local - timedelta(days=item.batch_age_days):%Y%m%d}-{stall}-{item.slot:02d}"


def _utc_millis(moment: datetime) -> datetime:
    """``moment`` in UTC, cut to milliseconds so that epoch-ms and RFC 3339 encode the same instant."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _wire_timestamp(ts: datetime, style: _TimestampStyle) -> str | int:
    if style is _TimestampStyle.EPOCH_MS:
        return (ts - _EPOCH) // timedelta(milliseconds=1)
    return ts.astimezone(CHINA_STANDARD_TIME).isoformat(timespec="milliseconds")


def _wire_body(model: BaseModel, ts: datetime, style: _TimestampStyle) -> dict[str, object]:
    """The model as a device sends it: pydantic writes UTC, the device its own ``ts`` format."""
    body: dict[str, object] = model.model_dump(mode="json", exclude_none=True)
    if "ts" in body:
        body["ts"] = _wire_timestamp(ts, style)
    return body


def _json_text(body: Mapping[str, object]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _json_bytes(body: Mapping[str, object]) -> bytes:
    return _json_text(body).encode("utf-8")


def _card_number(rng: random.Random) -> str:
    return f"{rng.randrange(1, 2**32):010d}"


def _visitor_code(rng: random.Random, issued: datetime) -> str:
    return f"V{issued.astimezone(CHINA_STANDARD_TIME):%Y%m%d}{rng.randrange(10**8):08d}"


def _board_price(rng: random.Random, product: Product) -> int:
    low, high = product.price_fen_per_kg
    return rng.randint(low // 10, high // 10) * 10  # price boards show whole jiao per kg


def _gbk_encoded(device: _Gate | _Scale, body: Mapping[str, object]) -> bytes:
    """Old firmware writing Chinese in GBK; a gate adds its door name so there is Chinese to encode."""
    if isinstance(device, _Gate):
        body = {**body, "door_name": _DOOR_NAMES[device.sequence % len(_DOOR_NAMES)]}
    payload = _json_text(body).encode("gbk")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload
    return payload + b"\xff"  # the GBK bytes happened to be valid UTF-8: make sure they are not


def _schema_violation(device: _Gate | _Scale, body: Mapping[str, object], variant: int) -> dict[str, object]:
    broken = dict(body)
    gate = isinstance(device, _Gate)
    if variant == 0:  # a required field missing
        del broken["door" if gate else "trace_code"]
    elif variant == 1:  # a wrong type: door as text, weight in kilograms
        key = "door" if gate else "net_g"
        value = broken[key]
        # strict models refuse a float even when it is whole, so 2000 g as 2.0 kg fails too
        broken[key] = value / 1000 if not gate and isinstance(value, int) else str(value)
    else:  # a field the contract does not know
        broken["temperature_c" if gate else "operator"] = 41 if gate else "王师傅"
    return broken


def _unknown_topic(site: str, device: _Gate | _Scale, variant: int) -> str:
    if variant == 0:  # the other kind's data channel
        other = Channel.RECORD if device.kind is DeviceKind.GATE else Channel.EVENT
        return topic_for(site, device.kind, device.device_id, other)
    # topic_for refuses to build topics outside the contract, which is what these are
    channel = DATA_CHANNEL[device.kind].value
    if variant == 1:
        kind = "door" if device.kind is DeviceKind.GATE else "balance"
        return f"{PREFIX}/{site}/{kind}/{device.device_id}/{channel}"
    return f"{PREFIX}/{site}/{device.kind.value}/{device.device_id}/{channel}s"


# -- running against a broker (I/O) ------------------------------------------------------------------

PUBLISH_TIMEOUT_S: Final = 10.0
DEVICE_QUEUE_LIMIT: Final = 1000  # messages waiting per device while it is disconnected
BACKOFF_INITIAL_S: Final = 0.5
BACKOFF_MAX_S: Final = 15.0
SHUTDOWN_TIMEOUT_S: Final = 10.0
KEEPALIVE_S: Final = 30
OFFLINE_WILL: Final = DeviceState(online=False).model_dump_json(exclude_none=True).encode()


@dataclass(slots=True)
class SimulationStats:
    """Messages published, by kind; ``dropped`` were generated but never reached the broker."""

    gate_events: int = 0
    scale_records: int = 0
    states: int = 0
    acks: int = 0  # answers to the platform's commands
    bad: int = 0
    dropped: int = 0
    connection_failures: int = 0  # lost connections and failed attempts to connect

    @property
    def published(self) -> int:
        return self.gate_events + self.scale_records + self.states + self.acks + self.bad

    def count_published(self, message: SimMessage) -> None:
        if message.bad:
            self.bad += 1
            return
        channel = parse_topic(message.topic).channel
        if channel is Channel.EVENT:
            self.gate_events += 1
        elif channel is Channel.RECORD:
            self.scale_records += 1
        elif channel is Channel.ACK:
            self.acks += 1
        else:
            self.states += 1


@dataclass(frozen=True, slots=True)
class _Broker:
    host: str
    port: int
    username: str | None
    password: str | None


class _DeviceConnection:
    """One device's own MQTT connection: says it is online, publishes its outbox, reconnects with backoff."""

    def __init__(
        self,
        kind: DeviceKind,
        device_id: str,
        broker: _Broker,
        generator: TrafficGenerator,
        stats: SimulationStats,
    ) -> None:
        self.device_id = device_id
        self._kind = kind
        self._broker = broker
        self._generator = generator
        self._stats = stats
        self._outbox: asyncio.Queue[SimMessage | None] = asyncio.Queue()  # None: the run is over
        self._in_hand: SimMessage | None = None  # taken from the outbox, not yet acknowledged
        self._closing = asyncio.Event()
        self._will = aiomqtt.Will(
            topic_for(generator.site, kind, device_id, Channel.STATE),
            OFFLINE_WILL,
            qos=STATE_QOS,
            retain=True,
        )

    def offer(self, message: SimMessage) -> None:
        if self._outbox.qsize() >= DEVICE_QUEUE_LIMIT:
            self._stats.dropped += 1
            return
        self._outbox.put_nowait(message)

    def close(self) -> None:
        self._closing.set()
        self._outbox.put_nowait(None)

    def undelivered(self) -> int:
        waiting = sum(1 for message in _drain(self._outbox) if message is not None)
        return waiting + (self._in_hand is not None)

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._session()
                return
            except aiomqtt.MqttError as error:
                failures += 1
                self._stats.connection_failures += 1
                log.warning(
                    "simulated device disconnected",
                    extra={"device": self.device_id, "error": str(error), "attempt": failures},
                )
            if self._closing.is_set():
                return
            delay = min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** min(failures, 10)) * random.uniform(0.5, 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
            if self._closing.is_set():
                return

    async def _session(self) -> None:
        client = aiomqtt.Client(  # a new client per attempt: aiomqtt 2.x does not reconnect a used one
            self._broker.host,
            self._broker.port,
            username=self._broker.username,
            password=self._broker.password,
            identifier=self.device_id,
            will=self._will,
            keepalive=KEEPALIVE_S,
            timeout=PUBLISH_TIMEOUT_S,
        )
        async with client:
            await client.subscribe(topic_for(self._generator.site, self._kind, self.device_id, Channel.CMD), qos=1)
            await self._publish(client, self._state(online=True))
            commands = asyncio.create_task(self._answer_commands(client), name=f"sim-cmd-{self.device_id}")
            try:
                while (message := self._in_hand or await self._outbox.get()) is not None:
                    self._in_hand = message
                    await self._publish(client, message)
                    self._in_hand = None
                await self._publish(client, self._state(online=False))
            finally:
                commands.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await commands

    async def _answer_commands(self, client: aiomqtt.Client) -> None:
        """Do what the platform says (prices, blocked batches, whitelists, remote opening) and ack it."""
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            held = self._generator.held_whitelist(self.device_id)
            ack = self._generator.answer(self._kind, self.device_id, payload, datetime.now(UTC))
            if ack is not None:
                await self._publish(client, ack)
            if self._generator.held_whitelist(self.device_id) != held:
                # the retained state says what the gate holds: kept current, or a service that subscribes
                # again would read the list the gate held when it connected and sync it all over again
                await self._publish(client, self._state(True))

    def _state(self, online: bool) -> SimMessage:
        return self._generator.state_message(self._kind, self.device_id, online, datetime.now(UTC))

    async def _publish(self, client: aiomqtt.Client, message: SimMessage) -> None:
        await client.publish(
            message.topic, message.payload, message.qos, message.retain, timeout=PUBLISH_TIMEOUT_S
        )
        self._stats.count_published(message)


def _drain(queue: asyncio.Queue[SimMessage | None]) -> Iterator[SimMessage | None]:
    while not queue.empty():
        yield queue.get_nowait()


async def run_simulation(
    host: str,
    port: int,
    generator: TrafficGenerator,
    rate: float,
    duration: float | None,
    username: str | None = None,
    password: str | None = None,
    stop: asyncio.Event | None = None,
    device_credentials: Mapping[str, tuple[str, str]] | None = None,
) -> SimulationStats:
    """Publish ``generator``'s traffic at ``rate`` messages/s over one connection per device.

    Runs for ``duration`` seconds, or until ``stop`` is set (or forever if neither); every device
    then publishes its retained offline state and disconnects cleanly. ``device_credentials`` maps a
    device id to its own broker user and password (``smartcity provision``); others use ``username``.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    shared = _Broker(host, port, username, password)
    own = {device: _Broker(host, port, user, secret) for device, (user, secret) in (device_credentials or {}).items()}
    stats = SimulationStats()
    connections = {
        device_id: _DeviceConnection(kind, device_id, own.get(device_id, shared), generator, stats)
        for kind, device_id in generator.devices
    }
    tasks = [
        asyncio.create_task(connection.run(), name=f"sim-{name}") for name, connection in connections.items()
    ]
    try:
        await _pace(generator, connections, rate, duration, stop or asyncio.Event())
    finally:
        for connection in connections.values():
            connection.close()
        _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_TIMEOUT_S)
        for task in late:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        stats.dropped += sum(connection.undelivered() for connection in connections.values())
    failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    if failures:
        raise failures[0]
    return stats


async def _pace(
    generator: TrafficGenerator,
    connections: Mapping[str, _DeviceConnection],
    rate: float,
    duration: float | None,
    stop: asyncio.Event,
) -> None:
    """Hand out messages against a monotonic clock, so the average rate holds even after a stall."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    anyone = itertools.cycle(connections.values())
    sent = 0
    while not stop.is_set():
        offset = sent / rate
        if duration is not None and offset >= duration:
            return
        delay = started + offset - loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            continue
        message = generator.next_message(datetime.now(UTC))
        _sender_of(message, connections, anyone).offer(message)
        sent += 1
        await asyncio.sleep(0)  # when behind schedule, still let the connections publish


def _sender_of(
    message: SimMessage, connections: Mapping[str, _DeviceConnection], anyone: Iterator[_DeviceConnection]
) -> _DeviceConnection:
    """The connection of the device the message belongs to; any one for a topic outside the contract."""
    try:
        device_id = parse_topic(message.topic).device
    except TopicError:
        return next(anyone)
    return connections.get(device_id) or next(anyone)
