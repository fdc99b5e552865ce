"""A UHPPOTE controller's event record → the contract's gate event, or a value saying why not.

Pure: the caller passes the decoded record, the whitelist's verdict on the card (when it has one) and the time zone
of the controller's clock. The table below is the one docs/devices.md shows; the codes are the controller's event
types (1 swipe, 2 door/button/remote, 3 alarm) and reasons (1–45) as the uhppoted project documents them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Final

from devices.contract import AccessMethod, DenialReason, Direction, GateEvent, GateEventKind

CONTROLLER_TIME: Final = timezone(timedelta(hours=8))
"""Controllers keep local wall-clock time without a zone; ours run on Asia/Shanghai time (no DST since 1991)."""

TYPE_NONE: Final = 0x00
TYPE_SWIPE: Final = 0x01
TYPE_DOOR: Final = 0x02
TYPE_ALARM: Final = 0x03
TYPE_OVERWRITTEN: Final = 0xFF


@dataclass(frozen=True, slots=True)
class ControllerEvent:
    """One event as the controller reports it (pushed to the listener, or read back by index)."""

    serial: int
    index: int
    event_type: int
    granted: bool
    door: int
    direction: int  # 1 in, 2 out
    card: int
    timestamp: datetime | None  # naive, the controller's wall clock
    reason: int


@dataclass(frozen=True, slots=True)
class _Mapped:
    kind: GateEventKind
    method: AccessMethod | None = None
    reason: DenialReason | None = None
    carries_card: bool = False


class Notice(Enum):
    """Events that say something about the controller, not a door: logged and counted, not gate events."""

    POWER_ON = 28
    RESET = 29


# (event type, reason) → our kind. A swipe's granted flag decides granted/denied (reason 1 is the only pass).
DENIAL_REASONS: Final[dict[int, DenialReason]] = {
    5: DenialReason.NO_PERMISSION,  # PC control: the host decides, and it did not open
    6: DenialReason.NO_PERMISSION,  # no privilege (also an unknown card: refined from the whitelist)
    7: DenialReason.NO_PERMISSION,  # wrong PIN
    8: DenialReason.NO_PERMISSION,  # anti-passback
    9: DenialReason.NO_PERMISSION,  # more cards required
    10: DenialReason.OUTSIDE_SCHEDULE,  # first card has not opened the door yet today
    11: DenialReason.NO_PERMISSION,  # door set normally closed
    12: DenialReason.NO_PERMISSION,  # interlock
    13: DenialReason.EXPIRED,  # limited times: the card's uses are used up
    15: DenialReason.OUTSIDE_SCHEDULE,  # invalid time zone: outside the card's time profile
    18: DenialReason.NO_PERMISSION,  # access denied
}
OTHER_EVENTS: Final[dict[tuple[int, int], _Mapped]] = {
    (TYPE_DOOR, 20): _Mapped(GateEventKind.GRANTED, AccessMethod.BUTTON),  # push button
    (TYPE_DOOR, 23): _Mapped(GateEventKind.DOOR_OPEN),
    (TYPE_DOOR, 24): _Mapped(GateEventKind.DOOR_CLOSED),
    (TYPE_DOOR, 25): _Mapped(GateEventKind.GRANTED, AccessMethod.PIN),  # super password
    (TYPE_DOOR, 44): _Mapped(GateEventKind.GRANTED, AccessMethod.REMOTE),  # remote open
    (TYPE_DOOR, 45): _Mapped(GateEventKind.GRANTED, AccessMethod.REMOTE),  # remote open by USB reader
    (TYPE_ALARM, 31): _Mapped(GateEventKind.DENIED, AccessMethod.BUTTON, DenialReason.NO_PERMISSION),  # forced lock
    (TYPE_ALARM, 32): _Mapped(GateEventKind.DENIED, AccessMethod.BUTTON, DenialReason.NO_PERMISSION),  # not online
    (TYPE_ALARM, 33): _Mapped(GateEventKind.DENIED, AccessMethod.BUTTON, DenialReason.NO_PERMISSION),  # interlock
    (TYPE_ALARM, 34): _Mapped(GateEventKind.TAMPER),  # threat (duress)
    (TYPE_ALARM, 37): _Mapped(GateEventKind.HELD_OPEN),  # open too long
    (TYPE_ALARM, 38): _Mapped(GateEventKind.FORCED),  # forced open
    (TYPE_ALARM, 41): _Mapped(GateEventKind.TAMPER),  # guard against theft
}
NOTICES: Final[dict[tuple[int, int], Notice]] = {
    (TYPE_ALARM, 28): Notice.POWER_ON, (TYPE_DOOR, 28): Notice.POWER_ON,
    (TYPE_ALARM, 29): Notice.RESET, (TYPE_DOOR, 29): Notice.RESET,
}


@dataclass(frozen=True, slots=True)
class Unmapped:
    """An event the contract has no kind for (fire, emergency call, an unknown code): dead-lettered with the code."""

    event_type: int
    reason: int
    detail: str


@dataclass(frozen=True, slots=True)
class Missing:
    """No event at this index: never written (type 0), or overwritten by the ring buffer (type 0xFF)."""

    overwritten: bool


Translation = GateEvent | Notice | Unmapped | Missing


def fingerprint(event: ControllerEvent) -> str:
    """What tells one event from another at the same index (a reset controller reuses indices)."""
    stamp = event.timestamp.isoformat() if event.timestamp else "-"
    return f"{event.event_type}:{int(event.granted)}:{event.door}:{event.direction}:{event.card}:{stamp}:{event.reason}"


def event_id(serial: int, epoch: int, index: int) -> str:
    """Unique per gate for ever: an event log reset starts a new epoch, so index 1 again is a new event."""
    return f"u{serial}-{epoch}-{index}"


def translate(event: ControllerEvent, epoch: int, whitelist_reason: DenialReason | None = None,
              offline: bool = False, card_text: str | None = None) -> Translation:
    """The gate event for ``event``. ``whitelist_reason`` is the platform's own verdict on a denied card (the
    controller says only "no privilege" for an unknown, expired or blacklisted card), used when it has one;
    ``offline``: read back from the controller's log after the bridge was away, not pushed as it happened;
    ``card_text``: the card number as the whitelist spells it (:func:`bridges.uhppote.cards.card_as_listed`), the
    event's ``credential`` (default: as the controller reports it)."""
    if event.event_type in (TYPE_NONE, TYPE_OVERWRITTEN):
        return Missing(overwritten=event.event_type == TYPE_OVERWRITTEN)
    key = (event.event_type, event.reason)
    if key in NOTICES:
        return NOTICES[key]
    if event.timestamp is None:
        return Unmapped(event.event_type, event.reason, "the event carries no valid time")
    if not 1 <= event.door <= 4:
        return Unmapped(event.event_type, event.reason, f"door {event.door} is not 1-4")
    direction = {1: Direction.IN, 2: Direction.OUT}.get(event.direction)
    if event.event_type == TYPE_SWIPE:
        if event.granted and event.reason == 1:
            mapped = _Mapped(GateEventKind.GRANTED, AccessMethod.CARD, carries_card=True)
        elif not event.granted and event.reason in DENIAL_REASONS:
            reason = DENIAL_REASONS[event.reason]
            if whitelist_reason is not None and event.reason in (6, 18):
                reason = whitelist_reason
            mapped = _Mapped(GateEventKind.DENIED, AccessMethod.CARD, reason, carries_card=True)
        else:
            return Unmapped(event.event_type, event.reason,
                            f"swipe {'granted' if event.granted else 'denied'} with reason {event.reason}")
    elif key in OTHER_EVENTS:
        mapped = OTHER_EVENTS[key]
    else:
        return Unmapped(event.event_type, event.reason, f"no mapping for type {event.event_type} reason {event.reason}")
    return GateEvent(
        event_id=event_id(event.serial, epoch, event.index),
        ts=event.timestamp.replace(tzinfo=CONTROLLER_TIME),
        door=event.door,
        kind=mapped.kind,
        method=mapped.method,
        credential=(card_text or str(event.card)) if mapped.carries_card and event.card else None,
        direction=direction if mapped.method is not None else None,
        reason=mapped.reason,
        offline=offline,
    )
