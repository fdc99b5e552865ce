"""E-voting on the demo compound of ``smartcity run``: two proposals whose rolls come from the ownership register
(``community.ownership.demo``) — replacing lifts with the maintenance funds, open since an hour ago with some ballots
in already, and a special matter, a change of use of common parts, opening tomorrow at 09:00 (Beijing time) — so that
an owner who signs in finds a live vote and an upcoming one.

:func:`seed_demo_meetings` adds two owners' assembly meetings: one in notice (on the chargers, tomorrow before its vote
opens) and one held, its minutes published (on the lifts); in each an owner appointed a committee member as their proxy
(委托出席), who at the held meeting signed in for them.

Any demo community can have them (the all-in-one demo seeds two): :func:`seed_demo_proposals` takes the community,
whose proposals they become, and ids of its own (``<community>-lifts``, ``<community>-chargers``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime, time, timedelta, timezone

from community.ownership.demo import DEMO_OWNERS
from community.voting.meeting_service import MeetingService
from community.voting.meetings import Meeting, MeetingForm, MeetingKind, ProxyAppointment, signed_units, speaks_for
from community.voting.rules import Matter
from community.voting.service import Accepted, ProposalExists, UnknownProposal, VotingService
from community.voting.tally import Ballot, Capacity, Choice, Proposal, VoterRoll

log = logging.getLogger(__name__)

CREATED_BY = "pm-zhang"
BEIJING = timezone(timedelta(hours=8))  # no daylight saving in China

LIFTS_TEXT = """1、2 栋电梯已运行 19 年，今年共停运 23 次，维保单位建议整机更换。

拟使用专项维修资金 48.6 万元，更换 1 栋、2 栋共 4 部电梯，工期约 60 天，施工期间每栋保留一部电梯运行。
业主名册在投票开始时按产权登记冻结：一人名下多套房屋按一人计，共有房屋由共有人推选的代表投票，开发商未售房屋合计按一人计。"""

CHARGERS_TEXT = """拟将小区东侧约 300 平方米绿地改建为新能源汽车充电车位（共 24 个），由第三方运营，收益归全体业主。

本事项属于改变共有部分用途（民法典第二百七十八条第一款第八项），须经参与表决的专有部分面积四分之三以上、
参与表决人数四分之三以上的业主同意。"""


def demo_proposal_ids(community_id: str) -> tuple[str, str]:
    """The ids of the demo's two proposals in a community: the lift replacement, the chargers."""
    return f"{community_id}-lifts", f"{community_id}-chargers"


LIFTS, COMMON_PARTS = demo_proposal_ids("demo")
"""The demo proposals of the community of the default site, ``demo``."""


async def seed_demo_proposals(voting: VotingService, community_id: str, now: datetime, *,
                              created_by: str = CREATED_BY, demo_owners: Collection[str] = DEMO_OWNERS) -> bool:
    """Create the two demo proposals of `community_id` (its register must have been seeded, see
    ``community.ownership.demo``) unless the community has proposals already; True when created. `created_by`: the
    property manager who opened them; `demo_owners`: the owners who get sign-in accounts, whose units the demo's
    early ballots leave to them."""
    if await voting.proposal_ids(1, [community_id]):
        return False
    lifts_id, chargers_id = demo_proposal_ids(community_id)
    opened = now - timedelta(hours=1)
    lifts = Proposal(lifts_id, Matter.USE_OF_MAINTENANCE_FUNDS, "使用专项维修资金更换 1、2 栋电梯", opened,
                     now + timedelta(days=7))
    tomorrow_nine = datetime.combine(now.astimezone(BEIJING).date() + timedelta(days=1), time(9), BEIJING)
    chargers = Proposal(chargers_id, Matter.USE_OF_COMMON_PARTS, "利用东侧绿地设置新能源汽车充电车位",
                        tomorrow_nine, tomorrow_nine + timedelta(days=7))
    try:
        await voting.register_roll(community_id, opened)
    except ValueError as problem:  # a demo without gates has no units, hence no owners and no roll
        log.warning("demo proposals not created", extra={"community_id": community_id, "problem": str(problem)})
        return False
    # each notice was published the notice period before its opening (SC_VOTING_NOTICE_DAYS), as the law asks
    try:
        await voting.open_proposal_from_register(lifts, community_id, body=LIFTS_TEXT, created_by=created_by,
                                                 now=opened - voting.notice)
    except ProposalExists:
        return False
    await voting.freeze_roll(lifts_id, now)
    await voting.open_proposal_from_register(chargers, community_id, body=CHARGERS_TEXT, created_by=created_by,
                                             now=min(now, tomorrow_nine - voting.notice))
    _, roll = await voting.load(lifts_id)
    for ballot, cast_at in _early_ballots(lifts_id, roll, opened, now, frozenset(demo_owners)):
        outcome = await voting.cast(ballot, cast_at)
        if not isinstance(outcome, Accepted):
            raise RuntimeError(f"demo ballot for {ballot.unit_id} refused: {outcome.refusal.value}")
    return True


def _early_ballots(proposal_id: str, roll: VoterRoll, opened: datetime, now: datetime,
                   demo_owners: frozenset[str]) -> list[tuple[Ballot, datetime]]:
    """About a third of the owner persons voted in the first hour, leaving the demo owners' units to them."""
    choices = (Choice.AGREE, Choice.AGREE, Choice.AGREE, Choice.OPPOSE, Choice.AGREE, Choice.ABSTAIN)
    ballots: list[Ballot] = []
    for index, (person, unit_ids) in enumerate(roll.units_by_person.items()):
        if index % 3 != 1 or not person.owner_ids or person.owner_ids & demo_owners:
            continue  # nobody votes for a unit without a recorded owner; the demo owners vote themselves
        for unit_id in unit_ids:
            unit = roll.units_by_id[unit_id]
            voter = unit.representative_id or min(unit.owner_ids)
            ballots.append(Ballot(proposal_id, unit_id, voter, Capacity.OWNER, choices[index % len(choices)]))
    step = (now - opened) / (len(ballots) + 1)
    return [(ballot, opened + step * (number + 1)) for number, ballot in enumerate(ballots)]


DEMO_MATERIAL = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
                 b"trailer<</Root 1 0 R>>\n%%EOF\n")
"""A minimal PDF standing for the demo's meeting material (a plan the committee scanned)."""
MINUTES_TEXT = """一、会议审议了使用专项维修资金更换 1、2 栋电梯的方案，物业介绍了报价和工期。
二、业主就施工期间保留一部电梯运行、维修资金分摊提出意见，业主委员会答复并记录在案。
三、表决按公告的时间网上与纸质同时进行，结果另行公告。"""


def demo_meeting_ids(community_id: str) -> tuple[str, str]:
    """The ids of the demo's two meetings in a community: one in notice (the chargers), one held (the lifts)."""
    return f"{community_id}-assembly-chargers", f"{community_id}-assembly-lifts"


async def seed_demo_meetings(meetings: MeetingService, community_id: str, now: datetime, *,
                             created_by: str = CREATED_BY, committee: tuple[str, str] = ("committee-1",
                                                                                          "committee-2")) -> bool:
    """Two owners' assembly meetings of `community_id` (its demo proposals must have been seeded): one **in notice**,
    tomorrow at 08:00 before the chargers vote opens, with its material; and one **held** three hours ago on the lifts
    vote, owners signed in, minutes drafted by `committee[0]`, approved by `committee[1]` and published. Each notice
    published the notice period before what it announces, as the law asks. True when created.

    Proxies (委托出席), when `committee[0]` owns a unit of the community (the demo gives them an account): at the
    meeting in notice `committee[1]`, if an owner too, has appointed them for a unit (and may still withdraw it); at
    the held meeting an owner who did not come appointed them, and they signed in for that owner's unit."""
    if await meetings.meeting_ids([community_id], 1):
        return False
    voting = meetings.voting
    lifts_id, chargers_id = demo_proposal_ids(community_id)
    try:
        lifts = (await voting.state(lifts_id, now)).proposal
        chargers = (await voting.state(chargers_id, now)).proposal
    except UnknownProposal:
        return False
    upcoming_id, held_id = demo_meeting_ids(community_id)
    tomorrow_eight = chargers.opens_at - timedelta(hours=1)
    upcoming = Meeting(upcoming_id, community_id, "关于设置新能源汽车充电车位的业主大会会议",
                       MeetingKind.OWNERS_ASSEMBLY, MeetingForm.MIXED, tomorrow_eight,
                       tomorrow_eight + timedelta(minutes=50), "小区会所二楼")
    held_start = now - timedelta(hours=3)
    held = Meeting(held_id, community_id, "关于更换 1、2 栋电梯的业主大会会议", MeetingKind.OWNERS_ASSEMBLY,
                   MeetingForm.ON_SITE, held_start, held_start + timedelta(hours=1), "小区会所二楼")
    for meeting, item, material in ((upcoming, chargers, "充电车位设置方案"), (held, lifts, "电梯更换方案及报价")):
        convened = min(now, meeting.starts_at, item.opens_at) - meetings.notice - timedelta(hours=1)
        await meetings.create(meeting, created_by, convened)
        await meetings.add_item(meeting.meeting_id, item.proposal_id, convened)
        await meetings.add_material(meeting.meeting_id, material, DEMO_MATERIAL, created_by, convened)
        refused = await meetings.publish_notice(meeting.meeting_id, convened)
        if refused is not None:
            raise RuntimeError(f"demo meeting notice refused: {refused}")
    _, roll = await voting.load(lifts_id)
    signers: dict[str, datetime] = {}  # who signs in, when: every other owner person
    for index, (person, _) in enumerate(roll.units_by_person.items()):
        if index % 2 == 0 and person.owner_ids:
            signers.setdefault(min(person.owner_ids), held_start + timedelta(minutes=index % 20))
    proxy = committee[0] if signed_units(roll, committee[0]) else None
    if proxy is not None:
        await _appoint(meetings, upcoming_id, _upcoming_appointment(roll, proxy, committee[1], now))
        await _appoint(meetings, held_id, _held_appointment(roll, proxy, list(signers),
                                                            held_start - timedelta(minutes=30)))
        signers.setdefault(proxy, held_start + timedelta(minutes=25))
    for person_id, signed_at in signers.items():
        await meetings.sign_in(held_id, person_id, signed_at)
    ended = held.ends_at
    await meetings.draft_minutes(held_id, MINUTES_TEXT, committee[0], ended)
    await meetings.approve_minutes(held_id, committee[1], ended + timedelta(minutes=20))
    await meetings.publish_minutes(held_id, committee[1], ended + timedelta(minutes=30))
    return True


def _upcoming_appointment(roll: VoterRoll, proxy: str, owner: str, now: datetime) -> ProxyAppointment | None:
    """`owner` (a demo owner with an account, who may withdraw it on the page) appoints `proxy` for the first unit
    they speak for."""
    units = speaks_for(roll, owner) if owner != proxy else ()
    return ProxyAppointment(units[0].unit_id, proxy, owner, now) if units else None


def _held_appointment(roll: VoterRoll, proxy: str, signers: Sequence[str], at: datetime) -> ProxyAppointment | None:
    """An owner who does not come appoints `proxy`: the first unit with an owner, not the developer's, that nobody
    signing in brings themselves, appointed by who speaks for it."""
    present = {unit_id for person_id in (*signers, proxy) for unit_id in signed_units(roll, person_id)}
    for unit in roll.units:
        if unit.held_by_developer or not unit.owner_ids or unit.unit_id in present:
            continue
        speaker = unit.representative_id or min(unit.owner_ids)
        if speaker not in signers and speaker != proxy:
            return ProxyAppointment(unit.unit_id, proxy, speaker, at)
    return None


async def _appoint(meetings: MeetingService, meeting_id: str, appointment: ProxyAppointment | None) -> None:
    if appointment is None:
        return
    outcome = await meetings.appoint_proxy(meeting_id, appointment.unit_id, appointment.proxy_id,
                                           appointment.granted_by, appointment.granted_at)
    if not isinstance(outcome, ProxyAppointment):  # e.g. the accounts were made before the demo: it goes without
        log.warning("demo meeting without its proxy", extra={"meeting": meeting_id, "refused": outcome.value})
