"""The access log (every gate event, with who it was when the credential is known) and presence counts.

An entry keeps the keyed hash of the credential, never the value the gate read. Pages are keyset-paginated, newest
first, by (ts, gate, event id): an opaque cursor says where the next page starts, so paging stays correct while new
events arrive.

Presence: a known person (resident or visitor pass) granted through a perimeter door (the compound's entrance or the
garage) with a direction is inside or outside from then on; only a movement newer than the last one counts, so an
offline gate's backlog arriving late does not undo a later movement. It is an estimate: people leave without being
counted out (the exit button names nobody, a door held for someone else), so a visitor stops counting once their
pass has ended, and a resident once their last movement in is older than a cutoff (`AccessSettings`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from community.access.directory import DoorKind
from devices.contract import AccessMethod, DenialReason, Direction, GateEventKind

MAX_PAGE = 500
PERIMETER = frozenset({DoorKind.ENTRANCE, DoorKind.GARAGE})


@dataclass(frozen=True)
class AccessLogEntry:
    gate_id: str
    event_id: str
    community_id: str
    ts: datetime
    received_at: datetime
    door: int
    kind: GateEventKind
    method: AccessMethod | None = None
    credential_hash: str | None = None
    resident_id: str | None = None
    pass_id: str | None = None
    direction: Direction | None = None
    reason: DenialReason | None = None
    offline: bool = False


@dataclass(frozen=True)
class Visibility:
    """A resident's view: the events of their unit's active residents and of the visitors any of them invited (the
    storage resolves both, so no list of ids bounds what a household sees). Former residents of the unit, and the
    visitors they invited, are not the new household's business."""

    unit_id: str


@dataclass(frozen=True)
class LogQuery:
    """Filters of the access log; `visible_to` restricts it to what a resident may see, `communities` to the
    communities a manager may see (None: any; empty: none)."""

    community_id: str | None = None
    gate_id: str | None = None
    door: int | None = None
    resident_id: str | None = None
    visible_to: Visibility | None = None
    kind: GateEventKind | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    after: tuple[datetime, str, str] | None = None  # the (ts, gate, event) the previous page ended with
    communities: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise ValueError(f"a page holds 1..{MAX_PAGE} entries")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")


@dataclass(frozen=True)
class LogPage:
    entries: tuple[AccessLogEntry, ...]
    next_cursor: str | None


def encode_cursor(entry: AccessLogEntry) -> str:
    raw = json.dumps([entry.ts.isoformat(), entry.gate_id, entry.event_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str, str]:
    """The position a cursor names; ValueError for anything that is not one of ours."""
    try:
        ts, gate_id, event_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(ts)
    except (ValueError, TypeError, binascii.Error):
        raise ValueError("not a cursor of this log") from None
    if moment.tzinfo is None or not isinstance(gate_id, str) or not isinstance(event_id, str):
        raise ValueError("not a cursor of this log")
    return moment, gate_id, event_id


@dataclass(frozen=True)
class Movement:
    """A person going in or out through a perimeter door."""

    person_kind: Literal["resident", "visitor"]
    person_id: str  # a resident id, or a visitor pass id
    inside: bool
    at: datetime


def movement(entry: AccessLogEntry, door_kind: DoorKind | None) -> Movement | None:
    """What an entry says about presence, if anything."""
    if entry.kind is not GateEventKind.GRANTED or entry.direction is None or door_kind not in PERIMETER:
        return None
    inside = entry.direction is Direction.IN
    if entry.resident_id is not None:
        return Movement("resident", entry.resident_id, inside, entry.ts)
    if entry.pass_id is not None:
        return Movement("visitor", entry.pass_id, inside, entry.ts)
    return None


@dataclass(frozen=True)
class Presence:
    community_id: str
    residents_inside: int
    visitors_inside: int
