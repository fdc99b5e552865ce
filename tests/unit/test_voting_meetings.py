"""The meeting rules as plain values (community/voting/meetings.py): an agenda item needs a matter of the meeting's
community, once, before the notice; the notice comes the notice period before the meeting (an owners' assembly) and
before every item's voting; minutes are drafted, approved by another member, published after the meeting and never
edited after approval or publication; sign-in opens two hours early; attendance counts units, area and persons; a
proxy (委托出席) is appointed by who speaks for a unit, once, until sign-in closes, and counts as the owner who
appointed them, each unit once; the appointment is withdrawn (撤回委托) by who made it or who speaks for the unit
now, until the proxy signs in or sign-in closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from community.voting.meetings import (
    MAX_ITEMS,
    MAX_MINUTES_CHARS,
    SIGN_IN_EARLY,
    AgendaItem,
    Meeting,
    MeetingForm,
    MeetingKind,
    MeetingRefusal,
    Minutes,
    MinutesState,
    Presence,
    ProxyAppointment,
    appointment_refusal,
    attendance,
    item_refusal,
    minutes_refusal,
    next_position,
    notice_problem,
    presences,
    sign_in_units,
    signed_units,
    speaks_for,
    text_refusal,
    withdrawal_refusal,
)
from community.voting.notice import NoticeTooShort
from community.voting.tally import Unit, VoterRoll

STARTS = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
ENDS = STARTS + timedelta(hours=2)
DAY = timedelta(days=1)
FIFTEEN_DAYS = timedelta(days=15)


def meeting(kind: MeetingKind = MeetingKind.OWNERS_ASSEMBLY) -> Meeting:
    return Meeting("m-1", "c1", "2026 年第一次业主大会会议", kind, MeetingForm.MIXED, STARTS, ENDS, "小区会所")


def item(proposal_id: str, opens_at: datetime, position: int = 1) -> AgendaItem:
    return AgendaItem(position, proposal_id, f"表决 {proposal_id}", opens_at)


# --- the agenda -------------------------------------------------------------------------------------------------

FULL_AGENDA = tuple(f"p-{n}" for n in range(MAX_ITEMS))


@pytest.mark.parametrize(("proposal_id", "on_agenda", "notice_published", "found", "expected"), [
    ("p-lifts", (), False, True, None),
    ("p-lifts", ("p-chargers",), False, True, None),
    (None, (), False, False, MeetingRefusal.NO_MATTER),
    ("", (), False, False, MeetingRefusal.NO_MATTER),
    ("p-other-community", (), False, False, MeetingRefusal.UNKNOWN_PROPOSAL),
    ("p-lifts", ("p-lifts",), False, True, MeetingRefusal.ITEM_EXISTS),
    ("p-new", FULL_AGENDA, False, True, MeetingRefusal.TOO_MANY_ITEMS),
    ("p-new", FULL_AGENDA[:-1], False, True, None),
    # once the notice is out nothing is added, whatever else is wrong with the item
    ("p-lifts", (), True, True, MeetingRefusal.NOTICE_PUBLISHED),
    (None, (), True, False, MeetingRefusal.NOTICE_PUBLISHED),
], ids=["first", "second", "none-named", "empty-name", "another-community", "twice", "thirty-first", "thirtieth",
        "after-notice", "nothing-after-notice"])
def test_an_agenda_item_is_a_matter_of_the_community_added_once_before_the_notice(
        proposal_id: str | None, on_agenda: tuple[str, ...], notice_published: bool, found: bool,
        expected: MeetingRefusal | None) -> None:
    assert item_refusal(proposal_id, on_agenda, notice_published, found) is expected


def test_an_item_without_a_matter_is_refused_with_a_reason_to_show() -> None:
    refusal = item_refusal(None, (), False, False)

    assert refusal is MeetingRefusal.NO_MATTER and refusal.status == 422
    assert "表决" in refusal.message_zh and "proposal" in refusal.message_en


@pytest.mark.parametrize("positions, expected", [((), 1), ((1,), 2), ((1, 2, 3), 4), ((2, 5), 6)])
def test_the_next_item_follows_the_last(positions: tuple[int, ...], expected: int) -> None:
    assert next_position(positions) == expected


# --- the notice period ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "opens_after_start", "published_before_start", "required", "quoted_opening"), [
    # an owners' assembly: the meeting itself must have the notice period
    (MeetingKind.OWNERS_ASSEMBLY, DAY, FIFTEEN_DAYS, FIFTEEN_DAYS, None),
    (MeetingKind.OWNERS_ASSEMBLY, DAY, FIFTEEN_DAYS - timedelta(seconds=1), FIFTEEN_DAYS, STARTS),
    (MeetingKind.OWNERS_ASSEMBLY, 20 * DAY, 14 * DAY, FIFTEEN_DAYS, STARTS),
    # an item whose voting opens before the meeting: that opening is the one quoted
    (MeetingKind.OWNERS_ASSEMBLY, -DAY, FIFTEEN_DAYS, FIFTEEN_DAYS, STARTS - DAY),
    (MeetingKind.OWNERS_ASSEMBLY, -DAY, 16 * DAY, FIFTEEN_DAYS, None),
    # a committee meeting: only its items' voting needs the notice
    (MeetingKind.COMMITTEE, 20 * DAY, DAY, FIFTEEN_DAYS, None),
    (MeetingKind.COMMITTEE, 10 * DAY, DAY, FIFTEEN_DAYS, STARTS + 10 * DAY),
    # a community asking more than the law; a test installation asking nothing
    (MeetingKind.OWNERS_ASSEMBLY, DAY, FIFTEEN_DAYS, 20 * DAY, STARTS),
    (MeetingKind.OWNERS_ASSEMBLY, DAY, -DAY, timedelta(0), None),
], ids=["assembly-exactly-15-days", "assembly-a-second-short", "assembly-late-item-later", "item-before-meeting",
        "item-before-meeting-in-time", "committee-in-time", "committee-item-short", "community-asks-more",
        "test-installation"])
def test_the_notice_comes_the_notice_period_before_the_meeting_and_each_items_voting(
        kind: MeetingKind, opens_after_start: timedelta, published_before_start: timedelta, required: timedelta,
        quoted_opening: datetime | None) -> None:
    published_at = STARTS - published_before_start
    problem = notice_problem(meeting(kind), [item("p-1", STARTS + opens_after_start)], published_at, required)

    if quoted_opening is None:
        assert problem is None
    else:
        assert isinstance(problem, NoticeTooShort)
        assert problem.opens_at == quoted_opening and problem.published_at == published_at
        assert problem.required == required
        assert "《物业管理条例》" in problem.message_zh


def test_the_earliest_of_several_items_is_the_one_quoted() -> None:
    agenda = [item("p-late", STARTS + 10 * DAY, 1), item("p-early", STARTS + 2 * DAY, 2)]

    problem = notice_problem(meeting(MeetingKind.COMMITTEE), agenda, STARTS - DAY, FIFTEEN_DAYS)

    assert isinstance(problem, NoticeTooShort) and problem.opens_at == STARTS + 2 * DAY
    assert problem.short_by == FIFTEEN_DAYS - 3 * DAY


def test_a_notice_with_an_empty_agenda_is_refused_before_its_period_is_looked_at() -> None:
    assert notice_problem(meeting(), [], STARTS - 30 * DAY, FIFTEEN_DAYS) is MeetingRefusal.AGENDA_EMPTY
    assert MeetingRefusal.AGENDA_EMPTY.status == 422


# --- the minutes ------------------------------------------------------------------------------------------------

DRAFTED = STARTS + timedelta(minutes=30)
AFTER = ENDS + timedelta(minutes=1)
DRAFT = Minutes("会议纪要", "wei", DRAFTED)
APPROVED = Minutes("会议纪要", "wei", DRAFTED, approved_by="zhou", approved_at=DRAFTED)
PUBLISHED = Minutes("会议纪要", "wei", DRAFTED, approved_by="zhou", approved_at=DRAFTED, published_at=AFTER)


@pytest.mark.parametrize(("minutes", "state"), [
    (DRAFT, MinutesState.DRAFT), (APPROVED, MinutesState.APPROVED), (PUBLISHED, MinutesState.PUBLISHED)])
def test_the_minutes_state_follows_what_was_recorded(minutes: Minutes, state: MinutesState) -> None:
    assert minutes.state is state


@pytest.mark.parametrize(("minutes", "step", "member", "now", "expected"), [
    # drafting: first draft and rewrites while a draft; never after approval or publication
    (None, "draft", "wei", DRAFTED, None),
    (DRAFT, "draft", "wei", DRAFTED, None),
    (DRAFT, "draft", "zhou", DRAFTED, None),
    (APPROVED, "draft", "wei", AFTER, MeetingRefusal.MINUTES_APPROVED),
    (APPROVED, "draft", "zhou", AFTER, MeetingRefusal.MINUTES_APPROVED),
    (PUBLISHED, "draft", "wei", AFTER, MeetingRefusal.MINUTES_PUBLISHED),
    # approving: another member than the drafter, once
    (None, "approve", "zhou", DRAFTED, MeetingRefusal.NO_MINUTES),
    (DRAFT, "approve", "wei", DRAFTED, MeetingRefusal.SAME_MEMBER),
    (DRAFT, "approve", "zhou", DRAFTED, None),
    (APPROVED, "approve", "li", DRAFTED, MeetingRefusal.MINUTES_APPROVED),
    (PUBLISHED, "approve", "li", AFTER, MeetingRefusal.MINUTES_PUBLISHED),
    # publishing: approved, after the meeting ended, once
    (None, "publish", "zhou", AFTER, MeetingRefusal.NO_MINUTES),
    (DRAFT, "publish", "zhou", AFTER, MeetingRefusal.MINUTES_NOT_APPROVED),
    (APPROVED, "publish", "zhou", ENDS - timedelta(seconds=1), MeetingRefusal.MEETING_NOT_ENDED),
    (APPROVED, "publish", "zhou", ENDS, None),
    (APPROVED, "publish", "wei", AFTER, None),
    (PUBLISHED, "publish", "zhou", AFTER, MeetingRefusal.MINUTES_PUBLISHED),
], ids=["first-draft", "rewrite", "another-rewrites", "edit-approved", "other-edits-approved", "edit-published",
        "approve-nothing", "drafter-approves", "other-approves", "approve-twice", "approve-published",
        "publish-nothing", "publish-draft", "publish-before-end", "publish-at-end", "drafter-publishes",
        "publish-twice"])
def test_minutes_are_drafted_approved_by_another_and_published_after_the_meeting(
        minutes: Minutes | None, step: str, member: str, now: datetime, expected: MeetingRefusal | None) -> None:
    assert minutes_refusal(meeting(), minutes, step, member, now) is expected


def test_the_minutes_refusals_are_conflicts_with_reasons_in_both_languages() -> None:
    for refusal in (MeetingRefusal.MINUTES_APPROVED, MeetingRefusal.MINUTES_PUBLISHED, MeetingRefusal.SAME_MEMBER,
                    MeetingRefusal.MINUTES_NOT_APPROVED, MeetingRefusal.MEETING_NOT_ENDED):
        assert refusal.status == 409 and refusal.message_zh and refusal.message_en
    assert "起草人以外" in MeetingRefusal.SAME_MEMBER.message_zh
    assert "不能再修改" in MeetingRefusal.MINUTES_PUBLISHED.message_zh


@pytest.mark.parametrize(("text", "expected"), [
    ("会议纪要", None), ("", MeetingRefusal.MINUTES_EMPTY), ("  \n\t", MeetingRefusal.MINUTES_EMPTY),
    ("纪" * MAX_MINUTES_CHARS, None), ("纪" * (MAX_MINUTES_CHARS + 1), MeetingRefusal.MINUTES_TOO_LONG)])
def test_the_minutes_text_is_neither_empty_nor_too_long(text: str, expected: MeetingRefusal | None) -> None:
    assert text_refusal(text) is expected


# --- the meeting, sign-in and attendance ------------------------------------------------------------------------

def test_a_meeting_has_aware_times_and_ends_after_it_begins() -> None:
    naive = STARTS.replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        Meeting("m", "c1", "t", MeetingKind.COMMITTEE, MeetingForm.ON_SITE, naive, ENDS, "p")
    with pytest.raises(ValueError, match="end after"):
        Meeting("m", "c1", "t", MeetingKind.COMMITTEE, MeetingForm.ON_SITE, STARTS, STARTS, "p")


@pytest.mark.parametrize(("now", "open_"), [
    (STARTS - SIGN_IN_EARLY - timedelta(seconds=1), False), (STARTS - SIGN_IN_EARLY, True), (STARTS, True),
    (ENDS - timedelta(seconds=1), True), (ENDS, False)])
def test_sign_in_opens_two_hours_before_the_meeting_until_it_ends(now: datetime, open_: bool) -> None:
    assert meeting().sign_in_open(now) is open_


ROLL = VoterRoll((
    Unit("b1-101", "1栋101", Decimal("70.00"), frozenset({"wang"})),
    Unit("b1-102", "1栋102", Decimal("80.00"), frozenset({"wang"})),
    Unit("b1-201", "1栋201", Decimal("120.50"), frozenset({"li", "zhao"})),
    Unit("b1-202", "1栋202", Decimal("89.25"), frozenset({"sun"})),
    Unit("b1-301", "1栋301", Decimal("90.25"), frozenset()),
), frozen_at=STARTS - 30 * DAY)


@pytest.mark.parametrize(("signed_in", "persons", "units", "area"), [
    ((), 0, 0, Decimal(0)),
    (("wang",), 1, 2, Decimal("150.00")),  # two units of one owner: one person
    (("li", "zhao"), 1, 1, Decimal("120.50")),  # both co-owners came: one unit, one person
    (("wang", "zhao"), 2, 3, Decimal("270.50")),
    (("wang", "li", "sun", "stranger"), 3, 4, Decimal("359.75")),  # someone off the register counts nothing
])
def test_attendance_counts_units_area_and_persons_as_article_278_does(
        signed_in: tuple[str, ...], persons: int, units: int, area: Decimal) -> None:
    counted = attendance(ROLL, signed_in)

    assert (counted.persons, counted.units, counted.area) == (persons, units, area)
    assert (counted.total_persons, counted.total_units, counted.total_area) == (4, 5, Decimal("450.00"))


@pytest.mark.parametrize(("person", "units"), [
    ("wang", ("b1-101", "b1-102")), ("zhao", ("b1-201",)), ("stranger", ())])
def test_an_owner_signs_in_for_the_units_the_register_lists(person: str, units: tuple[str, ...]) -> None:
    assert signed_units(ROLL, person) == units


# --- proxy attendance (委托出席) ------------------------------------------------------------------------------------

CO_OWNED = VoterRoll((
    *ROLL.units[:2],
    Unit("b1-201", "1栋201", Decimal("120.50"), frozenset({"li", "zhao"}), representative_id="li"),
    *ROLL.units[3:],
), frozen_at=STARTS - 30 * DAY)
"""The roll above, b1-201's co-owners having designated li to speak for it."""


def appointed(unit_id: str, proxy_id: str, granted_by: str) -> ProxyAppointment:
    return ProxyAppointment(unit_id, proxy_id, granted_by, STARTS - DAY)


@pytest.mark.parametrize(("signed_in", "appointments", "persons", "units", "area", "by_proxy"), [
    # sun cannot come; chen, who owns nothing, attends for b1-202: sun counts, chen does not
    (("chen",), (appointed("b1-202", "chen", "sun"),), 1, 1, Decimal("89.25"), 1),
    # a proxy appointed but not signed in brings nothing
    (("wang",), (appointed("b1-202", "chen", "sun"),), 1, 2, Decimal("150.00"), 0),
    # an owner who is also a proxy: their own units and sun's, two persons
    (("wang",), (appointed("b1-202", "wang", "sun"),), 2, 3, Decimal("239.25"), 1),
    # one proxy for two owners: two persons
    (("chen",), (appointed("b1-202", "chen", "sun"), appointed("b1-101", "chen", "wang")), 2, 2,
     Decimal("159.25"), 2),
    # owner and their proxy both came: the unit is counted once (through whoever signed in first)
    (("sun", "chen"), (appointed("b1-202", "chen", "sun"),), 1, 1, Decimal("89.25"), 0),
    (("chen", "sun"), (appointed("b1-202", "chen", "sun"),), 1, 1, Decimal("89.25"), 1),
    # two proxies named for one unit (the store refuses the second; a count never trusts that): once
    (("chen", "ma"), (appointed("b1-202", "chen", "sun"), appointed("b1-202", "ma", "sun")), 1, 1,
     Decimal("89.25"), 1),
    # a co-owner and the other co-owner's proxy: one unit, one person
    (("zhao", "chen"), (appointed("b1-201", "chen", "li"),), 1, 1, Decimal("120.50"), 0),
    # an appointment by someone who does not own the unit counts nothing
    (("chen",), (appointed("b1-202", "chen", "wang"),), 0, 0, Decimal(0), 0),
    # a proxy for a unit the roll does not have counts nothing
    (("chen",), (appointed("b9-999", "chen", "sun"),), 0, 0, Decimal(0), 0),
], ids=["proxy-alone", "proxy-absent", "owner-and-proxy", "proxy-for-two", "owner-first", "proxy-first",
        "two-proxies", "co-owner-and-proxy", "not-the-owners", "off-the-roll"])
def test_a_proxy_brings_the_units_of_the_owner_who_appointed_them_each_unit_once(
        signed_in: tuple[str, ...], appointments: tuple[ProxyAppointment, ...], persons: int, units: int,
        area: Decimal, by_proxy: int) -> None:
    counted = attendance(ROLL, signed_in, appointments)

    assert (counted.persons, counted.units, counted.area, counted.proxy_units) == (persons, units, area, by_proxy)
    every = [unit for presence in counted.present for unit in presence.unit_ids]
    assert len(every) == len(set(every)) == units, "no unit is counted twice"


def test_a_co_owned_units_proxy_counts_only_when_its_representative_appointed_them() -> None:
    by_representative = attendance(CO_OWNED, ["chen"], [appointed("b1-201", "chen", "li")])
    by_other_co_owner = attendance(CO_OWNED, ["chen"], [appointed("b1-201", "chen", "zhao")])

    assert (by_representative.units, by_representative.persons) == (1, 1)
    assert (by_other_co_owner.units, by_other_co_owner.persons) == (0, 0)


def test_the_attendance_list_says_who_signed_in_for_whom() -> None:
    present = presences(ROLL, ["wang", "chen", "sun"],
                        [appointed("b1-202", "chen", "sun"), appointed("b1-201", "chen", "li")])

    assert present == (Presence("wang", ("b1-101", "b1-102"), ()),
                       Presence("chen", (), (("b1-202", "sun"), ("b1-201", "li"))),
                       Presence("sun", (), ()))  # came after their proxy: b1-202 counts once, through chen


@pytest.mark.parametrize(("person", "appointments", "units"), [
    ("wang", (), ("b1-101", "b1-102")),
    ("chen", (appointed("b1-202", "chen", "sun"),), ("b1-202",)),
    ("wang", (appointed("b1-202", "wang", "sun"), appointed("b1-101", "wang", "wang")), ("b1-101", "b1-102",
                                                                                        "b1-202")),
    ("chen", (appointed("b1-202", "chen", "li"),), ()),  # li does not own b1-202
    ("chen", (appointed("b1-202", "ma", "sun"),), ()),  # appointed to someone else
])
def test_one_signs_in_for_ones_own_units_and_those_one_attends_for(
        person: str, appointments: tuple[ProxyAppointment, ...], units: tuple[str, ...]) -> None:
    assert sign_in_units(ROLL, person, appointments) == units


def test_one_appoints_a_proxy_for_the_units_one_speaks_for() -> None:
    assert [unit.unit_id for unit in speaks_for(CO_OWNED, "li")] == ["b1-201"]
    assert speaks_for(CO_OWNED, "zhao") == (), "the representative speaks for the co-owned unit"
    assert [unit.unit_id for unit in speaks_for(ROLL, "zhao")] == ["b1-201"], "no representative: any co-owner"
    assert speaks_for(ROLL, "stranger") == ()


NOTICE_OUT = {"notice_published": True, "roll": CO_OWNED, "appointed": (), "present": (),
              "proxy_of_community": True, "now": STARTS - DAY}


@pytest.mark.parametrize(("appointment", "changes", "expected"), [
    (appointed("b1-202", "chen", "sun"), {}, None),
    (appointed("b1-201", "chen", "li"), {}, None),
    (appointed("b1-202", "chen", "sun"), {"now": ENDS - timedelta(seconds=1)}, None),
    (appointed("b1-202", "chen", "sun"), {"now": STARTS - 10 * DAY}, None),  # long before sign-in opens
    (appointed("b1-202", "chen", "sun"), {"notice_published": False}, MeetingRefusal.NOTICE_NOT_PUBLISHED),
    (appointed("b1-202", "chen", "sun"), {"now": ENDS}, MeetingRefusal.APPOINTMENT_CLOSED),
    (appointed("b9-999", "chen", "sun"), {}, MeetingRefusal.UNIT_NOT_ON_ROLL),
    (appointed("b1-202", "chen", "sun"), {"roll": None}, MeetingRefusal.UNIT_NOT_ON_ROLL),
    (appointed("b1-202", "chen", "wang"), {}, MeetingRefusal.NOT_OWNER_OF_UNIT),
    (appointed("b1-301", "chen", "wang"), {}, MeetingRefusal.NOT_OWNER_OF_UNIT),  # no recorded owner
    (appointed("b1-201", "chen", "zhao"), {}, MeetingRefusal.NOT_REPRESENTATIVE),
    (appointed("b1-202", "sun", "sun"), {}, MeetingRefusal.PROXY_IS_SELF),
    (appointed("b1-202", "chen", "sun"), {"proxy_of_community": False}, MeetingRefusal.UNKNOWN_PROXY),
    (appointed("b1-202", "chen", "sun"), {"appointed": (appointed("b1-202", "ma", "sun"),)},
     MeetingRefusal.PROXY_APPOINTED),
    (appointed("b1-202", "chen", "sun"), {"appointed": (appointed("b1-202", "chen", "sun"),)},
     MeetingRefusal.PROXY_APPOINTED),
    (appointed("b1-202", "chen", "sun"), {"appointed": (appointed("b1-101", "chen", "wang"),)}, None),
    (appointed("b1-202", "chen", "sun"), {"present": {"b1-202"}}, MeetingRefusal.UNIT_SIGNED_IN),
], ids=["owner", "representative", "just-before-the-end", "well-ahead", "before-the-notice", "meeting-ended",
        "unit-off-roll", "no-roll", "not-an-owner", "no-owner-recorded", "not-the-representative", "oneself",
        "not-of-the-community", "another-proxy-holds-it", "twice", "one-proxy-several-units", "signed-in-already"])
def test_a_proxy_is_appointed_by_who_speaks_for_the_unit_once_until_sign_in_closes(
        appointment: ProxyAppointment, changes: dict[str, object], expected: MeetingRefusal | None) -> None:
    arguments = NOTICE_OUT | changes
    assert appointment_refusal(meeting(), appointment, **arguments) is expected  # type: ignore[arg-type]


def test_the_appointments_refusals_say_why_with_the_apis_status() -> None:
    statuses = {MeetingRefusal.UNIT_NOT_ON_ROLL: 422, MeetingRefusal.UNKNOWN_PROXY: 422,
                MeetingRefusal.PROXY_IS_SELF: 422, MeetingRefusal.NOT_OWNER_OF_UNIT: 403,
                MeetingRefusal.NOT_REPRESENTATIVE: 403, MeetingRefusal.PROXY_APPOINTED: 409,
                MeetingRefusal.UNIT_SIGNED_IN: 409, MeetingRefusal.APPOINTMENT_CLOSED: 409}
    for refusal, status in statuses.items():
        assert refusal.status == status and refusal.message_zh and refusal.message_en
    assert "代表人" in MeetingRefusal.NOT_REPRESENTATIVE.message_zh
    assert "本小区" in MeetingRefusal.UNKNOWN_PROXY.message_zh


# --- withdrawing an appointment (撤回委托) -------------------------------------------------------------------------

SOLD = VoterRoll((*CO_OWNED.units[:3], Unit("b1-202", "1栋202", Decimal("89.25"), frozenset({"ma"})),
                  *CO_OWNED.units[4:]), frozen_at=STARTS - DAY)
"""The roll with b1-202 sold by sun to ma after sun appointed chen."""
APPOINTED = (appointed("b1-202", "chen", "sun"), appointed("b1-201", "wei", "li"))
STANDING = {"appointed": APPOINTED, "roll": CO_OWNED, "signed_in": (), "now": STARTS - DAY}


@pytest.mark.parametrize(("unit_id", "by", "changes", "expected"), [
    ("b1-202", "sun", {}, None),
    ("b1-201", "li", {}, None),
    ("b1-202", "sun", {"now": ENDS - timedelta(seconds=1)}, None),
    ("b1-202", "sun", {"now": STARTS, "signed_in": ("wang", "sun")}, None),
    ("b1-202", "sun", {"roll": SOLD}, None),
    ("b1-202", "ma", {"roll": SOLD}, None),
    ("b1-201", "zhao", {"roll": ROLL}, None),
    ("b1-202", "sun", {"roll": None}, None),
    ("b1-101", "wang", {}, MeetingRefusal.NO_APPOINTMENT),
    ("b9-999", "sun", {}, MeetingRefusal.NO_APPOINTMENT),
    ("b1-202", "sun", {"appointed": APPOINTED[1:]}, MeetingRefusal.NO_APPOINTMENT),
    ("b1-201", "zhao", {}, MeetingRefusal.NOT_YOUR_APPOINTMENT),
    ("b1-202", "chen", {}, MeetingRefusal.NOT_YOUR_APPOINTMENT),
    ("b1-202", "wang", {}, MeetingRefusal.NOT_YOUR_APPOINTMENT),
    ("b1-202", "ma", {"roll": None}, MeetingRefusal.NOT_YOUR_APPOINTMENT),
    ("b1-202", "wang", {"now": ENDS}, MeetingRefusal.NOT_YOUR_APPOINTMENT),
    ("b1-202", "sun", {"now": ENDS}, MeetingRefusal.WITHDRAWAL_CLOSED),
    ("b1-202", "sun", {"now": STARTS, "signed_in": ("chen",)}, MeetingRefusal.PROXY_SIGNED_IN),
    ("b1-201", "li", {"now": STARTS, "signed_in": ("zhao", "wei")}, MeetingRefusal.PROXY_SIGNED_IN),
    ("b1-202", "sun", {"now": ENDS, "signed_in": ("chen",)}, MeetingRefusal.WITHDRAWAL_CLOSED),
], ids=["appointer", "representative", "just-before-the-end", "owner-signed-in-not-the-proxy", "appointer-sold-since",
        "new-owner", "co-owner-without-representative", "appointer-no-roll", "none-for-the-unit", "unit-off-roll",
        "withdrawn-already", "not-the-representative", "the-proxy-themselves", "another-owner", "new-owner-no-roll",
        "stranger-after-the-end", "meeting-ended", "proxy-signed-in", "proxy-came-after-a-co-owner",
        "ended-and-signed-in"])
def test_an_appointment_is_withdrawn_by_who_made_it_or_speaks_for_the_unit_until_the_proxy_signs_in(
        unit_id: str, by: str, changes: dict[str, object], expected: MeetingRefusal | None) -> None:
    arguments = STANDING | changes
    assert withdrawal_refusal(meeting(), unit_id, by, **arguments) is expected  # type: ignore[arg-type]


def test_the_withdrawals_refusals_say_why_with_the_apis_status() -> None:
    statuses = {MeetingRefusal.NO_APPOINTMENT: 404, MeetingRefusal.NOT_YOUR_APPOINTMENT: 403,
                MeetingRefusal.PROXY_SIGNED_IN: 409, MeetingRefusal.WITHDRAWAL_CLOSED: 409}
    for refusal, status in statuses.items():
        assert refusal.status == status and refusal.message_zh and refusal.message_en
    assert "撤回" in MeetingRefusal.NOT_YOUR_APPOINTMENT.message_zh
    assert "已签到" in MeetingRefusal.PROXY_SIGNED_IN.message_zh


def test_a_withdrawn_appointment_counts_nothing_and_the_unit_may_be_appointed_again() -> None:
    standing = attendance(ROLL, ["chen"], APPOINTED)
    withdrawn = attendance(ROLL, ["chen"], APPOINTED[1:])

    assert (standing.units, standing.proxy_units, withdrawn.units, withdrawn.proxy_units) == (1, 1, 0, 0)

    def appointing_again(appointments: tuple[ProxyAppointment, ...]) -> MeetingRefusal | None:
        return appointment_refusal(meeting(), appointed("b1-202", "ma", "sun"), notice_published=True, roll=ROLL,
                                   appointed=appointments, present=(), proxy_of_community=True, now=STARTS - DAY)

    assert appointing_again(APPOINTED) is MeetingRefusal.PROXY_APPOINTED
    assert appointing_again(APPOINTED[1:]) is None
