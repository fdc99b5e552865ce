"""Meetings (会议) of the owners' assembly (业主大会会议) and of the owners' committee (业主委员会会议), as plain values
and the rules they keep; no I/O, no clock (the caller passes `now`).

A meeting has a title, a kind, a form — collective discussion on site, written consultation, online, or mixed (《物业
管理条例》 Art. 12 ¶1: 业主大会会议可以采用集体讨论的形式，也可以采用书面征求意见的形式) —, a time and a place, and an
agenda: each item an Art. 278 matter backed by a proposal of the same community, voted as that proposal is.

Its life: drafted (agenda and materials may change) → the **notice** published, which freezes agenda and materials
and must come at least the notice period before the meeting is held and before any item's voting opens (Art. 14 ¶1,
see :mod:`community.voting.notice`) → the meeting, with **online sign-in** (签到) by owners from two hours before it
until it ends — an owner who cannot come may appoint a **proxy** (委托出席) to sign in for the units they may speak
for, and withdraw the appointment until the proxy has signed in —, attendance counted in units, area and heads as
Art. 278 counts them → **minutes** drafted by a committee member, approved by another, and published once the
meeting has ended; published minutes are never edited.

The notice and the published minutes are entries of the meeting's own hash chain (:mod:`community.voting.
meeting_chain`), the way ballots are entries of a proposal's log.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal, Inexact, Rounded, localcontext
from enum import Enum, StrEnum
from typing import Final

from community.voting.notice import NoticePeriod, NoticeTooShort, notice_refusal
from community.voting.tally import BallotRefusal, Unit, VoterRoll, speaker_refusal

SIGN_IN_EARLY: Final = timedelta(hours=2)
"""Owners sign in from this long before the meeting begins (people arrive early) until it ends."""
MAX_MINUTES_CHARS: Final = 50_000
MAX_ITEMS: Final = 30


class MeetingKind(StrEnum):
    OWNERS_ASSEMBLY = "owners_assembly"
    COMMITTEE = "committee"

    @property
    def label_zh(self) -> str:
        return {MeetingKind.OWNERS_ASSEMBLY: "业主大会会议", MeetingKind.COMMITTEE: "业主委员会会议"}[self]


class MeetingForm(StrEnum):
    ON_SITE = "on_site"
    WRITTEN = "written"
    ONLINE = "online"
    MIXED = "mixed"

    @property
    def label_zh(self) -> str:
        return {MeetingForm.ON_SITE: "现场集体讨论", MeetingForm.WRITTEN: "书面征求意见",
                MeetingForm.ONLINE: "网上会议", MeetingForm.MIXED: "现场与网上结合"}[self]


class MinutesState(StrEnum):
    NONE = "none"
    DRAFT = "draft"
    APPROVED = "approved"
    PUBLISHED = "published"


class MeetingRefusal(Enum):
    """Why a step of a meeting is refused; each with a message in both languages and its HTTP status."""

    NO_MATTER = "no_matter"
    UNKNOWN_PROPOSAL = "unknown_proposal"
    ITEM_EXISTS = "item_exists"
    TOO_MANY_ITEMS = "too_many_items"
    AGENDA_EMPTY = "agenda_empty"
    NOTICE_PUBLISHED = "notice_published"
    NOTICE_NOT_PUBLISHED = "notice_not_published"
    SIGN_IN_CLOSED = "sign_in_closed"
    NOT_AN_OWNER = "not_an_owner"
    ALREADY_SIGNED_IN = "already_signed_in"
    NO_MINUTES = "no_minutes"
    MINUTES_EMPTY = "minutes_empty"
    MINUTES_TOO_LONG = "minutes_too_long"
    MINUTES_APPROVED = "minutes_approved"
    MINUTES_PUBLISHED = "minutes_published"
    MINUTES_NOT_APPROVED = "minutes_not_approved"
    SAME_MEMBER = "same_member"
    MEETING_NOT_ENDED = "meeting_not_ended"
    UNIT_NOT_ON_ROLL = "unit_not_on_roll"
    NOT_OWNER_OF_UNIT = "not_owner_of_unit"
    NOT_REPRESENTATIVE = "not_representative"
    PROXY_IS_SELF = "proxy_is_self"
    UNKNOWN_PROXY = "unknown_proxy"
    PROXY_APPOINTED = "proxy_appointed"
    UNIT_SIGNED_IN = "unit_signed_in"
    APPOINTMENT_CLOSED = "appointment_closed"
    NO_APPOINTMENT = "no_appointment"
    NOT_YOUR_APPOINTMENT = "not_your_appointment"
    PROXY_SIGNED_IN = "proxy_signed_in"
    WITHDRAWAL_CLOSED = "withdrawal_closed"

    @property
    def message_zh(self) -> str:
        return _MESSAGES[self][0]

    @property
    def message_en(self) -> str:
        return _MESSAGES[self][1]

    @property
    def status(self) -> int:
        if self is MeetingRefusal.NO_APPOINTMENT:
            return 404
        return 422 if self in _UNPROCESSABLE else 403 if self in _FORBIDDEN else 409


_UNPROCESSABLE: Final = frozenset({MeetingRefusal.NO_MATTER, MeetingRefusal.UNKNOWN_PROPOSAL,
                                   MeetingRefusal.TOO_MANY_ITEMS, MeetingRefusal.AGENDA_EMPTY,
                                   MeetingRefusal.MINUTES_EMPTY, MeetingRefusal.MINUTES_TOO_LONG,
                                   MeetingRefusal.UNIT_NOT_ON_ROLL, MeetingRefusal.PROXY_IS_SELF,
                                   MeetingRefusal.UNKNOWN_PROXY})
_FORBIDDEN: Final = frozenset({MeetingRefusal.NOT_AN_OWNER, MeetingRefusal.NOT_OWNER_OF_UNIT,
                               MeetingRefusal.NOT_REPRESENTATIVE, MeetingRefusal.NOT_YOUR_APPOINTMENT})
_MESSAGES: Final = {
    MeetingRefusal.NO_MATTER: ("议程事项须对应一项表决（共同决定事项），请选择表决",
                               "an agenda item is a matter backed by a proposal: name the proposal"),
    MeetingRefusal.UNKNOWN_PROPOSAL: ("本小区没有这项表决", "no such proposal in this meeting's community"),
    MeetingRefusal.ITEM_EXISTS: ("这项表决已在议程中", "the proposal is on the agenda already"),
    MeetingRefusal.TOO_MANY_ITEMS: (f"议程最多 {MAX_ITEMS} 项", f"at most {MAX_ITEMS} agenda items"),
    MeetingRefusal.AGENDA_EMPTY: ("议程为空：发布会议通知前请至少列入一项议程",
                                  "the agenda is empty: add an item before publishing the notice"),
    MeetingRefusal.NOTICE_PUBLISHED: ("会议通知已发布，议程和会议材料不能再更改",
                                      "the notice is published: agenda and materials are fixed"),
    MeetingRefusal.NOTICE_NOT_PUBLISHED: ("会议通知尚未发布", "the meeting's notice is not published yet"),
    MeetingRefusal.SIGN_IN_CLOSED: ("现在不在签到时间内（会议开始前两小时至会议结束）",
                                    "sign-in is open from two hours before the meeting until it ends"),
    MeetingRefusal.NOT_AN_OWNER: ("只有本小区产权登记中的业主或业主委托出席的代理人可以签到",
                                  "only owners of the community, or the proxies they appointed, sign in"),
    MeetingRefusal.ALREADY_SIGNED_IN: ("您已签到", "signed in already"),
    MeetingRefusal.NO_MINUTES: ("还没有会议纪要草稿", "no minutes drafted yet"),
    MeetingRefusal.MINUTES_EMPTY: ("请填写会议纪要", "the minutes are empty"),
    MeetingRefusal.MINUTES_TOO_LONG: (f"会议纪要最多 {MAX_MINUTES_CHARS} 字",
                                      f"minutes of at most {MAX_MINUTES_CHARS} characters"),
    MeetingRefusal.MINUTES_APPROVED: ("会议纪要已审核通过，不能再修改", "the minutes are approved: no more edits"),
    MeetingRefusal.MINUTES_PUBLISHED: ("会议纪要已公布，不能再修改", "the minutes are published: never edited"),
    MeetingRefusal.MINUTES_NOT_APPROVED: ("会议纪要须经审核通过后才能公布", "minutes are published once approved"),
    MeetingRefusal.SAME_MEMBER: ("会议纪要须由起草人以外的委员审核", "another member than the drafter approves"),
    MeetingRefusal.MEETING_NOT_ENDED: ("会议结束后才能公布会议纪要", "minutes are published after the meeting"),
    MeetingRefusal.UNIT_NOT_ON_ROLL: ("该专有部分不在本小区的业主名册中", "the unit is not on the community's roll"),
    MeetingRefusal.NOT_OWNER_OF_UNIT: ("您不是该专有部分的业主，不能委托他人出席",
                                       "only an owner of the unit appoints a proxy for it"),
    MeetingRefusal.NOT_REPRESENTATIVE: ("该专有部分为共有，共有人已指定代表人：只有代表人可以委托他人出席",
                                        "the co-owners designated a representative: only they appoint a proxy"),
    MeetingRefusal.PROXY_IS_SELF: ("不能委托自己出席", "one does not appoint oneself as proxy"),
    MeetingRefusal.UNKNOWN_PROXY: ("本小区没有这个住户账号：受托人须是本小区的住户或业主委员会委员",
                                   "no resident's account of this community has that id"),
    MeetingRefusal.PROXY_APPOINTED: ("该专有部分已委托他人出席本次会议", "a proxy is appointed for the unit already"),
    MeetingRefusal.UNIT_SIGNED_IN: ("该专有部分已有人签到，无需再委托出席", "the unit is signed in already"),
    MeetingRefusal.APPOINTMENT_CLOSED: ("会议已结束，签到已截止，不能再委托出席",
                                        "sign-in has closed with the meeting's end: no more proxies"),
    MeetingRefusal.NO_APPOINTMENT: ("该专有部分没有委托他人出席本次会议（或委托已撤回）",
                                    "no proxy is appointed for the unit at this meeting"),
    MeetingRefusal.NOT_YOUR_APPOINTMENT: ("只有委托人本人或现在代表该专有部分的业主可以撤回委托",
                                          "only who appointed the proxy, or who now speaks for the unit, withdraws "
                                          "the appointment"),
    MeetingRefusal.PROXY_SIGNED_IN: ("受托人已签到，委托不能再撤回", "the proxy has signed in: no more withdrawal"),
    MeetingRefusal.WITHDRAWAL_CLOSED: ("会议已结束，签到已截止，委托不能再撤回",
                                       "sign-in has closed with the meeting's end: the appointment stands"),
}


@dataclass(frozen=True)
class Meeting:
    meeting_id: str
    community_id: str
    title: str
    kind: MeetingKind
    form: MeetingForm
    starts_at: datetime
    ends_at: datetime
    place: str

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("meeting times must be timezone-aware")
        if self.ends_at <= self.starts_at:
            raise ValueError("a meeting must end after it begins")

    def sign_in_open(self, now: datetime) -> bool:
        return self.starts_at - SIGN_IN_EARLY <= now < self.ends_at


@dataclass(frozen=True)
class AgendaItem:
    position: int
    proposal_id: str
    title: str
    opens_at: datetime
    """When the item's voting opens (the notice must come the notice period before)."""


@dataclass(frozen=True)
class Minutes:
    text: str
    drafted_by: str
    drafted_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    published_at: datetime | None = None

    @property
    def state(self) -> MinutesState:
        if self.published_at is not None:
            return MinutesState.PUBLISHED
        return MinutesState.APPROVED if self.approved_by is not None else MinutesState.DRAFT


def item_refusal(proposal_id: str | None, on_agenda: Sequence[str], notice_published: bool,
                 found_in_community: bool) -> MeetingRefusal | None:
    """Why an agenda item for `proposal_id` is refused: no matter named, the notice is out, not a proposal of the
    meeting's community (one of another answers as one that does not exist), twice, too many."""
    if notice_published:
        return MeetingRefusal.NOTICE_PUBLISHED
    if not proposal_id:
        return MeetingRefusal.NO_MATTER
    if not found_in_community:
        return MeetingRefusal.UNKNOWN_PROPOSAL
    if proposal_id in on_agenda:
        return MeetingRefusal.ITEM_EXISTS
    if len(on_agenda) >= MAX_ITEMS:
        return MeetingRefusal.TOO_MANY_ITEMS
    return None


def notice_problem(meeting: Meeting, agenda: Sequence[AgendaItem], published_at: datetime,
                   required: timedelta | NoticePeriod) -> MeetingRefusal | NoticeTooShort | None:
    """Why the meeting's notice may not be published at `published_at`: an empty agenda, or a notice shorter than
    `required` (the meeting's community's :class:`NoticePeriod`) before the meeting is held (an owners' assembly) or
    before any item's voting opens — the earliest of those is the one quoted."""
    if not agenda:
        return MeetingRefusal.AGENDA_EMPTY
    held = [item.opens_at for item in agenda]
    if meeting.kind is MeetingKind.OWNERS_ASSEMBLY:
        held.append(meeting.starts_at)
    return notice_refusal(published_at, min(held), required)


def minutes_refusal(meeting: Meeting, minutes: Minutes | None, step: str, member: str,
                    now: datetime) -> MeetingRefusal | None:
    """Why a committee member's `step` on the minutes — ``draft``, ``approve`` or ``publish`` — is refused."""
    state = minutes.state if minutes is not None else MinutesState.NONE
    if state is MinutesState.PUBLISHED:
        return MeetingRefusal.MINUTES_PUBLISHED
    if step == "draft":
        return MeetingRefusal.MINUTES_APPROVED if state is MinutesState.APPROVED else None
    if minutes is None:
        return MeetingRefusal.NO_MINUTES
    if step == "approve":
        if state is MinutesState.APPROVED:
            return MeetingRefusal.MINUTES_APPROVED
        return MeetingRefusal.SAME_MEMBER if member == minutes.drafted_by else None
    if state is not MinutesState.APPROVED:
        return MeetingRefusal.MINUTES_NOT_APPROVED
    return MeetingRefusal.MEETING_NOT_ENDED if now < meeting.ends_at else None


def text_refusal(text: str) -> MeetingRefusal | None:
    if not text.strip():
        return MeetingRefusal.MINUTES_EMPTY
    return MeetingRefusal.MINUTES_TOO_LONG if len(text) > MAX_MINUTES_CHARS else None


@dataclass(frozen=True)
class ProxyAppointment:
    """委托出席: `granted_by`, who may speak for `unit_id` (an owner; of a co-owned unit with a designated
    representative, the representative), lets `proxy_id` — another account of the community — attend one meeting
    for it and sign in for it."""

    unit_id: str
    proxy_id: str
    granted_by: str
    granted_at: datetime


@dataclass(frozen=True)
class ProxyWithdrawal:
    """An appointment withdrawn (撤回委托) by `withdrawn_by` — who made it, or who speaks for the unit now —, kept for
    the record; it counts for nothing."""

    appointment: ProxyAppointment
    withdrawn_by: str
    withdrawn_at: datetime


@dataclass(frozen=True)
class Presence:
    """One sign-in and the units counted through it: the signer's own, and those they attend for as a proxy (unit
    id, the owner who appointed them). A unit an earlier sign-in brought in already is not counted again."""

    person_id: str
    own_units: tuple[str, ...]
    proxy_units: tuple[tuple[str, str], ...]

    @property
    def unit_ids(self) -> tuple[str, ...]:
        return self.own_units + tuple(unit_id for unit_id, _ in self.proxy_units)


@dataclass(frozen=True)
class Attendance:
    """Who signed in, against the roll: units, exclusive area and owner persons (as Art. 278 counts them), and
    each sign-in with the units counted through it."""

    persons: int
    units: int
    area: Decimal
    total_persons: int
    total_units: int
    total_area: Decimal
    proxy_units: int = 0
    """Of `units`, those a proxy signed in for."""
    present: tuple[Presence, ...] = ()


def signed_units(roll: VoterRoll, person_id: str) -> tuple[str, ...]:
    """The units a person signs in for as an owner: those the register lists them as an owner of."""
    return tuple(unit.unit_id for unit in roll.units if person_id in unit.owner_ids)


def speaks_for(roll: VoterRoll, person_id: str) -> tuple[Unit, ...]:
    """The units a person may appoint a proxy for: those they may speak for (:func:`tally.speaker_refusal`, the
    rule ballots and vote delegations keep)."""
    return tuple(unit for unit in roll.units if speaker_refusal(unit, person_id) is None)


def proxy_units(roll: VoterRoll, person_id: str, appointments: Iterable[ProxyAppointment]) -> tuple[str, ...]:
    """The units a person signs in for as a proxy: those appointed to them by someone who (still) speaks for them."""
    found: list[str] = []
    for appointment in appointments:
        unit = roll.unit(appointment.unit_id)
        if appointment.proxy_id == person_id and unit is not None and appointment.unit_id not in found \
                and speaker_refusal(unit, appointment.granted_by) is None:
            found.append(appointment.unit_id)
    return tuple(found)


def sign_in_units(roll: VoterRoll, person_id: str, appointments: Iterable[ProxyAppointment]) -> tuple[str, ...]:
    """The units a person signs in for: their own, then those they attend for as a proxy."""
    own = signed_units(roll, person_id)
    return own + tuple(unit_id for unit_id in proxy_units(roll, person_id, appointments) if unit_id not in own)


def presences(roll: VoterRoll, signed_in: Iterable[str],
              appointments: Iterable[ProxyAppointment] = ()) -> tuple[Presence, ...]:
    """Each sign-in (in the order they came) with the units counted through it: a unit is counted once, through the
    first sign-in that brings it — its owner's, a co-owner's or its proxy's, never twice."""
    appointed = tuple(appointments)
    counted: set[str] = set()
    found: list[Presence] = []
    for person_id in dict.fromkeys(signed_in):
        own = tuple(unit_id for unit_id in signed_units(roll, person_id) if unit_id not in counted)
        counted.update(own)
        by_proxy: list[tuple[str, str]] = []
        for unit_id in proxy_units(roll, person_id, appointed):
            if unit_id not in counted:
                counted.add(unit_id)
                by_proxy.append((unit_id, next(a.granted_by for a in appointed
                                               if a.unit_id == unit_id and a.proxy_id == person_id)))
        found.append(Presence(person_id, own, tuple(by_proxy)))
    return tuple(found)


def present_units(roll: VoterRoll | None, signed_in: Iterable[str],
                  appointments: Iterable[ProxyAppointment] = ()) -> set[str]:
    """The units someone signed in for, by themselves or by proxy (none without a roll)."""
    if roll is None:
        return set()
    return {unit_id for presence in presences(roll, signed_in, appointments) for unit_id in presence.unit_ids}


def attendance(roll: VoterRoll, signed_in: Iterable[str],
               appointments: Iterable[ProxyAppointment] = ()) -> Attendance:
    """Units signed in for — by an owner or by a proxy, each once —, their area, and the owner persons they belong
    to: several units of one owner, one person; a co-owned unit, one person whoever came. A proxy counts as the
    owner they attend for, never as a person of their own: someone attending for two owners brings two persons,
    and an owner who is also a proxy brings themselves through their own units."""
    present = presences(roll, signed_in, appointments)
    unit_ids = {unit_id for presence in present for unit_id in presence.unit_ids}
    units = [unit for unit in roll.units if unit.unit_id in unit_ids]
    with localcontext(Context(prec=100, traps=[Inexact, Rounded])):
        area = sum((unit.area for unit in units), Decimal(0))
    persons = {roll.person_of(unit.unit_id) for unit in units}
    return Attendance(len(persons), len(units), area, roll.total_headcount, len(roll.units), roll.total_area,
                      sum(len(presence.proxy_units) for presence in present), present)


def appointment_refusal(meeting: Meeting, appointment: ProxyAppointment, *, notice_published: bool,
                        roll: VoterRoll | None, appointed: Collection[ProxyAppointment], present: Collection[str],
                        proxy_of_community: bool, now: datetime) -> MeetingRefusal | None:
    """Why `appointment` (arriving at `now`) is refused: before the notice; once sign-in has closed (the meeting
    ended: a proxy appointed afterwards could never sign in); a unit not on the roll (``roll`` None: the register
    gives none); by someone who may not speak for the unit (the rule of :func:`tally.speaker_refusal`); oneself or
    an account that is not a person of the meeting's community (`proxy_of_community`; none such answers alike);
    a unit with a proxy already (one proxy per unit and meeting: never two counted), or `present` already."""
    if not notice_published:
        return MeetingRefusal.NOTICE_NOT_PUBLISHED
    if now >= meeting.ends_at:
        return MeetingRefusal.APPOINTMENT_CLOSED
    unit = roll.unit(appointment.unit_id) if roll is not None else None
    if unit is None:
        return MeetingRefusal.UNIT_NOT_ON_ROLL
    speaker = speaker_refusal(unit, appointment.granted_by)
    if speaker is BallotRefusal.NOT_AN_OWNER:
        return MeetingRefusal.NOT_OWNER_OF_UNIT
    if speaker is not None:
        return MeetingRefusal.NOT_REPRESENTATIVE
    if appointment.proxy_id == appointment.granted_by:
        return MeetingRefusal.PROXY_IS_SELF
    if not proxy_of_community:
        return MeetingRefusal.UNKNOWN_PROXY
    if any(other.unit_id == appointment.unit_id for other in appointed):
        return MeetingRefusal.PROXY_APPOINTED
    if appointment.unit_id in present:
        return MeetingRefusal.UNIT_SIGNED_IN
    return None


def withdrawal_refusal(meeting: Meeting, unit_id: str, by: str, *, appointed: Collection[ProxyAppointment],
                       roll: VoterRoll | None, signed_in: Collection[str], now: datetime) -> MeetingRefusal | None:
    """Why `by`'s withdrawal (at `now`) of the proxy appointed for `unit_id` is refused: no such appointment (none was
    made, or it was withdrawn); `by` neither made it nor speaks for the unit now (:func:`tally.speaker_refusal` on
    `roll`, the rule appointing keeps: a unit sold since has a new owner who may withdraw it); sign-in has closed (the
    meeting ended: attendance stands as it was); or the proxy has signed in (`signed_in`) — whatever order the
    sign-ins came in, their sign-in may be what counts the unit, and a count is never taken back."""
    appointment = next((a for a in appointed if a.unit_id == unit_id), None)
    if appointment is None:
        return MeetingRefusal.NO_APPOINTMENT
    unit = roll.unit(unit_id) if roll is not None else None
    speaks = unit is not None and speaker_refusal(unit, by) is None
    if by != appointment.granted_by and not speaks:
        return MeetingRefusal.NOT_YOUR_APPOINTMENT
    if now >= meeting.ends_at:
        return MeetingRefusal.WITHDRAWAL_CLOSED
    if appointment.proxy_id in signed_in:
        return MeetingRefusal.PROXY_SIGNED_IN
    return None


def next_position(positions: Iterable[int]) -> int:
    """The next agenda item's position (1, 2, …)."""
    return max(positions, default=0) + 1
