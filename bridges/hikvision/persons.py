"""The gate's whitelist → what a Hikvision terminal can hold: persons (``UserInfo``), their cards (``CardInfo``) and
the weekly schedules their door rights point at (``UserRightWeekPlanCfg`` + ``UserRightPlanTemplate``).

Pure: fed the list's entries and the credentials the bridge knows in clear, it returns the records and the ISAPI
JSON bodies. An ISAPI person has one validity (``Valid``: begin and end, to the second), a list of doors
(``doorRight``) and per door one schedule template (``RightPlan``); a template points at a week plan of at most
eight time segments per weekday. So, as far as ISAPI expresses it:

* a **face** entry is the person whose ``employeeNo`` is the face reference (what the terminal reports when it
  recognises the face; the face itself is enrolled on the terminal, not by the bridge);
* a **card** entry is a person of its own, ``employeeNo`` = ``c`` + the first 20 hex digits of the keyed hash (the
  whitelist says nothing about who holds a card), holding that card;
* the person's validity is the entry's, narrowed to the span of its grants; a grant valid for less than that is left
  out (less access, counted), since a terminal cannot give one door a shorter validity than another;
* per door, the weekly windows of every grant naming it become one week plan; weekdays and segments as the
  windows, a window across midnight split over the two days; the 7 × 24 h week is template 1 (written by the bridge
  too);
* rounding goes towards *less* access: a start up to the next whole second, an end (exclusive in the contract,
  inclusive on the terminal) down to the second before; more than 8 segments on a day keep the first 8 (counted);
  templates past ``max_templates`` are not written and their doors are left out (counted).

PIN and QR entries are not loaded (a terminal's PIN is per person, a QR code is read as a card number).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Final

from bridges.hikvision.events import TERMINAL_TIME
from devices.gate_commands import CredentialKind, GrantArgs, WeeklyWindowArgs, WhitelistEntryArgs

ALWAYS_TEMPLATE: Final = 1
SEGMENTS_PER_DAY: Final = 8
SECONDS_PER_DAY: Final = 24 * 3600
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=TERMINAL_TIME)
LATEST: Final = datetime(2037, 12, 31, 23, 59, 59, tzinfo=TERMINAL_TIME)  # the terminals' last valid moment
WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_EMPLOYEE_NO: Final = 32

Segment = tuple[int, int]  # seconds of the day, both included
Week = tuple[tuple[Segment, ...], ...]  # 7 days, Monday first


@dataclass(frozen=True, slots=True)
class Person:
    employee_no: str
    enabled: bool
    begin: datetime  # terminal wall-clock time, to the second
    end: datetime  # included
    doors: tuple[tuple[int, int], ...]  # (door, template number), sorted
    card_no: str | None = None

    def user_info(self) -> dict[str, Any]:
        """The ``UserInfo`` object of ``UserInfo/Record`` and ``UserInfo/Modify``."""
        return {
            "employeeNo": self.employee_no,
            "userType": "normal",
            "Valid": {"enable": self.enabled, "beginTime": _stamp(self.begin), "endTime": _stamp(self.end),
                      "timeType": "local"},
            "doorRight": ",".join(str(door) for door, _ in self.doors),
            "RightPlan": [{"doorNo": door, "planTemplateNo": str(template)} for door, template in self.doors],
        }


@dataclass(frozen=True, slots=True)
class TerminalLoad:
    """What the terminal should hold, and what of the whitelist it cannot (counted, shown in the state)."""

    persons: dict[str, Person] = field(default_factory=dict)
    templates: dict[int, Week] = field(default_factory=dict)
    unknown: int = 0  # card and face entries whose card number / face reference the bridge does not know
    unsupported: int = 0  # PIN and QR entries
    narrowed_grants: int = 0  # grants left out because their validity is shorter than the person's
    dropped_segments: int = 0  # segments past 8 a day
    over_template_limit: int = 0  # doors left out because the templates were used up

    def counts(self) -> dict[str, int]:
        return {"persons": len(self.persons), "templates": len(self.templates), "unknown": self.unknown,
                "unsupported": self.unsupported, "narrowed_grants": self.narrowed_grants,
                "dropped_segments": self.dropped_segments, "over_template_limit": self.over_template_limit}


def card_employee_no(credential_hash: str) -> str:
    """The person a card entry becomes: derived from the keyed hash, so it is stable and tells nothing."""
    return "c" + credential_hash[:20]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(TERMINAL_TIME).strftime("%Y-%m-%dT%H:%M:%S")


def _clock(second: int) -> str:
    return f"{second // 3600:02d}:{second % 3600 // 60:02d}:{second % 60:02d}"


def week_plan_body(week: Week) -> dict[str, Any]:
    """``UserRightWeekPlanCfg``: 7 × 8 rows, the unused ones disabled (a PUT replaces the whole plan)."""
    rows = []
    for day, segments in zip(WEEKDAYS, week, strict=True):
        for position in range(SEGMENTS_PER_DAY):
            if position < len(segments):
                first, last = segments[position]
                begin, end = _clock(first), ("24:00:00" if last == SECONDS_PER_DAY - 1 and first == 0
                                               else _clock(last))
                rows.append({"week": day, "id": position + 1, "enable": True,
                             "TimeSegment": {"beginTime": begin, "endTime": end}})
            else:
                rows.append({"week": day, "id": position + 1, "enable": False,
                             "TimeSegment": {"beginTime": "00:00:00", "endTime": "00:00:00"}})
    return {"UserRightWeekPlanCfg": {"enable": True, "WeekPlanCfg": rows}}


def plan_template_body(number: int) -> dict[str, Any]:
    """``UserRightPlanTemplate`` number ``number`` → week plan ``number`` (the bridge keeps the two in step)."""
    return {"UserRightPlanTemplate": {"enable": True, "templateName": f"smartcity-{number}", "weekPlanNo": number,
                                      "holidayGroupNo": ""}}


ALWAYS_WEEK: Final[Week] = tuple(((0, SECONDS_PER_DAY - 1),) for _ in range(7))


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + (1 if moment.microsecond else 0)


def week_of(windows: Iterable[WeeklyWindowArgs]) -> tuple[Week, int]:
    """The week plan the windows allow (segments merged, both ends included) and how many segments past 8 a day
    were dropped."""
    ranges: dict[int, list[Segment]] = defaultdict(list)
    for window in windows:
        start = _seconds(window.start)
        end = window.end.hour * 3600 + window.end.minute * 60 + window.end.second  # exclusive: rounded down
        for day in window.days:
            if end > start:
                ranges[day].append((start, end - 1))
            else:  # crosses midnight (end ≤ start): to the day's end, then on from 00:00:00 the next day
                if start < SECONDS_PER_DAY:
                    ranges[day].append((start, SECONDS_PER_DAY - 1))
                if end > 0:
                    ranges[(day + 1) % 7].append((0, end - 1))
    dropped = 0
    days = []
    for day in range(7):
        merged = _merged(ranges.get(day, []))
        dropped += max(0, len(merged) - SEGMENTS_PER_DAY)
        days.append(tuple(merged[:SEGMENTS_PER_DAY]))
    return tuple(days), dropped


def _merged(spans: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _begin(valid_from: datetime | None) -> datetime:
    if valid_from is None:
        return EARLIEST
    local = valid_from.astimezone(TERMINAL_TIME)
    rounded = local.replace(microsecond=0) + (timedelta(seconds=1) if local.microsecond else timedelta())
    return max(EARLIEST, min(LATEST, rounded))


def _end(valid_to: datetime | None) -> datetime:
    if valid_to is None:
        return LATEST
    local = valid_to.astimezone(TERMINAL_TIME)
    last = local.replace(microsecond=0) - (timedelta() if local.microsecond else timedelta(seconds=1))
    return max(EARLIEST, min(LATEST, last))


def _covers(grant: GrantArgs, begin: datetime, end: datetime) -> bool:
    return _begin(grant.valid_from) <= begin and _end(grant.valid_to) >= end


def terminal_load(entries: Iterable[WhitelistEntryArgs], known: Mapping[str, str], doors: int,
                  max_templates: int = 128, face_refs: Iterable[str] = ()) -> TerminalLoad:
    """The persons and templates a terminal with ``doors`` doors should hold for these entries. ``known`` maps a
    credential hash to the card number or face reference the bridge knows for it; ``face_refs`` are the face
    persons known at the site (enrolled on the terminal): those not on the list are held *disabled*, not deleted,
    so their enrolled face survives until the list takes them back."""
    wanted: dict[str, tuple[datetime, datetime, dict[int, Week], str | None]] = {}
    unknown = unsupported = narrowed = dropped = 0
    for entry in entries:
        if entry.kind not in (CredentialKind.CARD, CredentialKind.FACE):
            unsupported += 1
            continue
        raw = known.get(entry.hash)
        if raw is None or (entry.kind is CredentialKind.FACE and len(raw) > MAX_EMPLOYEE_NO):
            unknown += 1
            continue
        begin = max(_begin(entry.valid_from), min(_begin(grant.valid_from) for grant in entry.grants))
        end = min(_end(entry.valid_to), max(_end(grant.valid_to) for grant in entry.grants))
        if end < begin:
            continue
        grants = [grant for grant in entry.grants if _covers(grant, begin, end)]
        narrowed += len(entry.grants) - len(grants)
        by_door: dict[int, list[WeeklyWindowArgs]] = defaultdict(list)
        for grant in grants:
            for door in grant.doors:
                if door <= doors:
                    by_door[door].extend(grant.windows)
        weeks: dict[int, Week] = {}
        for door, windows in sorted(by_door.items()):
            week, cut = week_of(windows)
            dropped += cut
            if any(week):
                weeks[door] = week
        if not weeks:
            continue
        if entry.kind is CredentialKind.FACE:
            wanted[raw] = (begin, end, weeks, None)
        else:
            wanted[card_employee_no(entry.hash)] = (begin, end, weeks, raw)
    distinct = sorted({week for _, _, weeks, _ in wanted.values() for week in weeks.values()} - {ALWAYS_WEEK})
    templates: dict[int, Week] = {ALWAYS_TEMPLATE: ALWAYS_WEEK}
    numbers: dict[Week, int] = {ALWAYS_WEEK: ALWAYS_TEMPLATE}
    for week in distinct[: max(0, max_templates - 1)]:
        numbers[week] = len(templates) + 1
        templates[numbers[week]] = week
    persons: dict[str, Person] = {}
    over = 0
    for employee_no, (begin, end, weeks, card_no) in wanted.items():
        rights = tuple((door, numbers[week]) for door, week in sorted(weeks.items()) if week in numbers)
        over += len(weeks) - len(rights)
        if rights:
            persons[employee_no] = Person(employee_no, True, begin, end, rights, card_no)
    for face in face_refs:
        if face not in persons and len(face) <= MAX_EMPLOYEE_NO:
            persons[face] = Person(face, False, EARLIEST, EARLIEST, ())
    used = {template for person in persons.values() for _, template in person.doors} | {ALWAYS_TEMPLATE}
    return TerminalLoad(persons, {number: week for number, week in templates.items() if number in used},
                        unknown, unsupported, narrowed, dropped, over)


def digest(value: object) -> str:
    """What was written, to write only what changed and to notice a terminal that lost it."""
    return hashlib.sha256(repr(value).encode()).hexdigest()[:32]
