"""The gate's whitelist → what a UHPPOTE controller can hold: card records and time profiles.

A controller stores, per card, a validity in whole days and one permission per door (0 none, 1 always, 2–254 a time
profile); a time profile has a date range, weekdays, three segments (HH:MM to HH:MM, both included) and a linked
profile tried next. Pure: fed the list's entries and the card numbers the bridge knows, it returns the records.

Conversions round towards *less* access, never more: a window's start up to the next minute and its end (exclusive in
the contract) down to the last whole minute inside it; a validity that starts mid-day starts the next day, one that
ends mid-day ends the day before. A window that crosses midnight is split over the two days.

The whitelist carries keyed hashes, never card numbers (docs/community.md), so a card reaches the controller only
when the bridge knows its number (docs/devices.md: the card roster, and cards learnt from swipes).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Final

from bridges.uhppote.events import CONTROLLER_TIME
from devices.gate_commands import (
    CredentialKind,
    GrantArgs,
    WeeklyWindowArgs,
    WhitelistEntryArgs,
    presented_credential_hash,
)

FIRST_PROFILE: Final = 2
LAST_PROFILE: Final = 254
EARLIEST_DAY: Final = date(2000, 1, 1)
LATEST_DAY: Final = date(2099, 12, 31)
MINUTES_PER_DAY: Final = 24 * 60
ALWAYS: Final = 1
NEVER: Final = 0

Segment = tuple[time, time]


@dataclass(frozen=True, slots=True, order=True)
class ProfileShape:
    """One time profile's content without its id and link."""

    start: date
    end: date
    weekdays: tuple[bool, ...]  # Monday first, 7 of them
    segments: tuple[Segment, ...]  # 1 to 3


@dataclass(frozen=True, slots=True)
class TimeProfile:
    profile_id: int
    shape: ProfileShape
    linked: int  # 0: none


@dataclass(frozen=True, slots=True)
class CardRecord:
    number: int
    start: date
    end: date
    doors: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class ControllerLoad:
    """What the controller should hold, and what of the whitelist it cannot (counted, shown in the state)."""

    cards: dict[int, CardRecord] = field(default_factory=dict)
    profiles: dict[int, TimeProfile] = field(default_factory=dict)
    unknown_numbers: int = 0  # card entries whose number the bridge does not know
    not_cards: int = 0  # face, PIN and QR entries: a Wiegand controller reads cards only
    over_profile_limit: int = 0  # doors refused because the 253 profiles were used up

    def fingerprint(self) -> str:
        """A digest of the cards and profiles, to compare what was loaded with what should be."""
        text = repr((sorted(self.cards.items()), sorted(self.profiles.items())))
        return hashlib.sha256(text.encode()).hexdigest()


def card_hashes(number: int, site_key: bytes) -> tuple[str, str]:
    """The keyed hashes a card number may have been enrolled under: as the controller reports it, and as the
    10-digit number printed on most cards."""
    return (presented_credential_hash(CredentialKind.CARD, str(number), site_key),
            presented_credential_hash(CredentialKind.CARD, f"{number:010d}", site_key))


def card_as_listed(number: int, listed: Container[str], site_key: bytes) -> str:
    """The card number as the platform enrolled it, so the gate event's credential hashes to the whitelist's entry
    and names the holder: ten digits (``0008165538``) when the list (entries or blacklist) holds that spelling's hash
    and not the number's as the controller reports it; else as reported (``8165538``)."""
    as_reported, ten_digits = card_hashes(number, site_key)
    if ten_digits in listed and as_reported not in listed:
        return f"{number:010d}"
    return str(number)


def first_day(valid_from: datetime | None) -> date:
    if valid_from is None:
        return EARLIEST_DAY
    local = valid_from.astimezone(CONTROLLER_TIME)
    day = local.date() if local.time() == time(0) else local.date() + timedelta(days=1)
    return max(EARLIEST_DAY, min(LATEST_DAY, day))


def last_day(valid_to: datetime | None) -> date:
    if valid_to is None:
        return LATEST_DAY
    day = valid_to.astimezone(CONTROLLER_TIME).date() - timedelta(days=1)  # valid_to is excluded
    return max(EARLIEST_DAY, min(LATEST_DAY, day))


def weekday_minutes(windows: Iterable[WeeklyWindowArgs]) -> dict[int, list[tuple[int, int]]]:
    """Per weekday (0 Monday), the merged minute ranges [first, last] (both included) the windows allow."""
    ranges: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for window in windows:
        first = -(-_seconds(window.start) // 60)  # rounded up
        end = _seconds(window.end)
        for day in window.days:
            if end > _seconds(window.start):
                last = (end - 60) // 60
                if last >= first:
                    ranges[day].append((first, last))
            else:  # crosses midnight (end ≤ start): to 23:59, then on from 00:00 the next day
                if first <= MINUTES_PER_DAY - 1:
                    ranges[day].append((first, MINUTES_PER_DAY - 1))
                if end >= 60:
                    ranges[(day + 1) % 7].append((0, (end - 60) // 60))
    return {day: _merged(spans) for day, spans in ranges.items()}


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def grant_shapes(grant: GrantArgs, card_start: date, card_end: date) -> list[ProfileShape]:
    """The profiles that together allow what one grant allows (weekdays with equal hours share one)."""
    start, end = max(first_day(grant.valid_from), card_start), min(last_day(grant.valid_to), card_end)
    if end < start:
        return []
    by_hours: dict[tuple[tuple[int, int], ...], list[int]] = defaultdict(list)
    for day, spans in weekday_minutes(grant.windows).items():
        by_hours[tuple(spans)].append(day)
    shapes = []
    for hours, days in by_hours.items():
        weekdays = tuple(day in days for day in range(7))
        for chunk in range(0, len(hours), 3):
            segments = tuple((_clock(first), _clock(last)) for first, last in hours[chunk:chunk + 3])
            shapes.append(ProfileShape(start, end, weekdays, segments))
    return shapes


def _always(shapes: list[ProfileShape], card_start: date, card_end: date) -> bool:
    full_day = ((time(0), _clock(MINUTES_PER_DAY - 1)),)
    return any(shape.weekdays == (True,) * 7 and shape.segments == full_day
               and shape.start <= card_start and shape.end >= card_end for shape in shapes)


def controller_load(entries: Iterable[WhitelistEntryArgs], numbers: Mapping[str, int], doors: int) -> ControllerLoad:
    """The cards and time profiles a controller with ``doors`` doors (1–4) should hold for these entries;
    ``numbers`` maps a credential hash to the card number the bridge knows for it."""
    wanted: dict[int, tuple[date, date, list[tuple[ProfileShape, ...] | int]]] = {}
    unknown = not_cards = 0
    for entry in entries:
        if entry.kind is not CredentialKind.CARD:
            not_cards += 1
            continue
        number = numbers.get(entry.hash)
        if number is None:
            unknown += 1
            continue
        start, end = first_day(entry.valid_from), last_day(entry.valid_to)
        if end < start:
            continue
        permissions: list[tuple[ProfileShape, ...] | int] = []
        for door in range(1, 5):
            shapes = [shape for grant in entry.grants if door in grant.doors and door <= doors
                      for shape in grant_shapes(grant, start, end)]
            if not shapes:
                permissions.append(NEVER)
            elif _always(shapes, start, end):
                permissions.append(ALWAYS)
            else:
                permissions.append(tuple(sorted(set(shapes))))
        if any(permission != NEVER for permission in permissions):
            wanted[number] = (start, end, permissions)
    chains = sorted({permission for _, _, doors_of in wanted.values() for permission in doors_of
                     if isinstance(permission, tuple)})
    profiles: dict[int, TimeProfile] = {}
    chain_ids: dict[tuple[ProfileShape, ...], int] = {}
    next_id = FIRST_PROFILE
    for chain in chains:
        if next_id + len(chain) - 1 > LAST_PROFILE:
            break
        chain_ids[chain] = next_id
        for position, shape in enumerate(chain):
            linked = next_id + 1 if position < len(chain) - 1 else 0
            profiles[next_id] = TimeProfile(next_id, shape, linked)
            next_id += 1
    cards: dict[int, CardRecord] = {}
    over_limit = 0
    for number, (start, end, permissions) in wanted.items():
        door_codes = []
        for permission in permissions:
            if isinstance(permission, int):
                door_codes.append(permission)
            elif permission in chain_ids:
                door_codes.append(chain_ids[permission])
            else:
                door_codes.append(NEVER)
                over_limit += 1
        cards[number] = CardRecord(number, start, end, (door_codes[0], door_codes[1], door_codes[2], door_codes[3]))
    return ControllerLoad(cards, profiles, unknown, not_cards, over_limit)
