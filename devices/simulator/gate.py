"""A simulated access controller (门禁): the residents who use it with their cards and faces, the events it raises
at its doors (grants, denials, door cycles, alarms, an offline backlog), and what it does with the platform's
commands.

Until the platform has synced a whitelist to it, a gate decides at random; once it holds one (given the site's
:class:`GateKeys`), its own :class:`~devices.gate_memory.GateMemory` decides, as a real controller does offline.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Final

from devices.contract import AccessMethod, Command, CommandAck, DenialReason, Direction, GateEvent, GateEventKind
from devices.gate_commands import CredentialKind
from devices.gate_memory import Denied, GateMemory, PassAdmitted
from devices.simulator.firmware import CHINA_STANDARD_TIME, SimulatedDevice, new_device, utc_millis, wire_body
from devices.topics import DeviceKind

HELD_OPEN_AFTER: Final = timedelta(seconds=30)  # controllers raise held_open when a door stays open this long
VISITOR_SHARE: Final = 0.04  # share of a synced gate's entries that are visitors showing a valid pass
COMMANDS_KEPT: Final = 256  # command ids remembered, so that a redelivered ``open`` opens the door once

_GATE_FIRMWARE: Final = ("AC-4000 v3.2.1", "AC-4000 v3.3.0", "AC-2100 v2.8.7")


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
class GateKeys:
    """What real controllers are provisioned with: the site key their readers hash credentials with,
    and the key visitor passes are signed with. Simulated gates given these decide from the whitelist
    the platform syncs to them, as real ones do; without them they decide at random."""

    site_key: bytes
    pass_key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Resident:
    """Someone who lives behind the gate, with the credentials they show at its doors."""

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
class GateController(SimulatedDevice):
    """A gate's doors, people and pending events; its traffic comes from the site's random stream."""

    doors: int = 1
    residents: tuple[Resident, ...] = ()
    expired_cards: tuple[str, ...] = ()  # moved-out tenants, lapsed contracts
    blacklisted_cards: tuple[str, ...] = ()
    known_cards: frozenset[str] = frozenset()
    backlog: deque[_GateDraft] = field(default_factory=deque)  # buffered while offline, sent first
    scheduled: list[tuple[datetime, int, _GateDraft]] = field(default_factory=list)  # heap by due time
    scheduled_count: int = 0  # breaks ties in the heap: events due at one moment come out as scheduled
    busy_doors: set[int] = field(default_factory=set)  # doors with an open/close cycle under way
    memory: GateMemory | None = None  # the controller's whitelist, when the platform keeps it in sync
    handled_commands: deque[str] = field(default_factory=lambda: deque(maxlen=COMMANDS_KEPT))

    def next_event(self, now: datetime) -> dict[str, object]:
        """The next event as the gate sends it: its offline backlog first, then what is due, else someone new
        at a door."""
        return self._event_body(self._next_draft(now), now)

    def any_grant(self, now: datetime) -> dict[str, object]:
        """An event of someone let in now (or refused, once the gate holds a whitelist), not scheduled."""
        return self._event_body(self._granted(now, offline=False), now)

    def obey(self, command: Command, now: datetime) -> CommandAck:
        """Apply the platform's command to the gate's memory and say how it went; an ``open`` also opens the door,
        once however often it is redelivered."""
        if self.memory is None:
            return CommandAck(cmd_id=command.cmd_id, ok=False, error="not provisioned: this controller has no site key")
        first_time = command.cmd_id not in self.handled_commands
        ack = self.memory.apply(command, now)
        self.handled_commands.append(command.cmd_id)
        if ack.ok and command.op == "open" and first_time and ack.result is not None:
            door = int(ack.result["door"])
            self._schedule(_GateDraft(now, door, GateEventKind.GRANTED, AccessMethod.REMOTE, None, Direction.IN))
            if door not in self.busy_doors:
                self._schedule_door_cycle(door, opened_at=now + timedelta(milliseconds=500), forced=False)
        return ack

    def _next_draft(self, now: datetime) -> _GateDraft:
        if self.backlog:
            return self.backlog.popleft()
        if self.scheduled and self.scheduled[0][0] <= now:
            draft = heapq.heappop(self.scheduled)[2]
            if draft.kind is GateEventKind.DOOR_CLOSED:
                self.busy_doors.discard(draft.door)
            return draft
        return self._new_draft(now)

    def _new_draft(self, now: datetime) -> _GateDraft:
        outcome = self.rng.choices(_GATE_OUTCOMES, _GATE_OUTCOME_WEIGHTS)[0]
        free_doors = [door for door in range(1, self.doors + 1) if door not in self.busy_doors]
        if outcome is _GateOutcome.DENIED:
            return self._denied(now, offline=False)
        if outcome is _GateOutcome.OFFLINE_BACKLOG:
            return self._offline_backlog(now)
        if outcome is _GateOutcome.TAMPER:
            return _GateDraft(now, self.rng.randint(1, self.doors), GateEventKind.TAMPER)
        if outcome is _GateOutcome.FORCED and free_doors:
            door = self.rng.choice(free_doors)
            self._schedule_door_cycle(door, opened_at=now, forced=True)
            return _GateDraft(now, door, GateEventKind.FORCED)
        # a grant, and also a "forced" that found every door already open: nothing left to force
        granted = self._granted(now, offline=False)
        if granted.kind is GateEventKind.GRANTED and granted.door in free_doors:
            opens_at = now + timedelta(seconds=self.rng.uniform(0.5, 2.0))
            self._schedule_door_cycle(granted.door, opened_at=opens_at, forced=False)
        return granted

    def _granted(self, ts: datetime, offline: bool) -> _GateDraft:
        if (memory := self._synced()) is not None:
            return self._attempt(memory, ts, offline, by_resident=True)
        rng = self.rng
        method = rng.choices(_GRANT_METHODS, _GRANT_METHOD_WEIGHTS)[0]
        enrolled = [resident for resident in self.residents if resident.face_enrolled]
        if method is AccessMethod.FACE and not enrolled:
            method = AccessMethod.CARD
        if offline and method in (AccessMethod.QR, AccessMethod.REMOTE):
            method = AccessMethod.CARD  # visitor codes and remote opening need the network
        credential: str | None
        direction = Direction.IN if rng.random() < 0.55 else Direction.OUT
        if method is AccessMethod.CARD:
            credential = rng.choice(self.residents).card
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
        door = rng.randint(1, self.doors)
        return _GateDraft(ts, door, GateEventKind.GRANTED, method, credential, direction, offline=offline)

    def _denied(self, ts: datetime, offline: bool) -> _GateDraft:
        if (memory := self._synced()) is not None:
            return self._attempt(memory, ts, offline, by_resident=False)
        rng = self.rng
        reason = rng.choices(_DENIALS, [_DENIAL_WEIGHTS[reason] for reason in _DENIALS])[0]
        method, credential = self._denied_credential(reason, ts)
        door = rng.randint(1, self.doors)
        return _GateDraft(ts, door, GateEventKind.DENIED, method, credential, Direction.IN, reason, offline)

    def _attempt(self, memory: GateMemory, ts: datetime, offline: bool, by_resident: bool) -> _GateDraft:
        """Someone presents a credential at a door and the controller's own list decides, as on a
        real gate: a resident usually gets in; a lapsed, blacklisted or strange card does not."""
        rng = self.rng
        door = rng.randint(1, self.doors)
        direction = Direction.IN if rng.random() < 0.55 else Direction.OUT
        if by_resident:
            resident = rng.choice(self.residents)
            if rng.random() < 0.06:  # the exit button inside the door needs no credential
                return _GateDraft(ts, door, GateEventKind.GRANTED, AccessMethod.BUTTON, None, Direction.OUT,
                                  offline=offline)
            if not offline and rng.random() < VISITOR_SHARE:
                visitor = self._visitor(memory, resident, door, ts)
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
            cards = (self.expired_cards if pick < 0.5 else self.blacklisted_cards if pick < 0.65 else ())
            credential = rng.choice(cards) if cards else unique_cards(rng, 1, self.known_cards)[0]
            method, kind, direction = AccessMethod.CARD, CredentialKind.CARD, Direction.IN
        decision = memory.present(kind, credential, door, ts)
        if isinstance(decision, Denied):
            return _GateDraft(ts, door, GateEventKind.DENIED, method, credential, Direction.IN, decision.reason,
                              offline)
        return _GateDraft(ts, door, GateEventKind.GRANTED, method, credential, direction, offline=offline)

    def _visitor(self, memory: GateMemory, host: Resident, door: int, ts: datetime) -> _GateDraft | None:
        """A visitor a resident invited shows a pass for this door, signed with the pass key the controller holds
        (as the platform signs them), and the controller verifies it offline. None without a pass key."""
        start = ts.replace(microsecond=0) - timedelta(minutes=self.rng.randint(0, 120))
        try:
            text = memory.sign_pass(f"vp-{self.rng.getrandbits(64):016x}", host.person_id, {(self.device_id, door)},
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

    def _denied_credential(self, reason: DenialReason, ts: datetime) -> tuple[AccessMethod, str]:
        rng = self.rng
        by_qr = rng.random() < 0.3
        if reason is DenialReason.UNKNOWN_CREDENTIAL:
            if by_qr:
                return AccessMethod.QR, f"QR{rng.getrandbits(48):012X}"  # a code from another compound's app
            return AccessMethod.CARD, unique_cards(rng, 1, self.known_cards)[0]
        if reason is DenialReason.EXPIRED:
            if by_qr or not self.expired_cards:
                return AccessMethod.QR, _visitor_code(rng, ts - timedelta(days=rng.randint(1, 7)))
            return AccessMethod.CARD, rng.choice(self.expired_cards)
        if reason is DenialReason.BLACKLISTED:
            return AccessMethod.CARD, rng.choice(self.blacklisted_cards)
        if reason is DenialReason.OUTSIDE_SCHEDULE and by_qr:
            return AccessMethod.QR, _visitor_code(rng, ts)
        resident = rng.choice(self.residents)
        if resident.face_enrolled and rng.random() < 0.4:
            return AccessMethod.FACE, resident.face_ref
        return AccessMethod.CARD, resident.card

    def _offline_backlog(self, now: datetime) -> _GateDraft:
        """The controller lost its network for a while and now uploads what it buffered, oldest first."""
        rng = self.rng
        count = rng.randint(3, 12)
        ts = now - timedelta(minutes=rng.uniform(5, 45))
        latest = now - timedelta(minutes=1)
        for _ in range(count):
            ts = min(latest, ts + timedelta(seconds=rng.uniform(10, 180)))
            stamp = utc_millis(ts)
            draft = (
                self._granted(stamp, True) if rng.random() < 0.85 else self._denied(stamp, True)
            )
            self.backlog.append(draft)
        return self.backlog.popleft()

    def _schedule_door_cycle(self, door: int, opened_at: datetime, forced: bool) -> None:
        rng = self.rng
        self.busy_doors.add(door)
        if not forced:
            self._schedule(_GateDraft(utc_millis(opened_at), door, GateEventKind.DOOR_OPEN))
        if rng.random() < 0.005:  # wedged open by a delivery trolley
            self._schedule(_GateDraft(utc_millis(opened_at + HELD_OPEN_AFTER), door, GateEventKind.HELD_OPEN))
            open_for = timedelta(seconds=rng.uniform(45, 180))
        else:
            open_for = timedelta(seconds=rng.uniform(3, 12) if not forced else rng.uniform(5, 30))
        self._schedule(_GateDraft(utc_millis(opened_at + open_for), door, GateEventKind.DOOR_CLOSED))

    def _schedule(self, draft: _GateDraft) -> None:
        self.scheduled_count += 1
        heapq.heappush(self.scheduled, (draft.ts, self.scheduled_count, draft))

    def _event_body(self, draft: _GateDraft, now: datetime) -> dict[str, object]:
        event = GateEvent(
            device=self.device_id if self.names_itself else None,
            event_id=self.next_id(now),
            ts=draft.ts,
            door=draft.door,
            kind=draft.kind,
            method=draft.method,
            credential=draft.credential,
            direction=draft.direction,
            reason=draft.reason,
            offline=draft.offline,
        )
        return wire_body(event, draft.ts, self.ts_style)

    def _synced(self) -> GateMemory | None:
        """The gate's whitelist once the platform has synced one; until then the gate decides at random."""
        return self.memory if self.memory is not None and self.memory.version is not None else None


def new_gate(rng: random.Random, site: str, number: int, keys: GateKeys | None, prefix: str = "") -> GateController:
    """Gate ``number`` with its residents (most with a face enrolled), lapsed and blacklisted cards, and doors;
    ``prefix`` goes before its id and its residents' (``north-gate-01``, ``north-P010001``)."""
    gate = new_device(GateController, rng, site, DeviceKind.GATE, number, _GATE_FIRMWARE, prefix)
    population = rng.randint(60, 240)
    cards = unique_cards(rng, population + population // 10 + 3, frozenset())
    gate.residents = tuple(
        Resident(f"{prefix}P{number:02d}{index:04d}", card, face_enrolled=rng.random() < 0.7,
                 face_ref=_face_reference(card))
        for index, card in enumerate(cards[:population], start=1)
    )
    gate.expired_cards = tuple(cards[population:-3])
    gate.blacklisted_cards = tuple(cards[-3:])
    gate.known_cards = frozenset(cards)
    gate.doors = rng.randint(1, 4)
    if keys is not None:
        gate.memory = GateMemory(gate.device_id, keys.site_key, keys.pass_key, doors=gate.doors)
    return gate


def unique_cards(rng: random.Random, count: int, taken: frozenset[str]) -> list[str]:
    """``count`` card numbers, none of them ``taken``, in the order drawn."""
    cards: dict[str, None] = {}  # insertion-ordered, so the result is deterministic
    while len(cards) < count:
        card = _card_number(rng)
        if card not in taken:
            cards[card] = None
    return list(cards)


def _card_number(rng: random.Random) -> str:
    return f"{rng.randrange(1, 2**32):010d}"


def _face_reference(card: str) -> str:
    """The face template's reference in the face system, deterministic per resident but unrelated to their id."""
    return "FT" + hashlib.sha256(f"face-template:{card}".encode()).hexdigest()[:14].upper()


def _visitor_code(rng: random.Random, issued: datetime) -> str:
    return f"V{issued.astimezone(CHINA_STANDARD_TIME):%Y%m%d}{rng.randrange(10**8):08d}"
