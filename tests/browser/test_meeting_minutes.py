"""A meeting from its notice to its published minutes, with a paper ballot entered twice, in Debian's Chromium: the
property manager convenes a meeting on the open lifts vote, puts the vote on the agenda, uploads its material and
publishes the notice; two committee members enter one paper ballot alike and it is in the log; after the meeting one
member drafts the minutes, the other approves and publishes them; editing them afterwards is refused; the printable
minutes show the meeting's chain head. Screenshots of every step (desktop). On a phone (375 px) the meetings list, a
meeting, its notice and minutes, the paper ballots' page and the notices archive do not scroll sideways."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, FilePayload, Page, expect

from accounts.demo import DEMO_PASSWORD
from accounts.pages import mount_pages
from accounts.storage import AccountRepository
from community.access.directory import Community
from community.voting.audit import PaperEntry
from community.voting.materials import KeptMaterial
from community.voting.meeting_service import MeetingService
from community.voting.meeting_storage import MaterialFiles
from community.voting.meetings import Meeting, MeetingForm, MeetingKind
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.pages import mount_voting_pages
from community.voting.paper_entry import PaperReading
from community.voting.service import VotingService
from community.voting.tally import Choice
from relational.database import create_engine, migrate
from tests.browser.compound import COMMUNITY, DURING, LIFTS, seed_compound
from tests.browser.conftest import Clock
from tests.browser.test_console_doors import no_sideways_scroll
from tests.browser.test_resident_votes import VIEWPORTS, shoot, sign_in
from tests.integration.voting_accounts import demo_accounts_of
from tests.servers import free_port
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


class MeetingSite:
    def __init__(self, url: str, clock: Clock, meetings: MeetingService) -> None:
        self.url, self.clock, self.meetings = url, clock, meetings


@pytest.fixture
async def meeting_site(tmp_path: Path) -> AsyncIterator[MeetingSite]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'smartcity.db'}")
    await migrate(engine, "community")
    await migrate(engine, "accounts")
    clock = Clock(DURING)
    accounts = await demo_accounts_of(engine, Community(COMMUNITY, COMMUNITY, "荷花小区"), clock())
    await accounts.create_account("zhou", "周委员", (Role.RESIDENT, Role.COMMITTEE), DEMO_PASSWORD, clock())
    async with engine.begin() as connection:
        await AccountRepository(connection).assign("zhou", Scope(communities=frozenset({COMMUNITY})))
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    await seed_compound(voting)
    meetings = MeetingService(engine, voting, MaterialFiles(tmp_path / "voting-materials"))
    app = web.Application()
    mount_pages(app, accounts, TokenAuthority(b"browser-meeting-secret-32-bytes!"), clock)
    mount_voting_pages(app, voting, meetings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield MeetingSite(f"http://127.0.0.1:{port}", clock, meetings)
    await runner.cleanup()
    await engine.dispose()


async def as_person(browser: Browser, site: MeetingSite, account: str, path: str, device: str = "desktop") -> Page:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                        **VIEWPORTS[device])  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(site.url + path)
    await sign_in(page, account, DEMO_PASSWORD)
    return page


async def enter_paper(page: Page, site: MeetingSite) -> None:
    await page.goto(f"{site.url}/voting/proposals/{LIFTS}/paper")
    await page.get_by_label("专有部分").fill("2栋201")
    await page.get_by_label("表决意见").select_option("agree")
    await page.get_by_label("扫描件编号").fill("box1/0001")
    await page.get_by_label("送达时间（北京时间）").fill("2026-12-05T19:00")
    await page.get_by_role("button", name="保存录入").click()


async def test_a_meeting_from_notice_to_published_minutes_with_a_paper_ballot_entered_twice(
    meeting_site: MeetingSite, browser: Browser, screenshots: Path
) -> None:
    site, shots = meeting_site, "meeting-"
    page = await as_person(browser, site, "pm-zhang", "/voting/meetings")
    await page.get_by_role("link", name="召集会议").click()
    await page.get_by_label("会议名称").fill("关于更换电梯的业主委员会会议")
    await page.get_by_label("会议类别").select_option("committee")
    await page.get_by_label("会议形式").select_option("on_site")
    await page.get_by_label("开始时间（北京时间）").fill("2026-12-05T20:30")
    await page.get_by_label("结束时间（北京时间）").fill("2026-12-05T21:30")
    await page.get_by_label("地点").fill("小区会所二楼")
    await page.get_by_role("button", name="建立会议").click()
    await expect(page).to_have_url(re.compile(r"/voting/meetings/m-\d{8}-[0-9a-f]{8}$"))
    meeting_id = page.url.rsplit("/", 1)[1]

    await page.get_by_role("button", name="列入议程").click()  # no vote chosen: refused with the reason
    await expect(page.locator("#item-problem")).to_have_text("议程事项须对应一项表决（共同决定事项），请选择表决")
    await page.get_by_label("列入议程的表决事项").select_option(LIFTS)
    await page.get_by_role("button", name="列入议程").click()
    await expect(page.locator("#agenda ol li")).to_have_count(1)
    await page.get_by_label("材料名称").fill("电梯更换方案")
    plan: FilePayload = {"name": "plan.pdf", "mimeType": "application/pdf", "buffer": PDF}
    await page.set_input_files("#material-file", files=[plan])
    await page.get_by_role("button", name="上传").click()
    await expect(page.locator("#materials")).to_contain_text("电梯更换方案")
    await page.get_by_role("button", name="发布会议通知").click()
    await expect(page.locator("#meeting-phase")).to_have_text("通知期")
    await shoot(page, screenshots, shots + "01-notice")
    await page.goto(f"{site.url}/voting/meetings/{meeting_id}/notice?print=1")
    await expect(page.get_by_role("heading", name=re.compile("关于召开"))).to_be_visible()
    await shoot(page, screenshots, shots + "02-notice-print")
    await page.context.close()

    li = await as_person(browser, site, "li", "/voting")
    await enter_paper(li, site)
    await expect(li.locator("#entered")).to_contain_text("等待另一位委员录入")
    zhou = await as_person(browser, site, "zhou", "/voting")
    await enter_paper(zhou, site)
    await expect(zhou.locator("#entered")).to_contain_text("两次录入一致，已记入投票记录")
    await shoot(zhou, screenshots, shots + "03-paper-agreed")
    papers = [e for e in await site.meetings.voting.chain(LIFTS) if isinstance(e, PaperEntry)]
    assert [(p.unit_id, p.entered_by) for p in papers] == [("2-201", ("li", "zhou"))]

    site.clock.now = DURING + timedelta(hours=1, minutes=40)  # 21:40: the meeting has ended
    await li.goto(f"{site.url}/voting/meetings/{meeting_id}")
    await li.get_by_label("纪要正文").fill("一、审议电梯更换方案。\n二、纸质选票已由两位委员录入。")
    await li.get_by_role("button", name="保存草稿").click()
    await expect(li.locator("#minutes-state")).to_have_text("草稿")
    await zhou.goto(f"{site.url}/voting/meetings/{meeting_id}")
    await zhou.get_by_role("button", name="审核通过").click()
    await expect(zhou.locator("#minutes-state")).to_have_text("已审核，待公布")
    await zhou.get_by_role("button", name="公布会议纪要").click()
    await expect(zhou.locator("#minutes-state")).to_have_text("已公布")
    await expect(zhou.locator("#meeting-phase")).to_have_text("纪要已公布")
    assert await zhou.locator("#save-minutes").count() == 0, "no form to edit published minutes"
    await shoot(zhou, screenshots, shots + "04-minutes-published")

    view = await site.meetings.view(meeting_id, site.clock())
    await zhou.goto(f"{site.url}/voting/meetings/{meeting_id}/minutes?print=1")
    await expect(zhou.locator("#meeting-chain-head")).to_have_text(view.head[1])
    await shoot(zhou, screenshots, shots + "05-minutes-print")
    await li.context.close()
    await zhou.context.close()


async def test_the_meeting_pages_fit_a_phone(meeting_site: MeetingSite, browser: Browser, screenshots: Path) -> None:
    site, now = meeting_site, meeting_site.clock()
    meetings, voting = site.meetings, meeting_site.meetings.voting
    await meetings.create(Meeting("m-phone", COMMUNITY, "关于更换 1、2 栋电梯及外墙维修资金使用方案的业主委员会会议",
                                  MeetingKind.COMMITTEE, MeetingForm.MIXED, now - timedelta(hours=2),
                                  now - timedelta(hours=1), "小区会所二楼多功能厅（东门进，电梯至二楼右转）"),
                          "pm-zhang", now - timedelta(hours=4))
    assert await meetings.add_item("m-phone", LIFTS, now - timedelta(hours=4)) is None
    assert isinstance(await meetings.add_material("m-phone", "电梯更换方案（含报价单、维保记录和停运统计）", PDF,
                                                  "pm-zhang", now - timedelta(hours=4)), KeptMaterial)
    assert await meetings.publish_notice("m-phone", now - timedelta(hours=3)) is None
    assert await meetings.draft_minutes("m-phone", "一、审议电梯更换方案。" * 40, "li", now) is None
    assert await meetings.approve_minutes("m-phone", "zhou", now) is None
    assert await meetings.publish_minutes("m-phone", "zhou", now) is None
    reading = PaperReading("2-201", Choice.AGREE, "box1/0001-scan-of-the-ballot-delivered-by-hand", now)
    await voting.enter_paper(LIFTS, reading, "li", now)

    page = await as_person(browser, site, "li", "/voting/meetings", device="phone")
    for path in ("/voting/meetings", "/voting/meetings/m-phone", "/voting/meetings/m-phone/notice",
                 "/voting/meetings/m-phone/minutes", f"/voting/proposals/{LIFTS}/paper", "/voting/notices",
                 f"/voting/notices/{LIFTS}"):
        response = await page.goto(site.url + path)
        assert response is not None and response.status == 200, path
        await no_sideways_scroll(page)
        await shoot(page, screenshots, "meeting-phone-" + (path.strip("/").replace("/", "-") or "root"))
    await page.context.close()
