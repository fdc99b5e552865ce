"""E-voting on the demo compound of ``smartcity run``: two proposals whose rolls come from the ownership register
(``community.ownership.demo``) — replacing lifts with the maintenance funds, open since an hour ago with some ballots
in already, and a special matter, a change of use of common parts, opening tomorrow at 09:00 (Beijing time) — so that
an owner who signs in finds a live vote and an upcoming one.

Any demo community can have them (the all-in-one demo seeds two): :func:`seed_demo_proposals` takes the community,
whose proposals they become, and ids of its own (``<community>-lifts``, ``<community>-chargers``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, time, timedelta, timezone

from community.ownership.demo import DEMO_OWNERS
from community.voting.rules import Matter
from community.voting.service import Accepted, ProposalExists, VotingService
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
