"""The manager's scope: which community a page is about (?community= when there are several, chosen among the
communities the account's scope holds), its gates, the links and tabs that keep it. Another community's id is
answered with the same page as an unknown one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from community.access.directory import Community, Gate
from community.access.pages.context import CONSOLE, Tab, _pages
from webkit.auth import PRINCIPAL
from webkit.pages import PageProblem


@dataclass(frozen=True)
class Scope:
    """The community a manager's page is about (chosen with ?community= when there are several), and its gates."""

    community: Community
    communities: tuple[Community, ...]
    gates: Mapping[str, Gate]

    @property
    def query(self) -> dict[str, str]:
        return {"community": self.community.community_id} if len(self.communities) > 1 else {}

    def href(self, path: str, **params: str | int | None) -> str:
        query = {**self.query, **{key: str(value) for key, value in params.items() if value not in (None, "")}}
        return path + (f"?{urlencode(query)}" if query else "")

    def gate_name(self, gate_id: str) -> str:
        gate = self.gates.get(gate_id)
        return gate.name if gate is not None else gate_id

    def door_name(self, gate_id: str, number: int | None) -> str | None:
        if number is None:
            return None
        gate = self.gates.get(gate_id)
        door = next((door for door in gate.doors if door.number == number), None) if gate else None
        return door.name if door is not None else f"{number}号门"

    def tabs(self, current: str) -> list[Tab]:
        return [Tab(label, self.href(path), path == current) for label, path in (
            ("控制台", CONSOLE), ("通行记录", CONSOLE + "/log"), ("告警", CONSOLE + "/alarms"),
            ("远程开门", CONSOLE + "/open"), ("导入小区", CONSOLE + "/import"),
            ("楼栋房屋", CONSOLE + "/buildings"), ("住户", CONSOLE + "/residents"),
            ("权限组", CONSOLE + "/groups"), ("门禁设备", CONSOLE + "/gates"), ("访客", CONSOLE + "/visitors"))]


def _in_scope(request: web.Request, community_id: str) -> bool:
    """Whether the signed-in account may see the community (an administrator: every one)."""
    return request[PRINCIPAL].has_community(community_id)


async def _scope(request: web.Request, community_id: str | None = None) -> Scope:
    service = _pages(request).service
    communities = tuple(sorted((c for c in await service.communities() if _in_scope(request, c.community_id)),
                               key=lambda c: c.community_id))
    if not communities:
        # the same words whether the installation has communities or not: another's are none of this account's
        raise PageProblem(404, "没有您可以管理的小区。请先通过管理接口导入小区、楼栋和门禁，并请系统管理员把小区分配给"
                          "您的账号。", title="没有小区")
    wanted = community_id or request.query.get("community")
    community = next((c for c in communities if c.community_id == wanted), None) if wanted else communities[0]
    if community is None:
        raise PageProblem(404, "没有这个小区，链接可能有误。", title="小区不存在")
    gates = {gate.gate_id: gate for gate in await service.gates(community.community_id)}
    return Scope(community, communities, gates)


def _gate_filter(request: web.Request, scope: Scope) -> str | None:
    gate_id = request.query.get("gate") or None
    if gate_id is not None and gate_id not in scope.gates:
        raise PageProblem(404, "本小区没有这个门禁，链接可能有误。", title="门禁不存在")
    return gate_id
