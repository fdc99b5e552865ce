"""A demo compound for the page tests: the worked example of docs/voting.md (ten units, 950 m²,
seven owner persons) with the demo accounts' ids as owners, three proposals (open, upcoming,
closed with a published election), ballots cast over several days, and a moderated deliberation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from community.voting.rules import Matter
from community.voting.service import Accepted, VotingService
from community.voting.tally import Approvals, Ballot, Capacity, Choice, Delegation, Election, Proposal, Unit, VoterRoll

OPENS = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
CLOSES = OPENS + timedelta(days=7, hours=9)  # 12-08 18:00 in Shanghai
NOTICE = timedelta(days=15)
"""Each proposal's notice was published the legal notice period before its opening (or earlier)."""
DURING = OPENS + timedelta(days=4, hours=11)  # 12-05 20:00 in Shanghai
AFTER = CLOSES + timedelta(hours=2)
DEVELOPER = "dev-hengda"
COMMUNITY = "hehua"
"""The compound's community: the demo accounts' scope (the site's conftest assigns it)."""

LIFTS = "p-lifts-2026"
CHARGERS = "p-chargers-2027"
COMMITTEE = "p-committee-2026"


def roll(frozen_at: datetime) -> VoterRoll:
    return VoterRoll((
        Unit("1-101", "1栋101", Decimal("89.37"), frozenset({"wang"})),
        Unit("1-102", "1栋102", Decimal("60.63"), frozenset({"wang"})),
        Unit("1-201", "1栋201", Decimal("120.50"), frozenset({"li", "zhao"}), representative_id="li"),
        Unit("1-202", "1栋202", Decimal("95.00"), frozenset({"zhao"})),
        Unit("2-101", "2栋101", Decimal("110.00"), frozenset({"chen"})),
        Unit("2-102", "2栋102", Decimal("110.00"), frozenset({"liu"})),
        Unit("2-201", "2栋201", Decimal("85.00"), frozenset({"sun"})),
        Unit("3-101", "3栋101", Decimal("100.00"), frozenset({DEVELOPER}), held_by_developer=True),
        Unit("3-102", "3栋102", Decimal("100.00"), frozenset({DEVELOPER}), held_by_developer=True),
        Unit("3-201", "3栋201", Decimal("79.50"), frozenset({DEVELOPER}), held_by_developer=True),
    ), frozen_at)


LIFTS_TEXT = """1、2 栋电梯已运行 19 年，今年共停运 23 次，维保单位建议整机更换。

拟使用专项维修资金 48.6 万元，更换 1 栋、2 栋共 4 部电梯，工期约 60 天，施工期间每栋保留一部电梯运行。
业主委员会已向三家电梯公司询价，报价对比见附件。"""


@dataclass(frozen=True)
class Seeded:
    lifts_comment_ids: tuple[int, ...]


async def seed_compound(service: VotingService) -> Seeded:
    """The three proposals, with everything that happened before the tests' "now" (DURING)."""
    frozen = OPENS - timedelta(days=1)
    await service.open_proposal(
        Proposal(LIFTS, Matter.USE_OF_MAINTENANCE_FUNDS, "使用维修资金更换 1、2 栋电梯", OPENS, CLOSES),
        roll(frozen), body=LIFTS_TEXT, created_by="pm-zhang", community_id=COMMUNITY, now=OPENS - NOTICE,
        attachments=[{"title": "三家电梯公司报价对比（PDF）", "ref": "https://files.example/lifts/quotes-2026.pdf",
                      "sha256": "5d41402abc4b2a76b9719d911017c592" * 2}])
    await service.record_delegation(Delegation("wang", "sun", LIFTS, "2-201"), frozen)
    for unit_id, voter, choice, hours in (
        ("1-201", "li", Choice.AGREE, 2), ("2-101", "chen", Choice.AGREE, 5), ("1-202", "zhao", Choice.OPPOSE, 26),
        ("3-101", DEVELOPER, Choice.AGREE, 30), ("3-102", DEVELOPER, Choice.AGREE, 30.1),
        ("3-201", DEVELOPER, Choice.AGREE, 30.2), ("2-102", "liu", Choice.ABSTAIN, 75),
    ):
        ballot = Ballot(LIFTS, unit_id, voter, Capacity.OWNER, choice)
        outcome = await service.cast(ballot, OPENS + timedelta(hours=hours))
        assert isinstance(outcome, Accepted), outcome
    comments = []
    for author, text, hours in (
        ("chen", "电梯经常停在半层，老人上下楼很不方便，赞成尽快更换。", 3),
        ("li", "补充说明：三家报价中最低的一家含 5 年免费维保，业委会倾向选择这家。", 6),
        ("liu", "低价装修、二手房急售，请联系 138xxxx（广告）", 20),
        ("zhao", "施工 60 天太长了，能否分两期进行，避免同时停两部电梯？", 27),
    ):
        comment = await service.post_comment(LIFTS, author, text, OPENS + timedelta(hours=hours))
        comments.append(comment.comment_id)  # type: ignore[union-attr]
    await service.hide_comment(LIFTS, comments[2], "li", "与议题无关的广告")

    await service.open_proposal(
        Proposal(CHARGERS, Matter.USE_OF_COMMON_PARTS, "利用地面停车区设置 12 个电动车充电桩",
                 CLOSES + timedelta(days=20), CLOSES + timedelta(days=34)),
        roll(frozen), body="由物业引入充电运营商，收益的 60% 计入公共收益。", created_by="pm-zhang",
        community_id=COMMUNITY, now=frozen)

    past_opens = OPENS - timedelta(days=60)
    await service.open_proposal(
        Proposal(COMMITTEE, Matter.OWNERS_COMMITTEE, "第二届业主委员会选举", past_opens,
                 past_opens + timedelta(days=10), Election(("李明", "赵丽", "孙强", "周洁"), 3)),
        roll(past_opens - timedelta(days=1)), body="应选委员 3 名，每户最多同意 3 名候选人。", created_by="pm-zhang",
        community_id=COMMUNITY, now=past_opens - NOTICE)
    for unit_id, voter, approved in (
        ("1-101", "wang", {"李明", "赵丽", "周洁"}), ("1-102", "wang", {"李明", "赵丽", "周洁"}),
        ("1-201", "li", {"李明", "赵丽"}), ("1-202", "zhao", {"赵丽", "孙强"}), ("2-101", "chen", {"李明", "周洁"}),
        ("2-102", "liu", {"李明", "孙强"}), ("3-101", DEVELOPER, {"李明", "赵丽"}),
        ("3-102", DEVELOPER, {"李明", "赵丽"}), ("3-201", DEVELOPER, {"李明", "赵丽"}),
    ):
        outcome = await service.cast(Ballot(COMMITTEE, unit_id, voter, Capacity.OWNER, Approvals(frozenset(approved))),
                                     past_opens + timedelta(days=2))
        assert isinstance(outcome, Accepted), outcome
    await service.close(COMMITTEE, past_opens + timedelta(days=11), "li")
    return Seeded(tuple(comments))
