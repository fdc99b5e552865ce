"""The residents' voting pages over HTTP, on both databases: what each page shows, voting with
receipts, deliberation, the committee publishing, and every refusal as a message on the page."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.demo import DEMO_PASSWORD
from accounts.pages import mount_pages
from community.access.directory import Community
from community.voting.audit import ReceiptStatus
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.pages import mount_voting_pages
from community.voting.rules import ORDINARY_RULE, Matter
from community.voting.service import Accepted, VotingService
from community.voting.tally import Ballot, Capacity, Choice, Election, Proposal, Unit, VoterRoll
from tests.integration.helpers import PageSession
from tests.integration.voting_accounts import demo_accounts_of
from webkit.identity import TokenAuthority

pytestmark = pytest.mark.integration

OPENS = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
CLOSES = OPENS + timedelta(days=7)
AUTHORITY = TokenAuthority(b"v" * 32)
RECEIPT = re.compile(r'data-receipt="([0-9a-f-]{19})"')


class Clock:
    def __init__(self) -> None:
        self.now = OPENS + timedelta(days=1)

    def __call__(self) -> datetime:
        return self.now


def roll() -> VoterRoll:
    return VoterRoll((
        Unit("1-101", "1栋101", Decimal("89.37"), frozenset({"wang"})),
        Unit("2-201", "2栋201", Decimal("75.50"), frozenset({"wang"})),
        Unit("1-102", "1栋102", Decimal("120.05"), frozenset({"li", "zhao"}), representative_id="li"),
        Unit("3-301", "3栋301", Decimal("100.00"), frozenset({"sun"})),
    ), OPENS - timedelta(days=1))  # 384.92 m², three owner persons


COMMUNITY = "c1"
"""The community of the test's proposals, the demo residents' and property manager's."""
LIFTS = "p-lifts"
LIFTS_BODY = "拟使用维修资金 48 万元更换电梯。\n<b>不是标签</b>"


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = "/voting"
    password: ClassVar[str] = DEMO_PASSWORD
    clock: Clock
    voting: VotingService


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[Site]:
    clock = Clock()
    accounts = await demo_accounts_of(engine, Community(COMMUNITY, "c1-site", "荷花小区"), OPENS)
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    await voting.open_proposal(Proposal(LIFTS, Matter.USE_OF_MAINTENANCE_FUNDS, "更换电梯", OPENS, CLOSES), roll(),
                               body=LIFTS_BODY, created_by="pm-zhang", community_id=COMMUNITY, now=OPENS, attachments=[
                                   {"title": "报价单", "ref": "https://files.example/quote.pdf"},
                                   {"title": "可疑附件", "ref": "javascript:alert(1)"}])
    await voting.open_proposal(Proposal("p-later", Matter.USE_OF_COMMON_PARTS, "设置充电桩", CLOSES, CLOSES
                                        + timedelta(days=7)), roll(), body="", created_by="pm-zhang",
                               community_id=COMMUNITY, now=OPENS)
    await voting.open_proposal(Proposal("p-old", Matter.MANAGEMENT_COVENANT, "修改管理规约", OPENS - timedelta(days=30),
                                        OPENS - timedelta(days=20)), roll(), body="", created_by="pm-zhang",
                               community_id=COMMUNITY, now=OPENS)
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_voting_pages(app, voting)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, clock, voting)


def section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start:page.index("</section>", start)]


def words(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def test_the_list_shows_ones_proposals_by_phase_and_whether_one_voted(site: Site) -> None:
    await site.sign_in("wang")
    page = await site.page("/voting")
    assert "更换电梯" in section(page, "open") and "尚未投票" in section(page, "open")
    assert "设置充电桩" in section(page, "upcoming") and "修改管理规约" in section(page, "closed")
    assert "已截止 · 待公布" in section(page, "closed")

    await site.sign_in("chen")  # owns nothing on these rolls
    page = await site.page("/voting")
    assert "更换电梯" not in page and "目前没有正在进行的表决" in page

    await site.sign_in("pm-zhang")  # the property manager sees every proposal
    assert "更换电梯" in section(await site.page("/voting"), "open")


async def test_a_proposal_page_shows_the_matter_rule_text_window_and_attachments(site: Site) -> None:
    await site.sign_in("wang")
    page = await site.page(f"/voting/proposals/{LIFTS}")
    matter = words(section(page, "matter"))
    assert Matter.USE_OF_MAINTENANCE_FUNDS.label_zh in matter and "第二百七十八条第一款第五项" in matter
    assert ORDINARY_RULE.statement_zh in matter and ORDINARY_RULE.statement_en in matter
    assert "2026-12-01 09:00 至 2026-12-08 09:00" in matter, "times in Asia/Shanghai"
    assert "拟使用维修资金 48 万元更换电梯。" in page and "&lt;b&gt;不是标签&lt;/b&gt;" in page
    assert '<a href="https://files.example/quote.pdf"' in page
    assert 'href="javascript:' not in page and "javascript:alert(1)" in page, "shown, never a link"
    ballot = section(page, "ballot")
    assert ballot.count("<fieldset") == 2 and "1栋101" in ballot and "2栋201" in ballot
    assert "您名下有多个专有部分" in ballot


async def test_live_turnout_shows_plain_ratios_and_no_approvals_while_open(site: Site) -> None:
    outcome = await site.voting.cast(Ballot(LIFTS, "3-301", "sun", Capacity.OWNER, Choice.OPPOSE), site.clock())
    assert isinstance(outcome, Accepted)
    await site.sign_in("wang")
    turnout = section(await site.page(f"/voting/proposals/{LIFTS}"), "turnout")
    shown = words(turnout)
    assert "100.00 m² / 384.92 m² = 2500/9623" in shown and "25.98%" in shown
    assert "1 人 / 3 人 = 1/3" in shown and "33.33%" in shown
    assert "目前未达到" in shown and "<svg" in turnout
    assert "同意的专有部分面积" not in shown and "各选项的户数" not in turnout, "approvals wait for the close"
    assert "投票期间只公布参与情况" in shown


async def test_voting_gives_a_receipt_and_a_changed_ballot_replaces_the_old_one(site: Site) -> None:
    token = await site.sign_in("wang")
    voted = await site.post(f"/voting/proposals/{LIFTS}/ballot",
                            {"choice.1-101": "agree", "choice.2-201": "oppose"}, token)
    assert voted.status == 303
    location = urlsplit(voted.headers["Location"])
    assert location.path == f"/voting/proposals/{LIFTS}/receipt"
    codes = parse_qs(location.query)["code"]
    receipt = await site.page(voted.headers["Location"])
    assert RECEIPT.findall(receipt) == codes and len(codes) == 2
    shown = words(section(receipt, "receipts"))
    assert "1栋101 · 业主本人" in shown and "您的选择 同意" in shown and "您的选择 反对" in shown
    assert "2026-12-02 09:00:00（北京时间）" in shown and shown.count("有效") == 2
    assert "您各户的意见不一致" in shown, "a split vote is pointed out"
    assert "smartcity votes verify p-lifts" in words(receipt)
    for code in codes:
        assert await site.voting.receipt(LIFTS, code) is ReceiptStatus.COUNTED

    site.clock.now += timedelta(hours=1)
    changed = await site.post(f"/voting/proposals/{LIFTS}/ballot", {"choice.1-101": "oppose"}, token)
    assert changed.status == 303
    check = words(await site.page(f"/voting/proposals/{LIFTS}/check?code={codes[0]}"))
    assert "已被替换" in check and "以最后一次提交的为准" in check
    page = await site.page(f"/voting/proposals/{LIFTS}")
    assert 'name="choice.1-101" value="oppose" checked' in page
    assert "2026-12-02 10:00 提交。截止前可以修改" in words(section(page, "ballot"))


async def test_a_receipt_shows_only_the_signed_in_voters_own_ballots(site: Site) -> None:
    outcome = await site.voting.cast(Ballot(LIFTS, "3-301", "sun", Capacity.OWNER, Choice.AGREE), site.clock())
    assert isinstance(outcome, Accepted)
    await site.sign_in("wang")
    page = await site.page(f"/voting/proposals/{LIFTS}/receipt?code={outcome.receipt}", status=404)
    assert "没有找到您的回执" in page
    check = words(await site.page(f"/voting/proposals/{LIFTS}/check?code={outcome.receipt}"))
    assert "有效" in check and "同意" not in check, "the check says counted or not, never the choice"
    assert "未找到" in words(await site.page(f"/voting/proposals/{LIFTS}/check?code=zzzz-0000"))


@pytest.mark.parametrize(("account", "when", "form", "status", "message"), [
    ("wang", OPENS - timedelta(hours=1), {"choice.1-101": "agree"}, 409, "1栋101：表决尚未开始。"),
    ("wang", CLOSES, {"choice.1-101": "agree"}, 409, "1栋101：表决已结束。"),
    ("wang", None, {"choice.1-102": "agree"}, 403, "1栋102：投票人不是该专有部分的业主。"),
    ("zhao", None, {"choice.1-102": "agree"}, 403, "1栋102：该专有部分已由他人代表表决，一个专有部分只能由一人代表。"),
    ("wang", None, {"choice.1-101": "maybe"}, 422, "1栋101：选项不属于本次表决。"),
    ("wang", None, {"choice.9-999": "agree"}, 422, "9-999：该专有部分不在本次表决的业主名册中。"),  # as in the API
    ("wang", None, {}, 400, "请至少为一个专有部分选择意见后再提交。"),
])
async def test_a_refused_ballot_is_a_clear_message_on_the_page(
    site: Site, account: str, when: datetime | None, form: dict[str, str], status: int, message: str
) -> None:
    if when is not None:
        site.clock.now = when
    token = await site.sign_in(account)
    refused = await site.post(f"/voting/proposals/{LIFTS}/ballot", form, token)
    body = await refused.text()
    assert refused.status == status and refused.content_type == "text/html"
    assert message in words(section(body, "ballot")) and "Traceback" not in body
    assert (await site.voting.verify(LIFTS)).entries == 0, "nothing was recorded"


async def test_only_those_entitled_see_a_proposal(site: Site) -> None:
    await site.sign_in("chen")
    assert "您不在本次表决的名册中" in await site.page(f"/voting/proposals/{LIFTS}", status=403)
    assert "表决不存在" in await site.page("/voting/proposals/p-nope", status=404)
    await site.sign_in("pm-zhang")
    page = await site.page(f"/voting/proposals/{LIFTS}")
    assert "没有可以投票的专有部分" in words(section(page, "ballot"))
    await site.sign_in("zhao")
    represented = section(await site.page(f"/voting/proposals/{LIFTS}"), "ballot")
    assert "<fieldset" in represented and " disabled" in represented, "li speaks for the co-owned flat"


async def test_owners_deliberate_and_hidden_comments_show_why(site: Site) -> None:
    token = await site.sign_in("wang")
    posted = await site.post(f"/voting/proposals/{LIFTS}/comments", {"body": "赞成尽快更换"}, token)
    assert posted.status == 303 and re.fullmatch(rf"/voting/proposals/{LIFTS}#comment-\d+",
                                                 posted.headers["Location"])
    empty = await site.post(f"/voting/proposals/{LIFTS}/comments", {"body": "   "}, token)
    assert empty.status == 422 and "意见内容不能为空" in await empty.text()
    advert = await site.voting.post_comment(LIFTS, "sun", "低价装修广告", site.clock())
    await site.voting.hide_comment(LIFTS, advert.comment_id, "li", "广告")  # type: ignore[union-attr]

    deliberation = words(section(await site.page(f"/voting/proposals/{LIFTS}"), "deliberation"))
    assert "1栋101、2栋201 业主 我" in deliberation and "赞成尽快更换" in deliberation
    assert "此条意见已被业主委员会隐藏。原因：广告" in deliberation and "低价装修广告" not in deliberation
    await site.sign_in("li")  # a committee member sees what was hidden
    assert "低价装修广告" in words(section(await site.page(f"/voting/proposals/{LIFTS}"), "deliberation"))

    manager = await site.sign_in("pm-zhang")
    assert (await site.post(f"/voting/proposals/{LIFTS}/comments", {"body": "物业说明"}, manager)).status == 403
    site.clock.now = CLOSES
    token = await site.sign_in("wang")
    late = await site.post(f"/voting/proposals/{LIFTS}/comments", {"body": "还来得及吗"}, token)
    assert late.status == 409 and "表决已结束，讨论已关闭。" in words(await late.text())


async def test_the_committee_publishes_and_the_result_shows_the_four_ratios(site: Site) -> None:
    for unit_id, voter, choice in (("1-102", "li", Choice.AGREE), ("3-301", "sun", Choice.OPPOSE)):
        assert isinstance(await site.voting.cast(Ballot(LIFTS, unit_id, voter, Capacity.OWNER, choice),
                                                 site.clock()), Accepted)
    token = await site.sign_in("wang")
    assert (await site.post(f"/voting/proposals/{LIFTS}/ballot",
                            {"choice.1-101": "agree", "choice.2-201": "agree"}, token)).status == 303
    pending = await site.page(f"/voting/proposals/{LIFTS}/result")
    assert "表决尚未结束" in pending and 'id="verdict"' not in pending and 'id="ratios"' not in pending
    assert (await site.post(f"/voting/proposals/{LIFTS}/close", {}, token)).status == 403, "residents do not count"

    committee = await site.sign_in("li")
    early = await site.post(f"/voting/proposals/{LIFTS}/close", {}, committee)
    assert early.status == 409 and "截止后才能计票" in await early.text()
    site.clock.now = CLOSES + timedelta(hours=1)
    committee = await site.sign_in("li")
    assert "计票并公布结果" in section(await site.page(f"/voting/proposals/{LIFTS}"), "close")
    closed = await site.post(f"/voting/proposals/{LIFTS}/close", {}, committee)
    assert closed.status == 303 and closed.headers["Location"] == f"/voting/proposals/{LIFTS}/result"

    await site.sign_in("wang")
    result = await site.page(f"/voting/proposals/{LIFTS}/result")
    ratios = words(section(result, "ratios"))
    assert "384.92 m² / 384.92 m² = 1/1" in ratios and "100.00%" in ratios
    assert "3 人 / 3 人 = 1/1" in ratios
    assert "284.92 m² / 384.92 m² = 7123/9623" in ratios and "74.02%" in ratios
    assert "2 人 / 3 人 = 2/3" in ratios and "66.67%" in ratios
    assert "门槛 ≥ 2/3（66.67%）" in ratios and "门槛 > 1/2（50.00%）" in ratios
    assert ORDINARY_RULE.statement_zh in ratios
    verdicts = words(result[result.index('class="verdicts"'):result.index('id="ratios"')])
    assert "已达到" in verdicts and "表决结果 通过" in verdicts and "一致" in verdicts
    published = await site.voting.published(LIFTS)
    assert published is not None
    assert f'id="chain-head">{published.head.head_hash}<' in result
    assert "<svg" in section(result, "charts")
    detail = words(section(result, "breakdown"))
    assert "同意 284.92 2" in detail and "反对 100.00 1" in detail and "未投票 0.00 0" in detail
    assert "同意的业主人数 ：66.67%" in detail and "至少需 2 人，多出 0 人" in detail


async def test_an_election_ballot_approves_at_most_the_seats(site: Site) -> None:
    await site.voting.open_proposal(Proposal("p-committee", Matter.OWNERS_COMMITTEE, "选举业主委员会", OPENS, CLOSES,
                                             Election(("李明", "赵丽", "孙强"), 2)),
                                    roll(), body="", created_by="pm-zhang", community_id=COMMUNITY, now=OPENS)
    token = await site.sign_in("wang")
    url = "/voting/proposals/p-committee/ballot"
    too_many = await site.post(url, [("cast.1-101", "1"), ("approve.1-101", "李明"), ("approve.1-101", "赵丽"),
                                     ("approve.1-101", "孙强")], token)
    assert too_many.status == 422 and "1栋101：同意的候选人超过应选名额。" in words(await too_many.text())
    stranger = await site.post(url, [("cast.1-101", "1"), ("approve.1-101", "张三")], token)
    assert stranger.status == 422 and "选项不属于本次表决" in await stranger.text()
    voted = await site.post(url, [("cast.1-101", "1"), ("approve.1-101", "赵丽"), ("approve.1-101", "李明"),
                                  ("cast.2-201", "1")], token)
    assert voted.status == 303
    receipt = words(await site.page(voted.headers["Location"]))
    assert "您的选择 同意：李明、赵丽" in receipt and "您的选择 未同意任何候选人" in receipt


async def test_an_owner_hands_a_units_vote_to_a_proxy_who_then_votes_for_it(site: Site) -> None:
    token = await site.sign_in("wang")
    page = await site.page(f"/voting/proposals/{LIFTS}")
    form = section(page, "ballot")
    assert f'action="/voting/proposals/{LIFTS}/delegations"' in form
    assert 'value="1-101"' in form and 'value="2-201"' in form
    delegated = await site.post(f"/voting/proposals/{LIFTS}/delegations",
                                {"unit_id": "1-101", "delegate_id": "chen"}, token)
    assert delegated.status == 303
    assert delegated.headers["Location"] == f"/voting/proposals/{LIFTS}?delegated=1-101#delegate"
    shown = words(section(await site.page(delegated.headers["Location"]), "ballot"))
    assert "委托已记录" in shown and "1栋101：已委托账号 chen 代为投票" in shown

    proxy = await site.sign_in("chen")  # owns nothing here: entitled as the proxy
    ballot = words(section(await site.page(f"/voting/proposals/{LIFTS}"), "ballot"))
    assert "1栋101" in ballot and "受托投票" in ballot and "2栋201" not in ballot
    voted = await site.post(f"/voting/proposals/{LIFTS}/ballot", {"choice.1-101": "agree"}, proxy)
    assert voted.status == 303
    report = await site.voting.verify(LIFTS)
    assert report.is_clean, report.discrepancies
    assert (report.delegation_entries, report.entries) == (1, 1), "the delegation and the proxy's ballot, both logged"


@pytest.mark.parametrize(("account", "when", "form", "status", "message"), [
    ("zhao", None, {"unit_id": "1-102", "delegate_id": "chen"}, 403, "该专有部分已由他人代表表决"),
    ("wang", None, {"unit_id": "3-301", "delegate_id": "chen"}, 403, "3栋301：投票人不是该专有部分的业主"),
    ("wang", None, {"unit_id": "1-101", "delegate_id": "wang"}, 400, "不能委托给自己"),
    ("wang", None, {"unit_id": "1-101", "delegate_id": "陈 刚"}, 400, "请填写受托人的登录账号"),
    ("wang", CLOSES, {"unit_id": "1-101", "delegate_id": "chen"}, 409, "表决已结束"),
])
async def test_a_refused_delegation_is_a_clear_message_on_the_page(
    site: Site, account: str, when: datetime | None, form: dict[str, str], status: int, message: str
) -> None:
    if when is not None:
        site.clock.now = when
    token = await site.sign_in(account)
    refused = await site.post(f"/voting/proposals/{LIFTS}/delegations", form, token)
    body = await refused.text()
    assert refused.status == status and refused.content_type == "text/html"
    assert message in words(section(body, "ballot")) and "Traceback" not in body
    assert (await site.voting.verify(LIFTS)).delegation_entries == 0, "nothing was recorded"


async def test_the_same_delegation_twice_is_refused_once_on_record(site: Site) -> None:
    token = await site.sign_in("wang")
    form = {"unit_id": "2-201", "delegate_id": "chen"}
    assert (await site.post(f"/voting/proposals/{LIFTS}/delegations", form, token)).status == 303
    again = await site.post(f"/voting/proposals/{LIFTS}/delegations", form, token)
    assert again.status == 409 and "该受托人已受托代表该专有部分参与本次表决" in words(await again.text())
    assert (await site.voting.verify(LIFTS)).delegation_entries == 1


async def test_while_open_no_page_shows_how_another_owner_voted(site: Site) -> None:
    for unit_id, voter, choice in (("3-301", "sun", Choice.OPPOSE), ("1-102", "li", Choice.ABSTAIN)):
        cast = await site.voting.cast(Ballot(LIFTS, unit_id, voter, Capacity.OWNER, choice), site.clock())
        assert isinstance(cast, Accepted)
    await site.sign_in("zhao")  # co-owns 1-102, for which li voted
    ballot = section(await site.page(f"/voting/proposals/{LIFTS}"), "ballot")
    assert " checked" not in ballot and "已投票" not in ballot, "a co-owner does not see the representative's choice"
    for account in ("zhao", "pm-zhang"):
        await site.sign_in(account)
        for path in (f"/voting/proposals/{LIFTS}", f"/voting/proposals/{LIFTS}/result",
                     f"/voting/proposals/{LIFTS}/check", "/voting"):
            shown = words(await site.page(path))
            assert not {"sun", "li"} & set(re.findall(r"[a-z]+", shown)), (account, path, "no voter is named")
            for count in ("同意的专有部分面积", "各选项的户数", "表决结果", "同意 · 面积"):
                assert count not in shown, (account, path, "no approvals while open")
