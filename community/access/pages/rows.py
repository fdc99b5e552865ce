"""Rows and views the manager's pages draw: events (from the log or the live feed), alarms and remote opens, with
the names of their gates, doors and people, and their tone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from community.access.access_log import AccessLogEntry
from community.access.alarms import Alarm, AlarmStatus
from community.access.live_feed import FeedItem
from community.access.pages.people import Actors, People
from community.access.pages.scope import Scope
from community.access.pages.words import open_error_text
from community.access.remote_open import RemoteOpen, RemoteOpenStatus
from devices.contract import AccessMethod, DenialReason, Direction, GateEventKind

_EVENT_TONE = {GateEventKind.GRANTED: "ok", GateEventKind.DENIED: "warn", GateEventKind.FORCED: "bad",
               GateEventKind.HELD_OPEN: "bad", GateEventKind.TAMPER: "bad"}
_ALARM_TONE = {AlarmStatus.OPEN: "bad", AlarmStatus.ACKNOWLEDGED: "warn", AlarmStatus.RESOLVED: "ok"}
_OPEN_TONE = {RemoteOpenStatus.PENDING: "info", RemoteOpenStatus.OPENED: "ok", RemoteOpenStatus.FAILED: "bad",
              RemoteOpenStatus.TIMED_OUT: "warn"}


@dataclass(frozen=True)
class EventRow:
    gate_id: str
    gate_name: str
    event_id: str
    ts: datetime
    door: int
    door_name: str
    kind: GateEventKind
    method: AccessMethod | None
    direction: Direction | None
    reason: DenialReason | None
    offline: bool
    person: str | None

    @property
    def tone(self) -> str:
        return _EVENT_TONE.get(self.kind, "")

    @property
    def place(self) -> str:
        return _place(self.gate_name, self.door_name)


def _place(gate_name: str, door_name: str | None) -> str:
    """Where, as people say it: the gate and its door (once when the door is named like its gate)."""
    if not door_name or door_name == gate_name:
        return gate_name
    return f"{gate_name} · {door_name}"


async def event_row(scope: Scope, people: People, entry: AccessLogEntry) -> EventRow:
    return EventRow(entry.gate_id, scope.gate_name(entry.gate_id), entry.event_id, entry.ts, entry.door,
                    scope.door_name(entry.gate_id, entry.door) or "", entry.kind, entry.method, entry.direction,
                    entry.reason, entry.offline, await people.label(entry.resident_id, entry.pass_id))


async def _feed_event_row(scope: Scope, people: People, item: FeedItem) -> EventRow:
    data = item.data
    return EventRow(
        item.gate_id, scope.gate_name(item.gate_id), str(data["event_id"]), datetime.fromisoformat(data["ts"]),
        int(data["door"]), data.get("door_name") or scope.door_name(item.gate_id, int(data["door"])) or "",
        GateEventKind(data["event"]), _optional(AccessMethod, data.get("method")),
        _optional(Direction, data.get("direction")), _optional(DenialReason, data.get("reason")),
        bool(data.get("offline")), await people.label(data.get("resident_id"), data.get("pass_id")))


T = TypeVar("T")


def _optional(kind: Callable[[str], T], value: Any) -> T | None:
    return None if value is None else kind(str(value))


@dataclass(frozen=True)
class AlarmView:
    number: int
    alarm: Alarm
    gate_name: str
    door_name: str | None
    acknowledged_by: str | None
    resolved_by: str | None

    @property
    def tone(self) -> str:
        return _ALARM_TONE[self.alarm.status]

    @property
    def place(self) -> str:
        return _place(self.gate_name, self.door_name)


async def alarm_view(scope: Scope, actors: Actors, number: int, alarm: Alarm) -> AlarmView:
    return AlarmView(number, alarm, scope.gate_name(alarm.gate_id), scope.door_name(alarm.gate_id, alarm.door),
                     await actors.name(alarm.acknowledged_by), await actors.name(alarm.resolved_by))


@dataclass(frozen=True)
class OpenView:
    request: RemoteOpen
    gate_name: str
    door_name: str
    requested_by: str
    error: str | None

    @property
    def tone(self) -> str:
        return _OPEN_TONE[self.request.status]

    @property
    def place(self) -> str:
        return _place(self.gate_name, self.door_name)


async def open_view(scope: Scope, actors: Actors, request: RemoteOpen) -> OpenView:
    return OpenView(request, scope.gate_name(request.gate_id), scope.door_name(request.gate_id, request.door) or "",
                    await actors.name(request.requested_by) or request.requested_by, open_error_text(request))
