"""Alarms, on both sides: `AlarmBook` keeps the alarm rules' memory (repeated denials, doors held open, gates offline)
in step with the database as gate events, states and the clock feed it; `AlarmDesk` is the alarms as people read
and handle them (list, acknowledge, resolve). The rules themselves are the domain's (`community.access.alarms`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.alarm_notices import alarm_event
from community.access.alarms import (
    SYSTEM,
    Alarm,
    AlarmEngine,
    AlarmKind,
    AlarmRules,
    AlarmStatus,
    AlarmTransitionError,
)
from community.access.alarms import acknowledge as acknowledged
from community.access.alarms import resolve as resolved
from community.access.live_feed import FeedItem
from community.access.service.errors import Conflict, not_found
from community.access.service.gate_registry import GateRegistry
from community.access.service.unit_of_work import UnitOfWork, Work
from community.access.storage import AlarmRepository, SyncRepository
from devices.contract import GateEvent
from notifications.outbox import Outbox

log = logging.getLogger(__name__)


class AlarmBook:
    """The alarm engine and what of it is stored: it works inside the use cases' transactions, and is restored from
    the database once, before the first."""

    def __init__(self, rules: AlarmRules, gates: GateRegistry, outbox: Outbox | None = None) -> None:
        self._engine = AlarmEngine(rules)
        self._gates = gates
        self._outbox = outbox
        self._stored_occurrences: dict[str, int] = {}

    async def restore(self, connection: AsyncConnection, now: datetime) -> None:
        unresolved = await AlarmRepository(connection).unresolved()
        availability = await SyncRepository(connection).availability()
        # a gate never heard from is offline since its registration, or since now when that was not recorded
        offline = {gate_id: since or now for gate_id, (online, since) in availability.items() if not online}
        self._engine.restore(unresolved, offline)
        self._stored_occurrences = {alarm.alarm_id: alarm.occurrences for alarm in unresolved}

    def registered(self, gate_ids: Iterable[str], now: datetime) -> None:
        """Gates just registered: silent since `now` until their first state."""
        for gate_id in gate_ids:
            self._engine.on_state(gate_id, False, now)

    async def on_event(self, work: Work, gate_id: str, event: GateEvent) -> None:
        for alarm in self._engine.on_event(gate_id, event, work.now):
            await self._store_raised(work, alarm)

    async def on_state(self, work: Work, community_id: str, gate_id: str, online: bool) -> None:
        for alarm in self._engine.on_state(gate_id, online, work.now):
            await self._store_updated(work, community_id, alarm)

    async def on_tick(self, work: Work) -> None:
        for alarm in self._engine.tick(work.now):
            await self._store_raised(work, alarm)

    async def store_folded(self, work: Work) -> None:
        """Persist the repeats the engine counted on alarms still unresolved."""
        alarms = AlarmRepository(work.connection)
        for alarm in self._engine.unresolved:
            if self._stored_occurrences.get(alarm.alarm_id) != alarm.occurrences:
                await alarms.update(alarm)
                self._stored_occurrences[alarm.alarm_id] = alarm.occurrences

    def handled(self, stored: Alarm, by: str, now: datetime, note: str, *, acknowledge: bool) -> Alarm:
        """The stored alarm acknowledged or resolved — through the engine while it follows the alarm, so its rule
        knows. AlarmTransitionError when the alarm's status does not allow it."""
        if stored.status is not AlarmStatus.RESOLVED and self._engine.knows(stored.alarm_id):
            move = self._engine.acknowledge if acknowledge else self._engine.resolve
            return move(stored.alarm_id, by, now, note)
        return (acknowledged if acknowledge else resolved)(stored, by, now, note)

    async def _store_raised(self, work: Work, alarm: Alarm) -> None:
        known = await self._gates.of_id(work.connection, alarm.gate_id)
        if known is None:
            return
        alarms = AlarmRepository(work.connection)
        existing = await alarms.find(alarm.alarm_id)
        if existing is not None and existing[1].status is AlarmStatus.RESOLVED:
            # resolved by hand while its cause goes on (a gate still offline): it stays resolved
            self._engine.resolve(alarm.alarm_id, SYSTEM, max(work.now, alarm.raised_at), "resolved already")
            return
        number = await alarms.add(known[1].community_id, alarm)
        self._stored_occurrences[alarm.alarm_id] = alarm.occurrences
        if existing is None:
            work.feed.append(_alarm_item(known[1].community_id, number, alarm))
            if self._outbox is not None:  # in the alarm's transaction: notified if and only if it is stored
                await self._outbox.add(work.connection, alarm_event(known[1], known[0], alarm))
            log.warning("alarm raised", extra={"alarm": number, "kind": alarm.kind.value, "gate": alarm.gate_id,
                                               "door": alarm.door})

    async def _store_updated(self, work: Work, community_id: str, alarm: Alarm) -> None:
        alarms = AlarmRepository(work.connection)
        number = await alarms.number_of(alarm.alarm_id)
        if number is None:
            return
        await alarms.update(alarm)
        self._stored_occurrences.pop(alarm.alarm_id, None)
        work.feed.append(_alarm_item(community_id, number, alarm))


class AlarmDesk:
    def __init__(self, uow: UnitOfWork, book: AlarmBook) -> None:
        self._uow = uow
        self._book = book

    async def alarms(self, community_id: str, *, status: AlarmStatus | None = None, gate_id: str | None = None,
                     kind: AlarmKind | None = None, limit: int = 100) -> list[tuple[int, Alarm]]:
        async with self._uow.connect() as connection:
            return await AlarmRepository(connection).listed(community_id, status=status, gate_id=gate_id, kind=kind,
                                                            limit=limit)

    async def alarm(self, number: int) -> tuple[str, Alarm]:
        """The alarm and its community."""
        async with self._uow.connect() as connection:
            found = await AlarmRepository(connection).get(number)
        if found is None:
            raise not_found("alarm", number)
        return found

    async def acknowledge_alarm(self, number: int, by: str, note: str = "") -> Alarm:
        return await self._move_alarm(number, by, note, acknowledge=True)

    async def resolve_alarm(self, number: int, by: str, note: str = "") -> Alarm:
        return await self._move_alarm(number, by, note, acknowledge=False)

    async def _move_alarm(self, number: int, by: str, note: str, *, acknowledge: bool) -> Alarm:
        async with self._uow.work() as work:
            repository = AlarmRepository(work.connection)
            found = await repository.get(number)
            if found is None:
                raise not_found("alarm", number)
            community_id, stored = found
            try:
                alarm = self._book.handled(stored, by, work.now, note, acknowledge=acknowledge)
            except AlarmTransitionError as refused:
                raise Conflict(str(refused)) from None
            await repository.update(alarm)
            work.feed.append(_alarm_item(community_id, number, alarm))
        log.info("alarm " + ("acknowledged" if acknowledge else "resolved"),
                 extra={"alarm": number, "kind": alarm.kind.value, "by": by})
        return alarm


def _alarm_item(community_id: str, number: int, alarm: Alarm) -> FeedItem:
    return FeedItem("alarm", community_id, alarm.gate_id, {"number": number, **alarm_document(alarm)})


def alarm_document(alarm: Alarm) -> dict[str, Any]:
    """An alarm as JSON-ready values."""
    return {
        "alarm_id": alarm.alarm_id, "alarm": alarm.kind.value, "door": alarm.door,
        "raised_at": alarm.raised_at.isoformat(), "status": alarm.status.value, "occurrences": alarm.occurrences,
        "acknowledged_by": alarm.acknowledged_by,
        "acknowledged_at": alarm.acknowledged_at.isoformat() if alarm.acknowledged_at else None,
        "acknowledge_note": alarm.acknowledge_note, "resolved_by": alarm.resolved_by,
        "resolved_at": alarm.resolved_at.isoformat() if alarm.resolved_at else None,
        "resolve_note": alarm.resolve_note,
    }
