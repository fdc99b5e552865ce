"""Remote open: a form, a confirmation step, then the outcome, which the gate's ack decides (the page refreshes
while it waits); the recent remote opens below the form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from community.access.directory import Gate, GateDoor
from community.access.pages.context import _DOOR_VALUE, CONSOLE, MANAGERS, AccessPages, _pages, _render
from community.access.pages.people import Actors
from community.access.pages.rows import open_view
from community.access.pages.scope import Scope, _in_scope, _scope
from community.access.remote_open import RemoteOpenStatus
from community.access.service import AccessError, NotFound
from webkit.auth import PRINCIPAL
from webkit.pages import PageProblem, form_of, page

REMOTE_OPENS_LISTED = 20
MAX_REASON_CHARS = 200
PENDING_REFRESH_S = 2


@dataclass(frozen=True)
class DoorChoice:
    value: str
    gate: Gate
    door: GateDoor
    online: bool


async def _door_choices(pages: AccessPages, scope: Scope) -> list[DoorChoice]:
    choices: list[DoorChoice] = []
    for gate_id in sorted(scope.gates):
        gate = scope.gates[gate_id]
        online = (await pages.service.gate_status(gate_id)).online
        choices += [DoorChoice(f"{gate_id}:{door.number}", gate, door, online) for door in gate.doors]
    return choices


@page(*MANAGERS)
async def remote_open_page(request: web.Request) -> web.Response:
    """The form; ?gate= offers that gate's doors only (from its tile on the console), ?door= picks one."""
    scope = await _scope(request)
    gate, door = request.query.get("gate", ""), request.query.get("door", "")
    only = gate if gate in scope.gates else None
    chosen = f"{gate}:{door}" if only and door else ""
    if only and not door and len(scope.gates[only].doors) == 1:
        chosen = f"{only}:{scope.gates[only].doors[0].number}"
    return await _render_open_form(request, scope, chosen, "", only_gate=only)


async def _render_open_form(request: web.Request, scope: Scope, chosen: str, reason: str,
                            problems: Sequence[str] = (), status: int = 200,
                            only_gate: str | None = None) -> web.Response:
    pages = _pages(request)
    actors = Actors(request)
    recent = await pages.service.remote_opens(scope.community.community_id, limit=REMOTE_OPENS_LISTED)
    choices = [choice for choice in await _door_choices(pages, scope)
               if only_gate is None or choice.gate.gate_id == only_gate]
    return await _render(request, "access/open.html", {
        "scope": scope, "choices": choices, "only_gate": only_gate, "chosen": chosen, "reason": reason,
        "problems": problems, "max_reason": MAX_REASON_CHARS,
        "recent": [await open_view(scope, actors, item) for item in recent],
        "seconds": pages.service.settings.remote_open_seconds,
    }, tabs=scope.tabs(CONSOLE + "/open"), status=status)


@page(*MANAGERS)
async def remote_open_form(request: web.Request) -> web.StreamResponse:
    """One form, three steps: review (show what will happen), edit (back to the form), confirm (send ``open``)."""
    pages = _pages(request)
    form = await form_of(request)
    scope = await _scope(request, form.get("community") or None)
    chosen, reason, step = form.get("door", ""), " ".join(form.get("reason", "").split()), form.get("step", "review")
    problems: list[str] = []
    match = _DOOR_VALUE.match(chosen)
    gate = scope.gates.get(match.group(1)) if match else None
    door = next((d for d in gate.doors if d.number == int(match.group(2))), None) if gate and match else None
    if door is None or gate is None:
        problems.append("请选择要打开的门。")
    if not reason:
        problems.append("请写明开门原因（会记入审计日志）。")
    elif len(reason) > MAX_REASON_CHARS:
        problems.append(f"开门原因不能超过 {MAX_REASON_CHARS} 个字。")
    if problems or step == "edit" or gate is None or door is None:
        return await _render_open_form(request, scope, chosen, reason, problems, status=422 if problems else 200)
    if step != "confirm":
        status = await pages.service.gate_status(gate.gate_id)
        return await _render(request, "access/open_confirm.html", {
            "scope": scope, "gate": gate, "door": door, "chosen": chosen, "reason": reason, "online": status.online,
            "seconds": pages.service.settings.remote_open_seconds,
            "timeout": int(pages.service.settings.remote_open_timeout.total_seconds()),
        }, tabs=scope.tabs(CONSOLE + "/open"))
    try:
        outcome = await pages.service.open_door(gate.gate_id, door.number, request[PRINCIPAL].subject, reason)
    except AccessError:
        return await _render_open_form(request, scope, chosen, reason, ["这扇门已不存在或无法远程打开。"], status=422)
    raise web.HTTPSeeOther(scope.href(f"{CONSOLE}/open/{outcome.cmd_id}"))


@page(*MANAGERS)
async def remote_open_result(request: web.Request) -> web.Response:
    service = _pages(request).service
    try:
        found, community_id = await service.remote_open(request.match_info["cmd_id"])
    except NotFound:
        community_id = None
    if community_id is None or not _in_scope(request, community_id):  # another community's: as if there were none
        raise PageProblem(404, "没有这条远程开门记录，链接可能有误。", title="记录不存在")
    scope = await _scope(request, community_id)
    view = await open_view(scope, Actors(request), found)
    return await _render(request, "access/open_result.html", {
        "scope": scope, "view": view, "pending": found.status is RemoteOpenStatus.PENDING,
        "refresh_s": PENDING_REFRESH_S, "again": scope.href(CONSOLE + "/open", gate=found.gate_id, door=found.door),
    }, tabs=scope.tabs(CONSOLE + "/open"))
