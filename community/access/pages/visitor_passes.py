"""The community's visitor passes, for the property manager: each pass (valid, used up, expired, revoked) with its
visitor, who invited them from which home, the doors and the validity; revoking one after a confirmation step (the
gates of its doors then refuse it, through the whitelist sync). Passes carry visitors' names and phones: managers
only, as in the API. A resident's own passes and invitations are `visitors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import quote

from aiohttp import web

from community.access.directory import door_label, mask_phone
from community.access.pages.context import CONSOLE, MANAGERS, _now, _pages, _render
from community.access.pages.people import Actors
from community.access.pages.scope import Scope, _in_scope, _scope
from community.access.service import Conflict, NotFound
from community.access.service.visitors import LAPSED_BY
from community.access.visitors import PassStatus, VisitorPassRecord
from community.access.web.schemas import ID_PATTERN
from webkit.auth import PRINCIPAL
from webkit.pages import PageProblem, page

PASSES = CONSOLE + "/visitors"
PASSES_LISTED: Final = 200
_ID = re.compile(ID_PATTERN)
_TONE: Final = {PassStatus.ACTIVE: "ok", PassStatus.REVOKED: "bad", PassStatus.USED_UP: "warn",
                PassStatus.EXPIRED: ""}


@dataclass(frozen=True)
class PassRow:
    """A pass as the manager sees it: the visitor's phone masked, the inviter and their home named."""

    record: VisitorPassRecord
    status: PassStatus
    doors: tuple[str, ...]
    inviter: str
    home: str | None
    revoked_by: str | None

    @property
    def tone(self) -> str:
        return _TONE[self.status]

    @property
    def revocable(self) -> bool:
        """What the service revokes: a pass not yet revoked nor expired (a used-up one still holds the blacklist)."""
        return self.status in (PassStatus.ACTIVE, PassStatus.USED_UP)

    @property
    def visitor_phone(self) -> str | None:
        phone = self.record.visitor_phone
        return None if phone is None else mask_phone(phone)

    @property
    def revoke_href(self) -> str:
        return f"{PASSES}/{quote(self.record.pass_id, safe='')}/revoke"


class _Rows:
    """Names for the rows of one page: residents and their homes read once."""

    def __init__(self, request: web.Request, scope: Scope) -> None:
        self._request = request
        self._scope = scope
        self._actors = Actors(request)
        self._people: dict[str, tuple[str, str | None]] | None = None

    async def _read(self) -> dict[str, tuple[str, str | None]]:
        service = _pages(self._request).service
        community_id = self._scope.community.community_id
        buildings = {b.building_id: b.name for b in await service.buildings(community_id)}
        homes = {u.unit_id: f"{buildings.get(u.building_id, u.building_id)} {u.entrance} {u.room}"
                 for u in await service.units(community_id)}
        return {r.resident_id: (r.name, homes.get(r.unit_id)) for r in await service.residents(community_id)}

    async def row(self, record: VisitorPassRecord, now: datetime) -> PassRow:
        if self._people is None:
            self._people = await self._read()
        inviter, home = self._people.get(record.resident_id, (record.resident_id, None))
        by = record.revoked_by
        revoked_by = (None if by is None else "邀请人" if by == record.resident_id
                      else "系统（邀请人已无这些门的通行权限）" if by == LAPSED_BY else await self._actors.name(by))
        doors = tuple(door_label(self._scope.gates.get(door.gate_id), door)
                      for door in sorted(record.visitor_pass.doors))
        return PassRow(record, record.status(now), doors, inviter, home, revoked_by)


@page(*MANAGERS)
async def passes_page(request: web.Request) -> web.Response:
    """The passes, the valid ones first, newest first; ?status= shows one status only."""
    scope = await _scope(request)
    now = _now(request)
    records = await _pages(request).service.passes(community_id=scope.community.community_id, limit=PASSES_LISTED)
    rows_of = _Rows(request, scope)
    rows = [await rows_of.row(record, now) for record in records]
    rows.sort(key=lambda row: (row.status is not PassStatus.ACTIVE, -row.record.issued_at.timestamp()))
    wanted = request.query.get("status", "")
    shown = [row for row in rows if not wanted or row.status.value == wanted]
    counts = {status: sum(1 for row in rows if row.status is status) for status in PassStatus}
    revoked = next((row for row in rows if row.record.pass_id == request.query.get("revoked")), None)
    return await _render(request, "access/passes.html", {
        "scope": scope, "rows": shown, "counts": counts, "total": len(rows), "statuses": list(PassStatus),
        "wanted": wanted, "limit": PASSES_LISTED, "revoked": revoked,
    }, tabs=scope.tabs(PASSES))


async def _scoped_pass(request: web.Request) -> tuple[Scope, VisitorPassRecord]:
    """The pass in the path; another community's, or none: the same 404 page."""
    pass_id = request.match_info["pass_id"]
    found: tuple[VisitorPassRecord, str] | None = None
    if _ID.fullmatch(pass_id):
        try:
            found = await _pages(request).service.visitor_pass(pass_id)
        except NotFound:
            found = None
    if found is None or not _in_scope(request, found[1]):  # another community's: as if there were none
        raise PageProblem(404, "没有这张访客通行码，链接可能有误。", title="通行码不存在")
    return await _scope(request, found[1]), found[0]


@page(*MANAGERS)
async def revoke_confirm_page(request: web.Request) -> web.Response:
    """What revoking will do, with the button that does it (a pass that cannot be revoked says why)."""
    scope, record = await _scoped_pass(request)
    row = await _Rows(request, scope).row(record, _now(request))
    return await _render(request, "access/pass_revoke.html", {"scope": scope, "row": row, "problem": None},
                         tabs=scope.tabs(PASSES))


@page(*MANAGERS)
async def revoke_visitor_pass(request: web.Request) -> web.StreamResponse:
    scope, record = await _scoped_pass(request)
    try:
        await _pages(request).service.revoke_pass(record.pass_id, request[PRINCIPAL].subject)
    except Conflict:  # revoked or expired meanwhile
        record, _ = await _pages(request).service.visitor_pass(record.pass_id)
        row = await _Rows(request, scope).row(record, _now(request))
        return await _render(request, "access/pass_revoke.html", {
            "scope": scope, "row": row, "problem": "这张通行码已撤销或已过期，无需再撤销。"},
            tabs=scope.tabs(PASSES), status=409)
    raise web.HTTPSeeOther(scope.href(PASSES, revoked=record.pass_id) + f"#pass-{record.pass_id}")
