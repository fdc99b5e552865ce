"""A Hikvision terminal's ``AccessControllerEvent`` notification → the contract's gate event, or a value saying why not.

Pure: the caller passes the notification's JSON text (the ``event_log`` part of the terminal's multipart push, or a
plain JSON body) and, for a denial, the whitelist's own verdict. Nothing here raises on bad input: invalid JSON,
a notification without the fields an access event needs, a door the terminal does not have, all become
:class:`Rejected` with a reason; a code the table below does not know becomes :class:`Unmapped` with the code, which
the bridge publishes so the gateway dead-letters it (never dropped).

The codes are the ISAPI/HCNetSDK access-control event types: major 1 alarm, 2 exception, 3 operation, 5 event;
minor codes as Hikvision's own ``EventType`` constants and the "Access Control Event Types" appendix of the Device
Network SDK (Access Control on Person) developer guide list them. The table is the one docs/devices.md shows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Final

from pydantic import ValidationError

from devices.contract import AccessMethod, DenialReason, GateEvent, GateEventKind

TERMINAL_TIME: Final = timezone(timedelta(hours=8))
"""A terminal that sends its time without an offset keeps Asia/Shanghai wall-clock time (no DST since 1991)."""

MAJOR_ALARM: Final = 0x1
MAJOR_EXCEPTION: Final = 0x2
MAJOR_OPERATION: Final = 0x3
MAJOR_EVENT: Final = 0x5

ACCESS_EVENT_TYPE: Final = "AccessControllerEvent"
MAX_NOTIFICATION_CHARS: Final = 64 * 1024
MAX_CREDENTIAL_CHARS: Final = 32  # cardNo and employeeNo are at most 32 bytes on ISAPI terminals
_SHORT_TEXT = re.compile(r"^[^\x00-\x1f\x7f]{1,32}$")


@dataclass(frozen=True, slots=True)
class Mapped:
    kind: GateEventKind
    method: AccessMethod | None = None
    reason: DenialReason | None = None
    refinable: bool = False  # a denial whose reason the whitelist's verdict may say better (the terminal says less)


class Notice(Enum):
    """Codes that say something about the terminal or the lock, not an access at a door: logged and counted."""

    LOCK_OPENED = "lock_opened"
    LOCK_CLOSED = "lock_closed"
    BUTTON_RELEASED = "button_released"
    HEARTBEAT = "heartbeat"


_G, _D = GateEventKind.GRANTED, GateEventKind.DENIED
_UNKNOWN, _NO_RIGHT = DenialReason.UNKNOWN_CREDENTIAL, DenialReason.NO_PERMISSION

# (major, minor) → our kind. docs/devices.md shows this table; a test holds the two together.
EVENT_TABLE: Final[dict[tuple[int, int], Mapped]] = {
    # major 5, authentication passed
    (MAJOR_EVENT, 0x01): Mapped(_G, AccessMethod.CARD),  # MINOR_LEGAL_CARD_PASS
    (MAJOR_EVENT, 0x26): Mapped(_G, AccessMethod.FINGERPRINT),  # MINOR_FINGERPRINT_COMPARE_PASS
    (MAJOR_EVENT, 0x3C): Mapped(_G, AccessMethod.FACE),  # MINOR_FACE_AND_CARD_VERIFY_PASS
    (MAJOR_EVENT, 0x4B): Mapped(_G, AccessMethod.FACE),  # MINOR_FACE_VERIFY_PASS
    (MAJOR_EVENT, 0x4D): Mapped(_G, AccessMethod.FACE),  # MINOR_EMPLOYEENO_AND_FACE_VERIFY_PASS
    (MAJOR_EVENT, 0x9C): Mapped(_G, AccessMethod.QR),  # MINOR_ORCODE_VERIFY_PASS
    (MAJOR_EVENT, 0xB5): Mapped(_G, AccessMethod.PIN),  # MINOR_PASSWD_VERIFY_PASS
    (MAJOR_EVENT, 0x17): Mapped(_G, AccessMethod.BUTTON),  # MINOR_DOOR_BUTTON_PRESS
    # major 5, authentication failed
    (MAJOR_EVENT, 0x06): Mapped(_D, AccessMethod.CARD, _NO_RIGHT, refinable=True),  # MINOR_CARD_NO_RIGHT
    (MAJOR_EVENT, 0x07): Mapped(_D, AccessMethod.CARD, DenialReason.OUTSIDE_SCHEDULE),  # MINOR_CARD_INVALID_PERIOD
    (MAJOR_EVENT, 0x08): Mapped(_D, AccessMethod.CARD, DenialReason.EXPIRED),  # MINOR_CARD_OUT_OF_DATE
    (MAJOR_EVENT, 0x09): Mapped(_D, AccessMethod.CARD, _UNKNOWN, refinable=True),  # MINOR_INVALID_CARD
    (MAJOR_EVENT, 0x0A): Mapped(_D, AccessMethod.CARD, _NO_RIGHT),  # MINOR_ANTI_SNEAK_FAIL
    (MAJOR_EVENT, 0x27): Mapped(_D, AccessMethod.FINGERPRINT, _UNKNOWN),  # MINOR_FINGERPRINT_COMPARE_FAIL
    (MAJOR_EVENT, 0x4C): Mapped(_D, AccessMethod.FACE, _UNKNOWN, refinable=True),  # MINOR_FACE_VERIFY_FAIL
    (MAJOR_EVENT, 0x50): Mapped(_D, AccessMethod.FACE, _UNKNOWN),  # MINOR_FACE_RECOGNIZE_FAIL
    (MAJOR_EVENT, 0x96): Mapped(_D, AccessMethod.PIN, _UNKNOWN),  # MINOR_PSW_VERIFY_FAIL
    (MAJOR_EVENT, 0x97): Mapped(_D, AccessMethod.PIN, _UNKNOWN),  # MINOR_PASSWORD_MISMATCH
    (MAJOR_EVENT, 0x9D): Mapped(_D, AccessMethod.QR, _UNKNOWN),  # MINOR_ORCODE_VERIFY_FAIL
    # major 5, the door (magnetic contact)
    (MAJOR_EVENT, 0x19): Mapped(GateEventKind.DOOR_OPEN),  # MINOR_DOOR_OPEN_NORMAL
    (MAJOR_EVENT, 0x1A): Mapped(GateEventKind.DOOR_CLOSED),  # MINOR_DOOR_CLOSE_NORMAL
    (MAJOR_EVENT, 0x1B): Mapped(GateEventKind.FORCED),  # MINOR_DOOR_OPEN_ABNORMAL
    (MAJOR_EVENT, 0x1C): Mapped(GateEventKind.HELD_OPEN),  # MINOR_DOOR_OPEN_TIMEOUT
    # major 3, operation
    (MAJOR_OPERATION, 0x400): Mapped(_G, AccessMethod.REMOTE),  # MINOR_REMOTE_OPEN_DOOR
    # major 1, alarm
    (MAJOR_ALARM, 0x404): Mapped(GateEventKind.TAMPER),  # MINOR_HOST_DESMANTLE_ALARM
    (MAJOR_ALARM, 0x406): Mapped(GateEventKind.TAMPER),  # MINOR_CARD_READER_DESMANTLE_ALARM
    (MAJOR_ALARM, 0x40A): Mapped(GateEventKind.TAMPER),  # MINOR_STRESS_ALARM (duress)
}
NOTICES: Final[dict[tuple[int, int], Notice]] = {
    (MAJOR_EVENT, 0x15): Notice.LOCK_OPENED,  # MINOR_LOCK_OPEN: follows a granted event
    (MAJOR_EVENT, 0x16): Notice.LOCK_CLOSED,  # MINOR_LOCK_CLOSE
    (MAJOR_EVENT, 0x18): Notice.BUTTON_RELEASED,  # MINOR_DOOR_BUTTON_RELEASE: the press was the event
}


@dataclass(frozen=True, slots=True)
class TerminalEvent:
    """The fields of one ``AccessControllerEvent`` the bridge uses (names as ISAPI spells them, in comments)."""

    major: int  # majorEventType
    minor: int  # subEventType
    serial_no: int | None  # serialNo: the terminal's event counter, the same when it pushes the event again
    ts: datetime  # dateTime, aware
    door: int  # doorNo (1 when the terminal leaves it out: a one-door face terminal)
    card_no: str | None  # cardNo
    employee_no: str | None  # employeeNoString (or the older numeric employeeNo)
    verify_mode: str | None  # currentVerifyMode
    picture_url: str | None  # pictureURL, when the terminal uploads pictures by URL instead of in the push

    @property
    def code(self) -> str:
        return f"{self.major:#x}/{self.minor:#x}"


class RejectReason(Enum):
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"
    TOO_LARGE = "too_large"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A notification the bridge cannot read: answered 400, counted, dead-lettered with the reason."""

    reason: RejectReason
    detail: str


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A notification of another ``eventType`` (heartBeat, videoloss, …): not an access event, answered 200."""

    event_type: str


@dataclass(frozen=True, slots=True)
class Unmapped:
    """An access event the contract has no kind for (an unknown code, a door the terminal does not have)."""

    event: TerminalEvent
    detail: str


def parse_notification(text: bytes | str) -> TerminalEvent | OtherEvent | Rejected:
    """The event in one notification body: ``{"eventType": "AccessControllerEvent", "dateTime": …,
    "AccessControllerEvent": {"majorEventType", "subEventType", …}}`` (some firmware wraps it all in
    ``EventNotificationAlert``)."""
    if len(text) > MAX_NOTIFICATION_CHARS:
        return Rejected(RejectReason.TOO_LARGE, f"the notification is {len(text)} bytes, over {MAX_NOTIFICATION_CHARS}")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        return Rejected(RejectReason.INVALID_JSON, str(error)[:120])
    if isinstance(body, dict) and isinstance(body.get("EventNotificationAlert"), dict):
        body = body["EventNotificationAlert"]
    if not isinstance(body, dict):
        return Rejected(RejectReason.NOT_AN_OBJECT, f"the notification is a JSON {type(body).__name__}")
    event_type = body.get("eventType")
    if not isinstance(event_type, str):
        return Rejected(RejectReason.MISSING_FIELD, "eventType")
    if event_type != ACCESS_EVENT_TYPE:
        return OtherEvent(event_type[:64])
    inner = body.get(ACCESS_EVENT_TYPE)
    if not isinstance(inner, dict):
        return Rejected(RejectReason.MISSING_FIELD, ACCESS_EVENT_TYPE)
    try:
        return _read_event(body, inner)
    except _BadField as bad:
        return Rejected(bad.reason, bad.detail)


def parse_record(record: object) -> TerminalEvent | Rejected:
    """One stored event of an ``AcsEvent`` search answer (``InfoList``: ``major``, ``minor``, ``time``, ``serialNo``,
    ``doorNo``, ``cardNo``, ``employeeNoString``, … — the notification's fields under the search's names)."""
    if not isinstance(record, dict):
        return Rejected(RejectReason.NOT_AN_OBJECT, f"the record is a JSON {type(record).__name__}")
    inner = {key: value for key, value in record.items() if key not in ("major", "minor", "time")}
    inner.update({"majorEventType": record.get("major"), "subEventType": record.get("minor")})
    try:
        return _read_event({"dateTime": record.get("time")}, inner)
    except _BadField as bad:
        return Rejected(bad.reason, bad.detail)


class _BadField(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _read_event(body: dict[str, Any], inner: dict[str, Any]) -> TerminalEvent:
    major = _integer(inner, "majorEventType", required=True)
    minor = _integer(inner, "subEventType", required=True)
    assert major is not None and minor is not None
    serial_no = _integer(inner, "serialNo", required=False)
    door = _integer(inner, "doorNo", required=False)
    employee = inner.get("employeeNoString", inner.get("employeeNo"))
    if isinstance(employee, int) and not isinstance(employee, bool):
        employee = str(employee)
    return TerminalEvent(
        major=major, minor=minor, serial_no=serial_no, ts=_time(body.get("dateTime")),
        door=1 if door is None or door == 0 else door,
        card_no=_credential(inner.get("cardNo"), "cardNo"),
        employee_no=_credential(employee, "employeeNoString"),
        verify_mode=inner["currentVerifyMode"][:32] if isinstance(inner.get("currentVerifyMode"), str) else None,
        picture_url=inner["pictureURL"][:512] if isinstance(inner.get("pictureURL"), str) else None,
    )


def _integer(source: dict[str, Any], key: str, required: bool) -> int | None:
    value = source.get(key)
    if value is None:
        if required:
            raise _BadField(RejectReason.MISSING_FIELD, key)
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 12:
        value = int(value)  # some firmware sends serialNo as text
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
        raise _BadField(RejectReason.BAD_FIELD, f"{key} is not a whole number 0 to 4294967295")
    return value


def _credential(value: object, key: str) -> str | None:
    if value is None or value == "" or value == "0":
        return None  # "0": the terminal's "no card" (face and button events carry it)
    if not isinstance(value, str) or not _SHORT_TEXT.match(value):
        raise _BadField(RejectReason.BAD_FIELD, f"{key} is not 1 to {MAX_CREDENTIAL_CHARS} printable characters")
    return value


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise _BadField(RejectReason.MISSING_FIELD, "dateTime")
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise _BadField(RejectReason.BAD_FIELD, "dateTime is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=TERMINAL_TIME)


def event_id(event: TerminalEvent) -> str:
    """Stable across the terminal's re-pushes of one event (same serialNo, same time) and unique across a terminal
    reset that starts serialNo again (another time). Without a serialNo, the time and code tell events apart."""
    if event.serial_no is not None:
        return f"h{event.serial_no}-{int(event.ts.timestamp())}"
    return _serial_less_id(event)


def _serial_less_id(event: TerminalEvent) -> str:
    return f"h-{int(event.ts.timestamp())}-{event.major:x}-{event.minor:x}-{event.door}"


_WITH_SERIAL = "serial:"
"""Marks the serial-less key of an event that had a serialNo: it matches only a record that has none."""


def remembered_keys(event: TerminalEvent) -> tuple[str, ...]:
    """The keys a forwarded event is remembered under: its id and, when it has a serialNo, the key a record of it
    without one (some firmware's search answers leave serialNo out of what they push with it) is looked up by."""
    if event.serial_no is None:
        return (event_id(event),)
    return event_id(event), _WITH_SERIAL + _serial_less_id(event)


def looked_up_keys(event: TerminalEvent) -> tuple[str, ...]:
    """The keys that find ``event`` forwarded already: its id; with a serialNo, also a serial-less record of it
    forwarded before; without one, also the same event forwarded with its serialNo. Two events that both have
    serialNos never match each other's serial-less key, however close in time."""
    if event.serial_no is None:
        return event_id(event), _WITH_SERIAL + event_id(event)
    return event_id(event), _serial_less_id(event)


def credential_of(event: TerminalEvent, method: AccessMethod | None) -> str | None:
    """What the terminal identified: the card number for a card, the person (employeeNo: the face template's
    reference, what the platform enrolled as the face credential) for a face. A QR code's text is never forwarded:
    it may be a visitor's bearer pass (docs/devices.md)."""
    if method is AccessMethod.CARD:
        return event.card_no
    if method is AccessMethod.FACE:
        return event.employee_no
    return None


Translation = GateEvent | Notice | Unmapped


def translate(event: TerminalEvent, doors: int, whitelist_reason: DenialReason | None = None) -> Translation:
    """The gate event for ``event`` at a terminal with ``doors`` doors. ``whitelist_reason`` is the platform's own
    verdict on the denied credential, used where the terminal says less ("no right", "no such card")."""
    key = (event.major, event.minor)
    if key in NOTICES:
        return NOTICES[key]
    mapped = EVENT_TABLE.get(key)
    if mapped is None:
        return Unmapped(event, f"no mapping for major {event.major:#x} minor {event.minor:#x}")
    if not 1 <= event.door <= doors:
        return Unmapped(event, f"door {event.door} is not 1-{doors}")
    reason = mapped.reason
    if mapped.refinable and whitelist_reason is not None:
        reason = whitelist_reason
    try:
        return GateEvent(event_id=event_id(event), ts=event.ts, door=event.door, kind=mapped.kind,
                         method=mapped.method, credential=credential_of(event, mapped.method), reason=reason)
    except ValidationError as invalid:
        return Unmapped(event, f"not a contract event: {invalid.errors()[0]['msg']}"[:120])
