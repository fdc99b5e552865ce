"""The voting pages for a proposal whose roll is frozen from the ownership register, on both databases: upcoming
with a note and no ballot form until the roll is frozen, the preview for the property office, then the frozen time,
the roll digest, the units without a recorded owner (counted, nobody votes for them) and the ballot form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.pages import mount_pages
from community.access.directory import Community
from community.ownership.service import OwnershipService
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.pages import mount_voting_pages
from community.voting.service import VotingService
from relational.database import migrate
from tests.integration.test_pages_voting import AUTHORITY, Clock, Site, section, words
from tests.integration.test_voting_register import OPENS, REGISTER, T0, proposal, seed_units
from tests.integration.voting_accounts import demo_accounts_of

pytestmark = pytest.mark.integration

PAGE = "/voting/proposals/p-lifts"


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[Site]:
    await migrate(engine, "accounts")
    await seed_units(engine)
    accounts = await demo_accounts_of(engine, Community("c1", "c1-site", "荷花小区"), T0)
    await OwnershipService(engine).import_register("c1", REGISTER, "pm-zhang", T0)
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    await voting.open_proposal_from_register(proposal(), "c1", body="拟使用维修资金更换电梯。", created_by="pm-zhang",
                                             now=OPENS - timedelta(days=3))
    clock = Clock()
    clock.now = OPENS - timedelta(days=1)
    app = web.Application()
    mount_pages(app, accounts, AUTHORITY, clock)
    mount_voting_pages(app, voting)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, clock, voting)


async def test_before_the_roll_is_frozen_the_proposal_is_upcoming_without_a_ballot_form(site: Site) -> None:
    await site.sign_in("wang")
    listed = await site.page("/voting")
    assert "更换电梯" in section(listed, "upcoming") and "名册未冻结" in section(listed, "upcoming")
    page = await site.page(PAGE)
    assert "名册尚未冻结" in words(section(page, "matter"))
    assert "2026-12-01 09:00 投票开始时按当时的产权登记冻结" in words(section(page, "matter"))
    ballot = section(page, "ballot")
    assert 'id="roll-not-frozen"' in ballot and "<fieldset" not in ballot and "/ballot" not in ballot
    assert 'id="turnout"' not in page
    assert "2栋1单元102" not in page, "the preview is for the property office"


async def test_the_property_office_sees_which_units_the_register_gives_no_owner_for(site: Site) -> None:
    await site.sign_in("pm-zhang")
    roll = words(section(await site.page(PAGE), "matter"))
    assert "按目前的产权登记：5 个专有部分列入名册" in roll
    assert "其中 1 个专有部分没有登记业主，计入总面积和总人数但无人可以投票，请在投票开始前补录： 2栋1单元102" in roll


async def test_a_ballot_posted_before_the_roll_is_frozen_is_refused_on_the_page(site: Site) -> None:
    token = await site.sign_in("wang")
    refused = await site.post(f"{PAGE}/ballot", {"choice.b1-101": "agree"}, token)
    assert refused.status == 409
    assert "业主名册尚未冻结" in words(section(await refused.text(), "ballot"))
    assert await site.voting.log("p-lifts") == []


async def test_once_frozen_the_page_shows_the_frozen_time_the_units_without_owner_and_the_ballot(site: Site) -> None:
    site.clock.now = OPENS + timedelta(minutes=1)
    await site.voting.tick(site.clock.now)
    token = await site.sign_in("wang")
    assert "名册未冻结" not in await site.page("/voting")
    page = await site.page(PAGE)
    roll = words(section(page, "matter"))
    assert "5 个专有部分，名册冻结于 2026-12-01 09:00" in roll and "按投票开始时的产权登记" in roll
    assert "1 个专有部分产权登记中没有业主：计入总面积和总人数（每户按一人），但无人可以投票" in roll
    assert "2栋1单元102（79.50 m²）" in roll and "请尽快在产权登记中补录" not in roll, "the call to act is the office's"
    digest = (await site.voting.state("p-lifts", site.clock.now)).roll_digest
    assert digest is not None and f'title="{digest}"' in section(page, "matter")
    ballot = section(page, "ballot")
    assert ballot.count("<fieldset") == 2 and "您名下有多个专有部分" in ballot
    voted = await site.post(f"{PAGE}/ballot", {"choice.b1-101": "agree", "choice.b1-102": "agree"}, token)
    assert voted.status == 303
    await site.sign_in("pm-zhang")
    office = words(section(await site.page(PAGE), "matter"))
    assert "请尽快在产权登记中补录这些专有部分的业主" in office
    turnout = words(section(await site.page(PAGE), "turnout"))
    assert "150.00 m² / 450.00 m² = 1/3" in turnout and "1 人 / 4 人 = 1/4" in turnout, "the unit counts in both"


async def test_a_ballot_just_after_the_opening_freezes_the_roll_without_waiting_for_the_tick(site: Site) -> None:
    site.clock.now = OPENS + timedelta(milliseconds=500)
    token = await site.sign_in("li")
    voted = await site.post(f"{PAGE}/ballot", {"choice.b1-201": "oppose"}, token)
    assert voted.status == 303, await voted.text()
    assert [entry.unit_id for entry in await site.voting.log("p-lifts")] == ["b1-201"]
