"""The meetings' pages over HTTP on both databases with real accounts: a manager convenes a meeting (the form checked
by the API's model, reasons next to the fields), adds an agenda item (none: refused with the reason), uploads a
material (no document: refused, nothing kept), publishes the notice (too late: the rule quoted); an owner signs in and
sees the attendance; the committee drafts, another member approves, the minutes are published and editing them after
is refused; the public notice and minutes print on A4; the supervisor reads and writes nothing; another community's
manager finds no such meeting."""

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
from tests.integration.test_voting_meetings import ENDS, NOTICE_DAY, PDF, STARTS
from tests.integration.test_voting_register import REGISTER, T0, proposal, seed_units
from tests.integration.test_voting_scope import C2_REGISTER, Clock
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"g" * 32)
PASSWORD = "meeting-pages-password"
PEOPLE: dict[str, tuple[tuple[Role, ...], str]] = {
    "wei": ((Role.RESIDENT, Role.COMMITTEE), "c1"), "zhou": ((Role.RESIDENT, Role.COMMITTEE), "c1"),
    "pm-1": ((Role.PROPERTY_MANAGER,), "c1"), "wang": ((Role.RESIDENT,), "c1"),
    "street": ((Role.SUPERVISOR,), "c1"), "pm-2": ((Role.PROPERTY_MANAGER,), "c2"),
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
