"""A UHPPOTE (微耕) access controller on a loopback UDP port: it answers the 64-byte request packets of the controller's
UDP protocol (what the ``uhppoted`` client sends) and pushes its events to the configured listener. The bridge's
tests (tests/integration/test_uhppote_bridge.py) drive it by hand; ``smartcity run --demo --uhppote`` runs it in place
of a simulated gate, with :class:`SwipeGenerator` and :func:`run_swipes` presenting cards at its doors.

Written from the protocol's published layout (little-endian integers, BCD dates and times, the function code in byte
1, the serial number at offset 4), independently of the client's own encoder, so a test proves that the two agree.

It holds cards, time profiles and an event log with indices; decides a swipe as a controller does (card, date range,
door permission, time profile chain); and can misbehave on request: a power cut (cards and profiles lost), an event
log reset (indices start again at 1), replies with another serial number or cut short, raw packets to the listener.
Its event log is a ring buffer, as the hardware's: past ``capacity`` events the oldest are overwritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from ipaddress import IPv4Address
from typing import Final

SOM = 0x17
GET_STATUS = 0x20
SET_TIME = 0x30
GET_TIME = 0x32
OPEN_DOOR = 0x40
PUT_CARD = 0x50
DELETE_CARD = 0x52
DELETE_ALL_CARDS = 0x54
GET_CARDS = 0x58
GET_CARD = 0x5A
GET_CARD_AT_INDEX = 0x5C
SET_TIME_PROFILE = 0x88
CLEAR_TIME_PROFILES = 0x8A
RECORD_SPECIAL_EVENTS = 0x8E
SET_LISTENER = 0x90
GET_LISTENER = 0x92
GET_CONTROLLER = 0x94
GET_TIME_PROFILE = 0x98
GET_EVENT = 0xB0
SET_EVENT_INDEX = 0xB2
GET_EVENT_INDEX = 0xB4

SWIPE, DOOR, ALARM = 0x01, 0x02, 0x03
REASON_SWIPE = 1
REASON_NO_PRIVILEGE = 6
REASON_INVALID_TIMEZONE = 15
REASON_DOOR_OPEN = 23
REASON_DOOR_CLOSED = 24
REASON_POWER_ON = 28
REASON_OPEN_TOO_LONG = 37
REASON_FORCED_OPEN = 38
REASON_REMOTE_OPEN = 44

EVENT_CAPACITY: Final = 100_000  # events a controller keeps before it overwrites the oldest (UT0311-L0x boards)
REQUESTS_KEPT: Final = 1000


@dataclass(frozen=True, slots=True)
class Card:
    number: int
    start: date
    end: date
    doors: tuple[int, int, int, int]  # 0 none, 1 always, 2-254 a time profile
    pin: int = 0


@dataclass(frozen=True, slots=True)
class Profile:
    start: date
    end: date
    weekdays: tuple[bool, ...]  # Monday first
    segments: tuple[tuple[time, time], ...]
    linked: int


@dataclass(frozen=True, slots=True)
class Event:
    index: int
    kind: int
    granted: bool
    door: int
    direction: int
    card: int
    at: datetime
    reason: int


@dataclass
class EmulatedController:
    """One controller's memory. ``clock_offset`` makes its clock run ahead or behind the host's."""

    serial: int
    doors: int = 4
    cards: dict[int, Card] = field(default_factory=dict)
    profiles: dict[int, Profile] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    first_index: int = 1  # index of events[0]
    clock_offset: timedelta = timedelta(0)
    listener: tuple[str, int] | None = None
    special_events: bool = False
    doors_open: list[bool] = field(default_factory=lambda: [False] * 4)
    opened: list[int] = field(default_factory=list)  # doors opened remotely, in order
    wrong_serial_replies: int = 0  # the next N replies name another controller
    truncated_replies: int = 0  # the next N replies are cut to 20 bytes
    silent: bool = False  # no replies at all (unplugged)
    requests: deque[int] = field(default_factory=lambda: deque(maxlen=REQUESTS_KEPT))  # function codes received
    capacity: int = EVENT_CAPACITY

    def now(self) -> datetime:
        return (datetime.now() + self.clock_offset).replace(microsecond=0)

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.events) - 1 if self.events else self.first_index - 1

    # -- the test's hands ---------------------------------------------------------------------------------------

    def record(self, kind: int, granted: bool, door: int, direction: int, card: int, reason: int,
               at: datetime | None = None) -> Event:
        event = Event(self.last_index + 1, kind, granted, door, direction, card, at or self.now(), reason)
        self.events.append(event)
        if len(self.events) > self.capacity:  # the ring buffer wraps: the oldest index now reads as overwritten
            del self.events[0]
            self.first_index += 1
        return event

    def swipe(self, card: int, door: int = 1, direction: int = 1, at: datetime | None = None) -> Event:
        """Someone presents a card: decided from the controller's own cards and profiles, as the hardware does."""
        when = at or self.now()
        granted, reason = self._decide(card, door, when)
        return self.record(SWIPE, granted, door, direction, card, reason, when)

    def power_cut(self) -> None:
        """The controller comes back without its cards and time profiles (a battery-less RAM model, a swap)."""
        self.cards.clear()
        self.profiles.clear()

    def reset_event_log(self) -> None:
        """A factory reset or a replaced board: the event log starts again at index 1."""
        self.events.clear()
        self.first_index = 1

    def _decide(self, number: int, door: int, at: datetime) -> tuple[bool, int]:
        card = self.cards.get(number)
        if card is None or not card.start <= at.date() <= card.end:
            return False, REASON_NO_PRIVILEGE
        permission = card.doors[door - 1]
        if permission == 0:
            return False, REASON_NO_PRIVILEGE
        if permission == 1:
            return True, REASON_SWIPE
        seen: set[int] = set()
        while permission >= 2 and permission not in seen:
            seen.add(permission)
            profile = self.profiles.get(permission)
            if profile is None:
                break
            if (profile.start <= at.date() <= profile.end and profile.weekdays[at.weekday()]
                    and any(start <= at.time().replace(second=0) <= end for start, end in profile.segments)):
                return True, REASON_SWIPE
            permission = profile.linked
        return False, REASON_INVALID_TIMEZONE

    # -- the protocol -------------------------------------------------------------------------------------------

    def answer(self, request: bytes) -> bytes | None:
        """The reply to one request packet, or None for one this controller ignores."""
        if len(request) != 64 or request[0] != SOM:
            return None
        serial = _u32(request, 4)
        if serial not in (0, self.serial):
            return None
        code = request[1]
        self.requests.append(code)
        reply = bytearray(64)
        reply[0], reply[1] = SOM, code
        struct.pack_into("<L", reply, 4, self.serial)
        handler = _HANDLERS.get(code)
        if handler is None:
            return None
        handler(self, request, reply)
        return bytes(reply)

    def event_packet(self, event: Event) -> bytes:
        """A status packet carrying ``event``: what the controller pushes to its listener."""
        packet = bytearray(64)
        packet[0], packet[1] = SOM, GET_STATUS
        struct.pack_into("<L", packet, 4, self.serial)
        self.status_into(packet, event)
        return bytes(packet)

    def status_into(self, packet: bytearray, event: Event | None) -> None:
        if event is not None:
            _put_event(packet, event)
        for door in range(4):
            packet[28 + door] = int(self.doors_open[door])
        now = self.now()
        packet[37:40] = bytes.fromhex(f"{now:%H%M%S}")
        packet[51:54] = bytes.fromhex(f"{now:%y%m%d}")


def _u32(packet: bytes | bytearray, offset: int) -> int:
    value: int = struct.unpack_from("<L", packet, offset)[0]
    return value


def _bcd_date(packet: bytes | bytearray, offset: int) -> date:
    return datetime.strptime(packet[offset:offset + 4].hex(), "%Y%m%d").date()


def _hhmm(packet: bytes | bytearray, offset: int) -> time:
    return datetime.strptime(packet[offset:offset + 2].hex(), "%H%M").time()


def _put_event(packet: bytearray, event: Event) -> None:
    struct.pack_into("<L", packet, 8, event.index)
    packet[12], packet[13], packet[14], packet[15] = event.kind, int(event.granted), event.door, event.direction
    struct.pack_into("<L", packet, 16, event.card)
    packet[20:27] = bytes.fromhex(f"{event.at:%Y%m%d%H%M%S}")
    packet[27] = event.reason


def _put_card(packet: bytearray, card: Card) -> None:
    struct.pack_into("<L", packet, 8, card.number)
    packet[12:16] = bytes.fromhex(f"{card.start:%Y%m%d}")
    packet[16:20] = bytes.fromhex(f"{card.end:%Y%m%d}")
    packet[20:24] = bytes(card.doors)
    packet[24:27] = card.pin.to_bytes(3, "little")


def _get_controller(c: EmulatedController, _: bytes, reply: bytearray) -> None:
    reply[8:12] = IPv4Address("127.0.0.1").packed
    reply[12:16] = IPv4Address("255.255.255.0").packed
    reply[20:26] = bytes.fromhex("00125a001002")
    reply[26:28] = bytes.fromhex("0892")
    reply[28:32] = bytes.fromhex("20240315")


def _get_time(c: EmulatedController, _: bytes, reply: bytearray) -> None:
    reply[8:15] = bytes.fromhex(f"{c.now():%Y%m%d%H%M%S}")


def _set_time(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    wanted = datetime.strptime(request[8:15].hex(), "%Y%m%d%H%M%S")
    c.clock_offset = wanted - datetime.now().replace(microsecond=0)
    _get_time(c, request, reply)


def _get_status(c: EmulatedController, _: bytes, reply: bytearray) -> None:
    c.status_into(reply, c.events[-1] if c.events else None)


def _open_door(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    door = request[8]
    if 1 <= door <= c.doors:
        c.opened.append(door)
        c.record(DOOR, True, door, 1, 0, REASON_REMOTE_OPEN)
        reply[8] = 1


def _put_card_handler(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    number = _u32(request, 8)
    doors = (request[20], request[21], request[22], request[23])
    c.cards[number] = Card(number, _bcd_date(request, 12), _bcd_date(request, 16), doors,
                           int.from_bytes(request[24:27], "little"))
    reply[8] = 1


def _delete_card(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    reply[8] = int(c.cards.pop(_u32(request, 8), None) is not None)


def _delete_all_cards(c: EmulatedController, _: bytes, reply: bytearray) -> None:
    c.cards.clear()
    reply[8] = 1


def _get_cards(c: EmulatedController, _: bytes, reply: bytearray) -> None:
    struct.pack_into("<L", reply, 8, len(c.cards))


def _get_card(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    card = c.cards.get(_u32(request, 8))
    if card is not None:
        _put_card(reply, card)


def _get_card_at_index(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    index = _u32(request, 8)
    cards = list(c.cards.values())
    if 1 <= index <= len(cards):
        _put_card(reply, cards[index - 1])


def _set_time_profile(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    profile_id = request[8]
    if not 2 <= profile_id <= 254:
        return
    segments = tuple((_hhmm(request, 24 + 4 * n), _hhmm(request, 26 + 4 * n)) for n in range(3))
    c.profiles[profile_id] = Profile(
        _bcd_date(request, 9), _bcd_date(request, 13), tuple(bool(b) for b in request[17:24]),
        tuple(segment for segment in segments if segment != (time(0), time(0))), request[36])
    reply[8] = 1


def _get_time_profile(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    profile = c.profiles.get(request[8])
    if profile is None:
        return
    reply[8] = request[8]
    reply[9:13] = bytes.fromhex(f"{profile.start:%Y%m%d}")
    reply[13:17] = bytes.fromhex(f"{profile.end:%Y%m%d}")
    reply[17:24] = bytes(int(day) for day in profile.weekdays)
    for n, (start, end) in enumerate(profile.segments):
        reply[24 + 4 * n:26 + 4 * n] = bytes.fromhex(f"{start:%H%M}")
        reply[26 + 4 * n:28 + 4 * n] = bytes.fromhex(f"{end:%H%M}")
    reply[36] = profile.linked


def _clear_time_profiles(c: EmulatedController, _: bytes, reply: bytearray) -> None:
    c.profiles.clear()
    reply[8] = 1


def _record_special_events(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    c.special_events = bool(request[8])
    reply[8] = 1


def _set_listener(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    c.listener = (str(IPv4Address(bytes(request[8:12]))), struct.unpack_from("<H", request, 12)[0])
    reply[8] = 1


def _get_listener(c: EmulatedController, _: bytes, reply: bytearray) -> None:
    if c.listener is not None:
        reply[8:12] = IPv4Address(c.listener[0]).packed
        struct.pack_into("<H", reply, 12, c.listener[1])


def _get_event(c: EmulatedController, request: bytes, reply: bytearray) -> None:
    index = _u32(request, 8)
    struct.pack_into("<L", reply, 8, index)
    position = index - c.first_index
    if 0 <= position < len(c.events):
        _put_event(reply, c.events[position])
    elif 1 <= index < c.first_index:
        reply[12] = 0xFF  # overwritten


def _get_event_index(c: EmulatedController, _: bytes, reply: bytearray) -> None:
    struct.pack_into("<L", reply, 8, c.last_index)


def _set_event_index(c: EmulatedController, _: bytes, reply: bytearray) -> None:
    reply[8] = 1


_HANDLERS = {
    GET_CONTROLLER: _get_controller, GET_TIME: _get_time, SET_TIME: _set_time, GET_STATUS: _get_status,
    OPEN_DOOR: _open_door, PUT_CARD: _put_card_handler, DELETE_CARD: _delete_card,
    DELETE_ALL_CARDS: _delete_all_cards, GET_CARDS: _get_cards, GET_CARD: _get_card,
    GET_CARD_AT_INDEX: _get_card_at_index, SET_TIME_PROFILE: _set_time_profile,
    GET_TIME_PROFILE: _get_time_profile, CLEAR_TIME_PROFILES: _clear_time_profiles,
    RECORD_SPECIAL_EVENTS: _record_special_events, SET_LISTENER: _set_listener, GET_LISTENER: _get_listener,
    GET_EVENT: _get_event, GET_EVENT_INDEX: _get_event_index, SET_EVENT_INDEX: _set_event_index,
}


class _ControllerProtocol(asyncio.DatagramProtocol):
    def __init__(self, controller: EmulatedController, on_remote_open: Callable[[int], None]) -> None:
        self.controller = controller
        self.transport: asyncio.DatagramTransport | None = None
        self._on_remote_open = on_remote_open

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        c = self.controller
        if c.silent:
            return
        recorded, opened = c.last_index, len(c.opened)
        reply = c.answer(data)
        if reply is None or self.transport is None:
            return
        if c.listener is not None:  # what the request made happen (a remote open) is pushed, as it happens
            for event in c.events[max(0, recorded + 1 - c.first_index):]:
                self.transport.sendto(c.event_packet(event), c.listener)
        for door in c.opened[opened:]:
            self._on_remote_open(door)
        if c.wrong_serial_replies > 0:
            c.wrong_serial_replies -= 1
            reply = reply[:4] + struct.pack("<L", c.serial + 1) + reply[8:]
        elif c.truncated_replies > 0:
            c.truncated_replies -= 1
            reply = reply[:20]
        self.transport.sendto(reply, addr)


class ControllerEmulator:
    """The controller on ``127.0.0.1:port``; ``push`` sends an event (or raw bytes) to its listener.

    With ``door_open_seconds``, a door it lets someone through (a granted swipe, a remote open) opens half a second
    later and closes that long after, as a door with a closer does: its status shows it open meanwhile, and when
    the controller records special events (the bridge asks it to) the opening and the closing are events too.
    Without it (the tests' default) doors never move, so a test sees exactly the events it caused."""

    def __init__(self, controller: EmulatedController, door_open_seconds: float | None = None) -> None:
        self.controller = controller
        self.port = 0
        self.door_open_seconds = door_open_seconds
        self._protocol: _ControllerProtocol | None = None
        self._door_moves: set[asyncio.TimerHandle] = set()
        self._doors_moving: set[int] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _ControllerProtocol(self.controller, self._let_through), local_addr=("127.0.0.1", 0))
        self._protocol = protocol
        self.port = transport.get_extra_info("sockname")[1]

    def stop(self) -> None:
        for move in self._door_moves:
            move.cancel()
        self._door_moves.clear()
        self._doors_moving.clear()
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()

    def push(self, event: Event | bytes) -> None:
        """Send an event to the configured listener, as the controller does the moment it happens."""
        listener = self.controller.listener
        if listener is None or self._protocol is None or self._protocol.transport is None:
            return
        packet = event if isinstance(event, bytes) else self.controller.event_packet(event)
        self._protocol.transport.sendto(packet, listener)

    def swipe(self, card: int, door: int = 1, direction: int = 1) -> Event:
        event = self.controller.swipe(card, door, direction)
        self.push(event)
        if event.granted:
            self._let_through(door)
        return event

    def _let_through(self, door: int) -> None:
        if self.door_open_seconds is None or door in self._doors_moving:
            return  # doors that do not move, or one already open: it closes when it was going to
        self._doors_moving.add(door)
        self._move_door(0.5, door, is_open=True)
        self._move_door(0.5 + self.door_open_seconds, door, is_open=False)

    def _move_door(self, delay: float, door: int, is_open: bool) -> None:
        def move() -> None:
            self._door_moves.discard(handle)
            self.controller.doors_open[door - 1] = is_open
            if not is_open:
                self._doors_moving.discard(door)
            if self.controller.special_events:
                reason = REASON_DOOR_OPEN if is_open else REASON_DOOR_CLOSED
                self.push(self.controller.record(DOOR, True, door, 1, 0, reason))

        handle = asyncio.get_running_loop().call_later(delay, move)
        self._door_moves.add(handle)


@dataclass
class SwipeGenerator:
    """Who presents a card next, at which door and which way: mostly someone whose card the controller holds (what
    the bridge loaded into it from the gate's whitelist) at a door their card opens; now and then a card it does
    not hold — one of ``other_cards`` (the site's lapsed and lost cards) or a stranger's. Until the controller holds
    any card, everyone is refused. Pure: the controller's cards and the random stream decide."""

    controller: EmulatedController
    rng: random.Random
    other_cards: Sequence[int] = ()
    refused_share: float = 0.15

    def next_swipe(self) -> tuple[int, int, int]:
        """``(card, door, direction)``; direction 1 in, 2 out."""
        rng = self.rng
        holders = list(self.controller.cards.values())
        if holders and rng.random() >= self.refused_share:
            card = rng.choice(holders)
            doors = [door for door, permission in enumerate(card.doors[:self.controller.doors], start=1)
                     if permission]
            door = rng.choice(doors) if doors else rng.randint(1, self.controller.doors)
            return card.number, door, 1 if rng.random() < 0.55 else 2
        number = rng.choice(self.other_cards) if self.other_cards and rng.random() < 0.6 else self._stranger()
        return number, rng.randint(1, self.controller.doors), 1

    def _stranger(self) -> int:
        while True:
            number = self.rng.randrange(1, 2**32)
            if number not in self.controller.cards and number not in self.other_cards:
                return number


async def run_swipes(emulator: ControllerEmulator, swipes: SwipeGenerator, interval: float,
                     stop: asyncio.Event) -> int:
    """Someone at a door of ``emulator`` every ``interval`` seconds on average (random gaps, as people come), until
    ``stop`` is set; each swipe decided by the controller and pushed to its listener. Returns how many there were."""
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    count = 0
    while not stop.is_set():
        gap = min(swipes.rng.expovariate(1 / interval), 4 * interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), gap)
        if stop.is_set():
            break
        emulator.swipe(*swipes.next_swipe())
        count += 1
    return count
