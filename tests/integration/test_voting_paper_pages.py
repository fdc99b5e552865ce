"""The paper ballots' page (/voting/proposals/{id}/paper), over HTTP on both databases with real accounts: two
committee members enter one ballot alike and it is in the log; entries that disagree are held with the differing
fields shown; the form is checked by the API's model with the reason next to the field (a unit not on the roll, a
delivery after close, a missing choice, a time in the future, the same member twice) and nothing is written; a
ballot after close is refused; the supervisor reads without the choices, writes nothing; another community's
committee finds no such proposal. The supervisor reads the list, the proposal and its result too — no ballot, comment
or delegation form, the counts once published, the split owners counted but not named; another community's
supervisor finds no such proposal."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import AccountRefusal
from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.ownership.service import OwnershipService
from community.voting.audit import PaperEntry
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.pages import mount_voting_pages
from community.voting.service import Accepted, VotingService
from community.voting.tally import Ballot, Capacity, Choice
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_voting_register import CLOSES, OPENS, REGISTER, T0, proposal, seed_units
from tests.integration.test_voting_scope import C2_REGISTER, Clock
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"p" * 32)
PASSWORD = "paper-pages-password"
PAGE = "/voting/proposals/p-lifts/paper"
PEOPLE: dict[str, tuple[tuple[Role, ...], str | None]] = {
    "wei": ((Role.RESIDENT, Role.COMMITTEE), "c1"),
    "zhou": ((Role.RESIDENT, Role.COMMITTEE), "c1"),
    "pm-1": ((Role.PROPERTY_MANAGER,), "c1"),
    "street": ((Role.SUPERVISOR,), "c1"),
    "street-2": ((Role.SUPERVISOR,), "c2"),
    "wang": ((Role.RESIDENT,), "c1"),
    "wu": ((Role.RESIDENT, Role.COMMITTEE), "c2"),
    "tenant-1": ((Role.RESIDENT,), "c1"),
}
DURING = OPENS + timedelta(hours=3)
GOOD = {"unit_id": "1栋1单元201", "choice": "agree", "scan_ref": "box1/0001", "received_at": "2026-12-01T10:30"}
"""A paper ballot for li and zhao's flat (by its label), delivered at 10:30 Beijing time on the opening day."""


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = "/voting"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    voting: VotingService
    clock: Clock


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[Site]:
    await seed_units(engine)
    await OwnershipService(engine).import_register("c1", REGISTER, "pm-1", T0)
    await OwnershipService(engine).import_register("c2", C2_REGISTER, "pm-2", T0)
    voting, clock = VotingService(engine, notice=TEST_INSTALLATION_NOTICE), Clock()
    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1", now=T0)
    await voting.tick(OPENS)
    clock.now = DURING
    accounts = AccountService(engine)
    for account_id, (roles, community_id) in PEOPLE.items():
        created = await accounts.create_account(account_id, account_id, roles, PASSWORD, T0)
        assert not isinstance(created, AccountRefusal), created
        if community_id is not None:
            async with engine.begin() as connection:
                await AccountRepository(connection).assign(account_id, Scope(communities=frozenset({community_id})))
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_voting_pages(app, voting)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, voting, clock)


def problem(page: str, name: str) -> str | None:
    found = re.search(rf'id="paper-{name}-problem"[^>]*>([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


async def enter(site: Site, token: str, changes: dict[str, str], status: int = 303) -> str:
    response = await site.post(PAGE, GOOD | changes, token)
    assert response.status == status, await response.text()
    return str(response.headers["Location"]) if status == 303 else str(await response.text())


async def test_two_members_enter_a_ballot_alike_and_it_is_in_the_log(site: Site) -> None:
    token = await site.sign_in("wei")
    proposal_page = await site.page("/voting/proposals/p-lifts")
    assert f'href="{PAGE}"' in proposal_page, "the committee finds the paper ballots from the proposal"
    assert 'id="notice-date"' in proposal_page and "2026-11-01 09:00 发布" in proposal_page, "the notice date"
    form = await site.page(PAGE)
    assert 'value="1栋1单元201"' in form, "the roll's units are offered by their labels"
    location = await enter(site, token, {})
    assert "entered=pending" in location
    shown = await site.page(location)
    assert "等待另一位委员录入" in shown and 'data-state="pending"' in shown
    assert await site.voting.chain("p-lifts") == [], "one entry counts for nothing"

    again = await enter(site, token, {}, status=409)
    assert "两位不同的业主委员会委员" in again, "the second entry is another member's"

    token = await site.sign_in("zhou")
    location = await enter(site, token, {})
    assert "entered=confirmed" in location
    shown = await site.page(location)
    assert "已记入投票记录第 1 条" in shown and shown.count('data-state="agreed"') == 2
    [entry] = await site.voting.chain("p-lifts")
    assert isinstance(entry, PaperEntry) and entry.unit_id == "b1-201" and entry.entered_by == ("wei", "zhou")
    assert entry.scan_ref == "box1/0001" and entry.received_at == OPENS + timedelta(hours=1, minutes=30)


async def test_entries_that_disagree_are_held_with_the_differing_fields(site: Site) -> None:
    token = await site.sign_in("wei")
    await enter(site, token, {"unit_id": "b1-101"})
    token = await site.sign_in("zhou")
    location = await enter(site, token, {"unit_id": "b1-101", "choice": "oppose", "scan_ref": "box1/0009"})
    assert "entered=held" in location
    shown = await site.page(location)
    assert "不一致（表决意见、扫描件编号）" in shown, "the fields they disagree on"
    assert shown.count('data-state="held"') == 2 and shown.count("不一致：表决意见、扫描件编号") == 2
    assert [e.status for e in await site.voting.paper_entries("p-lifts")] == ["held", "held"], "nothing lost"
    assert await site.voting.chain("p-lifts") == []


async def test_bad_entries_are_refused_next_to_the_field_and_nothing_is_written(site: Site) -> None:
    token = await site.sign_in("wei")
    page = await enter(site, token, {"unit_id": "9栋9单元909"}, status=400)
    assert problem(page, "unit_id") == "请从名册中选择专有部分（可输入房号或编号）", "not even an id"
    page = await enter(site, token, {"unit_id": "o1-101"}, status=422)
    assert problem(page, "unit_id") == "该专有部分不在本次表决的业主名册中", "another community's unit: not on the roll"
    assert 'value="o1-101"' in page, "the form keeps what was typed"
    page = await enter(site, token, {"choice": ""}, status=400)
    assert problem(page, "choice") == "请选择表决意见"
    page = await enter(site, token, {"scan_ref": ""}, status=400)
    assert problem(page, "scan_ref") == "请填写扫描件编号"
    page = await enter(site, token, {"received_at": "明天"}, status=400)
    assert problem(page, "received_at") == "送达时间的格式应为 2026-12-01 09:30（北京时间）"
    page = await enter(site, token, {"received_at": "2026-12-01T23:00"}, status=400)
    assert problem(page, "received_at") == "送达时间不能晚于现在"
    page = await enter(site, token, {"received_at": "2026-12-08T09:00"}, status=400)
    assert problem(page, "received_at") == "送达时间不能晚于现在"
    site.clock.now = CLOSES + timedelta(hours=1)
    token = await site.sign_in("wei")  # a week later: a new session
    page = await enter(site, token, {"received_at": "2026-12-08T09:30"}, status=409)
    assert "本次录入未保存" in page and "表决已结束" in page, "a ballot after close"
    assert await site.voting.paper_entries("p-lifts") == [] and await site.voting.chain("p-lifts") == []


async def test_the_supervisor_reads_without_choices_and_writes_nothing(site: Site) -> None:
    token = await site.sign_in("wei")
    await enter(site, token, {})
    for reader in ("pm-1", "street"):
        token = await site.sign_in(reader)
        page = await site.page(PAGE)
        assert 'data-state="pending"' in page and 'id="paper-form"' not in page, reader
        assert ("<td data-label=\"意见\">同意</td>" in page) == (reader == "pm-1"), "choices hidden from the street"
        response = await site.post(PAGE, GOOD, token)
        assert response.status == 403, reader
    assert len(await site.voting.paper_entries("p-lifts")) == 1


async def test_residents_are_refused_and_another_community_finds_no_such_proposal(site: Site) -> None:
    await site.sign_in("wang")
    await site.page(PAGE, status=403)
    token = await site.sign_in("wu")
    unknown = await site.page("/voting/proposals/p-nothing/paper", status=404)
    assert await site.page(PAGE, status=404) == unknown, "as a proposal that does not exist"
    response = await site.post(PAGE, GOOD, token)
    assert response.status == 404
    assert await site.voting.paper_entries("p-lifts") == []


async def test_the_supervisor_reads_the_proposal_and_its_result_without_names_or_a_ballot(site: Site) -> None:
    for unit_id, choice in (("b1-101", Choice.AGREE), ("b1-102", Choice.OPPOSE)):  # wang splits two flats
        assert isinstance(await site.voting.cast(Ballot("p-lifts", unit_id, "wang", Capacity.OWNER, choice),
                                                 DURING), Accepted)
    token = await site.sign_in("street")
    assert "更换电梯" in await site.page("/voting"), "the supervisor's list"
    page = await site.page("/voting/proposals/p-lifts")
    assert 'id="read-only"' in page and 'id="turnout"' in page and 'id="paper-link"' in page
    assert 'action="/voting/proposals/p-lifts/ballot"' not in page, "no ballot form"
    assert 'name="choice.' not in page and 'action="/voting/proposals/p-lifts/comments"' not in page
    assert "核对回执" not in page and "同意：" not in page
    for suffix, form in (("/ballot", {"choice.b1-101": "oppose"}), ("/comments", {"body": "监督意见"}),
                         ("/delegations", {"unit_id": "b1-101", "delegate_id": "street"}), ("/close", {})):
        assert (await site.post(f"/voting/proposals/p-lifts{suffix}", form, token)).status == 403, suffix
    before = await site.client.get("/voting/proposals/p-lifts/result", headers=HTML, allow_redirects=False)
    assert before.status == 200 and 'id="breakdown-agree"' not in await before.text(), "nothing before publication"

    site.clock.now = CLOSES + timedelta(hours=1)
    await site.voting.close("p-lifts", site.clock.now, "pm-1")
    await site.sign_in("street")
    result = await site.page("/voting/proposals/p-lifts/result")
    assert 'id="breakdown-agree"' in result and 'id="breakdown-split"' in result, "counted once published"
    assert 'id="split-owners"' not in result, "split owners are counted, not named, to the supervisor"
    await site.sign_in("pm-1")
    assert 'id="split-owners"' in await site.page("/voting/proposals/p-lifts/result")


async def test_another_communitys_supervisor_finds_no_such_proposal(site: Site) -> None:
    await site.sign_in("street-2")
    assert "更换电梯" not in await site.page("/voting")
    answers = []
    for proposal_id in ("p-nothing", "p-lifts"):
        for suffix in ("", "/result"):
            response = await site.client.get(f"/voting/proposals/{proposal_id}{suffix}", headers=HTML,
                                             allow_redirects=False)
            answers.append((response.status, (await response.text()).replace(proposal_id, "{id}")))
    assert answers[0][0] == 404 and "表决不存在" in answers[0][1]
    assert answers[2:] == answers[:2], "another community's proposal answers as one that does not exist"
