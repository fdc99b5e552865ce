"""My visitors: the passes I issued (revoke), inviting a visitor, and a pass with its QR code as inline SVG, to
show on a phone or print.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from community.access.directory import ResidentStatus, mask_phone
from community.access.pages.context import (
    _DOOR_VALUE,
    MINE,
    RESIDENTS,
    _from_local_input,
    _local_input,
    _now,
    _pages,
    _render,
)
from community.access.pages.residents import Me, _me, _my_doors, _resident_tabs
from community.access.permissions import Door
from community.access.service import AccessError, Conflict, NotAllowed, NotFound
from community.access.visitor_pass import MAX_NAME_LENGTH
from community.access.visitors import PassStatus, VisitorPassRecord
from webkit.pages import PageProblem, form_of, page
from webkit.qr_code import qr_svg

log = logging.getLogger(__name__)

MAX_INVITE_AHEAD = timedelta(days=30)
INVITE_HOURS = (1, 2, 4, 8, 12, 24)
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,30}$")
_PASS_TONE = {PassStatus.ACTIVE: "ok", PassStatus.REVOKED: "bad", PassStatus.USED_UP: "warn", PassStatus.EXPIRED: ""}


@dataclass(frozen=True)
class PassView:
    record: VisitorPassRecord
    status: PassStatus
    doors: tuple[str, ...]
    remaining: int

    @property
    def tone(self) -> str:
        return _PASS_TONE[self.status]

    @property
    def revocable(self) -> bool:
        return self.status in (PassStatus.ACTIVE, PassStatus.USED_UP)

    @property
    def visitor_phone(self) -> str | None:
        phone = self.record.visitor_phone
        return None if phone is None else mask_phone(phone)


def _pass_view(me: Me, record: VisitorPassRecord, now: datetime) -> PassView:
    visit = record.visitor_pass
    return PassView(record, record.status(now), tuple(me.door_label(door) for door in sorted(visit.doors)),
                    max(0, visit.max_uses - record.uses))


@page(*RESIDENTS)
async def my_visitors(request: web.Request) -> web.Response:
    service = _pages(request).service
    me = await _me(request)
    now = _now(request)
    passes = [_pass_view(me, record, now) for record in await service.passes(resident_ids=[me.resident.resident_id])]
    passes.sort(key=lambda view: (view.status is not PassStatus.ACTIVE, -view.record.issued_at.timestamp()))
    return await _render(request, "access/visitors.html", {
        "me": me, "passes": passes, "revoked": request.query.get("revoked"),
    }, tabs=_resident_tabs(MINE + "/visitors"))


@dataclass
class InviteForm:
    doors: list[str] = field(default_factory=list)
    start: str = ""
    hours: str = "4"
    uses: str = "4"
    visitor_name: str = ""
    visitor_phone: str = ""


@page(*RESIDENTS)
async def invite_page(request: web.Request) -> web.Response:
    service = _pages(request).service
    me = await _me(request)
    settings = service.settings
    hours = int(settings.pass_default_validity.total_seconds() // 3600)
    form = InviteForm(start=_local_input(_now(request)), hours=str(hours if hours in INVITE_HOURS else 4),
                      uses=str(settings.pass_default_uses))
    return await _render_invite(request, me, form)


async def _render_invite(request: web.Request, me: Me, form: InviteForm, problems: Sequence[str] = (),
                         status: int = 200) -> web.Response:
    service = _pages(request).service
    max_hours = int(service.settings.pass_max_validity.total_seconds() // 3600)
    return await _render(request, "access/invite.html", {
        "me": me, "form": form, "problems": problems, "doors": await _my_doors(service, me),
        "hour_choices": [hours for hours in INVITE_HOURS if hours <= max_hours], "max_name": MAX_NAME_LENGTH,
        "can_invite": me.resident.status is ResidentStatus.ACTIVE,
    }, tabs=_resident_tabs(MINE + "/visitors/new"), status=status)


@dataclass(frozen=True)
class Invitation:
    doors: frozenset[Door]
    start: datetime
    end: datetime
    uses: int
    visitor_name: str | None
    visitor_phone: str | None


def read_invitation(form: InviteForm, allowed: Iterable[Door], now: datetime,
                    max_validity: timedelta) -> Invitation | list[str]:
    """The invitation on the form, or what is wrong with it (in words for the resident)."""
    problems: list[str] = []
    allowed = set(allowed)
    doors: set[Door] = set()
    for value in form.doors:
        match = _DOOR_VALUE.match(value)
        door = Door(match.group(1), int(match.group(2))) if match and 1 <= int(match.group(2)) <= 1024 else None
        if door is None or door not in allowed:
            problems.append("只能邀请访客通过您自己可以通行的门。")
            break
        doors.add(door)
    if not form.doors:
        problems.append("请至少选择一扇门。")
    start = now
    if form.start:
        try:
            start = _from_local_input(form.start)
        except ValueError:
            problems.append("开始时间的格式不对。")
    if start < now - timedelta(minutes=5):
        problems.append("开始时间已经过去，请重新选择。")
    elif start > now + MAX_INVITE_AHEAD:
        problems.append("最多只能提前 30 天邀请。")
    hours = int(form.hours) if form.hours.isdigit() else 0
    if hours < 1 or timedelta(hours=hours) > max_validity:
        problems.append(f"有效时长为 1 到 {int(max_validity.total_seconds() // 3600)} 小时。")
    uses = int(form.uses) if form.uses.isdigit() else 0
    if not 1 <= uses <= 100:
        problems.append("可用次数为 1 到 100 次。")
    name = form.visitor_name.strip()
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"访客称呼不能超过 {MAX_NAME_LENGTH} 个字（二维码里会带上它，越短越好）。")
    phone = form.visitor_phone.strip()
    if phone and not _PHONE.match(phone):
        problems.append("访客手机号的格式不对。")
    if problems:
        return problems
    start = max(start, now).replace(microsecond=0)
    return Invitation(frozenset(doors), start, start + timedelta(hours=hours), uses, name or None, phone or None)


def _invite_form(form: MultiDictProxy[str]) -> InviteForm:
    return InviteForm(doors=form.getall("door", [])[:16], start=form.get("start", "").strip(),
                      hours=form.get("hours", "").strip(), uses=form.get("uses", "").strip(),
                      visitor_name=form.get("visitor_name", ""), visitor_phone=form.get("visitor_phone", ""))


@page(*RESIDENTS)
async def invite(request: web.Request) -> web.StreamResponse:
    service = _pages(request).service
    me = await _me(request)
    form = _invite_form(await form_of(request))
    allowed = [door.door for door in await _my_doors(service, me)]
    outcome = read_invitation(form, allowed, _now(request), service.settings.pass_max_validity)
    if isinstance(outcome, list):
        return await _render_invite(request, me, form, outcome, status=422)
    try:
        issued = await service.invite(me.resident.resident_id, outcome.doors, valid_from=outcome.start,
                                      valid_to=outcome.end, max_uses=outcome.uses, visitor_name=outcome.visitor_name,
                                      visitor_phone=outcome.visitor_phone)
    except AccessError as refused:
        log.info("invitation refused", extra={"error": str(refused), "reason": refused.reason})
        return await _render_invite(request, me, form, [_refusal_words(refused)], status=_REFUSAL_STATUS.get(
            type(refused), 422))
    raise web.HTTPSeeOther(f"{MINE}/visitors/{issued.record.pass_id}?new=1")


_REFUSAL_STATUS: dict[type[AccessError], int] = {NotAllowed: 403, Conflict: 409}


def _refusal_words(refused: AccessError) -> str:
    """Why the service refused, in the words it gives residents; a general line for a refusal that has none."""
    if refused.message_zh:
        return f"{refused.message_zh}。"
    if isinstance(refused, NotAllowed):
        return "您的住户状态不允许邀请访客，请联系物业。"
    return "通行码未能生成：所选的门或时间不符合规则，请调整后重试。"


async def _my_pass(request: web.Request, me: Me) -> VisitorPassRecord:
    try:
        record, community_id = await _pages(request).service.visitor_pass(request.match_info["pass_id"])
    except NotFound:
        community_id = None
    if community_id is None or community_id != me.community.community_id:  # another community's: as if none
        raise PageProblem(404, "没有这张访客通行码，链接可能有误。", title="通行码不存在")
    if record.resident_id != me.resident.resident_id:
        raise PageProblem(403, "只有邀请访客的住户本人可以查看这张通行码。", title="不是您的访客")
    return record


@page(*RESIDENTS)
async def pass_page(request: web.Request) -> web.Response:
    service = _pages(request).service
    me = await _me(request)
    record = await _my_pass(request, me)
    view = _pass_view(me, record, _now(request))
    qr = qr_svg(service.pass_text(record), "访客通行二维码") if view.status is PassStatus.ACTIVE else None
    return await _render(request, "access/pass.html", {
        "me": me, "view": view, "qr": qr, "created": request.query.get("new") is not None,
    }, tabs=_resident_tabs(MINE + "/visitors"))


@page(*RESIDENTS)
async def revoke_pass(request: web.Request) -> web.StreamResponse:
    service = _pages(request).service
    me = await _me(request)
    record = await _my_pass(request, me)
    try:
        await service.revoke_pass(record.pass_id, me.resident.resident_id)
    except Conflict:
        raise PageProblem(409, "这张通行码已撤销或已过期，无需再撤销。", title="无法撤销") from None
    raise web.HTTPSeeOther(f"{MINE}/visitors?{urlencode({'revoked': record.pass_id})}")
