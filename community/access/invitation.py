"""Whether a resident may invite a visitor: the rule an invitation must keep before a pass is signed.

A visitor pass carries only doors and one validity period (`visitor_pass.VisitorPass`): the gate checks the signature,
the period, the door and its count of uses, and nothing of the inviter's own access. So the rule is kept when the
pass is issued: a resident invites

* only while they are an active resident whose own access is valid now (a credential of theirs and an access group
  of theirs with the door, each within its validity period);
* only through doors of their own access groups;
* only for a period during which they themself could enter through every door of the pass, continuously: their
  groups' weekly windows and validity periods and their credentials' validity bound the pass. A pass that would
  start or run outside that is refused, not shortened, and the refusal says until when it could run;
* and only while they hold fewer than `max_active_passes` active passes (unexpired, unrevoked, uses left).

The same bound holds after the pass is issued: when the inviter's groups, windows or credentials change so that they
could no longer enter for the rest of a pass, :func:`pass_outlives_inviter` says so and the platform revokes it.

Refusals are values (:class:`InvitationRefusal`) that say why in English and in Chinese. Nothing here reads a clock:
the caller passes `now`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from community.access.directory import ResidentStatus
from community.access.permissions import SHANGHAI, AccessGroup, Credential, Door, WeeklyWindow
from community.access.visitor_pass import VisitorPass
from community.access.visitors import PassStatus, VisitorPassRecord

Period = tuple[datetime, datetime]
"""A half-open period [start, end) of aware moments."""


class InvitationRefusalKind(StrEnum):
    INVITER_NOT_ACTIVE = "inviter_not_active"
    NOT_YOUR_DOOR = "not_your_door"
    YOUR_ACCESS_NOT_VALID = "your_access_not_valid"
    TOO_MANY_ACTIVE_PASSES = "too_many_active_passes"
    OUTSIDE_YOUR_ACCESS = "outside_your_access"
    PAST_YOUR_ACCESS = "past_your_access"


@dataclass(frozen=True)
class Inviter:
    """A resident as an invitation sees them: their status, their own access groups and credentials, and the passes
    they issued that may still be active (any others are ignored)."""

    resident_id: str
    status: ResidentStatus
    groups: Sequence[AccessGroup]
    credentials: Sequence[Credential]
    passes: Sequence[VisitorPassRecord] = ()


@dataclass(frozen=True)
class InvitationRefusal:
    """Why an invitation is refused; `door`, `at` and `limit` fill in the details the kind needs."""

    kind: InvitationRefusalKind
    door: Door | None = None
    at: datetime | None = None
    limit: int | None = None

    def message_en(self) -> str:
        door, at = _door_id(self.door), _shanghai(self.at)
        match self.kind:
            case InvitationRefusalKind.INVITER_NOT_ACTIVE:
                return "only an active resident may invite visitors"
            case InvitationRefusalKind.NOT_YOUR_DOOR:
                return f"a resident invites only to doors they may open themself, not {door}"
            case InvitationRefusalKind.YOUR_ACCESS_NOT_VALID:
                return f"your own access to {door} is not valid now, so you cannot invite a visitor through it"
            case InvitationRefusalKind.TOO_MANY_ACTIVE_PASSES:
                return (f"you have {self.limit} active visitor passes, the most allowed: revoke one or wait until "
                        "one ends")
            case InvitationRefusalKind.OUTSIDE_YOUR_ACCESS:
                return (f"you could not enter {door} yourself at {at} (Shanghai time): a pass is valid only while "
                        "its inviter could enter")
            case InvitationRefusalKind.PAST_YOUR_ACCESS:
                return (f"you could enter {door} yourself only until {at} (Shanghai time): let the pass end by "
                        "then")

    def message_zh(self, name_of: Callable[[Door], str] | None = None) -> str:
        """In Chinese, naming the door by `name_of` (by its gate and number without it)."""
        door, at = (name_of or _door_id)(self.door) if self.door else "", _shanghai(self.at)
        match self.kind:
            case InvitationRefusalKind.INVITER_NOT_ACTIVE:
                return "您的住户状态不允许邀请访客，请联系物业"
            case InvitationRefusalKind.NOT_YOUR_DOOR:
                return f"只能邀请访客通过您自己可以通行的门，{door}不在其中"
            case InvitationRefusalKind.YOUR_ACCESS_NOT_VALID:
                return f"您本人通过{door}的权限现在无效（已过期或尚未生效），不能邀请访客通过，请联系物业"
            case InvitationRefusalKind.TOO_MANY_ACTIVE_PASSES:
                return f"您已有 {self.limit} 张有效的访客通行码，已达上限，请先撤销一张或等其到期"
            case InvitationRefusalKind.OUTSIDE_YOUR_ACCESS:
                return f"您本人在 {at} 不能通过{door}，访客通行码只能在您自己可以通行的时间内有效"
            case InvitationRefusalKind.PAST_YOUR_ACCESS:
                return f"您本人只能在 {at} 之前通过{door}，请让通行码在此之前结束"


def invitation_refusal(inviter: Inviter, doors: Iterable[Door], valid_from: datetime, valid_to: datetime,
                       now: datetime, *, max_active_passes: int) -> InvitationRefusal | None:
    """Why `inviter` may not invite a visitor through `doors` for [valid_from, valid_to) at `now`; None when they may.

    Checked in order: the inviter is active, every door is one of their groups', their access to every door is valid
    now, they hold fewer than `max_active_passes` active passes, and they could enter through every door throughout
    the pass's period (the first door in order that fails is named).
    """
    wanted = sorted(set(doors))
    refusal = _inviter_refusal(inviter, wanted)
    if refusal is not None:
        return refusal
    for door in wanted:
        if not _access_valid(inviter, door, now):
            return InvitationRefusal(InvitationRefusalKind.YOUR_ACCESS_NOT_VALID, door)
    if active_passes(inviter.passes, now) >= max_active_passes:
        return InvitationRefusal(InvitationRefusalKind.TOO_MANY_ACTIVE_PASSES, limit=max_active_passes)
    return _period_refusal(inviter, wanted, valid_from, valid_to)


def pass_outlives_inviter(inviter: Inviter, visitor_pass: VisitorPass, now: datetime) -> InvitationRefusal | None:
    """Why a pass issued earlier can no longer stand at `now`, or None while it can: its inviter is no longer an
    active resident, a door is no longer theirs, or they could no longer enter through one of its doors for the rest
    of its period — their groups, windows or credentials changed since it was issued. Time passing alone never
    ends a pass the rule allowed: the rest of its period is covered as the whole was."""
    rest_from = max(visitor_pass.valid_from, now)
    if rest_from >= visitor_pass.valid_to:
        return None  # over: the gates refuse it as expired
    wanted = sorted(visitor_pass.doors)
    return _inviter_refusal(inviter, wanted) or _period_refusal(inviter, wanted, rest_from, visitor_pass.valid_to)


def _inviter_refusal(inviter: Inviter, doors: Sequence[Door]) -> InvitationRefusal | None:
    if inviter.status is not ResidentStatus.ACTIVE:
        return InvitationRefusal(InvitationRefusalKind.INVITER_NOT_ACTIVE)
    theirs = {door for group in inviter.groups for door in group.doors}
    for door in doors:
        if door not in theirs:
            return InvitationRefusal(InvitationRefusalKind.NOT_YOUR_DOOR, door)
    return None


def _period_refusal(inviter: Inviter, doors: Sequence[Door], start: datetime,
                    end: datetime) -> InvitationRefusal | None:
    for door in doors:
        until = access_until(inviter.groups, inviter.credentials, door, start, end)
        if until is None:
            return InvitationRefusal(InvitationRefusalKind.OUTSIDE_YOUR_ACCESS, door, start)
        if until < end:
            return InvitationRefusal(InvitationRefusalKind.PAST_YOUR_ACCESS, door, until)
    return None


def active_passes(passes: Iterable[VisitorPassRecord], now: datetime) -> int:
    """How many of `passes` are active at `now`: not expired, not revoked, uses left (not yet started counts)."""
    return sum(1 for record in passes if record.status(now) is PassStatus.ACTIVE)


def access_until(groups: Iterable[AccessGroup], credentials: Iterable[Credential], door: Door, start: datetime,
                 horizon: datetime) -> datetime | None:
    """Until when, from `start`, the holder of `credentials` in `groups` could enter through `door` without a break:
    None when they could not at `start`; never later than `horizon` (as far as the caller needs to look)."""
    for begin, end in access_periods(groups, credentials, door, start, horizon):
        if begin <= start < end:
            return end
    return None


def access_periods(groups: Iterable[AccessGroup], credentials: Iterable[Credential], door: Door, start: datetime,
                   end: datetime) -> list[Period]:
    """The periods within [start, end), merged and in order, during which a resident with `credentials` in `groups`
    could enter through `door`: some group with the door within its validity and one of its weekly windows, and some
    unrevoked credential within its validity (what the gate's own decision asks of them)."""
    opened = _merged(
        period
        for group in groups if door in group.doors
        for window in group.windows
        for occurrence in window_occurrences(window, start, end)
        if (period := _overlap(occurrence, _bounded(group.valid_from, group.valid_to, start, end))) is not None)
    held = _merged(
        period
        for credential in credentials if not credential.revoked
        if (period := _overlap((start, end), _bounded(credential.valid_from, credential.valid_to, start,
                                                       end))) is not None)
    return _intersection(opened, held)


def window_occurrences(window: WeeklyWindow, start: datetime, end: datetime) -> Iterator[Period]:
    """The concrete periods of `window` that overlap [start, end), clipped to it, in order (not merged)."""
    first = start.astimezone(SHANGHAI).date() - timedelta(days=1)  # a window of the day before may run past midnight
    last = end.astimezone(SHANGHAI).date()
    day = first
    while day <= last:
        if day.weekday() in window.days:
            opens = _local(day, window.start)
            closes = _local(day + timedelta(days=1) if window.crosses_midnight else day, window.end)
            period = _overlap((opens, closes), (start, end))
            if period is not None:
                yield period
        day += timedelta(days=1)


def _access_valid(inviter: Inviter, door: Door, now: datetime) -> bool:
    """Whether the inviter's own access to `door` is within its validity at `now` (weekly windows aside)."""
    group_valid = any(door in group.doors and _within(group.valid_from, group.valid_to, now)
                      for group in inviter.groups)
    holds = any(not credential.revoked and _within(credential.valid_from, credential.valid_to, now)
                for credential in inviter.credentials)
    return group_valid and holds


def _within(valid_from: datetime | None, valid_to: datetime | None, at: datetime) -> bool:
    return (valid_from is None or valid_from <= at) and (valid_to is None or at < valid_to)


def _bounded(valid_from: datetime | None, valid_to: datetime | None, start: datetime, end: datetime) -> Period:
    """A validity period with its open ends closed at [start, end)."""
    return (valid_from if valid_from is not None else start, valid_to if valid_to is not None else end)


def _overlap(one: Period, other: Period) -> Period | None:
    begin, end = max(one[0], other[0]), min(one[1], other[1])
    return (begin, end) if begin < end else None


def _merged(periods: Iterable[Period]) -> list[Period]:
    """Periods joined where they overlap or touch (half-open: [a, b) and [b, c) make [a, c)), in order."""
    merged: list[Period] = []
    for begin, end in sorted(periods):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _intersection(one: list[Period], other: list[Period]) -> list[Period]:
    """The moments in both lists of merged, ordered periods."""
    both: list[Period] = []
    i = j = 0
    while i < len(one) and j < len(other):
        period = _overlap(one[i], other[j])
        if period is not None:
            both.append(period)
        if one[i][1] <= other[j][1]:
            i += 1
        else:
            j += 1
    return _merged(both)


def _local(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, SHANGHAI)


def _door_id(door: Door | None) -> str:
    return "" if door is None else f"{door.gate_id}#{door.number}"


def _shanghai(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(SHANGHAI)
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
