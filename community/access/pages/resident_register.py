"""The compound's residents in the manager's console: the list, searched by name, resident or unit id, room, or the
last four digits of a phone (what the masked phone shows anyway), a page at a time, with each one's status; moving a
resident in (checked by the API's own model, :class:`AccessResidentIn`, and the phone by the compound import's rule
for a mobile number; each reason next to its field); a resident's page with their unit and household, their access
groups (set with checkboxes), their credentials (enrolled and revoked by :mod:`credential_forms`), and moving them out
or revoking them, each after a confirmation step.

Phones are shown masked, as the API shows them. Residents are personal data: managers only, as in the API (a
supervisor gets 403); another community's resident is answered with the page of an unknown one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from community.access.directory import (
    Building,
    GroupRecord,
    ResidentRecord,
    ResidentRole,
    ResidentSearch,
    ResidentStatus,
    Unit,
    door_label,
)
from community.access.pages.buildings import building_path, natural_key
from community.access.pages.context import CONSOLE, MANAGERS, _now, _pages, _render
from community.access.pages.my_unit import CredentialView, _credential_view
from community.access.pages.people import Actors
from community.access.pages.scope import Scope, _in_scope, _scope
from community.access.pages.words import WORDS, window_text
from community.access.permissions import CredentialKind
from community.access.service import AccessError, Conflict, NotFound, Refused
from community.access.web.schemas import ID_PATTERN, AccessGroupsIn, AccessResidentIn
from community.onboarding.sheet import parse_phone
from webkit.auth import PRINCIPAL
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.pages import PageProblem, form_of, page

RESIDENT_LIST: Final = CONSOLE + "/residents"
RESIDENTS_PER_PAGE: Final = 50
MAX_SEARCH: Final = 64
MAX_NAME: Final = 100
NEW_ID_ATTEMPTS: Final = 3
STATUS_CHOICES: Final = {"active": ResidentStatus.ACTIVE, "moved_out": ResidentStatus.MOVED_OUT,
                         "revoked": ResidentStatus.REVOKED, "all": None}
"""The list's ?status=: current residents unless another is asked for."""
_ID = re.compile(ID_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

PHONE_RULE: Final = "手机号应是 11 位数字的手机号，如 13800138000"
RESIDENT_FIELDS: Final = ("resident_id", "unit_id", "role", "name", "phone")
RESIDENT_WORDS: Final = FieldWords(
    {"resident_id": "住户编号", "unit_id": "房屋编号", "role": "身份", "name": "姓名", "phone": "手机号",
     "group_ids": "通行权限"},
    {"resident_id": "住户编号为 1–64 位字母、数字或 _ . : -（留空则自动生成）",
     "unit_id": "房屋编号为 1–64 位字母、数字或 _ . : -，如 B01-2-301", "name": f"姓名最多 {MAX_NAME} 个字，不含换行",
     "phone": PHONE_RULE, "group_ids": "请选择本小区的通行权限组"})
NOTICES: Final = {
    "moved_in": "住户已登记。请为其登记门禁卡或人脸等凭证；通行权限可在下方调整。",
    "groups": "通行权限已保存，门禁白名单已开始同步。",
    "moved_out": "已办理迁出：该住户已从所有门禁白名单移除，访客通行码已撤销。",
    "revoked": "已停用：该住户的所有凭证和访客通行码已在其可通行的门禁上拉黑。",
    "enrolled": "凭证已登记，门禁白名单已开始同步。",
    "credential_revoked": "凭证已停用，各门禁将拒绝它。",
}


def resident_path(resident_id: str) -> str:
    return f"{RESIDENT_LIST}/{quote(resident_id, safe='')}"


@dataclass(frozen=True)
class ResidentRow:
    """A resident as the list shows them: where they live, in words."""

    resident: ResidentRecord
    unit: Unit | None
    building: str

    @property
    def place(self) -> str:
        if self.unit is None:
            return self.resident.unit_id
        return f"{self.building} {self.unit.entrance} {self.unit.room}"


@page(*MANAGERS)
async def resident_list_page(request: web.Request) -> web.Response:
    scope = await _scope(request)
    unit = request.query.get("unit", "")[:64]
    return await _resident_list_page(request, scope, FormState({"unit_id": unit, "role": "owner"}),
                                     open_form=bool(unit) or "new" in request.query)


async def _resident_list_page(request: web.Request, scope: Scope, new: FormState, *,
                              chosen_groups: Sequence[str] = (), open_form: bool = False,
                              status: int = 200) -> web.Response:
    service = _pages(request).service
    community_id = scope.community.community_id
    text = " ".join(_CONTROL.sub(" ", request.query.get("q", "")).split())[:MAX_SEARCH]
    wanted = request.query.get("status", "active")
    wanted = wanted if wanted in STATUS_CHOICES else "active"
    raw_page = request.query.get("page", "1")
    number = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 7 else 1
    number = max(number, 1)
    found = await service.search_residents(ResidentSearch(community_id, text, STATUS_CHOICES[wanted],
                                                          RESIDENTS_PER_PAGE, (number - 1) * RESIDENTS_PER_PAGE))
    pages = max(1, -(-found.total // RESIDENTS_PER_PAGE))
    if number > pages:  # past the end (the list shrank): the last page
        number = pages
        found = await service.search_residents(ResidentSearch(
            community_id, text, STATUS_CHOICES[wanted], RESIDENTS_PER_PAGE, (number - 1) * RESIDENTS_PER_PAGE))
    units = await service.units_by_id(r.unit_id for r in found.residents)
    names = {b.building_id: b.name for b in await service.buildings(community_id)}
    rows = []
    for resident in found.residents:
        unit = units.get(resident.unit_id)
        rows.append(ResidentRow(resident, unit, names.get(unit.building_id, "") if unit else ""))
    first = (number - 1) * RESIDENTS_PER_PAGE
    return await _render(request, "access/residents.html", {
        "scope": scope, "rows": rows, "total": found.total, "text": text, "wanted": wanted,
        "first": first + 1, "last": first + len(rows), "page": number, "pages": pages,
        "previous": scope.href(RESIDENT_LIST, q=text, status=wanted, page=number - 1) if number > 1 else None,
        "next": scope.href(RESIDENT_LIST, q=text, status=wanted, page=number + 1) if number < pages else None,
        "statuses": [("active", "当前住户"), ("moved_out", "已迁出"), ("revoked", "已停用"), ("all", "全部")],
        "new": new, "new_open": new.failed or open_form, "chosen_groups": set(chosen_groups),
        "groups": await _group_choices(request, scope, ()), "roles": [(r.value, WORDS.role[r]) for r in ResidentRole],
        "residents_path": RESIDENT_LIST,
    }, tabs=scope.tabs(RESIDENT_LIST), status=status)


@page(*MANAGERS)
async def move_in(request: web.Request) -> web.StreamResponse:
    """Register a resident in a unit of the community (an id is made when none is typed), then on to their page, where
    their credentials come next."""
    service = _pages(request).service
    form = await form_of(request)
    scope = await _scope(request, form.get("community") or None)
    state = typed(form, RESIDENT_FIELDS, codes=("resident_id", "unit_id", "phone"))
    groups = _group_values(form)
    fixed: dict[str, object] = {"group_ids": groups}
    if len(state.values["name"]) > MAX_NAME:
        state.refuse("name", f"姓名最多 {MAX_NAME} 个字")
    if state.values["phone"]:
        phone = parse_phone(state.values["phone"])
        if phone is None:
            state.refuse("phone", PHONE_RULE)
        fixed["phone"] = phone
    chosen = state.values["resident_id"]
    for _ in range(NEW_ID_ATTEMPTS):
        data = checked(AccessResidentIn, state, RESIDENT_WORDS, resident_id=chosen or _new_resident_id(), **fixed)
        if data is None or state.failed:
            return await _resident_list_page(request, scope, state, chosen_groups=groups, status=422)
        if not await _unit_in_scope(request, scope, data.unit_id):
            state.refuse("unit_id", f"本小区没有编号为 {data.unit_id} 的房屋")
            return await _resident_list_page(request, scope, state, chosen_groups=groups, status=422)
        record = ResidentRecord(data.resident_id, data.unit_id, data.role, data.name, data.phone,
                                frozenset(data.group_ids))
        try:
            await service.add_resident(record)
        except NotFound:
            state.refuse("unit_id", f"本小区没有编号为 {data.unit_id} 的房屋")
            return await _resident_list_page(request, scope, state, chosen_groups=groups, status=422)
        except Refused:
            state.refuse("group_ids", "所选通行权限不属于本小区，请重新选择")
            return await _resident_list_page(request, scope, state, chosen_groups=groups, status=422)
        except Conflict:
            if chosen:
                state.refuse("resident_id", f"住户编号 {chosen} 已被使用，请换一个编号（或留空自动生成）")
                return await _resident_list_page(request, scope, state, chosen_groups=groups, status=409)
            continue  # a made id taken already (unlikely): another
        raise web.HTTPSeeOther(scope.href(resident_path(data.resident_id), notice="moved_in"))
    state.general.append("未能生成新的住户编号，请填写一个编号。")
    return await _resident_list_page(request, scope, state, chosen_groups=groups, status=409)


def _new_resident_id() -> str:
    return f"R{secrets.token_hex(4).upper()}"


def _group_values(form: MultiDictProxy[str]) -> list[str]:
    """The checked access groups (bounded: the model refuses more than it takes)."""
    return [value[:80] for value in form.getall("group_ids", [])][:100]


async def _unit_in_scope(request: web.Request, scope: Scope, unit_id: str) -> bool:
    try:
        _, community_id = await _pages(request).service.unit(unit_id)
    except NotFound:
        return False
    return community_id == scope.community.community_id


@dataclass(frozen=True)
class GroupChoice:
    """An access group as a checkbox: its doors and hours in words."""

    record: GroupRecord
    doors: str
    windows: str
    checked: bool

    @property
    def group_id(self) -> str:
        return self.record.group.group_id


async def _group_choices(request: web.Request, scope: Scope, checked_ids: Sequence[str] | frozenset[str]
                         ) -> list[GroupChoice]:
    records = await _pages(request).service.groups(scope.community.community_id)
    choices = []
    for record in sorted(records, key=lambda r: natural_key(r.name)):
        doors = "、".join(door_label(scope.gates.get(door.gate_id), door) for door in sorted(record.group.doors))
        windows = "；".join(window_text(window) for window in record.group.windows)
        choices.append(GroupChoice(record, doors, windows, record.group.group_id in checked_ids))
    return choices


async def scoped_resident(request: web.Request, resident_id: str) -> tuple[ResidentRecord, Scope]:
    """The resident and their community's scope; an id that cannot exist, an unknown one and another community's
    get the same 404 page."""
    found = None
    if _ID.match(resident_id):
        try:
            found = await _pages(request).service.resident(resident_id)
        except NotFound:
            found = None
    if found is None or not _in_scope(request, found[1]):
        raise PageProblem(404, "没有这位住户，链接可能有误。", title="住户不存在")
    return found[0], await _scope(request, found[1])


@page(*MANAGERS)
async def resident_page(request: web.Request) -> web.Response:
    resident, scope = await scoped_resident(request, request.match_info["resident_id"])
    return await resident_page_with(request, resident, scope)


async def resident_page_with(request: web.Request, resident: ResidentRecord, scope: Scope, *,
                             credential: FormState | None = None, groups_problem: str | None = None,
                             chosen_groups: Sequence[str] | None = None, problem: str | None = None,
                             status: int = 200) -> web.Response:
    """The resident's page, with the credential form as typed (its secret never shown again) and a refusal."""
    service = _pages(request).service
    unit, _ = await service.unit(resident.unit_id)
    building: Building | None = next((b for b in await service.buildings(scope.community.community_id)
                                      if b.building_id == unit.building_id), None)
    household = [r for r in await service.residents(scope.community.community_id, unit.unit_id)
                 if r.resident_id != resident.resident_id]
    now = _now(request)
    credentials = [_credential_view(record, now) for record in await service.credentials_of(resident.resident_id)]
    credentials.sort(key=lambda view: (view.record.revoked_at is not None, view.record.credential_id))
    return await _render(request, "access/resident.html", {
        "scope": scope, "resident": resident, "unit": unit, "building": building,
        "building_href": scope.href(building_path(unit.building_id), unit=unit.unit_id) + f"#unit-{unit.unit_id}",
        "household": household, "credentials": credentials, "revokers": await _revokers(request, credentials),
        "groups": await _group_choices(request, scope, resident.group_ids if chosen_groups is None
                                       else chosen_groups),
        "groups_problem": groups_problem, "problem": problem,
        "credential": credential or FormState({"kind": CredentialKind.CARD.value}),
        "credential_open": credential is not None or request.query.get("notice") == "moved_in",
        "kinds": [(kind.value, WORDS.credential[kind]) for kind in CredentialKind],
        "active": resident.status is ResidentStatus.ACTIVE,
        "notice": NOTICES.get(request.query.get("notice", "")),
        "path": resident_path(resident.resident_id), "residents_path": RESIDENT_LIST,
    }, tabs=scope.tabs(RESIDENT_LIST), status=status)


async def _revokers(request: web.Request, credentials: Sequence[CredentialView]) -> Mapping[str, str]:
    """Who revoked each revoked credential, by name."""
    actors = Actors(request)
    return {view.record.credential_id: await actors.name(view.record.revoked_by) or ""
            for view in credentials if view.record.revoked_by}


@page(*MANAGERS)
async def set_groups(request: web.Request) -> web.StreamResponse:
    """The resident's access groups, as checked (none checked: no doors); every gate follows."""
    resident, scope = await scoped_resident(request, request.match_info["resident_id"])
    groups = _group_values(await form_of(request))
    data = checked(AccessGroupsIn, FormState(), RESIDENT_WORDS, group_ids=groups)
    if data is None:
        return await resident_page_with(request, resident, scope, groups_problem="请选择本小区的通行权限组",
                                        chosen_groups=groups, status=422)
    try:
        await _pages(request).service.set_resident_groups(resident.resident_id, frozenset(data.group_ids))
    except Refused:
        return await resident_page_with(request, resident, scope, chosen_groups=groups, status=422,
                                        groups_problem="所选通行权限不属于本小区，请重新选择")
    raise web.HTTPSeeOther(scope.href(resident_path(resident.resident_id), notice="groups") + "#groups")


@page(*MANAGERS)
async def move_out(request: web.Request) -> web.StreamResponse:
    """Moving out, after a confirmation: off every whitelist (their cards may be handed on), passes revoked."""
    resident, scope = await scoped_resident(request, request.match_info["resident_id"])
    form = await form_of(request)
    if resident.status is ResidentStatus.MOVED_OUT:
        return await resident_page_with(request, resident, scope, problem="该住户已经迁出。", status=409)
    if form.get("confirm") != "yes":
        return await _confirmation(request, resident, scope, "move-out", "办理迁出", [
            "从本小区所有门禁的白名单中移除，其门禁卡、密码、人脸都不能再开门（不拉黑）；",
            "其邀请的访客通行码全部撤销；", "不能再使用住户页面。登记记录保留，可在住户列表“已迁出”中查到。"])
    await _pages(request).service.move_out(resident.resident_id, request[PRINCIPAL].subject)
    raise web.HTTPSeeOther(scope.href(resident_path(resident.resident_id), notice="moved_out"))


@page(*MANAGERS)
async def revoke_resident(request: web.Request) -> web.StreamResponse:
    """Revoking, after a confirmation: every credential and pass blacklisted on every gate they could open."""
    resident, scope = await scoped_resident(request, request.match_info["resident_id"])
    form = await form_of(request)
    if resident.status is not ResidentStatus.ACTIVE:
        return await resident_page_with(request, resident, scope, status=409,
                                        problem=f"该住户当前为“{WORDS.resident_status[resident.status]}”，不能停用。")
    if form.get("confirm") != "yes":
        return await _confirmation(request, resident, scope, "revoke", "停用住户", [
            "其所有门禁卡、密码、人脸立即停用，并在其可通行的所有门禁上拉黑；",
            "其邀请的访客通行码全部撤销；",
            "不能再使用住户页面。用于证件丢失、纠纷等需要立即禁止通行的情况；正常搬离请用“办理迁出”。"])
    try:
        await _pages(request).service.revoke_resident(resident.resident_id, request[PRINCIPAL].subject)
    except AccessError:
        return await resident_page_with(request, resident, scope, problem="该住户已经迁出，不能停用。", status=409)
    raise web.HTTPSeeOther(scope.href(resident_path(resident.resident_id), notice="revoked"))


async def _confirmation(request: web.Request, resident: ResidentRecord, scope: Scope, action: str, title: str,
                        consequences: Sequence[str]) -> web.Response:
    subject = f"{resident.name}（{resident.resident_id}，房屋 {resident.unit_id}）"
    return await _render(request, "access/register_confirm.html", {
        "scope": scope, "title": title, "subject": subject,
        "consequences": consequences, "action": f"{resident_path(resident.resident_id)}/{action}",
        "cancel": scope.href(resident_path(resident.resident_id)), "button": f"确认{title}",
    }, tabs=scope.tabs(RESIDENT_LIST))
