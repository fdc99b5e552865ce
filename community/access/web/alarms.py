"""Alarms: a community's list, newest first (managers and supervisors); acknowledging and resolving them, with a
note (managers) — of the caller's communities: another community's alarm is an unknown alarm (404)."""

from __future__ import annotations

from aiohttp import web

from community.access.alarms import Alarm, AlarmKind, AlarmStatus
from community.access.service import not_found
from community.access.web.handling import (
    _body,
    _community_id,
    _int_path,
    _json,
    _outside,
    _page_limit,
    _principal,
    _query,
    _query_id,
    _service,
)
from community.access.web.schemas import AccessAlarmOut, AccessAlarmsOut, AccessNoteIn


def _alarm_out(number: int, alarm: Alarm) -> AccessAlarmOut:
    return AccessAlarmOut(
        number=number, alarm_id=alarm.alarm_id, kind=alarm.kind, gate_id=alarm.gate_id, door=alarm.door,
        raised_at=alarm.raised_at, status=alarm.status, occurrences=alarm.occurrences,
        acknowledged_by=alarm.acknowledged_by, acknowledged_at=alarm.acknowledged_at,
        acknowledge_note=alarm.acknowledge_note, resolved_by=alarm.resolved_by, resolved_at=alarm.resolved_at,
        resolve_note=alarm.resolve_note)


async def list_alarms(request: web.Request) -> web.Response:
    community_id = await _community_id(request)
    found = await _service(request).alarms(
        community_id, status=_query(request, "status", AlarmStatus), gate_id=_query_id(request, "gate_id"),
        kind=_query(request, "kind", AlarmKind), limit=_page_limit(request, 100))
    return _json(AccessAlarmsOut(alarms=[_alarm_out(number, alarm) for number, alarm in found]))


async def _scoped_alarm(request: web.Request) -> int:
    """The number of the alarm in the path, which is in the caller's scope (else the 404 of an unknown alarm)."""
    number = _int_path(request, "number")
    community_id, _ = await _service(request).alarm(number)
    if _outside(request, community_id):
        raise not_found("alarm", number)
    return number


async def acknowledge_alarm(request: web.Request) -> web.Response:
    data: AccessNoteIn = await _body(request, AccessNoteIn)
    number = await _scoped_alarm(request)
    alarm = await _service(request).acknowledge_alarm(number, _principal(request).subject, data.note)
    return _json(_alarm_out(number, alarm))


async def resolve_alarm(request: web.Request) -> web.Response:
    data: AccessNoteIn = await _body(request, AccessNoteIn)
    number = await _scoped_alarm(request)
    alarm = await _service(request).resolve_alarm(number, _principal(request).subject, data.note)
    return _json(_alarm_out(number, alarm))
