"""The access-log search: by gate, door, person (resident id or a name only one resident has), kind and time,
newest first, a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from community.access.access_log import MAX_PAGE, LogQuery, decode_cursor
from community.access.pages.context import CONSOLE, MANAGERS, _from_local_input, _pages, _render
from community.access.pages.rows import EventRow, event_row
from community.access.pages.scope import _scope
from community.access.service import AccessService
from devices.contract import GateEventKind
from webkit.pages import page

LOG_PAGE = 50


@dataclass
class LogFilters:
    gate: str = ""
    door: str = ""
    person: str = ""
    kind: str = ""
    since: str = ""
    until: str = ""


async def _resident_of(service: AccessService, community_id: str, text: str) -> tuple[str | None, str | None]:
    """(resident id, problem) for what was typed: a resident id, or a name that only one resident has."""
    residents = await service.residents(community_id)
    if any(resident.resident_id == text for resident in residents):
        return text, None
    named = [resident for resident in residents if resident.name == text]
    if len(named) == 1:
        return named[0].resident_id, None
    if named:
        ids = "、".join(f"{resident.resident_id}（{resident.unit_id}）" for resident in named[:10])
        return None, f"有 {len(named)} 位住户叫“{text}”，请输入住户编号：{ids}。"
    return None, f"本小区没有住户编号或姓名为“{text}”的住户。"


@page(*MANAGERS)
async def access_log_page(request: web.Request) -> web.Response:
    pages = _pages(request)
    scope = await _scope(request)
    query = request.query
    filters = LogFilters(**{name: query.get(name, "").strip()[:64] for name in LogFilters.__dataclass_fields__})
    problems: list[str] = []
    criteria: dict[str, Any] = {}
    if filters.gate:
        if filters.gate not in scope.gates:
            problems.append("请选择本小区的门禁。")
        criteria["gate_id"] = filters.gate
    if filters.door:
        if not filters.door.isdigit() or not 1 <= int(filters.door) <= 1024:
            problems.append("门号是 1 到 1024 的数字。")
        else:
            criteria["door"] = int(filters.door)
    if filters.person:
        resident_id, problem = await _resident_of(pages.service, scope.community.community_id, filters.person)
        if problem:
            problems.append(problem)
        criteria["resident_id"] = resident_id
    if filters.kind:
        if filters.kind not in GateEventKind._value2member_map_:
            problems.append("请选择事件类型。")
        else:
            criteria["kind"] = GateEventKind(filters.kind)
    for name, label in (("since", "开始时间"), ("until", "结束时间")):
        text = getattr(filters, name)
        if text:
            try:
                criteria[name] = _from_local_input(text)
            except ValueError:
                problems.append(f"{label}的格式不对。")
    if "since" in criteria and "until" in criteria and criteria["until"] <= criteria["since"]:
        problems.append("结束时间要晚于开始时间。")
    cursor = query.get("cursor")
    if cursor:
        try:
            criteria["after"] = decode_cursor(cursor)
        except ValueError:
            problems.append("翻页链接已失效，请从第一页开始。")
    entries: list[EventRow] = []
    next_href = None
    if not problems:
        found = await pages.service.access_log(LogQuery(community_id=scope.community.community_id,
                                                        limit=min(LOG_PAGE, MAX_PAGE), **criteria))
        entries = [await event_row(scope, pages.people, entry) for entry in found.entries]
        if found.next_cursor:
            next_href = scope.href(CONSOLE + "/log", **vars(filters), cursor=found.next_cursor)
    return await _render(request, "access/log.html", {
        "scope": scope, "filters": filters, "problems": problems, "rows": entries, "next_href": next_href,
        "first_href": scope.href(CONSOLE + "/log", **vars(filters)) if cursor else None,
        "kinds": list(GateEventKind), "page_size": LOG_PAGE,
    }, tabs=scope.tabs(CONSOLE + "/log"), status=400 if problems else 200)
