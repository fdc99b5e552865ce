"""Reading back the events a terminal stored while nobody took its pushes: what to ask, what its answers say, and
which events were forwarded already.

Pure. A terminal keeps its access events and answers ``POST /ISAPI/AccessControl/AcsEvent?format=json`` with
``{"AcsEventCond": {searchID, searchResultPosition, maxResults, major, minor, startTime, endTime}}``, one page at a
time: ``{"AcsEvent": {searchID, responseStatusStrg, numOfMatches, totalMatches, InfoList: […]}}``, where
``responseStatusStrg`` is ``"MORE"`` while pages follow (then ``"OK"``, or ``"NO MATCH"``). The bridge searches from
the time of the last event it forwarded, less an overlap (a terminal may push events a little out of order, and its
clock is not the bridge's), and skips the events it forwarded already by their id, which is made of the terminal's
``serialNo`` and time (:func:`~bridges.hikvision.events.event_id`), so none is forwarded twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from bridges.hikvision.events import TERMINAL_TIME, Rejected, RejectReason, TerminalEvent, parse_record

SEARCH_OVERLAP: Final = timedelta(minutes=10)  # searched again before the last forwarded event
SEARCH_AHEAD: Final = timedelta(days=1)  # past the bridge's now: a terminal whose clock runs ahead
FORWARDED_KEPT: Final = 4096
"""Keys remembered, those within the overlap (two an event with a serialNo: events.remembered_keys); the gateway's
idempotency is behind it."""
ALL_EVENTS: Final = 0  # major and minor 0: every type
MORE: Final = "MORE"


@dataclass
class ForwardedLog:
    """The time of the last event forwarded (the watermark) and the ids of those within the overlap before it."""

    watermark: datetime | None = None
    ids: dict[str, datetime] = field(default_factory=dict)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self.ids

    def begin(self, now: datetime) -> None:
        """First contact: the terminal's history before now is not the platform's to receive."""
        if self.watermark is None:
            self.watermark = now

    def add(self, event_id: str, at: datetime) -> None:
        self.ids[event_id] = at
        if self.watermark is None or at > self.watermark:
            self.watermark = at
        oldest = self.watermark - SEARCH_OVERLAP
        kept = sorted(((ts, key) for key, ts in self.ids.items() if ts >= oldest), reverse=True)[:FORWARDED_KEPT]
        self.ids = {key: ts for ts, key in sorted(kept)}

    def search_window(self, now: datetime) -> tuple[datetime, datetime] | None:
        """From the watermark less the overlap to a day past now; None before the first contact."""
        if self.watermark is None:
            return None
        return self.watermark - SEARCH_OVERLAP, max(now, self.watermark) + SEARCH_AHEAD


def search_condition(search_id: str, position: int, page_size: int,
                     window: tuple[datetime, datetime]) -> dict[str, Any]:
    start, end = window
    return {"AcsEventCond": {
        "searchID": search_id, "searchResultPosition": position, "maxResults": page_size,
        "major": ALL_EVENTS, "minor": ALL_EVENTS,
        "startTime": _terminal_time(start), "endTime": _terminal_time(end)}}


def _terminal_time(at: datetime) -> str:
    return at.astimezone(TERMINAL_TIME).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class SearchPage:
    events: list[TerminalEvent]  # oldest first
    unreadable: list[tuple[str, Rejected]]  # (a digest of the record, why): dead-lettered once
    matches: int  # how far the next page's searchResultPosition moves
    more: bool


def read_page(answer: dict[str, Any]) -> SearchPage | Rejected:
    """One page of an ``AcsEvent`` search answer; Rejected when it is not one."""
    body = answer.get("AcsEvent")
    if not isinstance(body, dict):
        return Rejected(RejectReason.MISSING_FIELD, "AcsEvent")
    status = body.get("responseStatusStrg")
    records = body.get("InfoList", [])
    if not isinstance(status, str) or not isinstance(records, list):
        return Rejected(RejectReason.BAD_FIELD, "responseStatusStrg or InfoList")
    matches = body.get("numOfMatches", len(records))
    if not isinstance(matches, int) or isinstance(matches, bool) or not 0 <= matches <= len(records):
        return Rejected(RejectReason.BAD_FIELD, "numOfMatches is not the number of records")
    events: list[TerminalEvent] = []
    unreadable: list[tuple[str, Rejected]] = []
    for record in records:
        parsed = parse_record(record)
        if isinstance(parsed, Rejected):
            unreadable.append((record_digest(record), parsed))
        else:
            events.append(parsed)
    events.sort(key=lambda event: (event.ts, event.serial_no or 0))
    return SearchPage(events, unreadable, matches, status.upper() == MORE)


def record_digest(record: object) -> str:
    """An id for a stored record the bridge cannot read, so it is dead-lettered once however often it is read."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
    return "hbad-" + hashlib.sha256(text.encode()).hexdigest()[:20]
