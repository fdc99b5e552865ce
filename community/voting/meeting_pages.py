"""The meetings' pages (``/voting/meetings``): the list, the form that convenes a meeting (checked by the API's own
model, :class:`meeting_api.MeetingIn`, with the reason next to each field), a meeting's page — its agenda and the
form that adds an item, its materials and the upload form, the button that publishes the notice (refused with the
rule quoted when too late), online sign-in for owners and their proxies, the form that appoints a proxy (委托出席,
checked by the API's model :class:`meeting_api.ProxyIn`, the reason next to the field) and a "撤回委托" button next
to each appointment the viewer may still withdraw, the attendance with who signed in for whom, the minutes drafted,
approved and published, the votes' log heads the meeting's chain binds —, the meeting's public notice and its
published minutes (each printable on A4), and a material's download.

Scope as every voting page: another community's meeting is "not found", as one that does not exist, and the check
comes before any form is read. Before its notice a meeting is the committee's, the property managers' and the
supervisor's; the supervisor reads and never writes (403). A form answers 303 to the meeting when it succeeds and the
page again with the reason (the API's status) when it does not.
"""

from __future__ import annotations

import hmac
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from multidict import MultiDict, MultiDictProxy

from community.ownership.service import UnknownCommunity
from community.voting.api_common import MANAGERS, SUPERVISED, VOTERS, communities_in_scope
from community.voting.materials import MaterialProblem
from community.voting.meeting_api import MeetingIn, ProxyIn, may_see, new_meeting_id, sees_every_sign_in
from community.voting.meeting_service import MeetingExists, MeetingService, MeetingView, UnknownMeeting
from community.voting.meetings import Meeting, MeetingForm, MeetingKind, MeetingRefusal, MinutesState
from community.voting.notice import RULE_ZH, NoticeTooShort
from community.voting.notice_pages import MEETING_NOTICES, ArchivedNotice
from community.voting.participation import Phase, phase_of
from webkit.auth import CLOCK, PRINCIPAL
from webkit.context_app import ContextApp
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.formatting import SHANGHAI
from webkit.identity import Principal, Role
from webkit.pages import (
    CSRF_FIELD,
    MAX_FIELD_CHARS,
    PageProblem,
    csrf_token,
    form_of,
    page,
    render,
    session_principal,
)

MEETING_SERVICE = web.AppKey("meeting_pages_service", MeetingService)
READERS: Final = (*VOTERS, Role.PROPERTY_MANAGER, *SUPERVISED)
COMMITTEE: Final = (Role.COMMITTEE,)
FIELDS: Final = ("community_id", "title", "kind", "form", "starts_at", "ends_at", "place")
WORDS: Final = FieldWords(
    {"community_id": "小区", "title": "会议名称", "kind": "会议类别", "form": "会议形式", "starts_at": "开始时间",
     "ends_at": "结束时间", "place": "地点"},
    {"community_id": "请从列表中选择您负责的小区", "starts_at": "开始时间的格式应为 2026-12-01 09:00（北京时间）",
     "ends_at": "结束时间的格式应为 2026-12-01 11:00（北京时间）"})
BASE: Final = "/voting/meetings"
MATERIAL_FIELD: Final = "file"
PROXY_WORDS: Final = FieldWords({"unit_id": "专有部分", "proxy_id": "受托人账号"},
                                {"unit_id": "请从列表中选择您的专有部分",
                                 "proxy_id": "受托人账号由字母、数字和 _ . : - 组成，请填写其登录账号"})
PROXY_REFUSAL_FIELD: Final = {
    MeetingRefusal.UNIT_NOT_ON_ROLL: "unit_id", MeetingRefusal.NOT_OWNER_OF_UNIT: "unit_id",
    MeetingRefusal.NOT_REPRESENTATIVE: "unit_id", MeetingRefusal.PROXY_APPOINTED: "unit_id",
    MeetingRefusal.UNIT_SIGNED_IN: "unit_id", MeetingRefusal.PROXY_IS_SELF: "proxy_id",
    MeetingRefusal.UNKNOWN_PROXY: "proxy_id"}
"""The field a refused appointment's reason is shown next to (others: above the form)."""


def add_meeting_pages(pages: ContextApp, meetings: MeetingService) -> None:
    """Serve the meetings' pages from the voting pages' sub-application (before it is attached)."""
    pages.app[MEETING_SERVICE] = meetings
    pages.app[MEETING_NOTICES] = meeting_notices
    one = BASE + "/{meeting_id}"
    pages.add_get(BASE, meeting_list)
    pages.add_get(BASE + "/new", new_meeting_page)
    pages.add_post(BASE + "/new", create_meeting)
    pages.add_get(one, meeting_page)
    pages.add_post(one + "/items", add_item)
    pages.add_post(one + "/materials", add_material)
    pages.add_get(one + "/materials/{material_id}", material_download)
    pages.add_post(one + "/notice", publish_notice)
    pages.add_get(one + "/notice", meeting_notice)
    pages.add_post(one + "/sign-in", sign_in)
    pages.add_post(one + "/proxies", appoint_proxy)
    pages.add_post(one + "/proxies/{unit_id}/withdraw", withdraw_proxy)
    pages.add_post(one + "/minutes", draft_minutes)
    pages.add_post(one + "/minutes/approve", approve_minutes)
    pages.add_post(one + "/minutes/publish", publish_minutes)
    pages.add_get(one + "/minutes", minutes_page)


async def meeting_notices(request: web.Request, principal: Principal) -> list[ArchivedNotice]:
    """The archive's meeting notices and published minutes (notice_pages.MEETING_NOTICES)."""
    service, now = request.app[MEETING_SERVICE], request.config_dict[CLOCK]()
    names = dict(await service.voting.communities(communities_in_scope(principal)))
    found: list[ArchivedNotice] = []
    for meeting_id in await service.meeting_ids(communities_in_scope(principal)):
        view = await service.view(meeting_id, now)
        meeting, minutes = view.meeting, view.minutes
        community = names.get(meeting.community_id, meeting.community_id)
        if view.notice_published_at is not None:
            found.append(ArchivedNotice("会议通知", meeting.title, community, view.notice_published_at,
                                        f"{BASE}/{meeting_id}/notice"))
        if minutes is not None and minutes.published_at is not None:
            found.append(ArchivedNotice("会议纪要", meeting.title, community, minutes.published_at,
                                        f"{BASE}/{meeting_id}/minutes"))
    return found


@dataclass
class Problems:
    """What a form on the meeting page got wrong, by form."""

    item: str | None = None
    material: str | None = None
    notice: str | None = None
    sign_in: str | None = None
    withdraw: str | None = None
    minutes: str | None = None
    minutes_draft: str = ""
    proxy: FormState = field(default_factory=FormState)
    extra: dict[str, Any] = field(default_factory=dict)


async def _view(request: web.Request) -> MeetingView:
    """The meeting in the path, for those who may see it (else the page of a meeting that does not exist)."""
    try:
        view = await request.app[MEETING_SERVICE].view(request.match_info["meeting_id"],
                                                       request.config_dict[CLOCK]())
    except UnknownMeeting:
        raise _no_such_meeting() from None
    if not may_see(request[PRINCIPAL], view):
        raise _no_such_meeting()
    return view


def _no_such_meeting() -> PageProblem:
    return PageProblem(404, "没有这次会议，链接可能有误。", title="会议不存在")


def _phase(view: MeetingView, now: datetime) -> str:
    if view.notice_published_at is None:
        return "draft"
    minutes = view.minutes
    if minutes is not None and minutes.published_at is not None:
        return "minutes_published"
    if now < view.meeting.starts_at:
        return "in_notice"
    return "in_session" if now < view.meeting.ends_at else "ended"


PHASE_WORDS: Final = {"draft": ("", "草稿（通知未发布）"), "in_notice": ("info", "通知期"),
                      "in_session": ("ok", "会议进行中"), "ended": ("warn", "已结束 · 纪要待公布"),
                      "minutes_published": ("ok", "纪要已公布")}


@page(*READERS)
async def meeting_list(request: web.Request) -> web.Response:
    service, principal, now = request.app[MEETING_SERVICE], request[PRINCIPAL], request.config_dict[CLOCK]()
    views = [await service.view(meeting_id, now)
             for meeting_id in await service.meeting_ids(communities_in_scope(principal))]
    rows = [(view, PHASE_WORDS[_phase(view, now)]) for view in views if may_see(principal, view)]
    return await render(request, "voting/meetings.html", {
        "rows": rows, "can_create": principal.has_any(MANAGERS)})


@page(*MANAGERS)
async def new_meeting_page(request: web.Request) -> web.Response:
    communities = await request.app[MEETING_SERVICE].voting.communities(communities_in_scope(request[PRINCIPAL]))
    form = FormState({"community_id": communities[0][0] if len(communities) == 1 else ""})
    return await _render_new(request, form, communities)


async def _render_new(request: web.Request, form: FormState, communities: list[tuple[str, str]],
                      status: int = 200) -> web.Response:
    return await render(request, "voting/meeting_new.html", {
        "form": form, "communities": communities, "kinds": [(k.value, k.label_zh) for k in MeetingKind],
        "forms": [(f.value, f.label_zh) for f in MeetingForm]}, status=status)


@page(*MANAGERS)
async def create_meeting(request: web.Request) -> web.StreamResponse:
    service, principal, now = request.app[MEETING_SERVICE], request[PRINCIPAL], request.config_dict[CLOCK]()
    form = typed(await form_of(request), FIELDS, codes=("community_id", "starts_at", "ends_at"))
    fixed: dict[str, object] = {}
    for name in ("starts_at", "ends_at"):
        moment = local_moment(form.values[name])
        if moment is not None:
            fixed[name] = moment
        elif form.values[name]:
            form.refuse(name, WORDS.patterns[name])
    starts, ends = fixed.get("starts_at"), fixed.get("ends_at")
    if isinstance(starts, datetime) and isinstance(ends, datetime) and ends <= starts:
        form.refuse("ends_at", "结束时间须晚于开始时间")  # the model's own check, said next to the field
    data = checked(MeetingIn, form, WORDS, **fixed)
    communities = await service.voting.communities(communities_in_scope(principal))
    form.problems.pop("", None)  # the model's end-after-start check: said next to the end already
    if data is None or form.failed:
        return await _render_new(request, form, communities, status=400)
    meeting = Meeting(new_meeting_id(now), data.community_id, data.title, data.kind, data.form, data.starts_at,
                      data.ends_at, data.place)
    try:
        await service.create(meeting, principal.subject, now, principal.has_community)
    except UnknownCommunity:  # none such, or not this person's: the same words
        form.refuse("community_id", WORDS.patterns["community_id"])
    except MeetingExists:
        form.general.append("未能保存，请再提交一次。")
    else:
        raise web.HTTPSeeOther(f"{BASE}/{meeting.meeting_id}")
    return await _render_new(request, form, communities, status=422)


@page(*READERS)
async def meeting_page(request: web.Request) -> web.Response:
    return await _render_meeting(request, await _view(request), Problems())


async def _render_meeting(request: web.Request, view: MeetingView, problems: Problems,
                          status: int = 200) -> web.Response:
    service, principal, now = request.app[MEETING_SERVICE], request[PRINCIPAL], request.config_dict[CLOCK]()
    meeting = view.meeting
    draft = view.notice_published_at is None
    candidates: list[tuple[str, str]] = []
    if draft and principal.has_any(MANAGERS):
        on_agenda = {item.proposal_id for item in view.agenda}
        for proposal_id in await service.voting.proposal_ids(200, [meeting.community_id]):
            state = await service.voting.state(proposal_id, now)
            if proposal_id not in on_agenda and phase_of(state.proposal, now, True) is not Phase.CLOSED:
                opens = state.proposal.opens_at.astimezone(SHANGHAI)
                candidates.append((proposal_id, f"{state.proposal.title}（{opens:%Y-%m-%d %H:%M} 开始投票）"))
    signed = {s.person_id for s in view.sign_ins}
    minutes = view.minutes
    is_committee = principal.has_any(COMMITTEE)
    found = await service.attendance(meeting.meeting_id, now) if not draft else None
    me, every = principal.subject, sees_every_sign_in(principal)
    voter_now = principal.has_any(VOTERS) and not draft and now < meeting.ends_at
    appointable = await service.appointable(view, me, now) if voter_now else ()
    withdrawable = await service.withdrawable(view, me, now) if voter_now else ()
    return await render(request, "voting/meeting.html", {
        "view": view, "meeting": meeting, "phase": PHASE_WORDS[_phase(view, now)], "problems": problems,
        "can_manage": principal.has_any(MANAGERS) and draft, "candidates": candidates,
        "can_publish_notice": principal.has_any(MANAGERS) and draft,
        "can_sign_in": principal.has_any(VOTERS) and not draft and meeting.sign_in_open(now)
        and principal.subject not in signed,
        "signed_in": principal.subject in signed,
        "attendance": found, "labels": await service.unit_labels(view, now) if found is not None else {},
        "present_rows": [p for p in (found.present if found else ()) if every or me == p.person_id
                         or me in {by for _, by in p.proxy_units}],
        "proxies": [a for a in view.proxies if every or me in (a.granted_by, a.proxy_id)
                    or a.unit_id in withdrawable],
        "withdrawable": withdrawable,
        "withdrawn": [w for w in view.withdrawn
                      if every or me in (w.appointment.granted_by, w.appointment.proxy_id, w.withdrawn_by)],
        "sees_every_sign_in": every, "me": me,
        "can_appoint": bool(appointable) or problems.proxy.failed,
        "proxy_units": [(unit.unit_id, unit.label) for unit in appointable], "proxy_form": problems.proxy,
        "minutes": minutes, "is_committee": is_committee,
        "minutes_state": minutes.state.value if minutes else MinutesState.NONE.value,
        "can_draft": is_committee and not draft and (minutes is None or minutes.state is MinutesState.DRAFT),
        "max_bytes_mb": service.max_material_bytes // (1024 * 1024),
        "notice_days": (await service.voting.notice_period(meeting.community_id)).days,
        "chain_problems": view.chain_problems, "material_field": MATERIAL_FIELD,
    }, status=status)


def _form_back(view: MeetingView, anchor: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{BASE}/{view.meeting.meeting_id}#{anchor}")


@page(*MANAGERS)
async def add_item(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    proposal_id = (await form_of(request)).get("proposal_id", "").strip()[:64]
    refusal = await request.app[MEETING_SERVICE].add_item(view.meeting.meeting_id, proposal_id or None,
                                                          request.config_dict[CLOCK]())
    if refusal is not None:
        return await _render_meeting(request, view, Problems(item=refusal.message_zh), refusal.status)
    raise _form_back(view, "agenda")


async def add_material(request: web.Request) -> web.StreamResponse:
    """Upload a material: its own guard, as the shared one takes no files — signed in, a manager, the meeting in
    scope (before the body is read), then the multipart body read within bounds, then the CSRF token."""
    principal = await session_principal(request)
    if principal is None:
        raise web.HTTPSeeOther(f"/signin?next={quote(request.path)}")
    if not principal.has_any(MANAGERS):
        raise PageProblem(403, "您没有权限执行此操作。")
    request[PRINCIPAL] = principal
    view = await _view(request)
    service = request.app[MEETING_SERVICE]
    fields, content, chosen = await _upload(request, service.max_material_bytes)
    sent = fields.get(CSRF_FIELD, "")
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token(request).encode()):
        raise PageProblem(403, "表单已失效（可能停留过久或来自其他网站）。请返回上一页，刷新后重新提交。",
                          title="表单已失效")
    if not chosen:
        return await _render_meeting(request, view, Problems(material="请选择要上传的文件"), 400)
    title = fields.get("title", "").strip()[:200] or "会议材料"
    kept = await service.add_material(view.meeting.meeting_id, title, content, principal.subject,
                                      request.config_dict[CLOCK]())
    if isinstance(kept, MaterialProblem):
        status = {MaterialProblem.EMPTY: 422, MaterialProblem.TOO_LARGE: 413, MaterialProblem.NOT_A_DOCUMENT: 415}
        return await _render_meeting(request, view, Problems(material=kept.message_zh(service.max_material_bytes)),
                                     status[kept])
    if isinstance(kept, MeetingRefusal):
        return await _render_meeting(request, view, Problems(material=kept.message_zh), kept.status)
    raise _form_back(view, "materials")


async def _upload(request: web.Request, max_bytes: int) -> tuple[MultiDictProxy[str], bytes, bool]:
    """The form's text fields, its file's first ``max_bytes + 1`` bytes (one more tells it is too large), and
    whether a file was chosen. A body far beyond the limit is refused unread (413)."""
    if not request.content_type.startswith("multipart/"):
        return await form_of(request), b"", False
    if (request.content_length or 0) > 2 * max_bytes + 256 * 1024:
        raise PageProblem(413, "上传的文件太大，请返回上一页换一个较小的文件。", title="文件太大")
    fields: list[tuple[str, str]] = []
    content, chosen = bytearray(), False
    try:
        reader = await request.multipart()
        for _ in range(10):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader) or not part.name:
                raise ValueError("not a form part")
            if part.filename is None:
                raw = await part.read_chunk(MAX_FIELD_CHARS * 4)
                fields.append((part.name, raw.decode("utf-8")[:MAX_FIELD_CHARS]))
                continue
            if part.name != MATERIAL_FIELD or chosen:
                raise ValueError("one file at a time")
            chosen = bool(part.filename)
            while chunk := await part.read_chunk(64 * 1024):
                if len(content) <= max_bytes:
                    content.extend(chunk[:max_bytes + 1 - len(content)])
    except (ValueError, AssertionError, LookupError):
        raise PageProblem(400, "表单内容无法识别，请返回上一页重新提交。") from None
    return MultiDictProxy(MultiDict(fields)), bytes(content), chosen or bool(content)


@page(*READERS)
async def material_download(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    raw = request.match_info["material_id"]
    found = await request.app[MEETING_SERVICE].material(view.meeting.meeting_id, int(raw)) \
        if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
    if found is None:
        raise PageProblem(404, "没有这份会议材料。", title="材料不存在")
    kept, content = found
    extension = kept.file_name.rsplit(".", 1)[1]
    return web.Response(body=content, content_type=kept.media_type, headers={
        "Content-Disposition": f'attachment; filename="meeting-{kept.material_id}.{extension}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@page(*MANAGERS)
async def publish_notice(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    await form_of(request)
    refusal = await request.app[MEETING_SERVICE].publish_notice(view.meeting.meeting_id, request.config_dict[CLOCK]())
    if isinstance(refusal, NoticeTooShort):
        earliest = refusal.earliest_opening.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        words = (f"公告期不足：会议和各项表决须在通知发布 {refusal.required.days} 天以后举行，现在发布则最早 {earliest}"
                 f"（北京时间）。请调整会议或表决时间。{refusal.rule_zh}")
        return await _render_meeting(request, view, Problems(notice=words), 422)
    if refusal is not None:
        return await _render_meeting(request, view, Problems(notice=refusal.message_zh), refusal.status)
    raise _form_back(view, "notice")


@page(*VOTERS)
async def sign_in(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    outcome = await request.app[MEETING_SERVICE].sign_in(view.meeting.meeting_id, request[PRINCIPAL].subject,
                                                         request.config_dict[CLOCK]())
    if isinstance(outcome, MeetingRefusal):
        return await _render_meeting(request, view, Problems(sign_in=outcome.message_zh), outcome.status)
    raise _form_back(view, "attendance")


@page(*VOTERS)
async def appoint_proxy(request: web.Request) -> web.StreamResponse:
    """委托出席: the form checked by the API's model, then by the rules; each reason next to its field."""
    view = await _view(request)
    form = typed(await form_of(request), ("unit_id", "proxy_id"), codes=("unit_id", "proxy_id"))
    data = checked(ProxyIn, form, PROXY_WORDS)
    if data is None:
        return await _render_meeting(request, view, Problems(proxy=form), 400)
    outcome = await request.app[MEETING_SERVICE].appoint_proxy(view.meeting.meeting_id, data.unit_id, data.proxy_id,
                                                               request[PRINCIPAL].subject,
                                                               request.config_dict[CLOCK]())
    if isinstance(outcome, MeetingRefusal):
        name = PROXY_REFUSAL_FIELD.get(outcome)
        if name is None:
            form.general.append(outcome.message_zh)
        else:
            form.refuse(name, outcome.message_zh)
        return await _render_meeting(request, view, Problems(proxy=form), outcome.status)
    raise _form_back(view, "attendance")


@page(*VOTERS)
async def withdraw_proxy(request: web.Request) -> web.StreamResponse:
    """撤回委托: the button next to an appointment; refused with the reason above the list of appointments."""
    view = await _view(request)
    outcome = await request.app[MEETING_SERVICE].withdraw_proxy(view.meeting.meeting_id,
                                                                request.match_info["unit_id"],
                                                                request[PRINCIPAL].subject,
                                                                request.config_dict[CLOCK]())
    if isinstance(outcome, MeetingRefusal):
        return await _render_meeting(request, view, Problems(withdraw=outcome.message_zh), outcome.status)
    raise _form_back(view, "attendance")


@page(*COMMITTEE)
async def draft_minutes(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    text = (await form_of(request)).get("text", "").replace("\r\n", "\n")
    refusal = await request.app[MEETING_SERVICE].draft_minutes(view.meeting.meeting_id, text,
                                                               request[PRINCIPAL].subject,
                                                               request.config_dict[CLOCK]())
    if refusal is not None:
        return await _render_meeting(request, view, Problems(minutes=refusal.message_zh, minutes_draft=text),
                                     refusal.status)
    raise _form_back(view, "minutes")


@page(*COMMITTEE)
async def approve_minutes(request: web.Request) -> web.StreamResponse:
    return await _minutes_step(request, "approve")


@page(*COMMITTEE)
async def publish_minutes(request: web.Request) -> web.StreamResponse:
    return await _minutes_step(request, "publish")


async def _minutes_step(request: web.Request, step: str) -> web.StreamResponse:
    view = await _view(request)
    service, subject, now = request.app[MEETING_SERVICE], request[PRINCIPAL].subject, request.config_dict[CLOCK]()
    refusal = await (service.approve_minutes if step == "approve" else service.publish_minutes)(
        view.meeting.meeting_id, subject, now)
    if refusal is not None:
        return await _render_meeting(request, view, Problems(minutes=refusal.message_zh), refusal.status)
    raise _form_back(view, "minutes")


@page(*READERS)
async def meeting_notice(request: web.Request) -> web.Response:
    view = await _view(request)
    voting = request.app[MEETING_SERVICE].voting
    names = dict(await voting.communities([view.meeting.community_id]))
    period = await voting.notice_period(view.meeting.community_id)
    return await render(request, "voting/meeting_notice.html", {
        "view": view, "meeting": view.meeting, "print": request.query.get("print") == "1",
        "community": names.get(view.meeting.community_id, view.meeting.community_id),
        "rule_zh": f"{period.basis_zh}；{RULE_ZH}" if period.by_community else RULE_ZH, "notice_days": period.days})


@page(*READERS)
async def minutes_page(request: web.Request) -> web.Response:
    view = await _view(request)
    names = dict(await request.app[MEETING_SERVICE].voting.communities([view.meeting.community_id]))
    minutes = view.minutes
    return await render(request, "voting/meeting_minutes.html", {
        "view": view, "meeting": view.meeting, "print": request.query.get("print") == "1",
        "community": names.get(view.meeting.community_id, view.meeting.community_id),
        "minutes": minutes if minutes is not None and minutes.published_at is not None else None,
        "attendance": await request.app[MEETING_SERVICE].attendance(view.meeting.meeting_id,
                                                                    request.config_dict[CLOCK]()),
        "chain_problems": view.chain_problems})


def local_moment(text: str) -> datetime | None:
    """A Beijing wall-clock time from a datetime-local field, as an aware UTC moment; None when it is none."""
    text = unicodedata.normalize("NFKC", text).strip().replace(" ", "T", 1)
    if not text or len(text) > 32:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=SHANGHAI)).astimezone(UTC)
