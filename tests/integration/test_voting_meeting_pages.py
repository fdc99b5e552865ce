"""The meetings' pages over HTTP on both databases with real accounts: a manager convenes a meeting (the form checked
by the API's model, reasons next to the fields), adds an agenda item (none: refused with the reason), uploads a
material (no document: refused, nothing kept), publishes the notice (too late: the rule quoted); an owner signs in and
sees the attendance; the committee drafts, another member approves, the minutes are published and editing them after
is refused; the public notice and minutes print on A4; the supervisor reads and writes nothing; another community's
manager finds no such meeting. An owner appoints a proxy (委托出席) with the form (the reason next to the field when
refused), the proxy signs in, the committee's list says who signed in for whom; a vote closing after the minutes shows
its head bound to the chain on the meeting page and the minutes. The owner withdraws the appointment with the
"撤回委托" button next to it (theirs only; refused with the reason once the proxy signed in), the withdrawal stays on
record and the unit is appointed for again; another community's owner finds no such meeting."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import AccountRefusal
from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.ownership.service import OwnershipService
from community.voting.meeting_service import MeetingService
from community.voting.meeting_storage import MaterialFiles
from community.voting.pages import mount_voting_pages
from community.voting.service import VotingService
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_voting_meetings import ENDS, NOTICE_DAY, PDF, STARTS, assembly
from tests.integration.test_voting_register import CLOSES, REGISTER, T0, proposal, seed_units
from tests.integration.test_voting_scope import C2_REGISTER, Clock
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"g" * 32)
PASSWORD = "meeting-pages-password"
PEOPLE: dict[str, tuple[tuple[Role, ...], str]] = {
    "wei": ((Role.RESIDENT, Role.COMMITTEE), "c1"), "zhou": ((Role.RESIDENT, Role.COMMITTEE), "c1"),
    "pm-1": ((Role.PROPERTY_MANAGER,), "c1"), "wang": ((Role.RESIDENT,), "c1"),
    "street": ((Role.SUPERVISOR,), "c1"), "pm-2": ((Role.PROPERTY_MANAGER,), "c2"),
    "li": ((Role.RESIDENT,), "c1"), "liu": ((Role.RESIDENT,), "c1"), "chen": ((Role.RESIDENT,), "c2"),
}
NEW = {"community_id": "c1", "title": "2026 年第一次业主大会会议", "kind": "owners_assembly", "form": "mixed",
       "starts_at": "2026-12-01T07:00", "ends_at": "2026-12-01T09:00", "place": "小区会所"}
"""STARTS..ENDS in Beijing time (07:00–09:00 on the opening day of p-lifts)."""


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = "/voting/meetings"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    meetings: MeetingService
    clock: Clock


@pytest.fixture
async def site(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Site]:
    await seed_units(engine)
    await OwnershipService(engine).import_register("c1", REGISTER, "pm-1", T0)
    await OwnershipService(engine).import_register("c2", C2_REGISTER, "pm-2", T0)
    voting, clock = VotingService(engine, notice=timedelta(days=15)), Clock()
    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1", now=T0)
    meetings = MeetingService(engine, voting, MaterialFiles(tmp_path / "materials"))
    clock.now = T0 + timedelta(hours=1)
    accounts = AccountService(engine)
    for account_id, (roles, community_id) in PEOPLE.items():
        created = await accounts.create_account(account_id, account_id, roles, PASSWORD, T0)
        assert not isinstance(created, AccountRefusal), created
        async with engine.begin() as connection:
            await AccountRepository(connection).assign(account_id, Scope(communities=frozenset({community_id})))
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_voting_pages(app, voting, meetings)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, meetings, clock)


def problem(page: str, name: str) -> str | None:
    found = re.search(rf'id="{name}-problem"[^>]*>([^<]*)<', page)
    return found.group(1) if found else None


async def posted(site: Site, path: str, data: dict[str, str], token: str, status: int = 303) -> str:
    response = await site.post(path, data, token)
    assert response.status == status, await response.text()
    return str(response.headers["Location"]) if status == 303 else str(await response.text())


async def test_a_meeting_from_convening_to_published_minutes(site: Site) -> None:
    token = await site.sign_in("pm-1")
    page = await posted(site, "/voting/meetings/new", NEW | {"title": "", "ends_at": "2026-12-01T06:00"}, token, 400)
    assert problem(page, "meeting-title") == "请填写会议名称"
    assert problem(page, "meeting-ends_at") == "结束时间须晚于开始时间"
    location = await posted(site, "/voting/meetings/new", NEW, token)
    meeting_id = location.rsplit("/", 1)[1]
    page = await posted(site, location + "/items", {"proposal_id": ""}, token, 422)
    assert problem(page, "item") == "议程事项须对应一项表决（共同决定事项），请选择表决"
    await posted(site, location + "/items", {"proposal_id": "p-lifts"}, token)

    async def upload(name: str, content: bytes, status: int) -> str:
        form = FormData()
        form.add_field("csrf_token", token)
        form.add_field("title", "电梯更换方案")
        form.add_field("file", content, filename=name, content_type="application/pdf")
        response = await site.client.post(location + "/materials", data=form, headers=HTML, allow_redirects=False)
        assert response.status == status, await response.text()
        return await response.text()

    page = await upload("fake.pdf", b"<script>not a pdf</script>", 415)
    assert "会议材料须为 PDF 文件或 JPEG、PNG 图片" in (problem(page, "material") or "")
    await upload("plan.pdf", PDF, 303)
    page = await site.page(location)
    assert "电梯更换方案</a>" in page and 'id="publish-notice"' in page

    site.clock.now = STARTS - timedelta(days=3)
    token = await site.sign_in("pm-1")
    page = await posted(site, location + "/notice", {}, token, 422)
    assert "公告期不足" in (problem(page, "notice") or "") and "第十三条、第十四条" in page
    site.clock.now = NOTICE_DAY
    token = await site.sign_in("pm-1")
    await posted(site, location + "/notice", {}, token)
    notice = await site.page(location + "/notice?print=1")
    assert "@page { size: A4" in notice and "电梯更换方案" in notice and "更换电梯" in notice

    site.clock.now = STARTS
    token = await site.sign_in("wang")
    await posted(site, location + "/sign-in", {}, token)
    page = await site.page(location)
    assert "已签到业主 1 / 4 人，专有部分 2 / 5 户，面积 150.00 / 450.00 m²" in page

    token = await site.sign_in("wei")
    await posted(site, location + "/minutes", {"text": "一、审议电梯更换方案。"}, token)
    page = await posted(site, location + "/minutes/approve", {}, token, 409)
    assert problem(page, "minutes") == "会议纪要须由起草人以外的委员审核"
    token = await site.sign_in("zhou")
    await posted(site, location + "/minutes/approve", {}, token)
    site.clock.now = ENDS
    token = await site.sign_in("zhou")
    await posted(site, location + "/minutes/publish", {}, token)
    page = await posted(site, location + "/minutes", {"text": "改"}, token, 409)
    assert problem(page, "minutes") == "会议纪要已公布，不能再修改"
    minutes = await site.page(location + "/minutes?print=1")
    view = await site.meetings.view(meeting_id, ENDS)
    assert "一、审议电梯更换方案。" in minutes and view.head[1] in minutes and view.head[0] == 2
    archive = await site.page("/voting/notices")
    assert f"/voting/meetings/{meeting_id}/notice" in archive and f"/voting/meetings/{meeting_id}/minutes" in archive


async def test_the_supervisor_reads_and_another_community_finds_nothing(site: Site) -> None:
    token = await site.sign_in("pm-1")
    location = await posted(site, "/voting/meetings/new", NEW, token)
    token = await site.sign_in("street")
    await site.page(location)
    response = await site.post(location + "/items", {"proposal_id": "p-lifts"}, token)
    assert response.status == 403
    await site.sign_in("wang")
    await site.page(location, status=404)  # a draft is not the residents' yet
    token = await site.sign_in("pm-2")
    unknown = await site.page("/voting/meetings/m-nothing", status=404)
    assert await site.page(location, status=404) == unknown
    response = await site.post(location + "/items", {"proposal_id": "p-lifts"}, token)
    assert response.status == 404
    assert not (await site.meetings.view(location.rsplit("/", 1)[1], T0)).agenda


async def test_an_owner_appoints_a_proxy_who_signs_in_and_the_vote_is_bound_after_it_closes(site: Site) -> None:
    meetings = site.meetings
    await meetings.create(assembly(), "pm-1", T0)
    await meetings.add_item("m-1", "p-lifts", T0)
    assert await meetings.publish_notice("m-1", NOTICE_DAY) is None
    location = "/voting/meetings/m-1"
    site.clock.now = NOTICE_DAY
    token = await site.sign_in("li")
    page = await site.page(location)
    assert 'id="proxy-form"' in page and 'value="b1-201"' in page
    page = await posted(site, location + "/proxies", {"unit_id": "b1-201", "proxy_id": ""}, token, 400)
    assert problem(page, "proxy-proxy_id") == "请填写受托人账号"
    page = await posted(site, location + "/proxies", {"unit_id": "b1-201", "proxy_id": "chen"}, token, 422)
    assert problem(page, "proxy-proxy_id") == "本小区没有这个住户账号：受托人须是本小区的住户或业主委员会委员"
    assert 'value="chen"' in page, "the form keeps what was typed"
    page = await posted(site, location + "/proxies", {"unit_id": "b1-101", "proxy_id": "liu"}, token, 403)
    assert problem(page, "proxy-unit_id") == "您不是该专有部分的业主，不能委托他人出席"
    assert await posted(site, location + "/proxies", {"unit_id": "b1-201", "proxy_id": "liu"}, token) == (
        location + "#attendance")
    page = await site.page(location)
    assert "您已委托 liu 代您出席" in page and 'id="proxy-form"' not in page, "nothing left to appoint for"

    site.clock.now = STARTS
    token = await site.sign_in("liu")
    assert "li 委托您代为出席" in await site.page(location)
    await posted(site, location + "/sign-in", {}, token)
    token = await site.sign_in("pm-1")
    page = await site.page(location)
    assert "已签到业主 1 / 4 人，专有部分 1 / 5 户，面积 120.50 / 450.00 m²（其中受托出席 1 户）" in page
    row = page[page.index('id="present-liu"'):]
    assert "受 li 委托" in row[:row.index("</tr>")]
    await site.sign_in("wang")
    page = await site.page(location)
    assert 'id="attendance-list"' not in page and "li 委托" not in page, "not wang's to see"
    token = await site.sign_in("street")
    assert (await site.post(location + "/proxies", {"unit_id": "b1-201", "proxy_id": "liu"}, token)).status == 403

    await meetings.draft_minutes("m-1", "一、审议电梯更换方案。", "wei", ENDS)
    await meetings.approve_minutes("m-1", "zhou", ENDS)
    await meetings.publish_minutes("m-1", "zhou", ENDS)
    site.clock.now = ENDS
    await site.sign_in("wang")
    assert "表决尚未结束，结束时其投票记录末端写入会议记录链" in await site.page(location + "/minutes")
    await meetings.voting.tick(CLOSES)
    published = await meetings.voting.published("p-lifts")
    assert published is not None
    site.clock.now = CLOSES
    await site.sign_in("wang")  # a week later: a new session
    minutes = await site.page(location + "/minutes?print=1")
    assert "表决结束时补记，记录链第 3 条" in minutes and published.head.head_hash in minutes
    assert "其中受托出席 1 户" in minutes
    page = await site.page(location)
    assert "表决结束时补记" in page and (await meetings.view("m-1", CLOSES)).head[1] in page
    assert 'id="chain-broken"' not in page


async def test_an_owner_withdraws_their_appointment_with_the_button_and_appoints_again(site: Site) -> None:
    meetings = site.meetings
    await meetings.create(assembly(), "pm-1", T0)
    await meetings.add_item("m-1", "p-lifts", T0)
    assert await meetings.publish_notice("m-1", NOTICE_DAY) is None
    location = "/voting/meetings/m-1"
    withdraw = location + "/proxies/b1-201/withdraw"
    site.clock.now = NOTICE_DAY
    token = await site.sign_in("li")
    await posted(site, location + "/proxies", {"unit_id": "b1-201", "proxy_id": "liu"}, token)
    page = await site.page(location)
    assert 'id="withdraw-b1-201"' in page and f'action="{withdraw}"' in page
    token = await site.sign_in("wang")
    assert 'id="withdraw-b1-201"' not in await site.page(location)
    page = await posted(site, withdraw, {}, token, 403)
    assert problem(page, "withdraw") == "只有委托人本人或现在代表该专有部分的业主可以撤回委托"
    token = await site.sign_in("chen")
    unknown = await site.page("/voting/meetings/m-nothing", status=404)
    response = await site.post(withdraw, {}, token)
    assert response.status == 404 and await response.text() == unknown, "another community's: as none such"
    token = await site.sign_in("street")
    assert (await site.post(withdraw, {}, token)).status == 403
    assert len((await meetings.view("m-1", NOTICE_DAY)).proxies) == 1, "none of those withdrew it"

    token = await site.sign_in("li")
    assert await posted(site, withdraw, {}, token) == location + "#attendance"
    page = await site.page(location)
    assert 'id="withdraw-b1-201"' not in page and "您已委托 liu" not in page
    withdrawn = page[page.index('id="withdrawn-list"'):]
    assert "li 委托 liu 出席" in withdrawn[:withdrawn.index("</details>")] and "由 li 撤回" in withdrawn
    assert 'id="proxy-form"' in page and 'value="b1-201"' in page, "the unit may be appointed for again"
    page = await posted(site, withdraw, {}, token, 404)
    assert problem(page, "withdraw") == "该专有部分没有委托他人出席本次会议（或委托已撤回）"
    await posted(site, location + "/proxies", {"unit_id": "b1-201", "proxy_id": "wei"}, token)

    site.clock.now = STARTS
    token = await site.sign_in("liu")
    page = await posted(site, location + "/sign-in", {}, token, 403)
    assert problem(page, "sign-in") == "只有本小区产权登记中的业主或业主委托出席的代理人可以签到", "withdrawn: nothing"
    token = await site.sign_in("wei")
    await posted(site, location + "/sign-in", {}, token)
    token = await site.sign_in("li")
    page = await site.page(location)
    assert "您已委托 wei 代您出席" in page and 'id="withdraw-b1-201"' not in page, "wei signed in: no button"
    page = await posted(site, withdraw, {}, token, 409)
    assert problem(page, "withdraw") == "受托人已签到，委托不能再撤回"
    token = await site.sign_in("pm-1")
    assert "其中受托出席 1 户" in await site.page(location)
