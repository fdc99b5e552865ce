"""The compound's buildings and units in the manager's console: the buildings with their unit counts; adding a
building and adding a unit (each checked by the API's own model, :class:`AccessBuildingIn` and :class:`AccessUnitIn`,
the reason next to the field); a building's units by entrance (单元), a page at a time, each with its exclusive area
and, for managers, who lives there.

Supervisors read the buildings and their units — not who lives in them — and change nothing (403); another
community's building is answered with the page of an unknown one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from aiohttp import web

from community.access.directory import Building, ResidentRecord, ResidentRole, ResidentStatus, Unit
from community.access.pages.context import CONSOLE, MANAGERS, _pages, _render
from community.access.pages.scope import Scope, _in_scope, _scope
from community.access.service import Conflict, NotFound
from community.access.web.schemas import ID_PATTERN, AccessBuildingIn, AccessUnitIn
from webkit.auth import PRINCIPAL
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.identity import Role
from webkit.pages import PageProblem, form_of, page

BUILDINGS: Final = CONSOLE + "/buildings"
UNITS: Final = CONSOLE + "/units"
REGISTER_READERS: Final = (Role.PROPERTY_MANAGER, Role.SUPERVISOR)
"""Who reads the buildings and units: as the API's buildings, supervisors too (who lives where: managers only)."""
UNITS_PER_PAGE: Final = 100
_ID = re.compile(ID_PATTERN)
_NUMBER = re.compile(r"([0-9]+)")

BUILDING_FIELDS: Final = ("building_id", "name")
BUILDING_WORDS: Final = FieldWords(
    {"building_id": "楼栋编号", "name": "楼栋名称"},
    {"building_id": "楼栋编号为 1–64 位字母、数字或 _ . : -，如 B01", "name": "楼栋名称为 1–100 个字，不含换行"})
UNIT_FIELDS: Final = ("unit_id", "building_id", "entrance", "room", "area_m2")
UNIT_WORDS: Final = FieldWords(
    {"unit_id": "房屋编号", "building_id": "楼栋", "entrance": "单元", "room": "房号", "area_m2": "专有面积"},
    {"unit_id": "房屋编号为 1–64 位字母、数字或 _ . : -，如 B01-2-301", "building_id": "请选择本小区的楼栋",
     "entrance": "单元最多 32 个字，如 2单元", "room": "房号最多 32 个字，如 301",
     "area_m2": "专有面积应是大于 0 的数字（平方米），最多两位小数，如 89.37"})
NOTICES: Final = {
    "building_added": "楼栋已登记。可以为它添加房屋，或用“导入小区”一次导入整栋楼的房屋和住户。",
    "unit_added": "房屋已登记。可以为它登记住户。",
}


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Numbers in a name compared as numbers: 2单元 before 10单元, room 301 before 1201."""
    return tuple((0, int(part)) if part.isascii() and part.isdigit() else (1, part)
                 for part in _NUMBER.split(text) if part)


def can_change(request: web.Request) -> bool:
    return bool(request[PRINCIPAL].has_any(MANAGERS))


@page(*REGISTER_READERS)
async def buildings_page(request: web.Request) -> web.Response:
    scope = await _scope(request)
    unit = FormState({"building_id": request.query.get("building", "")[:64]})
    return await _buildings_page(request, scope, unit=unit, unit_open="new_unit" in request.query)


async def _buildings_page(request: web.Request, scope: Scope, *, building: FormState | None = None,
                          unit: FormState | None = None, unit_open: bool = False,
                          status: int = 200) -> web.Response:
    service = _pages(request).service
    community_id = scope.community.community_id
    buildings = sorted(await service.buildings(community_id), key=lambda b: natural_key(b.building_id))
    counts = await service.unit_counts(community_id)
    building = building or FormState()
    unit = unit or FormState()
    return await _render(request, "access/buildings.html", {
        "scope": scope, "buildings": [(b, counts.get(b.building_id, 0)) for b in buildings],
        "total_units": sum(counts.values()), "can_change": can_change(request),
        "building_form": building, "building_open": building.failed or "new_building" in request.query,
        "unit_form": unit, "unit_open": unit.failed or unit_open,
        "building_choices": [(b.building_id, f"{b.name}（{b.building_id}）") for b in buildings],
        "buildings_path": BUILDINGS, "units_path": UNITS,
    }, tabs=scope.tabs(BUILDINGS), status=status)


@page(*MANAGERS)
async def add_building(request: web.Request) -> web.StreamResponse:
    """Add a building to the community, then on to its page (its units come next)."""
    form = await form_of(request)
    scope = await _scope(request, form.get("community") or None)
    state = typed(form, BUILDING_FIELDS, codes=("building_id",))
    data = checked(AccessBuildingIn, state, BUILDING_WORDS)
    if data is None:
        return await _buildings_page(request, scope, building=state, status=422)
    try:
        await _pages(request).service.add_building(Building(data.building_id, scope.community.community_id,
                                                            data.name))
    except Conflict:  # building ids are unique across communities: which one holds it is not said
        state.refuse("building_id", f"楼栋编号 {data.building_id} 已被使用，请换一个编号")
        return await _buildings_page(request, scope, building=state, status=409)
    raise web.HTTPSeeOther(scope.href(building_path(data.building_id), notice="building_added"))


@page(*MANAGERS)
async def add_unit(request: web.Request) -> web.StreamResponse:
    """Add a unit to one of the community's buildings, then on to the building's page, at the new unit."""
    service = _pages(request).service
    form = await form_of(request)
    scope = await _scope(request, form.get("community") or None)
    state = typed(form, UNIT_FIELDS, codes=("unit_id", "building_id", "area_m2"))
    data = checked(AccessUnitIn, state, UNIT_WORDS)
    if data is None:
        return await _buildings_page(request, scope, unit=state, status=422)
    ours = {b.building_id for b in await service.buildings(scope.community.community_id)}
    if data.building_id not in ours:  # another community's building: as unknown as one that does not exist
        state.refuse("building_id", "本小区没有这个楼栋，请从列表中选择")
        return await _buildings_page(request, scope, unit=state, status=422)
    try:
        await service.add_unit(Unit(data.unit_id, data.building_id, data.entrance, data.room, data.area_m2))
    except NotFound:
        state.refuse("building_id", "本小区没有这个楼栋，请从列表中选择")
        return await _buildings_page(request, scope, unit=state, status=422)
    except Conflict:
        state.refuse("unit_id", f"房屋编号 {data.unit_id} 已被使用，请换一个编号")
        return await _buildings_page(request, scope, unit=state, status=409)
    raise web.HTTPSeeOther(scope.href(building_path(data.building_id), unit=data.unit_id, notice="unit_added")
                           + f"#unit-{quote(data.unit_id, safe='')}")


def building_path(building_id: str) -> str:
    return f"{BUILDINGS}/{quote(building_id, safe='')}"


async def scoped_building(request: web.Request, building_id: str) -> tuple[Building, Scope]:
    """The building and its community's scope; an id that cannot exist, an unknown one and another community's
    get the same 404 page."""
    building = None
    if _ID.match(building_id):
        try:
            building = await _pages(request).service.building(building_id)
        except NotFound:
            building = None
    if building is None or not _in_scope(request, building.community_id):
        raise PageProblem(404, "没有这个楼栋，链接可能有误。", title="楼栋不存在")
    return building, await _scope(request, building.community_id)


@dataclass(frozen=True)
class UnitRow:
    """A unit as the building's page shows it: who lives there now, and how many lived there before."""

    unit: Unit
    residents: tuple[ResidentRecord, ...]
    former: int


@dataclass(frozen=True)
class Entrance:
    name: str
    units: int
    href: str
    current: bool


@page(*REGISTER_READERS)
async def building_page(request: web.Request) -> web.Response:
    """A building's units, one entrance (单元) at a time when it has several, at most :data:`UNITS_PER_PAGE` on a
    page; ?unit= opens the entrance and the page that unit is on."""
    service = _pages(request).service
    building, scope = await scoped_building(request, request.match_info["building_id"])
    units = sorted(await service.building_units(building.building_id),
                   key=lambda u: (natural_key(u.entrance), natural_key(u.room), u.unit_id))
    counts = Counter(unit.entrance for unit in units)
    entrances = sorted(counts, key=natural_key)
    wanted_unit = request.query.get("unit", "")
    marked = next((u for u in units if u.unit_id == wanted_unit), None)
    entrance = marked.entrance if marked else request.query.get("entrance", "")
    if entrance not in counts:
        entrance = entrances[0] if len(entrances) > 1 else ""
    shown = [u for u in units if not entrance or u.entrance == entrance]
    pages = max(1, -(-len(shown) // UNITS_PER_PAGE))
    number = shown.index(marked) // UNITS_PER_PAGE + 1 if marked is not None else _page_number(request, pages)
    on_page = shown[(number - 1) * UNITS_PER_PAGE:number * UNITS_PER_PAGE]
    path = building_path(building.building_id)
    sees_people = can_change(request)
    return await _render(request, "access/building.html", {
        "scope": scope, "building": building, "total": len(units), "shown": len(shown),
        "entrances": [Entrance(name, counts[name], scope.href(path, entrance=name), name == entrance)
                      for name in entrances] if len(entrances) > 1 else [],
        "entrance": entrance, "rows": await _unit_rows(request, on_page) if sees_people else
        [UnitRow(unit, (), 0) for unit in on_page], "sees_people": sees_people, "can_change": sees_people,
        "marked": marked.unit_id if marked else None, "page": number, "pages": pages,
        "previous": scope.href(path, entrance=entrance, page=number - 1) if number > 1 else None,
        "next": scope.href(path, entrance=entrance, page=number + 1) if number < pages else None,
        "notice": NOTICES.get(request.query.get("notice", "")), "buildings_path": BUILDINGS,
    }, tabs=scope.tabs(BUILDINGS))


def _page_number(request: web.Request, pages: int) -> int:
    raw = request.query.get("page", "1")
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else 1
    return min(max(number, 1), pages)


async def _unit_rows(request: web.Request, units: Sequence[Unit]) -> list[UnitRow]:
    people: dict[str, list[ResidentRecord]] = {}
    for resident in await _pages(request).service.residents_of_units([unit.unit_id for unit in units]):
        people.setdefault(resident.unit_id, []).append(resident)
    rows = []
    for unit in units:
        everyone = people.get(unit.unit_id, [])
        active = tuple(sorted((r for r in everyone if r.status is ResidentStatus.ACTIVE),
                              key=lambda r: (r.role is not ResidentRole.OWNER, r.name)))
        rows.append(UnitRow(unit, active, len(everyone) - len(active)))
    return rows
