"""Access alarms from gate events and gate availability, and their lifecycle open → acknowledged → resolved.

Rules (:class:`AlarmRules`):

* a forced door, a door held open, a tamper switch raise an alarm at once (the gate's own ``forced``, ``held_open``,
  ``tamper`` events);
* a door the platform heard open (``door_open`` or ``forced``) and not closed for more than `held_open_after` raises
  a door-held-open alarm on the first :meth:`AlarmEngine.tick` after that, for controllers that do not report
  ``held_open`` themselves (or report it later than the site wants). The clock starts when the platform hears the
  door open, not at the event's own time, so a backlog a gate uploads late (its ``door_closed`` a moment after its
  ``door_open``) does not raise it; buffered (``offline``) door events are history and not tracked;
* repeated denials at one door — `denial_threshold` within `denial_window` (default 5 within 2 minutes, by the
  events' own timestamps, sliding) — raise one alarm; while it is unresolved, more denials do not raise another;
* a gate offline (``state`` online=false, or its last will) for more than `offline_after` raises an alarm on the
  first :meth:`AlarmEngine.tick` after that; the gate coming back resolves it. A registered gate never heard from
  counts as offline from its registration (the caller says when: :meth:`AlarmEngine.on_state` with online=false).

While an alarm of a kind is unresolved for a door (or a gate), repeats are counted on it rather than raised again,
so a flapping sensor does not bury the guard in alarms. Memory is bounded: denial windows, open doors and offline
gates are kept for at most `max_tracked_doors` / `max_tracked_gates`, the least recently seen forgotten first.

Nothing here reads a clock: the caller passes `now`.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from devices.contract import GateEvent, GateEventKind

SYSTEM = "system"
"""Who resolves an alarm whose condition ended by itself (a gate back online)."""


class AlarmKind(StrEnum):
    FORCED_DOOR = "forced_door"
    DOOR_HELD_OPEN = "door_held_open"
    TAMPER = "tamper"
    REPEATED_DENIALS = "repeated_denials"
    GATE_OFFLINE = "gate_offline"


class AlarmStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


_IMMEDIATE = {
    GateEventKind.FORCED: AlarmKind.FORCED_DOOR,
    GateEventKind.HELD_OPEN: AlarmKind.DOOR_HELD_OPEN,
    GateEventKind.TAMPER: AlarmKind.TAMPER,
}


class AlarmTransitionError(ValueError):
    """An alarm cannot move that way (e.g. acknowledging a resolved alarm); the message says why."""


@dataclass(frozen=True)
class Alarm:
    """One alarm. `door` is None for gate-wide alarms (offline). `occurrences` counts folded repeats."""

    alarm_id: str
    kind: AlarmKind
    gate_id: str
    door: int | None
    raised_at: datetime
    status: AlarmStatus = AlarmStatus.OPEN
    occurrences: int = 1
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledge_note: str = ""
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolve_note: str = ""


def acknowledge(alarm: Alarm, by: str, at: datetime, note: str = "") -> Alarm:
    """Someone has seen the alarm and is on it. Only an open alarm can be acknowledged."""
    _check_actor(alarm, by, at)
    if alarm.status is not AlarmStatus.OPEN:
        raise AlarmTransitionError(
            f"alarm {alarm.alarm_id} is {alarm.status.value}; only an open alarm is acknowledged"
        )
    return replace(
        alarm, status=AlarmStatus.ACKNOWLEDGED, acknowledged_by=by, acknowledged_at=at, acknowledge_note=note
    )


def resolve(alarm: Alarm, by: str, at: datetime, note: str = "") -> Alarm:
    """The alarm is dealt with. An open alarm may be resolved without an acknowledgement; a resolved one is final."""
    _check_actor(alarm, by, at)
    if alarm.status is AlarmStatus.RESOLVED:
        raise AlarmTransitionError(f"alarm {alarm.alarm_id} is already resolved")
    if alarm.acknowledged_at is not None and at < alarm.acknowledged_at:
        raise AlarmTransitionError(f"alarm {alarm.alarm_id} cannot be resolved before it was acknowledged")
    return replace(alarm, status=AlarmStatus.RESOLVED, resolved_by=by, resolved_at=at, resolve_note=note)


def _check_actor(alarm: Alarm, by: str, at: datetime) -> None:
    if not by.strip():
        raise AlarmTransitionError("say who acknowledges or resolves the alarm")
    if at.tzinfo is None or at.utcoffset() is None:
        raise AlarmTransitionError("the time of an alarm transition must be timezone-aware")
    if at < alarm.raised_at:
        raise AlarmTransitionError(f"alarm {alarm.alarm_id} cannot change before it was raised")


@dataclass(frozen=True)
class AlarmRules:
    denial_threshold: int = 5
    denial_window: timedelta = timedelta(minutes=2)
    held_open_after: timedelta = timedelta(seconds=60)
    offline_after: timedelta = timedelta(minutes=5)
    max_tracked_doors: int = 4096
    max_tracked_gates: int = 4096

    def __post_init__(self) -> None:
        if self.denial_threshold < 1 or self.max_tracked_doors < 1 or self.max_tracked_gates < 1:
            raise ValueError("the denial threshold and the tracking caps must be positive")
        if self.denial_window <= timedelta(0) or self.held_open_after <= timedelta(0):
            raise ValueError("the denial window and the held-open delay must be positive")
        if self.offline_after < timedelta(0):
            raise ValueError("the offline delay must not be negative")


_AlarmKey = tuple[AlarmKind, str, int | None]
_DOOR_MOVES = {GateEventKind.DOOR_OPEN: True, GateEventKind.FORCED: True, GateEventKind.DOOR_CLOSED: False}


@dataclass(frozen=True)
class _DoorState:
    """The latest open/close the platform heard of a door: the event's time (to order them) and when it was heard."""

    ts: datetime
    is_open: bool
    heard_at: datetime


class AlarmEngine:
    """The alarm rules as a state machine: feed it events, availability and ticks; it returns alarms raised."""

    def __init__(self, rules: AlarmRules | None = None) -> None:
        self.rules = rules or AlarmRules()
        self._alarms: dict[str, Alarm] = {}
        self._unresolved: dict[_AlarmKey, str] = {}
        # per (gate, door): the timestamps and ids of the most recent denials, sorted, at most `denial_threshold`
        self._denials: OrderedDict[tuple[str, int], list[tuple[datetime, str]]] = OrderedDict()
        self._offline_since: OrderedDict[str, datetime] = OrderedDict()
        self._doors: OrderedDict[tuple[str, int], _DoorState] = OrderedDict()

    @property
    def unresolved(self) -> tuple[Alarm, ...]:
        """Alarms open or acknowledged, oldest first."""
        return tuple(sorted(self._alarms.values(), key=lambda alarm: (alarm.raised_at, alarm.alarm_id)))

    @property
    def denial_windows(self) -> dict[tuple[str, int], int]:
        """How many recent denials each tracked (gate, door) holds: at most ``max_tracked_doors`` doors, each
        at most ``denial_threshold`` denials — the engine's memory, bounded whatever the traffic."""
        return {door: len(window) for door, window in self._denials.items()}

    def restore(self, unresolved: Iterable[Alarm], offline_since: Mapping[str, datetime]) -> None:
        """Take back what a restart lost: the alarms still unresolved and since when gates are offline."""
        for alarm in unresolved:
            self._alarms[alarm.alarm_id] = alarm
            self._unresolved[(alarm.kind, alarm.gate_id, alarm.door)] = alarm.alarm_id
        for gate_id, since in offline_since.items():
            self.on_state(gate_id, False, since)

    def knows(self, alarm_id: str) -> bool:
        return alarm_id in self._alarms

    def alarm(self, alarm_id: str) -> Alarm:
        try:
            return self._alarms[alarm_id]
        except KeyError:
            raise AlarmTransitionError(f"no unresolved alarm {alarm_id}") from None

    def on_event(self, gate_id: str, event: GateEvent, now: datetime) -> list[Alarm]:
        """Apply the event rules to one gate event; return the alarms it raised (none when folded into one)."""
        if event.kind in _DOOR_MOVES and not event.offline:
            self._door_moved(gate_id, event, now)
        immediate = _IMMEDIATE.get(event.kind)
        if immediate is not None:
            raised = self._raise(immediate, gate_id, event.door, now, event.event_id)
            return [raised] if raised else []
        if event.kind is GateEventKind.DENIED:
            return self._on_denial(gate_id, event, now)
        return []

    def on_state(self, gate_id: str, online: bool, now: datetime) -> list[Alarm]:
        """Gate availability changed; returns offline alarms resolved because the gate is back."""
        if not online:
            if gate_id not in self._offline_since:
                self._offline_since[gate_id] = now
                while len(self._offline_since) > self.rules.max_tracked_gates:
                    self._offline_since.popitem(last=False)
            return []
        self._offline_since.pop(gate_id, None)
        alarm_id = self._unresolved.get((AlarmKind.GATE_OFFLINE, gate_id, None))
        if alarm_id is None:
            return []
        return [self.resolve(alarm_id, SYSTEM, max(now, self._alarms[alarm_id].raised_at), "gate back online")]

    def tick(self, now: datetime) -> list[Alarm]:
        """Raise an offline alarm for each gate offline for more than `offline_after` by `now`, and a held-open
        alarm for each door heard open and not closed for more than `held_open_after`."""
        raised: list[Alarm] = []
        for gate_id, since in self._offline_since.items():
            if now - since > self.rules.offline_after:
                alarm = self._raise(AlarmKind.GATE_OFFLINE, gate_id, None, now, since.isoformat(), fold=False)
                if alarm is not None:
                    raised.append(alarm)
        for (gate_id, door), state in self._doors.items():
            if state.is_open and now - state.heard_at > self.rules.held_open_after:
                alarm = self._raise(AlarmKind.DOOR_HELD_OPEN, gate_id, door, now, f"open@{state.ts.isoformat()}",
                                    fold=False)
                if alarm is not None:
                    raised.append(alarm)
        return raised

    def acknowledge(self, alarm_id: str, by: str, at: datetime, note: str = "") -> Alarm:
        alarm = acknowledge(self.alarm(alarm_id), by, at, note)
        self._alarms[alarm_id] = alarm
        return alarm

    def resolve(self, alarm_id: str, by: str, at: datetime, note: str = "") -> Alarm:
        """Resolve an alarm and stop tracking it; a new occurrence afterwards raises a new alarm."""
        alarm = resolve(self.alarm(alarm_id), by, at, note)
        del self._alarms[alarm_id]
        del self._unresolved[(alarm.kind, alarm.gate_id, alarm.door)]
        return alarm

    def _door_moved(self, gate_id: str, event: GateEvent, now: datetime) -> None:
        """Remember the door's latest open/close; one older than what is known already (out of order) is ignored."""
        key = (gate_id, event.door)
        known = self._doors.pop(key, None)
        if known is not None and event.ts < known.ts:
            self._doors[key] = known
            return
        is_open = _DOOR_MOVES[event.kind]
        # a door already heard open keeps the moment it was first heard, so a repeated open does not restart it
        heard_at = known.heard_at if known is not None and known.is_open and is_open else now
        self._doors[key] = _DoorState(event.ts, is_open, heard_at)
        while len(self._doors) > self.rules.max_tracked_doors:
            self._doors.popitem(last=False)

    def _on_denial(self, gate_id: str, event: GateEvent, now: datetime) -> list[Alarm]:
        key = (gate_id, event.door)
        if (AlarmKind.REPEATED_DENIALS, gate_id, event.door) in self._unresolved:
            self._raise(AlarmKind.REPEATED_DENIALS, gate_id, event.door, now, event.event_id)  # counts the repeat
            return []
        window = self._denials.pop(key, [])
        self._denials[key] = window  # most recently seen last
        while len(self._denials) > self.rules.max_tracked_doors:
            self._denials.popitem(last=False)
        if any(event_id == event.event_id for _, event_id in window):
            return []  # a redelivered event is counted once
        bisect.insort(window, (event.ts, event.event_id))
        del window[: -self.rules.denial_threshold]
        if len(window) < self.rules.denial_threshold or window[-1][0] - window[0][0] > self.rules.denial_window:
            return []
        del self._denials[key]
        raised = self._raise(AlarmKind.REPEATED_DENIALS, gate_id, event.door, now, event.event_id)
        return [raised] if raised else []

    def _raise(
        self, kind: AlarmKind, gate_id: str, door: int | None, now: datetime, cause: str, *, fold: bool = True
    ) -> Alarm | None:
        """A new alarm, or None when one of this kind is unresolved for the door (counted on it if `fold`)."""
        key = (kind, gate_id, door)
        existing = self._unresolved.get(key)
        if existing is not None:
            if fold:
                alarm = self._alarms[existing]
                self._alarms[existing] = replace(alarm, occurrences=alarm.occurrences + 1)
            return None
        alarm = Alarm(f"{kind.value}:{gate_id}:{door or '-'}:{cause}", kind, gate_id, door, now)
        self._alarms[alarm.alarm_id] = alarm
        self._unresolved[key] = alarm.alarm_id
        return alarm
