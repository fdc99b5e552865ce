"""The meetings' API (``/api/voting/meetings``): the committee and property managers convene a meeting, put proposals
of its community on the agenda, keep its materials and publish its notice; owners sign in online, or appoint a proxy
who signs in for them (委托出席) and may withdraw the appointment until the proxy has signed in; the committee
drafts, approves and publishes the minutes. Every refusal is one JSON error with its reason in both languages.

Scope as for proposals: a meeting of a community outside the caller's is answered exactly as a meeting that does not
exist (404, the same body), whatever the caller's roles. Until its notice is published a meeting is the committee's,
the property managers' and the supervisor's to see; residents see it from its notice on. The supervisor reads and
never writes."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from community.ownership.service import UnknownCommunity
from community.voting.api_common import MANAGERS, SUPERVISED, VOTERS, Id, _body, _In, communities_in_scope, in_scope
from community.voting.materials import MaterialProblem
from community.voting.meeting_chain import BoundHead
from community.voting.meeting_service import MeetingExists, MeetingService, MeetingView, UnknownMeeting
from community.voting.meetings import (
    MAX_MINUTES_CHARS,
    Attendance,
    Meeting,
    MeetingForm,
    MeetingKind,
    MeetingRefusal,
    ProxyAppointment,
    ProxyWithdrawal,
)
from community.voting.notice import NoticeTooShort
from webkit.auth import CLOCK, PRINCIPAL
from webkit.identity import Principal, Role
from webkit.json_errors import json_error
from webkit.openapi import Route

MEETINGS = web.AppKey("voting_meetings", MeetingService)
COMMITTEE = (Role.COMMITTEE,)
READERS = (*VOTERS, Role.PROPERTY_MANAGER, *SUPERVISED)
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class MeetingIn(_In):
    meeting_id: Id | None = Field(default=None, description="Made when not given")
    community_id: Id
    title: Title
    kind: MeetingKind
    form: MeetingForm
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    place: Title

    @model_validator(mode="after")
    def _ends_after_start(self) -> MeetingIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("a meeting must end after it begins")
        return self


class ItemIn(_In):
    proposal_id: Id | None = Field(default=None, description="The proposal (Art. 278 matter) the item is voted by")


class ProxyIn(_In):
    unit_id: Id = Field(description="A unit the caller may speak for (an owner; a co-owned unit's representative)")
    proxy_id: Id = Field(description="The account of the community who attends for it")


class MinutesIn(_In):
    text: Annotated[str, StringConstraints(max_length=MAX_MINUTES_CHARS)]


class MeetingOut(BaseModel):
    meeting_id: str
    community_id: str
    title: str
    kind: str
    kind_zh: str
    form: str
    form_zh: str
    starts_at: datetime
    ends_at: datetime
    place: str
    notice_published_at: datetime | None
    agenda: list[dict[str, Any]]
    materials: list[dict[str, Any]]
    minutes: dict[str, Any] | None = Field(description="Draft and approval to the committee; published to all")
    signed_in: int
    chain_length: int
    chain_head: str = Field(description="The meeting's hash chain head: notice, minutes, then a result entry for "
                                        "each vote that closed after the minutes were published")
    chain_intact: bool
    chain: list[dict[str, Any]] = Field(description="The chain's entries: sequence, kind, record, previous and own "
                                                    "hash")


class MeetingsOut(BaseModel):
    meetings: list[MeetingOut]


class AttendanceOut(BaseModel):
    persons: int = Field(description="Owner persons of the units signed in for (a proxy counts as the owner they "
                                     "attend for)")
    units: int
    area_m2: str
    total_persons: int
    total_units: int
    total_area_m2: str
    proxy_units: int = Field(description="Of the units, those a proxy signed in for")
    sign_ins: list[dict[str, Any]] = Field(description="Each sign-in with the units counted through it, its own and "
                                                       "those it attends for as a proxy (for whom): all of them to "
                                                       "the committee, managers and supervisor; a resident's own")
    proxies: list[dict[str, Any]] = Field(description="The proxies appointed (the same visibility)")
    withdrawn: list[dict[str, Any]] = Field(description="The appointments withdrawn, kept for the record and counting "
                                                        "nothing: each with `withdrawn_by` and `withdrawn_at` (the "
                                                        "same visibility)")


def meeting_error(refusal: MeetingRefusal | NoticeTooShort | MaterialProblem,
                  max_bytes: int = 0) -> web.HTTPException:
    if isinstance(refusal, NoticeTooShort):
        return json_error(web.HTTPUnprocessableEntity, refusal.message_en, error_zh=refusal.message_zh,
                          reason="notice_too_short")
    if isinstance(refusal, MaterialProblem):
        if refusal is MaterialProblem.TOO_LARGE:
            return json_error(web.HTTPRequestEntityTooLarge, refusal.message_en(max_bytes),
                              error_zh=refusal.message_zh(max_bytes), reason=refusal.value)
        unsupported = refusal is MaterialProblem.NOT_A_DOCUMENT
        kind = web.HTTPUnsupportedMediaType if unsupported else web.HTTPUnprocessableEntity
        return json_error(kind, refusal.message_en(max_bytes), error_zh=refusal.message_zh(max_bytes),
                          reason=refusal.value)
    kinds: dict[int, type[web.HTTPException]] = {403: web.HTTPForbidden, 404: web.HTTPNotFound,
                                                 409: web.HTTPConflict, 422: web.HTTPUnprocessableEntity}
    return json_error(kinds[refusal.status], refusal.message_en, error_zh=refusal.message_zh, reason=refusal.value)


def may_see(principal: Principal, view: MeetingView) -> bool:
    """In the caller's scope, and — before its notice — the committee's, managers' and supervisor's only."""
    if not in_scope(principal, view.meeting.community_id):
        return False
    return view.notice_published_at is not None or principal.has_any((*MANAGERS, *SUPERVISED))


async def _meeting(request: web.Request) -> MeetingView:
    meeting_id = request.match_info["meeting_id"]
    try:
        view = await request.app[MEETINGS].view(meeting_id, request.config_dict[CLOCK]())
    except UnknownMeeting:
        raise _unknown(meeting_id) from None
    if not may_see(request[PRINCIPAL], view):
        raise _unknown(meeting_id)
    return view


def _unknown(meeting_id: str) -> web.HTTPException:
    return json_error(web.HTTPNotFound, f"no meeting {meeting_id!r}")


def meeting_out(view: MeetingView, principal: Principal) -> MeetingOut:
    meeting, minutes = view.meeting, view.minutes
    minutes_out = None
    if minutes is not None and (minutes.published_at is not None or principal.has_any(COMMITTEE)):
        minutes_out = {"text": minutes.text, "state": minutes.state.value, "drafted_by": minutes.drafted_by,
                       "approved_by": minutes.approved_by, "published_at": minutes.published_at}
    length, head = view.head
    bound = view.bound_heads
    return MeetingOut(
        meeting_id=meeting.meeting_id, community_id=meeting.community_id, title=meeting.title,
        kind=meeting.kind.value, kind_zh=meeting.kind.label_zh, form=meeting.form.value, form_zh=meeting.form.label_zh,
        starts_at=meeting.starts_at, ends_at=meeting.ends_at, place=meeting.place,
        notice_published_at=view.notice_published_at,
        agenda=[{"position": i.position, "proposal_id": i.proposal_id, "title": i.title, "opens_at": i.opens_at,
                 "result_head": _bound(bound.get(i.proposal_id))} for i in view.agenda],
        materials=[{"material_id": m.material_id, "title": m.title, "media_type": m.media_type, "size": m.size,
                    "sha256": m.sha256} for m in view.materials],
        minutes=minutes_out, signed_in=len(view.sign_ins), chain_length=length, chain_head=head,
        chain_intact=not view.chain_problems,
        chain=[{"sequence": e.sequence, "kind": e.kind, "record": dict(e.record), "previous_hash": e.previous_hash,
                "entry_hash": e.entry_hash} for e in view.chain])


def _bound(found: BoundHead | None) -> dict[str, Any] | None:
    """An agenda item's log head as the meeting's chain binds it, and by which entry (null: not bound yet)."""
    if found is None:
        return None
    return {"length": found.length, "head_hash": found.head_hash, "chain_entry": found.sequence,
            "bound_by": found.kind}


def new_meeting_id(now: datetime) -> str:
    return f"m-{now:%Y%m%d}-{secrets.token_hex(4)}"


async def create_meeting(request: web.Request) -> web.Response:
    data: MeetingIn = await _body(request, MeetingIn)
    service, principal, now = request.app[MEETINGS], request[PRINCIPAL], request.config_dict[CLOCK]()
    meeting = Meeting(data.meeting_id or new_meeting_id(now), data.community_id, data.title, data.kind, data.form,
                      data.starts_at, data.ends_at, data.place)
    try:
        await service.create(meeting, principal.subject, now, principal.has_community)
    except UnknownCommunity:
        raise json_error(web.HTTPUnprocessableEntity, f"no community {data.community_id!r}",
                         reason="unknown_community") from None
    except MeetingExists:
        raise json_error(web.HTTPConflict, f"meeting {meeting.meeting_id!r} exists already") from None
    view = await service.view(meeting.meeting_id, now)
    return web.json_response(meeting_out(view, principal).model_dump(mode="json"), status=201)


async def list_meetings(request: web.Request) -> web.Response:
    service, principal, now = request.app[MEETINGS], request[PRINCIPAL], request.config_dict[CLOCK]()
    views = [await service.view(meeting_id, now)
             for meeting_id in await service.meeting_ids(communities_in_scope(principal))]
    return web.json_response(MeetingsOut(meetings=[meeting_out(v, principal) for v in views
                                                   if may_see(principal, v)]).model_dump(mode="json"))


async def get_meeting(request: web.Request) -> web.Response:
    view = await _meeting(request)
    return web.json_response(meeting_out(view, request[PRINCIPAL]).model_dump(mode="json"))


async def add_item(request: web.Request) -> web.Response:
    view = await _meeting(request)
    data: ItemIn = await _body(request, ItemIn)
    refusal = await request.app[MEETINGS].add_item(view.meeting.meeting_id, data.proposal_id,
                                                   request.config_dict[CLOCK]())
    if refusal is not None:
        raise meeting_error(refusal)
    return await _answer(request, view.meeting.meeting_id, 201)


async def add_material(request: web.Request) -> web.Response:
    """The body is the file itself (a PDF, JPEG or PNG by its content); ``?title=`` names it."""
    view = await _meeting(request)
    service = request.app[MEETINGS]
    limit = service.max_material_bytes
    if (request.content_length or 0) > limit:
        raise meeting_error(MaterialProblem.TOO_LARGE, limit)
    content = await request.content.read(limit + 1)
    title = request.query.get("title", "").strip()[:200] or "会议材料"
    kept = await service.add_material(view.meeting.meeting_id, title, content, request[PRINCIPAL].subject,
                                      request.config_dict[CLOCK]())
    if isinstance(kept, MaterialProblem | MeetingRefusal):
        raise meeting_error(kept, limit)
    return web.json_response({"material_id": kept.material_id, "title": kept.title, "media_type": kept.media_type,
                              "size": kept.size, "sha256": kept.sha256}, status=201)


async def get_material(request: web.Request) -> web.Response:
    view = await _meeting(request)
    raw = request.match_info["material_id"]
    found = await request.app[MEETINGS].material(view.meeting.meeting_id, int(raw)) \
        if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
    if found is None:
        raise json_error(web.HTTPNotFound, f"no material {raw!r}")
    kept, content = found
    extension = kept.file_name.rsplit(".", 1)[1]
    return web.Response(body=content, content_type=kept.media_type, headers={
        "Content-Disposition": f'attachment; filename="meeting-{view.meeting.meeting_id}-{kept.material_id}.'
                               f'{extension}"', "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


async def publish_notice(request: web.Request) -> web.Response:
    view = await _meeting(request)
    refusal = await request.app[MEETINGS].publish_notice(view.meeting.meeting_id, request.config_dict[CLOCK]())
    if refusal is not None:
        raise meeting_error(refusal)
    return await _answer(request, view.meeting.meeting_id, 201)


async def sign_in(request: web.Request) -> web.Response:
    view = await _meeting(request)
    outcome = await request.app[MEETINGS].sign_in(view.meeting.meeting_id, request[PRINCIPAL].subject,
                                                  request.config_dict[CLOCK]())
    if isinstance(outcome, MeetingRefusal):
        raise meeting_error(outcome)
    return web.json_response({"unit_ids": list(outcome)}, status=201)


async def appoint_proxy(request: web.Request) -> web.Response:
    view = await _meeting(request)
    data: ProxyIn = await _body(request, ProxyIn)
    outcome = await request.app[MEETINGS].appoint_proxy(view.meeting.meeting_id, data.unit_id, data.proxy_id,
                                                        request[PRINCIPAL].subject, request.config_dict[CLOCK]())
    if isinstance(outcome, MeetingRefusal):
        raise meeting_error(outcome)
    return web.json_response(proxy_out(outcome), status=201)


async def withdraw_proxy(request: web.Request) -> web.Response:
    """撤回委托: no body; the meeting's scope is checked first (another community's answers as an unknown one)."""
    view = await _meeting(request)
    outcome = await request.app[MEETINGS].withdraw_proxy(view.meeting.meeting_id, request.match_info["unit_id"],
                                                         request[PRINCIPAL].subject, request.config_dict[CLOCK]())
    if isinstance(outcome, MeetingRefusal):
        raise meeting_error(outcome)
    return web.json_response(withdrawal_out(outcome))


def proxy_out(appointment: ProxyAppointment) -> dict[str, Any]:
    return {"unit_id": appointment.unit_id, "proxy_id": appointment.proxy_id,
            "granted_by": appointment.granted_by, "granted_at": appointment.granted_at.isoformat()}


def withdrawal_out(withdrawal: ProxyWithdrawal) -> dict[str, Any]:
    return proxy_out(withdrawal.appointment) | {"withdrawn_by": withdrawal.withdrawn_by,
                                                "withdrawn_at": withdrawal.withdrawn_at.isoformat()}


def sees_every_sign_in(principal: Principal) -> bool:
    """The committee, property managers and the supervisor see who signed in and for whom; a resident their own."""
    return principal.has_any((*MANAGERS, *SUPERVISED))


def attendance_out(found: Attendance, appointed: tuple[ProxyAppointment, ...], withdrawn: tuple[ProxyWithdrawal, ...],
                   principal: Principal) -> AttendanceOut:
    every, me = sees_every_sign_in(principal), principal.subject
    sign_ins = [{"person_id": p.person_id, "own_units": list(p.own_units),
                 "proxy_for": [{"unit_id": unit_id, "granted_by": by} for unit_id, by in p.proxy_units]}
                for p in found.present if every or me == p.person_id or me in {by for _, by in p.proxy_units}]
    return AttendanceOut(
        persons=found.persons, units=found.units, area_m2=str(found.area), total_persons=found.total_persons,
        total_units=found.total_units, total_area_m2=str(found.total_area), proxy_units=found.proxy_units,
        sign_ins=sign_ins,
        proxies=[proxy_out(a) for a in appointed if every or me in (a.granted_by, a.proxy_id)],
        withdrawn=[withdrawal_out(w) for w in withdrawn
                   if every or me in (w.appointment.granted_by, w.appointment.proxy_id, w.withdrawn_by)])


async def get_attendance(request: web.Request) -> web.Response:
    view = await _meeting(request)
    found = await request.app[MEETINGS].attendance(view.meeting.meeting_id, request.config_dict[CLOCK]())
    if found is None:
        raise json_error(web.HTTPConflict, "the community's ownership register gives no roll", reason="no_roll")
    answer = attendance_out(found, view.proxies, view.withdrawn, request[PRINCIPAL])
    return web.json_response(answer.model_dump(mode="json"))


async def draft_minutes(request: web.Request) -> web.Response:
    view = await _meeting(request)
    data: MinutesIn = await _body(request, MinutesIn)
    refusal = await request.app[MEETINGS].draft_minutes(view.meeting.meeting_id, data.text,
                                                        request[PRINCIPAL].subject, request.config_dict[CLOCK]())
    if refusal is not None:
        raise meeting_error(refusal)
    return await _answer(request, view.meeting.meeting_id, 200)


async def approve_minutes(request: web.Request) -> web.Response:
    view = await _meeting(request)
    refusal = await request.app[MEETINGS].approve_minutes(view.meeting.meeting_id, request[PRINCIPAL].subject,
                                                          request.config_dict[CLOCK]())
    if refusal is not None:
        raise meeting_error(refusal)
    return await _answer(request, view.meeting.meeting_id, 200)


async def publish_minutes(request: web.Request) -> web.Response:
    view = await _meeting(request)
    refusal = await request.app[MEETINGS].publish_minutes(view.meeting.meeting_id, request[PRINCIPAL].subject,
                                                          request.config_dict[CLOCK]())
    if refusal is not None:
        raise meeting_error(refusal)
    return await _answer(request, view.meeting.meeting_id, 201)


async def _answer(request: web.Request, meeting_id: str, status: int) -> web.Response:
    view = await request.app[MEETINGS].view(meeting_id, request.config_dict[CLOCK]())
    return web.json_response(meeting_out(view, request[PRINCIPAL]).model_dump(mode="json"), status=status)


M = "/api/voting/meetings/{meeting_id}"
MEETING_ROUTES = [
    Route("POST", "/api/voting/meetings", create_meeting, "Convene a meeting of a community (owners' assembly or "
          "committee): title, kind, form, time and place", MeetingIn, MeetingOut, 201, MANAGERS, (400, 409, 422)),
    Route("GET", "/api/voting/meetings", list_meetings, "The meetings of the caller's communities (residents: those "
          "whose notice is published)", None, MeetingsOut, 200, READERS, ()),
    Route("GET", M, get_meeting, "A meeting: agenda, materials, notice, minutes, chain head", None, MeetingOut, 200,
          READERS, (404,)),
    Route("POST", M + "/items", add_item, "Put a proposal of the meeting's community on the agenda (before the "
          "notice; 422 no_matter without one)", ItemIn, MeetingOut, 201, MANAGERS, (400, 404, 409, 422)),
    Route("POST", M + "/materials", add_material, "Keep a material: the body is the file (PDF, JPEG or PNG by its "
          "content), ?title= names it; before the notice (413 too large, 415 no document, 422 empty)", None, None,
          201, MANAGERS, (404, 409, 413, 415, 422)),
    Route("GET", M + "/materials/{material_id}", get_material, "A material as a download", None, None, 200,
          READERS, (404,)),
    Route("POST", M + "/notice", publish_notice, "Publish the notice: agenda and materials frozen, entry 1 of the "
          "meeting's chain; 422 notice_too_short with the rule quoted", None, MeetingOut, 201, MANAGERS,
          (404, 409, 422)),
    Route("POST", M + "/sign-in", sign_in, "An owner, or a proxy an owner appointed, signs in online (two hours "
          "before the meeting until it ends) for their own units and those they attend for", None, None, 201, VOTERS,
          (403, 404, 409)),
    Route("POST", M + "/proxies", appoint_proxy, "Appoint a proxy to attend for a unit one may speak for (委托出席): "
          "another account of the community, until sign-in closes; one per unit (403 not_owner_of_unit / "
          "not_representative, 409 proxy_appointed / unit_signed_in / appointment_closed, 422 unit_not_on_roll / "
          "unknown_proxy / proxy_is_self)", ProxyIn, None, 201, VOTERS, (400, 403, 404, 409, 422)),
    Route("POST", M + "/proxies/{unit_id}/withdraw", withdraw_proxy, "Withdraw the proxy appointed for a unit "
          "(撤回委托): who appointed them, or who speaks for the unit now, until the proxy signs in or sign-in "
          "closes; the unit may be appointed for again (403 not_your_appointment, 404 no_appointment, 409 "
          "proxy_signed_in / withdrawal_closed)", None, None, 200, VOTERS, (403, 404, 409)),
    Route("GET", M + "/attendance", get_attendance, "Attendance: persons, units and area signed in (by owners and "
          "proxies, each unit once), of the roll; who signed in for whom", None, AttendanceOut, 200, READERS,
          (404, 409)),
    Route("PUT", M + "/minutes", draft_minutes, "Draft (or redraft) the minutes; 409 once approved or published",
          MinutesIn, MeetingOut, 200, COMMITTEE, (400, 404, 409, 422)),
    Route("POST", M + "/minutes/approve", approve_minutes, "Approve the minutes (another member than the drafter)",
          None, MeetingOut, 200, COMMITTEE, (404, 409)),
    Route("POST", M + "/minutes/publish", publish_minutes, "Publish approved minutes after the meeting: entry 2 of "
          "the meeting's chain, with the agenda's published log heads (a vote closing later appends a result entry "
          "with its final head)", None, MeetingOut, 201, COMMITTEE,
          (404, 409)),
]
