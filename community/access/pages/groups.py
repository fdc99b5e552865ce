"""Access groups: the community's groups with their doors, weekly windows (周一至周五 07:00–22:00), validity and
members; creating one and changing one (:mod:`group_form`). Saving is ``AccessService.put_group``, the API's own
call, which recomputes every gate's whitelist of the community and sends the gates what changed. Supervisors read
the groups, as in the API, and change nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from community.access.directory import Community, GroupRecord, door_label
from community.access.pages.context import CONSOLE, MANAGERS, READERS, Tab, _pages, _render
from community.access.pages.group_form import WEEKDAYS, GroupForm, check_group, read_group_form, row_fields
from community.access.pages.scope import Scope, _scope
from community.access.pages.words import window_text
from community.access.service import Conflict, NotFound, Refused
from webkit.auth import PRINCIPAL
from webkit.pages import PageProblem, form_of, page

GROUPS = CONSOLE + "/groups"
_READER_TABS = (GROUPS, CONSOLE + "/gates")
"""The console's tabs a supervisor may open."""


def reader_tabs(request: web.Request, scope: Scope, current: str) -> list[Tab]:
    """The console's tabs, as far as the signed-in account may open them (a supervisor: groups and gates)."""
    tabs = scope.tabs(current)
    if request[PRINCIPAL].has_any(MANAGERS):
        return tabs
    return [tab for tab in tabs if tab.href.split("?")[0] in _READER_TABS]


def can_change(request: web.Request) -> bool:
    return bool(request[PRINCIPAL].has_any(MANAGERS))


@dataclass(frozen=True)
class GroupView:
    """A group as the list shows it: its doors and windows in words, how many residents hold it."""

    record: GroupRecord
    doors: tuple[str, ...]
    windows: tuple[str, ...]
    members: int

    @property
    def group_id(self) -> str:
        return self.record.group.group_id

    @property
    def href(self) -> str:
        return f"{GROUPS}/{quote(self.group_id, safe='')}"


def _group_view(scope: Scope, record: GroupRecord, members: int) -> GroupView:
    doors = tuple(door_label(scope.gates.get(door.gate_id), door) for door in sorted(record.group.doors))
    return GroupView(record, doors, tuple(window_text(window) for window in record.group.windows), members)


@page(*READERS)
async def groups_page(request: web.Request) -> web.Response:
    return await _groups_page(request, await _scope(request), GroupForm())


async def _groups_page(request: web.Request, scope: Scope, new: GroupForm, status: int = 200) -> web.Response:
    service = _pages(request).service
    community_id = scope.community.community_id
    members = Counter(group_id for resident in await service.residents(community_id)
                      for group_id in resident.group_ids)
    views = [_group_view(scope, record, members[record.group.group_id])
             for record in sorted(await service.groups(community_id), key=lambda r: r.group.group_id)]
    return await _render(request, "access/groups.html", {
        "scope": scope, "groups": views, "new": new, "new_open": new.state.failed or "new" in request.query,
        "saved": next((view for view in views if view.group_id == request.query.get("saved")), None),
        "can_change": can_change(request), **_form_choices(scope),
    }, tabs=reader_tabs(request, scope, GROUPS), status=status)


def _form_choices(scope: Scope) -> dict[str, object]:
    """What a group's form offers: every door of the community's gates, the days of the week."""
    return {"door_choices": [(f"{gate.gate_id}:{door.number}", gate, door)
                             for _, gate in sorted(scope.gates.items()) for door in gate.doors],
            "weekdays": WEEKDAYS, "row_fields": row_fields}


@page(*MANAGERS)
async def add_group(request: web.Request) -> web.StreamResponse:
    """Create a group (an id already taken is refused: changing a group is done on its own page)."""
    form = await form_of(request)
    scope = await _scope(request, form.get("community") or None)
    typed = read_group_form(form)
    group_id = typed.state.values["group_id"]
    existing = {record.group.group_id for record in await _pages(request).service.groups(scope.community.community_id)}
    if group_id in existing:
        typed.refuse("group_id", _TAKEN.format(group_id), 409)
    return await _save(request, scope, typed, group_id, creating=True)


_TAKEN = "编号 {} 已被使用，请换一个编号（修改已有的权限组请在列表中点它的名称）"


@page(*READERS)
async def group_page(request: web.Request) -> web.Response:
    scope, record = await _scoped_group(request)
    return await _group_page(request, scope, record, GroupForm.of(record))


async def _group_page(request: web.Request, scope: Scope, record: GroupRecord, form: GroupForm,
                      status: int = 200) -> web.Response:
    service = _pages(request).service
    members = [resident for resident in await service.residents(scope.community.community_id)
               if record.group.group_id in resident.group_ids]
    return await _render(request, "access/group.html", {
        "scope": scope, "view": _group_view(scope, record, len(members)), "form": form,
        "can_change": can_change(request), **_form_choices(scope),
    }, tabs=reader_tabs(request, scope, GROUPS), status=status)


@page(*MANAGERS)
async def change_group(request: web.Request) -> web.StreamResponse:
    scope, record = await _scoped_group(request)
    typed = read_group_form(await form_of(request))
    typed.state.values["group_id"] = record.group.group_id
    return await _save(request, scope, typed, record.group.group_id, creating=False, record=record)


async def _save(request: web.Request, scope: Scope, typed: GroupForm, group_id: str, *, creating: bool,
                record: GroupRecord | None = None) -> web.StreamResponse:
    """Check and store the group (every gate of the community follows), then back to the list; else the form again
    with the reasons next to the fields."""

    async def again(status: int) -> web.Response:
        if record is None:
            return await _groups_page(request, scope, typed, status=status)
        return await _group_page(request, scope, record, typed, status=status)

    group = check_group(typed, group_id, list(scope.gates.values()), creating=creating)
    if group is None:
        return await again(typed.status)
    try:
        await _pages(request).service.put_group(GroupRecord(scope.community.community_id, group.name, group.group))
    except Conflict:  # another community's group has the id
        typed.refuse("group_id", _TAKEN.format(group_id), 409)
        return await again(409)
    except Refused as refused:  # a door gone meanwhile, or a validity the gates cannot hold
        if str(refused).startswith("doors"):
            typed.refuse("doors", "所选的门中有不属于本小区的门（门禁可能已变更），请刷新页面重新选择", 422)
        else:
            typed.refuse("valid_to", "生效、失效时间须在 2000–2099 年之间", 422)
        return await again(422)
    except NotFound:  # the community itself is gone
        raise PageProblem(404, "没有这个小区，链接可能有误。", title="小区不存在") from None
    raise web.HTTPSeeOther(scope.href(GROUPS, saved=group_id) + f"#group-{quote(group_id, safe='')}")


async def _scoped_group(request: web.Request) -> tuple[Scope, GroupRecord]:
    """The group in the path, found among the communities the account may see (the one chosen first); another
    community's, or none: the same 404 page."""
    group_id = request.match_info["group_id"]
    scope = await _scope(request)
    for community in _chosen_first(scope):
        found = next((record for record in await _pages(request).service.groups(community.community_id)
                      if record.group.group_id == group_id), None)
        if found is not None:
            return (scope if community == scope.community else await _scope(request, community.community_id)), found
    raise PageProblem(404, "没有这个权限组，链接可能有误。", title="权限组不存在")


def _chosen_first(scope: Scope) -> Sequence[Community]:
    return [scope.community, *(c for c in scope.communities if c != scope.community)]
