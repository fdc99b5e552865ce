"""The alarm list with its history (filtered by status, gate and kind); acknowledging and resolving an alarm, with
a note.
"""

from __future__ import annotations

from aiohttp import web

from community.access.alarms import AlarmKind, AlarmStatus
from community.access.pages.context import CONSOLE, MANAGERS, _pages, _render
from community.access.pages.people import Actors
from community.access.pages.rows import alarm_view
from community.access.pages.scope import Scope, _in_scope, _scope
from community.access.pages.words import WORDS
from community.access.service import Conflict, NotFound
from webkit.auth import PRINCIPAL
from webkit.pages import PageProblem, form_of, page, safe_next

ALARMS_LISTED = 200
MAX_NOTE_CHARS = 500


@page(*MANAGERS)
async def alarms_page(request: web.Request) -> web.Response:
    return await _render_alarms(request, await _scope(request))


async def _render_alarms(request: web.Request, scope: Scope, *, problem: str | None = None,
                         status: int = 200) -> web.Response:
    pages = _pages(request)
    query = request.query
    wanted_status = query.get("status", "")
    wanted_gate = query.get("gate", "")
    wanted_kind = query.get("kind", "")
    found = await pages.service.alarms(
        scope.community.community_id,
        status=AlarmStatus(wanted_status) if wanted_status in AlarmStatus._value2member_map_ else None,
        gate_id=wanted_gate if wanted_gate in scope.gates else None,
        kind=AlarmKind(wanted_kind) if wanted_kind in AlarmKind._value2member_map_ else None,
        limit=ALARMS_LISTED)
    actors = Actors(request)
    return await _render(request, "access/alarms.html", {
        "scope": scope, "alarms": [await alarm_view(scope, actors, number, alarm) for number, alarm in found],
        "wanted": {"status": wanted_status, "gate": wanted_gate, "kind": wanted_kind},
        "statuses": list(AlarmStatus), "kinds": list(AlarmKind), "problem": problem, "limit": ALARMS_LISTED,
        "next": request.path_qs,
    }, tabs=scope.tabs(CONSOLE + "/alarms"), status=status)


@page(*MANAGERS)
async def acknowledge_alarm(request: web.Request) -> web.StreamResponse:
    return await _move_alarm(request, acknowledge=True)


@page(*MANAGERS)
async def resolve_alarm(request: web.Request) -> web.StreamResponse:
    return await _move_alarm(request, acknowledge=False)


async def _move_alarm(request: web.Request, *, acknowledge: bool) -> web.StreamResponse:
    service = _pages(request).service
    number = _number(request.match_info["number"])
    form = await form_of(request)
    note = form.get("note", "").strip()
    try:
        community_id, _ = await service.alarm(number)
    except NotFound:
        community_id = None
    if community_id is None or not _in_scope(request, community_id):  # another community's: as if there were none
        raise PageProblem(404, f"没有编号为 {number} 的告警。", title="告警不存在")
    scope = await _scope(request, community_id)
    if len(note) > MAX_NOTE_CHARS:
        return await _render_alarms(request, scope, status=422,
                                    problem=f"告警 #{number}：备注不能超过 {MAX_NOTE_CHARS} 个字。")
    by = request[PRINCIPAL].subject
    try:
        if acknowledge:
            await service.acknowledge_alarm(number, by, note)
        else:
            await service.resolve_alarm(number, by, note)
    except Conflict:
        _, alarm = await service.alarm(number)
        doing = "确认" if acknowledge else "解决"
        return await _render_alarms(request, scope, status=409, problem=(
            f"告警 #{number} 当前为“{WORDS.alarm_status[alarm.status]}”，不能再{doing}。"))
    raise web.HTTPSeeOther(f"{safe_next(form.get('next') or scope.href(CONSOLE + '/alarms'))}#alarm-{number}")


def _number(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise PageProblem(404, "没有这个告警，链接可能有误。", title="告警不存在")
    return int(raw)
