"""Gates: the community's gate controllers with their doors, online state and whitelist sync (the version the
platform wants them to hold, the version each acknowledged, commands awaiting an ack, the entries on its list); one
gate with its doors, the access groups that open them and what its whitelist holds; registering a gate with its
doors (a fixed number of door rows, blank ones ignored; checked by the API's own :class:`AccessGateIn` and
:class:`AccessDoorIn`, each reason next to its field), and recomputing every gate's whitelist now
(``AccessService.resync``). Supervisors read the gates and their sync, as in the API, and change nothing; what a
whitelist holds beyond its counts is the managers' (as the API's whitelist is).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from community.access.directory import Gate, GateDoor
from community.access.pages.context import CONSOLE, MANAGERS, READERS, _pages, _render
from community.access.pages.groups import can_change, reader_tabs
from community.access.pages.scope import Scope, _in_scope, _scope
from community.access.pages.words import WORDS
from community.access.service import Conflict, GateStatus, NotFound
from community.access.web.schemas import DEVICE_ID_PATTERN, AccessDoorIn, AccessGateIn
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.pages import PageProblem, form_of, page

GATES = CONSOLE + "/gates"
DOOR_ROWS: Final = 4
"""Door rows a registration form offers at least (one more blank row than typed, when the form comes back)."""
MAX_DOORS: Final = 64
"""AccessGateIn's most doors."""
_GATE_ID = re.compile(DEVICE_ID_PATTERN)
GATE_WORDS: Final = FieldWords(
    {"gate_id": "门禁编号", "name": "门禁名称", "doors": "门"},
    {"gate_id": "门禁编号为 1–64 位字母、数字、_ 或 -（门禁控制器在 MQTT 上的设备编号）",
     "name": "名称为 1–100 个字，不含换行等控制字符", "doors": "请至少填写一扇门（门号和名称）"})
DOOR_WORDS: Final = FieldWords(
    {"number": "门号", "name": "门的名称", "kind": "类型", "building_id": "所属楼栋"},
    {"number": "门号为 1–1024 的整数", "name": "门的名称为 1–100 个字，不含换行等控制字符", "kind": "请选择类型",
     "building_id": "请选择本小区的楼栋"})


def door_fields(row: int) -> dict[str, str]:
    """The form's field of each of AccessDoorIn's fields, in door row ``row``."""
    return {name: f"d{row}_{name}" for name in ("number", "name", "kind", "building_id")}


@dataclass
class GateForm:
    """The registration form as typed, with its problems, and how many door rows it shows."""

    state: FormState = field(default_factory=FormState)
    rows: int = DOOR_ROWS
    status: int = 200


def read_gate_form(form: MultiDictProxy[str]) -> GateForm:
    names = ["gate_id", "name", *(name for row in range(MAX_DOORS) for name in door_fields(row).values())]
    state = typed(form, names, codes=[name for name in names if not name.endswith("name")])
    used = [row for row in range(MAX_DOORS) if _row_filled(state, row)]
    return GateForm(state, min(MAX_DOORS, max(DOOR_ROWS, max(used, default=-1) + 2)))


def _row_filled(state: FormState, row: int) -> bool:
    """A row with a number, a name or a building typed (the kind has a value in every row)."""
    names = door_fields(row)
    return any(state.values.get(names[name]) for name in ("number", "name", "building_id"))


def check_gate(form: GateForm, buildings: Collection[str]) -> AccessGateIn | None:
    """The gate on the form as AccessGateIn takes it (door numbers unrepeated, buildings of this community), or
    None with each problem next to its field and the status the API would answer with."""
    state = form.state
    doors: list[dict[str, object]] = []
    rows_of: dict[int, int] = {}
    rows_refused = False
    for row in range(MAX_DOORS):
        if not _row_filled(state, row):
            continue
        names = door_fields(row)
        typed_row = FormState({name: state.values.get(field_name, "") for name, field_name in names.items()})
        door = checked(AccessDoorIn, typed_row, DOOR_WORDS)
        for name, problem in typed_row.problems.items():
            state.refuse(names.get(name, names["number"]), problem)
            rows_refused = True
        if door is None:
            continue
        if door.number in rows_of:
            state.refuse(names["number"], f"门号 {door.number} 与第 {rows_of[door.number] + 1} 行重复")
            rows_refused = True
        elif door.building_id is not None and door.building_id not in buildings:
            state.refuse(names["building_id"], DOOR_WORDS.patterns["building_id"])
            form.status = 422
        rows_of.setdefault(door.number, row)
        doors.append(door.model_dump())
    data = checked(AccessGateIn, state, GATE_WORDS, doors=doors)
    if rows_refused:
        state.problems.pop("doors", None)  # the rows say what is wrong with them
    if data is None or rows_refused:
        form.status = 400  # what the API's schema refuses (and repeated door numbers: 400 there too)
    return None if state.failed else data


def gate_form_choices(buildings: list[tuple[str, str]]) -> dict[str, object]:
    return {"kinds": [(kind.value, WORDS.door_kind[kind]) for kind in WORDS.door_kind],
            "buildings": buildings}


async def _gate_statuses(request: web.Request, scope: Scope) -> list[tuple[Gate, GateStatus | None]]:
    service = _pages(request).service
    found: list[tuple[Gate, GateStatus | None]] = []
    for gate_id, gate in sorted(scope.gates.items()):
        try:
            found.append((gate, await service.gate_status(gate_id)))
        except NotFound:  # no sync state (yet)
            found.append((gate, None))
    return found


@page(*READERS)
async def gates_page(request: web.Request) -> web.Response:
    return await _gates_page(request, await _scope(request), GateForm())


async def _gates_page(request: web.Request, scope: Scope, new: GateForm, status: int = 200) -> web.Response:
    service = _pages(request).service
    buildings = [(b.building_id, b.name) for b in await service.buildings(scope.community.community_id)]
    if not new.state.values:
        new.state.values.update({door_fields(row)["kind"]: "entrance" for row in range(new.rows)})
    return await _render(request, "access/gates.html", {
        "scope": scope, "gates": await _gate_statuses(request, scope), "new": new,
        "new_open": new.state.failed or "new" in request.query, "can_change": can_change(request),
        "added": scope.gates.get(request.query.get("added", "")), "resynced": "resynced" in request.query,
        "door_fields": door_fields, **gate_form_choices(buildings),
    }, tabs=reader_tabs(request, scope, GATES), status=status)


@page(*MANAGERS)
async def register_gate(request: web.Request) -> web.StreamResponse:
    """Register a gate with its doors; its whitelist is computed and sent as soon as it is online."""
    service = _pages(request).service
    form = await form_of(request)
    scope = await _scope(request, form.get("community") or None)
    community_id = scope.community.community_id
    typed_form = read_gate_form(form)
    data = check_gate(typed_form, {b.building_id for b in await service.buildings(community_id)})
    if data is None:
        return await _gates_page(request, scope, typed_form, status=typed_form.status)
    gate = Gate(data.gate_id, community_id, data.name,
                tuple(GateDoor(data.gate_id, d.number, d.name, d.kind, d.building_id)
                      for d in sorted(data.doors, key=lambda d: d.number)))
    try:
        await service.add_gate(gate)
    except Conflict:
        typed_form.state.refuse("gate_id", f"门禁编号 {data.gate_id} 已被使用，请核对控制器的设备编号")
        return await _gates_page(request, scope, typed_form, status=409)
    except NotFound:  # a building removed meanwhile
        typed_form.state.general.append("所选楼栋已不存在，请刷新页面后重新选择。")
        return await _gates_page(request, await _scope(request, community_id), typed_form, status=422)
    raise web.HTTPSeeOther(scope.href(GATES, added=data.gate_id) + f"#gate-{data.gate_id}")


@page(*MANAGERS)
async def resync_gates(request: web.Request) -> web.StreamResponse:
    """Recompute every gate's whitelist of the community now and send each gate what it lacks (normally done with
    each change and every hour)."""
    form = await form_of(request)
    scope = await _scope(request, form.get("community") or None)
    try:
        await _pages(request).service.resync(scope.community.community_id)
    except NotFound:
        raise PageProblem(404, "没有这个小区，链接可能有误。", title="小区不存在") from None
    raise web.HTTPSeeOther(scope.href(GATES, resynced=1))


@dataclass(frozen=True)
class WhitelistSummary:
    """What a gate's whitelist holds, in counts: by kind of credential, per door; the blacklist."""

    version: int
    content_hash: str
    entries: int
    kinds: list[tuple[str, int]]
    doors: list[tuple[GateDoor, int]]
    blacklisted: int


@page(*READERS)
async def gate_page(request: web.Request) -> web.Response:
    service = _pages(request).service
    gate_id = request.match_info["gate_id"]
    gate: Gate | None = None
    if _GATE_ID.fullmatch(gate_id):
        try:
            gate = await service.gate(gate_id)
        except NotFound:
            gate = None
    if gate is None or not _in_scope(request, gate.community_id):  # another community's: as if there were none
        raise PageProblem(404, "没有这个门禁，链接可能有误。", title="门禁不存在")
    scope = await _scope(request, gate.community_id)
    try:
        status: GateStatus | None = await service.gate_status(gate_id)
    except NotFound:  # no sync state (yet)
        status = None
    groups = [record for record in await service.groups(gate.community_id)
              if any(door.gate_id == gate_id for door in record.group.doors)]
    summary: WhitelistSummary | None = None
    if can_change(request):
        desired = await service.desired_whitelist(gate_id)
        if desired is not None:
            version, whitelist = desired
            kinds = Counter(entry.kind for entry in whitelist.entries)
            summary = WhitelistSummary(
                version, whitelist.content_hash[:12], len(whitelist.entries),
                [(WORDS.credential[kind], count) for kind, count in sorted(kinds.items())],
                [(door, sum(1 for entry in whitelist.entries if door.number in entry.doors)) for door in gate.doors],
                len(whitelist.blacklist))
    return await _render(request, "access/gate.html", {
        "scope": scope, "gate": gate, "status": status, "groups": groups, "summary": summary,
        "group_href": lambda group_id: scope.href(f"{CONSOLE}/groups/{quote(group_id, safe='')}"),
        "can_change": can_change(request),
    }, tabs=reader_tabs(request, scope, GATES))
