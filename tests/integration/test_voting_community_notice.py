"""A community's own notice period on SQLite and PostgreSQL: its rules of procedure may require more days than the
installation's minimum, never fewer; its proposals (service, API and form) and its meetings' notices then need the
longer of the two, refused with the community's rule quoted, while another community keeps the installation's; the
API and the page scope it like every voting object (another's community is unknown), the supervisor reads it and
never sets it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.ownership.service import OwnershipService, UnknownCommunity
from community.voting.meeting_service import MeetingService
from community.voting.meeting_storage import MaterialFiles
from community.voting.notice import CommunityDaysRefused, DaysProblem, NoticeTooShort
from community.voting.service import NoticeRefused, VotingService
from community.voting.web import mount as mount_voting_api
from tests.integration.test_pages_voting_new import FORM, GOOD, Site, problem, signed_in_anywhere
from tests.integration.test_pages_voting_new import site as site
from tests.integration.test_voting_meetings import assembly
from tests.integration.test_voting_register import OPENS, REGISTER, T0, proposal, seed_units
from tests.integration.test_voting_scope import AUTHORITY as SCOPE_AUTHORITY
from tests.integration.test_voting_scope import C2_REGISTER, accounts_with_scopes, bearer
from webkit.auth import check_tokens_with

pytestmark = pytest.mark.integration

FIFTEEN = timedelta(days=15)


async def registered(engine: AsyncEngine) -> None:
    await seed_units(engine)
    ownership = OwnershipService(engine)
    await ownership.import_register("c1", REGISTER, "pm-1", T0)
    await ownership.import_register("c2", C2_REGISTER, "pm-2", T0)


async def test_a_community_requiring_twenty_days_refuses_fifteen_and_another_keeps_the_minimum(
        engine: AsyncEngine) -> None:
    await registered(engine)
    voting = VotingService(engine, notice=FIFTEEN)
    before = await voting.community_notice("c1")
    assert before.period.days == 15 and before.stored is None
    set_ = await voting.set_community_notice("c1", 20, by="pm-1", now=T0)
    assert not isinstance(set_, CommunityDaysRefused) and set_.period.days == 20 and set_.period.by_community
    assert set_.stored is not None and set_.stored.set_by == "pm-1" and set_.stored.set_at == T0

    with pytest.raises(NoticeRefused) as refused:
        await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1", now=OPENS - FIFTEEN)
    assert refused.value.refusal.required == timedelta(days=20) and refused.value.refusal.by_community
    assert "议事规则" in refused.value.refusal.message_zh and "15日以前" in refused.value.refusal.message_zh
    assert await voting.proposal_ids(10) == [], "nothing recorded"
    await voting.open_proposal_from_register(proposal("p-c2"), "c2", body="", created_by="pm-2", now=OPENS - FIFTEEN)
    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1",
                                             now=OPENS - timedelta(days=20))
    assert sorted(await voting.proposal_ids(10)) == ["p-c2", "p-lifts"]

    changed = await voting.set_community_notice("c1", 16, by="wei", now=T0 + timedelta(days=1))
    assert not isinstance(changed, CommunityDaysRefused) and changed.period.days == 16
    assert changed.stored is not None and changed.stored.set_by == "wei"


async def test_a_period_below_the_minimum_or_above_the_bound_is_refused_and_nothing_changes(
        engine: AsyncEngine) -> None:
    await registered(engine)
    voting = VotingService(engine, notice=FIFTEEN)
    below = await voting.set_community_notice("c1", 14, by="pm-1", now=T0)
    assert isinstance(below, CommunityDaysRefused) and below.problem is DaysProblem.BELOW_MINIMUM
    above = await voting.set_community_notice("c1", 91, by="pm-1", now=T0)
    assert isinstance(above, CommunityDaysRefused) and above.problem is DaysProblem.ABOVE_BOUND
    assert (await voting.community_notice("c1")).stored is None
    with pytest.raises(UnknownCommunity):
        await voting.set_community_notice("nowhere", 20, by="pm-1", now=T0)
    with pytest.raises(UnknownCommunity):
        await voting.set_community_notice("c2", 20, by="pm-1", now=T0, within=lambda c: c == "c1")
    with pytest.raises(UnknownCommunity):
        await voting.community_notice("c2", within=lambda c: c == "c1")


async def test_a_meetings_notice_needs_its_communitys_longer_period(engine: AsyncEngine, tmp_path: Path) -> None:
    await registered(engine)
    voting = VotingService(engine, notice=FIFTEEN)
    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1", now=T0)
    meetings = MeetingService(engine, voting, MaterialFiles(tmp_path / "materials"))
    await meetings.create(assembly(), "pm-1", T0)
    assert await meetings.add_item("m-1", "p-lifts", T0) is None
    assert await voting.set_community_notice("c1", 25, by="pm-1", now=T0) is not None
    late = OPENS - timedelta(days=20)  # 20 days before the item's voting (the meeting two hours before it)
    refusal = await meetings.publish_notice("m-1", late)
    assert isinstance(refusal, NoticeTooShort) and refusal.required == timedelta(days=25) and refusal.by_community
    assert "议事规则" in refusal.message_zh
    assert (await meetings.view("m-1", late)).notice_published_at is None
    assert await meetings.publish_notice("m-1", OPENS - timedelta(days=26)) is None


@dataclass
class Api:
    client: TestClient[Any, Any]

    async def call(self, method: str, path: str, subject: str, body: Any = None) -> tuple[int, Any]:
        response = await self.client.request(method, path, headers=bearer(subject), json=body)
        return response.status, await response.json()


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    await registered(engine)
    app = web.Application()
    mount_voting_api(app, VotingService(engine, notice=FIFTEEN), SCOPE_AUTHORITY, lambda: OPENS - FIFTEEN)
    check_tokens_with(app, await accounts_with_scopes(engine))
    async with TestClient(TestServer(app)) as client:
        yield Api(client)


def url(community_id: str) -> str:
    return f"/api/voting/communities/{community_id}/notice"


async def test_the_api_sets_and_reads_a_communitys_period_within_scope(api: Api) -> None:
    status, body = await api.call("GET", url("c1"), "pm-1")
    assert status == 200 and body["notice_days"] == 15 and body["community_days"] is None
    assert "15日以前" in body["basis_zh"]
    status, body = await api.call("PUT", url("c1"), "wei", {"notice_days": 20})
    assert status == 200, body
    assert body["notice_days"] == body["community_days"] == 20 and body["by_community"] and body["set_by"] == "wei"
    assert "议事规则" in body["basis_zh"]

    status, body = await api.call("GET", url("c1"), "street")
    assert status == 200 and body["notice_days"] == 20, "the supervisor reads"
    assert (await api.call("PUT", url("c1"), "street", {"notice_days": 30}))[0] == 403, "and never writes"
    assert (await api.call("PUT", url("c1"), "wang", {"notice_days": 30}))[0] == 403, "nor a resident"

    for method, body_ in (("GET", None), ("PUT", {"notice_days": 20}), ("PUT", {"notice_days": 1})):
        outside = await api.call(method, url("c2"), "pm-1", body_)
        unknown = await api.call(method, url("c-none"), "pm-1", body_)
        assert outside[0] == unknown[0] == 404
        assert outside[1]["error"].replace("c2", "c-none") == unknown[1]["error"], "nothing told of another's"

    status, body = await api.call("PUT", url("c1"), "pm-1", {"notice_days": 14})
    assert status == 422 and body["reason"] == "below_minimum" and body["field"] == "notice_days"
    assert "15" in body["error_zh"]
    status, body = await api.call("PUT", url("c1"), "pm-1", {"notice_days": 91})
    assert status == 422 and body["reason"] == "above_bound"
    assert (await api.call("PUT", url("c1"), "pm-1", {"notice_days": "many"}))[0] == 400
    assert (await api.call("PUT", url("c1"), "pm-1", {}))[0] == 400
    assert (await api.call("GET", url("c1"), "pm-1"))[1]["notice_days"] == 20, "refusals changed nothing"

    opens = OPENS.isoformat()
    status, body = await api.call("POST", "/api/voting/proposals", "pm-1", {
        "proposal_id": "p-c1", "matter": "use_of_maintenance_funds", "title": "更换电梯", "opens_at": opens,
        "closes_at": (OPENS + timedelta(days=7)).isoformat(), "roll_from_register": {"community_id": "c1"}})
    assert status == 422 and body["reason"] == "notice_too_short" and "议事规则" in body["error_zh"]
    assert "20 天" in body["error_zh"]
    status, body = await api.call("POST", "/api/voting/proposals", "pm-2", {
        "proposal_id": "p-c2", "matter": "use_of_maintenance_funds", "title": "更换电梯", "opens_at": opens,
        "closes_at": (OPENS + timedelta(days=7)).isoformat(), "roll_from_register": {"community_id": "c2"}})
    assert status == 201, body


def notice_path(community_id: str) -> str:
    return f"/voting/communities/{community_id}/notice"


async def test_the_proposal_form_page_shows_and_sets_the_communitys_period(site: Site) -> None:
    token = await site.sign_in("wei")
    page = await site.page(FORM)
    assert 'id="notice-c1"' in page and "公告期 <strong>0 天</strong>" in page and "第十八条" in page
    assert 'id="notice-c2"' not in page, "only one's own communities"

    for typed, status, words in (("", 400, "请填写公告期（天）"), ("二十", 400, "公告期应填写整数天数，例如 20"),
                                 ("91", 422, "公告期最多 90 天")):
        response = await site.post(notice_path("c1"), {"notice_days": typed}, token)
        body = await response.text()
        assert response.status == status, body
        assert problem_of(body, "notice-c1-notice_days") == words
        assert f'value="{typed}"' in body, "the form keeps what was typed"
    assert (await site.voting.community_notice("c1")).stored is None

    response = await site.post(notice_path("c1"), {"notice_days": "１０"}, token)  # a phone's full-width digits
    assert response.status == 303 and response.headers["Location"] == f"{FORM}#notice-c1"
    page = await site.page(FORM)
    assert "公告期 <strong>10 天</strong>" in page and "本小区议事规则规定" in page
    assert 'value="2026-12-09T09:00"' in page, "the default opening keeps the community's period"

    refused = await site.post(FORM, GOOD, token)  # voting three days after the notice: c1 now needs ten
    body = await refused.text()
    assert refused.status == 422
    assert "议事规则" in (problem(body, "opens_at") or "") and "10 天" in (problem(body, "opens_at") or "")
    assert await site.voting.proposal_ids(10) == []

    assert (await site.post(notice_path("c2"), {"notice_days": "20"}, token)).status == 404
    assert (await site.post(notice_path("nowhere"), {"notice_days": "20"}, token)).status == 404
    assert (await site.voting.community_notice("c2")).stored is None
    for account in ("street", "wang"):
        other = await signed_in_anywhere(site, account)
        assert (await site.post(notice_path("c1"), {"notice_days": "30"}, other)).status == 403, account
    assert (await site.voting.notice_period("c1")).days == 10


def problem_of(page: str, field_id: str) -> str | None:
    found = re.search(rf'id="{field_id}-problem">([^<]*)<', page)
    return found.group(1) if found else None
