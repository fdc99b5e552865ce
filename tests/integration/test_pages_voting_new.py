"""The committee's and the property manager's form to open a proposal (/voting/new, issue 13), over HTTP on both
databases with real accounts: linked from the list for those who may open one, a chooser of one's own communities,
the proposal opened with its roll frozen from the ownership register, times in Beijing wall-clock time, an election
of the owners' committee; every field checked by the API's rules with the reason next to it and nothing written; a
community outside one's scope refused exactly as one that does not exist; residents and supervisors refused."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import AccountRefusal
from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.access.directory import Building, Community, Unit
from community.access.storage import DirectoryRepository
from community.ownership.service import OwnershipService
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.pages import mount_voting_pages
from community.voting.rules import Matter
from community.voting.service import VotingService
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_voting_register import OPENS, REGISTER, T0, seed_units
from tests.integration.test_voting_scope import C2_REGISTER, Clock
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"n" * 32)
PASSWORD = "proposal-form-password"
FORM = "/voting/new"
PEOPLE: dict[str, tuple[tuple[Role, ...], str | None]] = {
    "wei": ((Role.RESIDENT, Role.COMMITTEE), "c1"),
    "pm-1": ((Role.PROPERTY_MANAGER,), "c1"),
    "wang": ((Role.RESIDENT,), "c1"),
    "street": ((Role.SUPERVISOR,), "c1"),
    "admin": ((Role.ADMIN,), None),
}
"""Each person's roles and the one community their account is assigned (None: an administrator, everything)."""
GOOD = {"community_id": "c1", "title": "使用维修资金更换电梯", "matter": "use_of_maintenance_funds",
        "body": "拟使用维修资金 48 万元。\r\n第二段。", "opens_at": "2026-12-01T09:00", "closes_at": "2026-12-08T09:00"}
"""A form that opens a proposal: voting from 09:00 on 1 December 2026, Beijing time (OPENS), for a week."""


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = "/voting"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    voting: VotingService
    clock: Clock


async def people(engine: AsyncEngine) -> AccountService:
    accounts = AccountService(engine)
    for account_id, (roles, community_id) in PEOPLE.items():
        created = await accounts.create_account(account_id, account_id, roles, PASSWORD, T0)
        assert not isinstance(created, AccountRefusal), created
        if community_id is not None:
            async with engine.begin() as connection:
                await AccountRepository(connection).assign(account_id, Scope(communities=frozenset({community_id})))
    return accounts


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[Site]:
    await seed_units(engine)
    async with engine.begin() as connection:  # c3: units, but no owner recorded yet
        directory = DirectoryRepository(connection)
        await directory.add_community(Community("c3", "c3-site", "竹园小区"))
        await directory.add_building(Building("z1", "c3", "1栋"))
        await directory.add_unit(Unit("z1-101", "z1", "1单元", "101", Decimal("88.00")))
    ownership, voting, clock = OwnershipService(engine), VotingService(engine, notice=TEST_INSTALLATION_NOTICE), Clock()
    clock.now = OPENS - timedelta(days=3)
    await ownership.import_register("c1", REGISTER, "pm-1", T0)
    await ownership.import_register("c2", C2_REGISTER, "pm-2", T0)
    app = web.Application()
    mount_pages(app, await people(engine), AUTHORITY, clock)
    mount_voting_pages(app, voting)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, voting, clock)


def problem(page: str, name: str) -> str | None:
    """The reason shown next to the field ``name``, or None."""
    found = re.search(rf'id="{name}-problem"[^>]*>([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


async def submit(site: Site, token: str, changes: dict[str, str], status: int) -> str:
    response = await site.post(FORM, GOOD | changes, token)
    page = await response.text()
    assert response.status == status, page
    return page


async def test_the_list_links_the_form_for_those_who_may_open_a_proposal(site: Site) -> None:
    for account in ("wei", "pm-1", "admin"):
        await site.sign_in(account)
        assert f'href="{FORM}"' in await site.page("/voting"), account
    await site.sign_in("wang")
    assert f'href="{FORM}"' not in await site.page("/voting")
    await site.page(FORM, status=403)


async def test_the_committee_opens_a_proposal_with_its_roll_frozen_from_the_register(site: Site) -> None:
    token = await site.sign_in("wei")
    form = await site.page(FORM)
    assert '<option value="c1"' in form and "荷花小区" in form
    assert 'value="c2"' not in form and "桂花小区" not in form, "only one's own communities are offered"
    assert all(f'value="{matter.value}"' in form for matter in Matter)
    assert 'value="2026-11-29T09:00"' in form, "opening tomorrow at 09:00 Beijing time, by default"

    response = await site.post(FORM, GOOD, token)
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    proposal_id = location.rsplit("/", 1)[1]
    assert location == f"/voting/proposals/{proposal_id}" and re.fullmatch(r"p-20261128-[0-9a-f]{8}", proposal_id)
    state = await site.voting.state(proposal_id, site.clock())
    assert state.community_id == "c1" and state.roll_state.community_id == "c1", "the roll comes from the register"
    assert state.roll is None and state.preview is not None, "frozen when voting opens"
    assert state.proposal.opens_at == OPENS and state.proposal.closes_at == OPENS + timedelta(days=7)
    assert state.proposal.matter is Matter.USE_OF_MAINTENANCE_FUNDS and state.proposal.election is None
    body, _ = await site.voting.text(proposal_id)
    assert body == "拟使用维修资金 48 万元。\n第二段。"
    assert GOOD["title"] in await site.page(location)

    site.clock.now = OPENS + timedelta(minutes=1)  # voting opens: the ballot freezes the register's roll
    await site.voting.freeze_roll(proposal_id, site.clock())
    frozen = await site.voting.state(proposal_id, site.clock())
    assert frozen.roll is not None and {unit.unit_id for unit in frozen.roll.units} >= {"b1-101", "b1-201"}


async def test_the_property_manager_opens_an_election_of_the_owners_committee(site: Site) -> None:
    token = await site.sign_in("pm-1")
    response = await site.post(FORM, GOOD | COMMITTEE | {"title": "选举第二届业主委员会",
                                             "candidates": "张伟\r\n李娜\r\n\r\n王强 ", "seats": "２"}, token)
    assert response.status == 303, await response.text()
    state = await site.voting.state(response.headers["Location"].rsplit("/", 1)[1], site.clock())
    assert state.proposal.election is not None
    assert state.proposal.election.candidates == ("张伟", "李娜", "王强") and state.proposal.election.seats == 2


COMMITTEE = {"matter": "owners_committee"}
BAD_FORMS: list[tuple[dict[str, str], str, str]] = [
    ({"title": " "}, "title", "请填写标题"),
    ({"title": "长" * 201}, "title", "标题最多 200 个字"),
    ({"matter": ""}, "matter", "请选择表决事项"),
    ({"matter": "bogus"}, "matter", "请从列表中选择表决事项"),
    ({"community_id": ""}, "community_id", "请选择小区"),
    ({"opens_at": ""}, "opens_at", "请填写开始时间"),
    ({"opens_at": "明天上午"}, "opens_at", "开始时间的格式应为 2026-12-01 09:00（北京时间）"),
    ({"closes_at": "2026-12-01T08:00"}, "closes_at", "截止时间必须晚于开始时间"),
    ({"candidates": "张伟\n李娜", "seats": "1"}, "candidates", "只有“选举业主委员会或者更换业主委员会成员”"),
    (COMMITTEE | {"candidates": "张伟\n张伟", "seats": "1"}, "candidates", "同一位候选人填写了两次"),
    (COMMITTEE | {"candidates": "张伟\n李娜", "seats": "3"}, "seats", "应选名额须在 1 到候选人人数之间"),
    (COMMITTEE | {"candidates": "张伟\n李娜"}, "seats", "请填写应选名额"),
    (COMMITTEE | {"candidates": "张伟", "seats": "两"}, "seats", "应选名额应为正整数"),
    (COMMITTEE | {"seats": "1"}, "candidates", "请填写候选人"),
    (COMMITTEE | {"candidates": "长" * 65, "seats": "1"}, "candidates", "每位候选人的姓名为 1 到 64 个字"),
]


@pytest.mark.parametrize(("changes", "field", "reason"), BAD_FORMS)
async def test_a_field_the_apis_rules_refuse_shows_why_beside_it_and_nothing_is_written(
        site: Site, changes: dict[str, str], field: str, reason: str) -> None:
    token = await site.sign_in("wei")
    page = await submit(site, token, changes, 400)
    shown = problem(page, field)
    assert shown is not None and shown.startswith(reason), (field, shown, changes)
    assert "表决未发起" in page
    for name, value in changes.items():  # what was typed is kept, to be corrected
        if name in ("title", "opens_at", "closes_at", "seats") and value.strip():
            assert f'value="{html.escape(value)}"' in page, name
        elif name == "candidates":
            assert f">{html.escape(value)}</textarea>" in page
    assert await site.voting.proposal_ids(10) == []


async def test_several_wrong_fields_each_show_their_reason(site: Site) -> None:
    token = await site.sign_in("wei")
    page = await submit(site, token, {"title": "", "matter": "", "opens_at": "", "closes_at": "x"}, 400)
    assert problem(page, "title") == "请填写标题" and problem(page, "matter") == "请选择表决事项"
    assert problem(page, "opens_at") == "请填写开始时间"
    assert (problem(page, "closes_at") or "").startswith("截止时间的格式")
    assert problem(page, "community_id") is None


async def test_a_community_outside_ones_scope_is_refused_as_one_that_does_not_exist(site: Site) -> None:
    token = await site.sign_in("pm-1")
    unknown = await submit(site, token, {"community_id": "nowhere"}, 422)
    outside = await submit(site, token, {"community_id": "c2"}, 422)
    assert problem(unknown, "community_id") == problem(outside, "community_id") == "请从列表中选择您负责的小区"
    assert re.sub(r'name="csrf_token" value="[^"]+"', "", unknown).replace("nowhere", "c2") == re.sub(
        r'name="csrf_token" value="[^"]+"', "", outside)
    assert await site.voting.proposal_ids(10) == []


async def test_a_vote_opening_now_needs_owners_in_the_register(site: Site) -> None:
    token = await site.sign_in("admin")
    assert "竹园小区" in await site.page(FORM), "an administrator chooses among every community"
    now = {"opens_at": "2026-11-28T08:00", "closes_at": "2026-12-05T08:00"}  # opened an hour ago
    page = await submit(site, token, {"community_id": "c3"} | now, 422)
    assert (problem(page, "community_id") or "").startswith("该小区的产权登记还不能生成业主名册")
    assert await site.voting.proposal_ids(10) == []
    response = await site.post(FORM, GOOD | now, token)  # c1's register has owners: the roll is frozen at once
    assert response.status == 303
    state = await site.voting.state(response.headers["Location"].rsplit("/", 1)[1], site.clock())
    assert state.roll is not None


async def test_residents_and_supervisors_may_not_and_a_form_needs_its_csrf_token(site: Site) -> None:
    for account in ("wang", "street"):
        token = await signed_in_anywhere(site, account)
        await site.page(FORM, status=403)
        response = await site.post(FORM, GOOD, token)
        assert response.status == 403, account
    token = await site.sign_in("wei")
    assert (await site.post(FORM, GOOD, None)).status == 403, "no CSRF token"
    assert (await site.post(FORM, GOOD, token)).status == 303
    assert len(await site.voting.proposal_ids(10)) == 1


async def signed_in_anywhere(site: Site, account: str) -> str:
    """Sign ``account`` in (a fresh browser), whatever pages it may see; the session's CSRF token, from the portal."""
    site.client.session.cookie_jar.clear()
    signin = await site.client.get("/signin", headers=HTML)
    found = re.search(r'name="csrf_token" value="([^"]+)"', await signin.text())
    assert found is not None
    signed_in = await site.client.post("/signin", data={"csrf_token": found.group(1), "account_id": account,
                                                        "password": PASSWORD}, allow_redirects=False)
    assert signed_in.status == 303
    portal = re.search(r'name="csrf_token" value="([^"]+)"', await (await site.client.get("/", headers=HTML)).text())
    assert portal is not None
    return portal.group(1)
