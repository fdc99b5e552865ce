"""The access log's retention on SQLite and PostgreSQL (PIPL): the periodic tick purges, once every `purge_every`,
the gate events and presence rows older than the retention, the visitor's name and phone on passes that ended
before it and the alarms resolved before it — and keeps what is newer, alarms still open and the passes themselves;
with no retention nothing is purged, and that is warned."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from community.access.access_log import LogQuery
from community.access.permissions import Door
from community.access.service import AccessService, NotFound
from community.access.storage.tables import presence
from devices.contract import AccessMethod, Direction, GateEvent, GateEventKind
from devices.topics import Channel, DeviceKind, DeviceTopic
from messaging.downlink import RecordingDownlink
from tests.integration.test_access_service import KEYS, LOTUS, SETTINGS, SITE, T0, WANG_CARD, Clock

pytestmark = pytest.mark.integration

RETENTION = timedelta(days=30)
LATER = T0 + timedelta(days=40)


async def _service(engine: AsyncEngine, retention: timedelta | None) -> tuple[AccessService, Clock]:
    clock = Clock(T0)
    service = AccessService(engine, RecordingDownlink(), clock, KEYS, replace(SETTINGS, log_retention=retention))
    await service.import_community(LOTUS)
    return service, clock


async def _entered(service: AccessService, event_id: str, at: datetime) -> None:
    """Wang's card lets her in at the east gate: a log entry and a movement (presence)."""
    event = GateEvent(event_id=event_id, ts=at, door=1, kind=GateEventKind.GRANTED, method=AccessMethod.CARD,
                      credential=WANG_CARD, direction=Direction.IN)
    await service.handle([(DeviceTopic(SITE, DeviceKind.GATE, "gate-01", Channel.EVENT), event)])


async def _logged(service: AccessService) -> set[str]:
    return {entry.event_id for entry in (await service.access_log(LogQuery(community_id="lotus"))).entries}


async def _presence_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(presence))).scalar_one())


async def test_the_tick_purges_what_is_older_than_the_retention(engine: AsyncEngine) -> None:
    service, clock = await _service(engine, RETENTION)
    await _entered(service, "old", T0 - timedelta(minutes=5))
    old_pass = await service.invite("wang", frozenset({Door("gate-01", 1)}), visitor_name="老朋友",
                                    visitor_phone="13600001111")
    clock.now = T0 + timedelta(minutes=2)
    await service.tick(clock.now)  # both gates silent since registration: two gate-offline alarms
    [(second, _), (first, _)] = await service.alarms("lotus")
    clock.now = T0 + timedelta(minutes=3)
    await service.resolve_alarm(first, "pm-1", "修好了")
    await service.acknowledge_alarm(second, "pm-1", "在修")

    clock.now = LATER
    await _entered(service, "new", LATER - timedelta(hours=1))
    new_pass = await service.invite("wang", frozenset({Door("gate-01", 1)}), visitor_name="新朋友",
                                    visitor_phone="13600002222")
    assert await _logged(service) == {"old", "new"} and await _presence_rows(engine) == 1
    await service.tick(LATER)

    assert await _logged(service) == {"new"}, "the events of forty days ago are gone, the recent one stays"
    assert await _presence_rows(engine) == 1, "wang's movement of forty days ago was replaced by the recent one"
    ended, _ = await service.visitor_pass(old_pass.record.pass_id)
    assert ended.visitor_pass.visitor_name is None and ended.visitor_phone is None
    assert ended.uses == 0 and ended.visitor_pass.valid_to == old_pass.record.visitor_pass.valid_to, "the pass stays"
    current, _ = await service.visitor_pass(new_pass.record.pass_id)
    assert current.visitor_pass.visitor_name == "新朋友" and current.visitor_phone == "13600002222"
    with pytest.raises(NotFound):
        await service.alarm(first)  # resolved forty days ago
    _, acknowledged = await service.alarm(second)
    assert acknowledged.status.value == "acknowledged", "an alarm not resolved stays, however old"


async def test_the_purge_runs_once_every_purge_every(engine: AsyncEngine) -> None:
    service, clock = await _service(engine, RETENTION)
    await service.tick(T0)  # the first purge, at once
    await _entered(service, "older", T0 - timedelta(days=31))
    await _entered(service, "older-2", T0 - timedelta(days=31, minutes=-1))
    clock.now = T0 + timedelta(minutes=10)
    await service.tick(clock.now)
    assert await _logged(service) == {"older", "older-2"}, "not due yet"
    clock.now = T0 + timedelta(hours=1)
    await service.tick(clock.now)
    assert await _logged(service) == set() and await _presence_rows(engine) == 0


async def test_without_a_retention_nothing_is_purged_and_that_is_warned(engine: AsyncEngine,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="community.access.service.retention"):
        service, clock = await _service(engine, None)
    assert any("kept forever" in record.getMessage() for record in caplog.records)
    await _entered(service, "ancient", T0 - timedelta(days=3650))
    clock.now = LATER
    await service.tick(LATER)
    assert await _logged(service) == {"ancient"} and await _presence_rows(engine) == 1


async def test_an_operator_purges_before_a_given_time(engine: AsyncEngine) -> None:
    service, _ = await _service(engine, None)
    await _entered(service, "a", T0 - timedelta(days=2))
    await _entered(service, "b", T0 - timedelta(hours=1))
    purged = await service.purge(T0 - timedelta(days=1))
    assert (purged.events, purged.presence) == (1, 0)
    assert await _logged(service) == {"b"}
