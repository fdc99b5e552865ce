"""Voting closes by itself at the deadline, on SQLite and PostgreSQL: the service's tick counts the log and publishes
the result with the log's head; once only (another tick, a second process, a manual close: the same result), and
after a restart or an outage the first tick publishes what fell due meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.ownership.service import OwnershipService
from community.voting import Ballot, BallotRefusal, Capacity, Choice
from community.voting.breakdown import Criterion
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.service import AUTOMATIC_CLOSE, Accepted, Refused, VotingService
from community.voting.web import create_app
from tests.integration.api_accounts import check_tokens_with_accounts
from tests.integration.test_voting_api import AUTHORITY
from tests.integration.test_voting_register import CLOSES, OPENS, REGISTER, T0, proposal, seed_units
from webkit.identity import Role

pytestmark = pytest.mark.integration

VOTES = (("b1-101", "wang", Choice.AGREE), ("b1-102", "wang", Choice.AGREE), ("b1-201", "li", Choice.OPPOSE),
         ("b2-101", "dev-hengda", Choice.AGREE))


@pytest.fixture
async def voting(engine: AsyncEngine) -> VotingService:
    await seed_units(engine)
    await OwnershipService(engine).import_register("c1", REGISTER, "pm-zhang", T0)
    return VotingService(engine, notice=TEST_INSTALLATION_NOTICE)


async def _opened_and_voted(voting: VotingService, proposal_id: str = "p-lifts") -> None:
    await voting.open_proposal_from_register(proposal(proposal_id), "c1", body="", created_by="pm-1", now=T0)
    for unit_id, voter, choice in VOTES:
        ballot = Ballot(proposal_id, unit_id, voter, Capacity.OWNER, choice)
        outcome = await voting.cast(ballot, OPENS + timedelta(hours=1))
        assert isinstance(outcome, Accepted), outcome


async def test_the_tick_publishes_the_result_at_the_deadline_with_the_chain_head(voting: VotingService) -> None:
    await _opened_and_voted(voting)
    await voting.tick(CLOSES - timedelta(seconds=1))
    assert await voting.published("p-lifts") is None, "not before the deadline"
    await voting.tick(CLOSES)
    published = await voting.published("p-lifts")
    assert published is not None and published.published_by == AUTOMATIC_CLOSE
    record = await voting.record("p-lifts")
    assert published.head == record.head and published.head.length == len(VOTES)
    assert published.result["roll_digest"] == record.roll_digest
    report = await voting.verify("p-lifts")
    assert report.is_clean, report
    late = await voting.cast(Ballot("p-lifts", "b1-201", "li", Capacity.OWNER, Choice.AGREE), CLOSES)
    assert isinstance(late, Refused) and late.refusal is BallotRefusal.VOTING_CLOSED


async def test_ticks_and_a_manual_close_publish_once(voting: VotingService, engine: AsyncEngine) -> None:
    await _opened_and_voted(voting)
    other_process = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    after = CLOSES + timedelta(seconds=2)
    await asyncio.gather(voting.tick(after), other_process.tick(after), voting.close("p-lifts", after, "pm-1"))
    first = await voting.published("p-lifts")
    assert first is not None
    await voting.tick(after + timedelta(hours=1))
    assert await voting.published("p-lifts") == first, "nothing published twice, nothing changed"
    assert await voting.close("p-lifts", after + timedelta(hours=2), "pm-1") == first


async def test_after_an_outage_the_first_tick_publishes_what_fell_due(voting: VotingService,
                                                                       engine: AsyncEngine) -> None:
    await _opened_and_voted(voting, "p-a")
    await _opened_and_voted(voting, "p-b")
    restarted = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)  # the process came back a day late
    await restarted.tick(CLOSES + timedelta(days=1))
    for proposal_id in ("p-a", "p-b"):
        published = await restarted.published(proposal_id)
        assert published is not None and published.closed_at == CLOSES + timedelta(days=1)
        assert (await restarted.verify(proposal_id)).is_clean


async def test_a_vote_nobody_took_part_in_is_frozen_and_published_by_one_tick(
        voting: VotingService) -> None:
    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1", now=T0)
    await voting.tick(CLOSES)  # the process was down all week: the tick freezes the roll, then publishes
    published = await voting.published("p-lifts")
    assert published is not None and published.head.length == 0
    assert published.result["turnout"]["participating_headcount"] == 0


async def test_the_breakdown_says_who_agreed_opposed_and_stayed_away(voting: VotingService) -> None:
    await _opened_and_voted(voting)
    await voting.tick(CLOSES)
    found = await voting.breakdown("p-lifts")
    assert found is not None and found.passed
    assert (found.agree.area, found.agree.headcount) == (Decimal("250.00"), 2)  # wang's two flats, the developer
    assert (found.oppose.area, found.oppose.headcount) == (Decimal("120.50"), 1)
    assert (found.not_voted.area, found.not_voted.headcount) == (Decimal("79.50"), 1)  # the unit without an owner
    heads = {outcome.criterion: outcome for outcome in found.criteria}[Criterion.QUORUM_HEADCOUNT]
    assert heads.met and heads.needed == 3 and heads.margin == 0, "3 of 4 persons: exactly the 2/3 needed"


@pytest.fixture
async def api(engine: AsyncEngine, voting: VotingService) -> AsyncIterator[TestClient[Any, Any]]:
    app = await check_tokens_with_accounts(create_app(voting, AUTHORITY, lambda: CLOSES + timedelta(hours=1)),
                                           engine, {"wang": [Role.RESIDENT], "street": [Role.SUPERVISOR]})
    async with TestClient(TestServer(app)) as client:
        yield client


def _bearer(subject: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {AUTHORITY.issue(subject, [role], T0, timedelta(days=60))}"}


async def test_the_result_in_the_api_has_the_breakdown_and_only_the_entitled_see_split_owners(
        voting: VotingService, api: TestClient[Any, Any]) -> None:
    await _opened_and_voted(voting)
    await voting.cast(Ballot("p-lifts", "b1-102", "wang", Capacity.OWNER, Choice.ABSTAIN), OPENS + timedelta(hours=2))
    await voting.tick(CLOSES)
    owner = await (await api.get("/api/voting/proposals/p-lifts/result", headers=_bearer("wang", Role.RESIDENT))).json()
    assert owner["published_by"] == AUTOMATIC_CLOSE
    assert owner["breakdown"]["split"]["headcount"] == 1
    assert owner["breakdown"]["split_owners"] == [{"owner_ids": ["wang"], "units": [
        {"label": "1栋1单元101", "choice": "agree"}, {"label": "1栋1单元102", "choice": "abstain"}]}]
    assert {c["criterion"]: c["met"] for c in owner["breakdown"]["criteria"]}["approval_headcount"] is False
    street = await api.get("/api/voting/proposals/p-lifts/result", headers=_bearer("street", Role.SUPERVISOR))
    assert street.status == 200
    assert (await street.json())["breakdown"]["split_owners"] == [], "the supervisor never reads named ballots"
