"""One UHPPOTE controller reached through the ``uhppoted`` package's async client, typed and checked.

Every answer is checked to come from the controller asked (a reply naming another serial number is refused, as a
second controller answering on a shared address would be), and every failure becomes a :class:`ControllerError`
with a :class:`Failure` the bridge counts: no answer (a reply cut short is ignored by the client, so it is a
timeout too), another controller's answer, an answer that does not decode, a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Any, Final

from uhppoted.uhppote_async import UhppoteAsync

from bridges.uhppote.cards import CardRecord, TimeProfile
from bridges.uhppote.events import ControllerEvent

REQUEST_TIMEOUT_S: Final = 1.5
NOT_FOUND: Final = (0, 0xFFFFFFFF)  # get-card's "no such card" and "deleted"


class Failure(StrEnum):
    TIMEOUT = "timeout"
    WRONG_SERIAL = "wrong_serial"
    BAD_REPLY = "bad_reply"
    REFUSED = "refused"


class ControllerError(Exception):
    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(f"{failure.value}: {detail}")
        self.failure = failure


@dataclass(frozen=True, slots=True)
class ControllerStatus:
    event_index: int
    doors_open: tuple[bool, bool, bool, bool]
    clock: datetime | None


class Controller:
    """Requests to one controller, by serial number, at ``address`` (``host:port``)."""

    def __init__(self, client: UhppoteAsync, serial: int, address: str, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self.serial = serial
        self.address = address
        self._client = client
        self._target = (serial, address, "udp")
        self._timeout = timeout

    async def _call(self, operation: str, *args: Any) -> Any:
        method = getattr(self._client, operation)
        try:
            response = await method(self._target, *args, timeout=self._timeout)
        except TimeoutError:
            raise ControllerError(Failure.TIMEOUT, f"{operation}: no answer") from None
        except (ValueError, OSError, ConnectionError) as error:
            raise ControllerError(Failure.BAD_REPLY, f"{operation}: {error}") from None
        if response is None:
            raise ControllerError(Failure.BAD_REPLY, f"{operation}: no reply")
        if response.controller != self.serial:
            raise ControllerError(Failure.WRONG_SERIAL, f"{operation}: answered by {response.controller}")
        return response

    async def firmware(self) -> str:
        response = await self._call("get_controller")
        return str(response.version)

    async def clock(self) -> datetime:
        response = await self._call("get_time")
        if response.datetime is None:
            raise ControllerError(Failure.BAD_REPLY, "get_time: no valid time")
        moment: datetime = response.datetime
        return moment

    async def set_clock(self, local: datetime) -> None:
        await self._call("set_time", local.replace(tzinfo=None, microsecond=0))

    async def status(self) -> ControllerStatus:
        response = await self._call("get_status")
        doors = (bool(response.door_1_open), bool(response.door_2_open), bool(response.door_3_open),
                 bool(response.door_4_open))
        clock = None
        if response.system_date is not None and response.system_time is not None:
            clock = datetime.combine(response.system_date, response.system_time)
        return ControllerStatus(int(response.event_index), doors, clock)

    async def event(self, index: int) -> ControllerEvent:
        response = await self._call("get_event", index)
        if response.index != index and response.event_type not in (0, 0xFF):
            raise ControllerError(Failure.BAD_REPLY, f"get_event: asked for {index}, got {response.index}")
        return ControllerEvent(self.serial, index, int(response.event_type), bool(response.access_granted),
                               int(response.door), int(response.direction), int(response.card),
                               response.timestamp, int(response.reason))

    async def card_count(self) -> int:
        response = await self._call("get_cards")
        return int(response.cards)

    async def card(self, number: int) -> CardRecord | None:
        response = await self._call("get_card", number)
        if response.card_number in NOT_FOUND or response.start_date is None or response.end_date is None:
            return None
        return CardRecord(int(response.card_number), response.start_date, response.end_date,
                          (response.door_1, response.door_2, response.door_3, response.door_4))

    async def put_card(self, card: CardRecord) -> None:
        response = await self._call("put_card", card.number, card.start, card.end, *card.doors, 0)
        if not response.stored:
            raise ControllerError(Failure.REFUSED, "put_card: not stored")

    async def delete_card(self, number: int) -> None:
        await self._call("delete_card", number)  # "not deleted" means it was not there: the wanted outcome

    async def set_profile(self, profile: TimeProfile) -> None:
        shape = profile.shape
        segments: list[Any] = []
        for position in range(3):
            segments.extend(shape.segments[position] if position < len(shape.segments) else (None, None))
        response = await self._call("set_time_profile", profile.profile_id, shape.start, shape.end,
                                    *shape.weekdays, *segments, profile.linked)
        if not response.stored:
            raise ControllerError(Failure.REFUSED, f"set_time_profile {profile.profile_id}: not stored")

    async def open_door(self, door: int) -> bool:
        response = await self._call("open_door", door)
        return bool(response.opened)

    async def send_events_to(self, host: str, port: int) -> None:
        """Point the controller's event push at the bridge and have it log door and button events too."""
        response = await self._call("set_listener", IPv4Address(host), port, 0)
        if not response.ok:
            raise ControllerError(Failure.REFUSED, "set_listener: refused")
        await self._call("record_special_events", True)
