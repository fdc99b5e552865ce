"""Paper ballots beside online ones, on SQLite and PostgreSQL: double entry by two committee members, mismatches held
for review and settled by a third member, one ballot per unit, paper prevailing over an online ballot (flagged in the
log), refusals with the reason — and the recount of a mixed paper/online vote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.ownership.service import OwnershipService
from community.voting import Ballot, BallotRefusal, Capacity, Choice
from community.voting.audit import PaperEntry
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.paper_entry import PaperReading
from community.voting.service import Refused, VotingService
from community.voting.verification import record_document, record_from_document, verify_record
from community.voting.web import create_app
from tests.integration.api_accounts import check_tokens_with_accounts
from tests.integration.test_voting_api import AUTHORITY, Clock
from tests.integration.test_voting_register import CLOSES, OPENS, REGISTER, T0, proposal, seed_units
from webkit.identity import Role

pytestmark = pytest.mark.integration

DURING = OPENS + timedelta(hours=3)
RECEIVED = OPENS + timedelta(hours=2)


def paper(unit_id: str, choice: Choice = Choice.AGREE, scan: str = "scan://box1/0001") -> PaperReading:
    return PaperReading(unit_id, choice, scan, RECEIVED)


@pytest.fixture
async def voting(engine: AsyncEngine) -> VotingService:
    await seed_units(engine)
    await OwnershipService(engine).import_register("c1", REGISTER, "pm-zhang", T0)
    service = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    await service.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1", now=T0)
    await service.tick(OPENS)
    return service


async def test_a_paper_ballot_counts_when_two_members_entered_it_alike(voting: VotingService) -> None:
    first = await voting.enter_paper("p-lifts", paper("b1-201"), "wei", DURING)
    assert first.status == "pending" and await voting.log("p-lifts") == []
    same = await voting.enter_paper("p-lifts", paper("b1-201"), "wei", DURING)
    assert same.refusal is BallotRefusal.SAME_CLERK, "the second entry is another member's"
    second = await voting.enter_paper("p-lifts", paper("b1-201"), "li", DURING)
    assert second.status == "confirmed" and second.log_entry is not None
    assert second.log_entry.entered_by == ("wei", "li") and second.log_entry.supersedes is None
    again = await voting.enter_paper("p-lifts", paper("b1-201", scan="scan://box1/0002"), "wei", DURING)
    assert again.refusal is BallotRefusal.PAPER_EXISTS, "one ballot per unit"
    assert [e.status for e in await voting.paper_entries("p-lifts")] == ["confirmed", "confirmed"]


async def test_entries_that_disagree_are_held_and_a_third_member_settles_them(voting: VotingService) -> None:
    await voting.enter_paper("p-lifts", paper("b1-101", Choice.AGREE), "wei", DURING)
    held = await voting.enter_paper("p-lifts", paper("b1-101", Choice.OPPOSE), "li", DURING)
    assert held.status == "held" and held.disagreeing == ("choice",)
    assert await voting.log("p-lifts") == [] and (await voting.chain("p-lifts")) == [], "nothing counted"
    settled = await voting.enter_paper("p-lifts", paper("b1-101", Choice.OPPOSE), "zhou", DURING)
    assert settled.status == "confirmed" and settled.log_entry is not None
    assert settled.log_entry.entered_by == ("li", "zhou")
    statuses = [(e.entered_by, e.status) for e in await voting.paper_entries("p-lifts")]
    assert statuses == [("wei", "refused"), ("li", "confirmed"), ("zhou", "confirmed")], "nothing typed is lost"


async def test_bad_paper_ballots_are_refused_with_the_reason(voting: VotingService) -> None:
    off_roll = await voting.enter_paper("p-lifts", paper("o1-101"), "wei", DURING)
    assert off_roll.refusal is BallotRefusal.UNIT_NOT_ON_ROLL
    late = PaperReading("b1-101", Choice.AGREE, "scan://late", CLOSES + timedelta(minutes=1))
    assert (await voting.enter_paper("p-lifts", late, "wei", DURING)).refusal is (
        BallotRefusal.PAPER_RECEIVED_AFTER_CLOSE)
    after_close = await voting.enter_paper("p-lifts", paper("b1-101"), "wei", CLOSES)
    assert after_close.refusal is BallotRefusal.VOTING_CLOSED
    assert await voting.paper_entries("p-lifts") == []


async def test_paper_prevails_over_online_flagged_and_the_mixed_vote_recounts(voting: VotingService) -> None:
    online = await voting.cast(Ballot("p-lifts", "b1-101", "wang", Capacity.OWNER, Choice.OPPOSE), DURING)
    assert not isinstance(online, Refused)
    await voting.cast(Ballot("p-lifts", "b1-102", "wang", Capacity.OWNER, Choice.AGREE), DURING)
    for clerk in ("wei", "li"):
        await voting.enter_paper("p-lifts", paper("b1-101", Choice.AGREE), clerk, DURING)
        await voting.enter_paper("p-lifts", paper("b2-101", Choice.AGREE, "scan://box1/0007"), clerk, DURING)
    papers = [entry for entry in await voting.chain("p-lifts") if isinstance(entry, PaperEntry)]
    assert [(p.unit_id, p.supersedes) for p in papers] == [("b1-101", 1), ("b2-101", None)], "flagged"
    refused = await voting.cast(Ballot("p-lifts", "b1-101", "wang", Capacity.OWNER, Choice.OPPOSE), DURING)
    assert isinstance(refused, Refused) and refused.refusal is BallotRefusal.PAPER_BALLOT_COUNTS
    await voting.tick(CLOSES)
    found = await voting.breakdown("p-lifts")
    assert found is not None and found.agree.headcount == 2 and found.oppose.headcount == 0
    record = await voting.record("p-lifts")
    report = verify_record(record_from_document(record_document(record)))  # as `votes verify --from FILE` does
    assert report.is_clean and report.published is not None
    assert report.recount.result.turnout.participating_headcount == 2


@pytest.fixture
async def api(engine: AsyncEngine, voting: VotingService) -> AsyncIterator[TestClient[Any, Any]]:
    clock = Clock()
    clock.now = DURING
    subjects = {"wei": [Role.COMMITTEE], "li": [Role.COMMITTEE], "wang": [Role.RESIDENT]}
    app = await check_tokens_with_accounts(create_app(voting, AUTHORITY, clock), engine, subjects)
    async with TestClient(TestServer(app)) as client:
        yield client


def bearer(subject: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {AUTHORITY.issue(subject, [role], T0, timedelta(days=60))}"}


async def test_the_api_takes_paper_ballots_from_the_committee_only(api: TestClient[Any, Any]) -> None:
    url = "/api/voting/proposals/p-lifts/paper-ballots"
    body = {"unit_id": "b1-201", "choice": "agree", "scan_ref": "scan://box1/0003", "received_at": RECEIVED.isoformat()}
    assert (await api.post(url, json=body, headers=bearer("wang", Role.RESIDENT))).status == 403
    first = await api.post(url, json=body, headers=bearer("wei", Role.COMMITTEE))
    assert first.status == 201 and (await first.json())["status"] == "pending"
    held = await api.post(url, json={**body, "choice": "oppose"}, headers=bearer("li", Role.COMMITTEE))
    assert held.status == 202 and (await held.json())["disagreeing"] == ["choice"]
    future = await api.post(url, json={**body, "received_at": (DURING + timedelta(hours=1)).isoformat()},
                            headers=bearer("li", Role.COMMITTEE))
    assert future.status == 422
    listed = await (await api.get(url, headers=bearer("wei", Role.COMMITTEE))).json()
    assert [e["status"] for e in listed["entries"]] == ["held", "held"]
    assert (await api.get(url, headers=bearer("wang", Role.RESIDENT))).status == 403
    assert (await api.post("/api/voting/proposals/nope/paper-ballots", json=body,
                           headers=bearer("wei", Role.COMMITTEE))).status == 404
