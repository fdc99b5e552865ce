"""The rule of an invitation (community.access.invitation): a resident invites only while their own access is valid,
through their own doors, for a period in which they themself could enter, and while they hold fewer active passes
than allowed. Table-driven cases, and properties tying the rule to the gate's own decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from community.access.directory import ResidentStatus
from community.access.invitation import (
    InvitationRefusal,
    InvitationRefusalKind,
    Inviter,
    access_periods,
    access_until,
    invitation_refusal,
    pass_outlives_inviter,
    window_occurrences,
)
from community.access.permissions import (
    ALWAYS,
    AccessGroup,
    Credential,
    CredentialKind,
    Door,
    Granted,
    Resident,
    WeeklyWindow,
    decide,
    effective_whitelist,
)
from community.access.visitor_pass import VisitorPass
from community.access.visitors import VisitorPassRecord

K = InvitationRefusalKind
NOW = datetime(2025, 3, 3, 8, tzinfo=UTC)  # Monday 16:00 in Shanghai
SHANGHAI_OFFSET = timedelta(hours=8)
ENTRANCE, BUILDING, GARAGE, ELSEWHERE = Door("gate-01", 1), Door("gate-02", 1), Door("gate-01", 2), Door("gate-09", 1)
DAYTIME = WeeklyWindow(frozenset(range(7)), time(6), time(23))
WEEKDAY_NIGHTS = WeeklyWindow(frozenset(range(5)), time(22), time(2))  # Mon–Fri 22:00 to 02:00 the next morning
CARD = Credential("c-1", CredentialKind.CARD, "a" * 64, "li")
GROUPS = (
    AccessGroup("entrance", frozenset({ENTRANCE}), (ALWAYS,)),
    AccessGroup("b1", frozenset({BUILDING}), (DAYTIME,)),
    AccessGroup("garage", frozenset({GARAGE}), (ALWAYS,), valid_to=NOW + timedelta(days=30)),
)
LI = Inviter("li", ResidentStatus.ACTIVE, GROUPS, (CARD,))


def at_shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """March `day` 2025 at hour:minute Shanghai wall-clock time, as an aware UTC moment."""
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC) - SHANGHAI_OFFSET


def passes(count: int, *, uses: int = 0, revoked_at: datetime | None = None) -> tuple[VisitorPassRecord, ...]:
    """`count` passes of li's through the entrance, for two uses from NOW for 4 hours."""
    return tuple(
        VisitorPassRecord(VisitorPass(f"vp-{n}", "li", frozenset({ENTRANCE}), NOW, NOW + timedelta(hours=4), 2),
                          f"{n:064x}", NOW, uses=uses, revoked_at=revoked_at)
        for n in range(count))


def li_with(**changes: Any) -> Inviter:
    return replace(LI, **changes)


CASES: list[tuple[str, Inviter, frozenset[Door], datetime, datetime, InvitationRefusal | None]] = [
    ("the building door within li's hours", LI, frozenset({BUILDING}), NOW, at_shanghai(3, 23), None),
    ("the entrance around the clock, past midnight", LI, frozenset({ENTRANCE}), NOW, NOW + timedelta(hours=24),
     None),
    ("the building door past 23:00", LI, frozenset({BUILDING}), NOW, at_shanghai(4, 0),
     InvitationRefusal(K.PAST_YOUR_ACCESS, BUILDING, at_shanghai(3, 23))),
    ("two doors: bounded by the narrower", LI, frozenset({ENTRANCE, BUILDING}), NOW, at_shanghai(4, 0),
     InvitationRefusal(K.PAST_YOUR_ACCESS, BUILDING, at_shanghai(3, 23))),
    ("the building door at night", LI, frozenset({BUILDING}), at_shanghai(3, 23, 30), at_shanghai(4, 1),
     InvitationRefusal(K.OUTSIDE_YOUR_ACCESS, BUILDING, at_shanghai(3, 23, 30))),
    ("the building door tomorrow morning", LI, frozenset({BUILDING}), at_shanghai(4, 6), at_shanghai(4, 10), None),
    ("the garage up to the group's end", LI, frozenset({GARAGE}), NOW + timedelta(days=30, hours=-4),
     NOW + timedelta(days=30), None),
    ("the garage past the group's end", LI, frozenset({GARAGE}), NOW + timedelta(days=30, hours=-4),
     NOW + timedelta(days=30, hours=1), InvitationRefusal(K.PAST_YOUR_ACCESS, GARAGE, NOW + timedelta(days=30))),
    ("someone else's door", LI, frozenset({ENTRANCE, ELSEWHERE}), NOW, NOW + timedelta(hours=1),
     InvitationRefusal(K.NOT_YOUR_DOOR, ELSEWHERE)),
    ("a revoked resident", li_with(status=ResidentStatus.REVOKED), frozenset({ENTRANCE}), NOW,
     NOW + timedelta(hours=1), InvitationRefusal(K.INVITER_NOT_ACTIVE)),
    ("a moved-out resident", li_with(status=ResidentStatus.MOVED_OUT), frozenset({ENTRANCE}), NOW,
     NOW + timedelta(hours=1), InvitationRefusal(K.INVITER_NOT_ACTIVE)),
    ("an expired card, the only one", li_with(credentials=(Credential(
        "c-1", CredentialKind.CARD, "a" * 64, "li", valid_to=NOW),)), frozenset({ENTRANCE}), NOW,
     NOW + timedelta(hours=1), InvitationRefusal(K.YOUR_ACCESS_NOT_VALID, ENTRANCE)),
    ("a revoked card, the only one", li_with(credentials=(Credential(
        "c-1", CredentialKind.CARD, "a" * 64, "li", revoked=True),)), frozenset({ENTRANCE}), NOW,
     NOW + timedelta(hours=1), InvitationRefusal(K.YOUR_ACCESS_NOT_VALID, ENTRANCE)),
    ("no credential at all", li_with(credentials=()), frozenset({ENTRANCE}), NOW, NOW + timedelta(hours=1),
     InvitationRefusal(K.YOUR_ACCESS_NOT_VALID, ENTRANCE)),
    ("a card ending within the pass", li_with(credentials=(Credential(
        "c-1", CredentialKind.CARD, "a" * 64, "li", valid_to=NOW + timedelta(hours=2)),)), frozenset({ENTRANCE}),
     NOW, NOW + timedelta(hours=4), InvitationRefusal(K.PAST_YOUR_ACCESS, ENTRANCE, NOW + timedelta(hours=2))),
    ("a new card taking over from an ending one", li_with(credentials=(
        Credential("c-1", CredentialKind.CARD, "a" * 64, "li", valid_to=NOW + timedelta(hours=2)),
        Credential("c-2", CredentialKind.CARD, "b" * 64, "li", valid_from=NOW + timedelta(hours=2)))),
     frozenset({ENTRANCE}), NOW, NOW + timedelta(hours=4), None),
    ("a group that has ended", LI, frozenset({GARAGE}), NOW + timedelta(days=30), NOW + timedelta(days=30, hours=1),
     InvitationRefusal(K.OUTSIDE_YOUR_ACCESS, GARAGE, NOW + timedelta(days=30))),
    ("two groups' windows joined without a gap", li_with(groups=(
        AccessGroup("day", frozenset({BUILDING}), (DAYTIME,)),
        AccessGroup("late", frozenset({BUILDING}), (WEEKDAY_NIGHTS,)))), frozenset({BUILDING}), NOW,
     at_shanghai(4, 2), None),
    ("a window crossing midnight, then a gap", li_with(groups=(
        AccessGroup("late", frozenset({BUILDING}), (WEEKDAY_NIGHTS,)),)), frozenset({BUILDING}),
     at_shanghai(3, 22), at_shanghai(4, 3), InvitationRefusal(K.PAST_YOUR_ACCESS, BUILDING, at_shanghai(4, 2))),
    ("9 active passes of 10", li_with(passes=passes(9)), frozenset({ENTRANCE}), NOW, NOW + timedelta(hours=1),
     None),
    ("10 active passes of 10", li_with(passes=passes(10)), frozenset({ENTRANCE}), NOW, NOW + timedelta(hours=1),
     InvitationRefusal(K.TOO_MANY_ACTIVE_PASSES, limit=10)),
    ("10 revoked passes", li_with(passes=passes(10, revoked_at=NOW)), frozenset({ENTRANCE}), NOW,
     NOW + timedelta(hours=1), None),
    ("10 spent passes", li_with(passes=passes(10, uses=2)), frozenset({ENTRANCE}), NOW, NOW + timedelta(hours=1),
     None),
]


@pytest.mark.parametrize(("inviter", "doors", "valid_from", "valid_to", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_the_rule_of_an_invitation(inviter: Inviter, doors: frozenset[Door], valid_from: datetime,
                                   valid_to: datetime, expected: InvitationRefusal | None) -> None:
    assert invitation_refusal(inviter, doors, valid_from, valid_to, NOW, max_active_passes=10) == expected


def test_a_pass_not_yet_started_counts_and_an_expired_one_does_not() -> None:
    later = li_with(passes=passes(3))
    assert invitation_refusal(later, {ENTRANCE}, NOW, NOW + timedelta(hours=1), NOW - timedelta(hours=1),
                              max_active_passes=3) == InvitationRefusal(K.TOO_MANY_ACTIVE_PASSES, limit=3)
    assert invitation_refusal(later, {ENTRANCE}, NOW + timedelta(hours=4), NOW + timedelta(hours=5),
                              NOW + timedelta(hours=4), max_active_passes=3) is None


def test_the_refusals_say_why_in_english_and_in_chinese() -> None:
    late = InvitationRefusal(K.PAST_YOUR_ACCESS, BUILDING, at_shanghai(3, 23))
    assert late.message_en() == ("you could enter gate-02#1 yourself only until 2025-03-03 23:00 (Shanghai time): "
                                 "let the pass end by then")
    assert late.message_zh(lambda door: "1栋") == "您本人只能在 2025-03-03 23:00 之前通过1栋，请让通行码在此之前结束"
    full = InvitationRefusal(K.TOO_MANY_ACTIVE_PASSES, limit=10)
    assert "10 active visitor passes" in full.message_en() and "10 张" in full.message_zh()
    for kind in K:
        refusal = InvitationRefusal(kind, BUILDING, NOW, 10)
        assert refusal.message_en() and refusal.message_zh(), kind


EVENING = VisitorPass("vp-e", "li", frozenset({BUILDING}), NOW, at_shanghai(3, 23))
SHORTER_HOURS = (AccessGroup("b1", frozenset({BUILDING}), (WeeklyWindow(frozenset(range(7)), time(6), time(20)),)),)
LATER: list[tuple[str, Inviter, datetime, InvitationRefusal | None]] = [
    ("nothing changed", LI, NOW + timedelta(hours=3), None),
    ("over already", li_with(groups=()), at_shanghai(3, 23), None),
    ("the inviter revoked", li_with(status=ResidentStatus.REVOKED), NOW, InvitationRefusal(K.INVITER_NOT_ACTIVE)),
    ("the inviter taken out of the group", li_with(groups=GROUPS[:1]), NOW,
     InvitationRefusal(K.NOT_YOUR_DOOR, BUILDING)),
    ("the group's hours shortened", li_with(groups=SHORTER_HOURS), NOW,
     InvitationRefusal(K.PAST_YOUR_ACCESS, BUILDING, at_shanghai(3, 20))),
    ("the group's hours shortened, once past them", li_with(groups=SHORTER_HOURS), at_shanghai(3, 21),
     InvitationRefusal(K.OUTSIDE_YOUR_ACCESS, BUILDING, at_shanghai(3, 21))),
    ("the only card revoked", li_with(credentials=(replace(CARD, revoked=True),)), NOW + timedelta(hours=1),
     InvitationRefusal(K.OUTSIDE_YOUR_ACCESS, BUILDING, NOW + timedelta(hours=1))),
]


@pytest.mark.parametrize(("inviter", "now", "expected"), [case[1:] for case in LATER], ids=[c[0] for c in LATER])
def test_a_pass_stands_only_while_its_inviter_could_still_enter_for_the_rest_of_it(
        inviter: Inviter, now: datetime, expected: InvitationRefusal | None) -> None:
    assert pass_outlives_inviter(inviter, EVENING, now) == expected


# --- properties ---------------------------------------------------------------------------------------------------

minutes = st.integers(min_value=0, max_value=24 * 60 - 1).map(lambda m: time(m // 60, m % 60))
windows = st.builds(WeeklyWindow, st.frozensets(st.integers(0, 6), min_size=1), minutes, minutes)
offsets = st.integers(min_value=-3 * 24 * 60, max_value=6 * 24 * 60).map(lambda m: NOW + timedelta(minutes=m))
maybe_moment = st.none() | offsets


@st.composite
def validity(draw: st.DrawFn) -> tuple[datetime | None, datetime | None]:
    start, end = draw(maybe_moment), draw(maybe_moment)
    if start is not None and end is not None and end <= start:
        start, end = end - timedelta(minutes=1), start + timedelta(minutes=1)
    return start, end


@st.composite
def groups(draw: st.DrawFn) -> AccessGroup:
    name = draw(st.sampled_from(["g1", "g2", "g3"]))
    start, end = draw(validity())
    doors = draw(st.frozensets(st.sampled_from([ENTRANCE, BUILDING]), min_size=1))
    return AccessGroup(name, doors, tuple(draw(st.lists(windows, min_size=1, max_size=3))), start, end)


@st.composite
def credentials(draw: st.DrawFn) -> tuple[Credential, ...]:
    made = []
    for n in range(draw(st.integers(1, 3))):
        start, end = draw(validity())
        made.append(Credential(f"c-{n}", CredentialKind.CARD, f"{n:x}" * 64, "li", start, end, draw(st.booleans())))
    return tuple(made)


@st.composite
def inviters(draw: st.DrawFn) -> Inviter:
    chosen = {group.group_id: group for group in draw(st.lists(groups(), min_size=1, max_size=3))}
    return Inviter("li", ResidentStatus.ACTIVE, tuple(chosen.values()), draw(credentials()))


def opens_for_them(inviter: Inviter, door: Door, at: datetime) -> bool:
    """Whether the gate would let the inviter themself in: any of their credentials on the gate's own list."""
    whitelist = effective_whitelist(door.gate_id, inviter.credentials,
                                    [Resident("li", frozenset(group.group_id for group in inviter.groups))],
                                    inviter.groups)
    return any(isinstance(decide(whitelist, credential.value_hash, door.number, at), Granted)
               for credential in inviter.credentials)


@settings(max_examples=300, deadline=None)
@given(inviter=inviters(), start_minutes=st.integers(0, 3 * 24 * 60), length_minutes=st.integers(1, 24 * 60),
       door=st.sampled_from([ENTRANCE, BUILDING]), probes=st.lists(st.floats(0, 1, exclude_max=True), max_size=8))
def test_a_pass_the_rule_allows_opens_only_when_its_inviter_could_enter(
        inviter: Inviter, start_minutes: int, length_minutes: int, door: Door, probes: list[float]) -> None:
    valid_from = NOW + timedelta(minutes=start_minutes)
    valid_to = valid_from + timedelta(minutes=length_minutes)
    refusal = invitation_refusal(inviter, {door}, valid_from, valid_to, NOW, max_active_passes=10)
    if refusal is None:
        span = valid_to - valid_from
        issued = VisitorPass("vp-p", "li", frozenset({door}), valid_from, valid_to)
        for moment in [valid_from, valid_to - timedelta(seconds=1), *(valid_from + span * p for p in probes)]:
            assert moment >= valid_to or opens_for_them(inviter, door, moment), moment  # rounding may reach the end
            assert pass_outlives_inviter(inviter, issued, moment) is None, "time passing alone never ends it"
    elif refusal.kind is K.OUTSIDE_YOUR_ACCESS:
        assert not opens_for_them(inviter, door, valid_from)
    elif refusal.kind is K.PAST_YOUR_ACCESS:
        assert refusal.at is not None and valid_from < refusal.at < valid_to
        assert not opens_for_them(inviter, door, refusal.at)
        assert opens_for_them(inviter, door, refusal.at - timedelta(seconds=1))
        assert invitation_refusal(inviter, {door}, valid_from, refusal.at, NOW, max_active_passes=10) is None, (
            "the end the refusal names is one the rule allows")


@settings(max_examples=300, deadline=None)
@given(window=windows, start=offsets, length_minutes=st.integers(1, 4 * 24 * 60),
       probes=st.lists(st.floats(0, 1, exclude_max=True), max_size=10))
def test_a_windows_occurrences_are_the_moments_it_contains(window: WeeklyWindow, start: datetime,
                                                           length_minutes: int, probes: list[float]) -> None:
    end = start + timedelta(minutes=length_minutes)
    occurrences = list(window_occurrences(window, start, end))
    assert all(start <= begin < finish <= end for begin, finish in occurrences)
    span = end - start
    for moment in [start, end - timedelta(seconds=1), *(start + span * p for p in probes),
                   *(begin for begin, _ in occurrences), *(finish - timedelta(seconds=1) for _, finish in occurrences)]:
        if moment < end:  # a probe's rounding may reach the end
            assert window.contains(moment) == any(begin <= moment < finish for begin, finish in occurrences), moment


@given(inviter=inviters(), start=offsets, length_minutes=st.integers(1, 3 * 24 * 60))
def test_access_periods_are_merged_ordered_and_within_the_span(inviter: Inviter, start: datetime,
                                                               length_minutes: int) -> None:
    end = start + timedelta(minutes=length_minutes)
    periods = access_periods(inviter.groups, inviter.credentials, ENTRANCE, start, end)
    assert all(start <= begin < finish <= end for begin, finish in periods)
    assert all(one[1] < other[0] for one, other in pairwise(periods)), "disjoint, with gaps"
    until = access_until(inviter.groups, inviter.credentials, ENTRANCE, start, end)
    assert until == (periods[0][1] if periods and periods[0][0] == start else None)
