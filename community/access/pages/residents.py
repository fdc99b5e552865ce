"""The signed-in resident (only an active one has resident pages), their community's gates, the doors they may
open with when, and the tabs of their pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from community.access.directory import Community, DoorKind, Gate, ResidentRecord, door_label
from community.access.pages.context import MINE, Tab, _pages
from community.access.pages.words import window_text
from community.access.permissions import Door
from community.access.service import AccessService, NotAllowed, NotFound
from webkit.auth import PRINCIPAL
from webkit.pages import PageProblem


@dataclass(frozen=True)
class Me:
    resident: ResidentRecord
    community: Community
    gates: Mapping[str, Gate]

    def door_label(self, door: Door) -> str:
        return door_label(self.gates.get(door.gate_id), door)


@dataclass(frozen=True)
class MyDoor:
    door: Door
    label: str
    kind: DoorKind | None
    windows: tuple[str, ...]

    @property
    def value(self) -> str:
        return f"{self.door.gate_id}:{self.door.number}"


def _not_linked() -> PageProblem:
    return PageProblem(403, "您的账号还没有与小区的住户登记关联。请带上身份证明到物业服务中心登记后再使用。",
                       title="尚未登记住户信息")


async def _me(request: web.Request) -> Me:
    service = _pages(request).service
    try:
        resident, community_id = await service.signed_in_resident(request[PRINCIPAL].subject)
    except NotFound:
        raise _not_linked() from None
    except NotAllowed:
        raise PageProblem(403, "您的住户登记已迁出或停用，不能再查看住户信息。如有疑问请联系物业服务中心。",
                          title="住户登记已失效") from None
    if not request[PRINCIPAL].has_community(community_id):  # the account is not assigned the resident's community
        raise _not_linked()
    community = await service.community(community_id)
    gates = {gate.gate_id: gate for gate in await service.gates(community_id)}
    return Me(resident, community, gates)


def _resident_tabs(current: str) -> list[Tab]:
    return [Tab(label, path, path == current) for label, path in (
        ("我的住户信息", MINE), ("我的访客", MINE + "/visitors"), ("邀请访客", MINE + "/visitors/new"))]


async def _my_doors(service: AccessService, me: Me) -> list[MyDoor]:
    """The doors the resident may open, with when (from their access groups)."""
    windows: dict[Door, list[str]] = {}
    for record in await service.groups(me.community.community_id):
        if record.group.group_id in me.resident.group_ids:
            for door in record.group.doors:
                texts = windows.setdefault(door, [])
                texts += [text for text in map(window_text, record.group.windows) if text not in texts]
    doors: list[MyDoor] = []
    for door in sorted(windows):
        gate = me.gates.get(door.gate_id)
        named = next((d for d in gate.doors if d.number == door.number), None) if gate else None
        doors.append(MyDoor(door, me.door_label(door), named.kind if named else None, tuple(windows[door])))
    return doors
