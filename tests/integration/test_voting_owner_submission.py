"""An owner of several units votes for all of them in one submission, each a unit ballot of its own in the log, and
lists their open votes — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.ownership.service import OwnershipService
from community.voting import Ballot, Capacity, Choice, Delegation
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.service import VotingService
from community.voting.web import create_app
from tests.integration.api_accounts import check_tokens_with_accounts
from tests.integration.test_voting_api import AUTHORITY, Clock
from tests.integration.test_voting_register import CLOSES, OPENS, REGISTER, T0, proposal, seed_units
from webkit.identity import Role

pytestmark = pytest.mark.integration

SUBJECTS = {"wang": [Role.RESIDENT], "li": [Role.RESIDENT], "zhao": [Role.RESIDENT], "chen": [Role.RESIDENT]}


def bearer(subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {AUTHORITY.issue(subject, [Role.RESIDENT], T0, timedelta(days=60))}"}


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[tuple[TestClient[Any, Any], VotingService, Clock]]:
    await seed_units(engine)
    await OwnershipService(engine).import_register("c1", REGISTER, "pm-zhang", T0)
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    for proposal_id in ("p-lifts", "p-later"):
        opens = OPENS if proposal_id == "p-lifts" else CLOSES
        await voting.open_proposal_from_register(proposal(proposal_id, opens), "c1", body="", created_by="pm-1",
                                                 now=T0)
    clock = Clock()
    clock.now = OPENS + timedelta(hours=1)
    await voting.tick(clock.now)  # the roll frozen when voting opened
    app = await check_tokens_with_accounts(create_app(voting, AUTHORITY, clock), engine, SUBJECTS)
    async with TestClient(TestServer(app)) as client:
        yield client, voting, clock


async def test_one_submission_casts_a_ballot_for_each_unit_of_the_owner_and_each_has_a_receipt(site) -> None:  # type: ignore[no-untyped-def]
    client, voting, _ = site
    cast = await client.post("/api/voting/proposals/p-lifts/ballots/all", json={"choice": "agree"},
                             headers=bearer("wang"))
    assert cast.status == 201
    ballots = (await cast.json())["ballots"]
    assert [(b["unit_id"], b["capacity"]) for b in ballots] == [("b1-101", "owner"), ("b1-102", "owner")]
    assert len({b["receipt"] for b in ballots}) == 2
    log = await voting.log("p-lifts")
    assert [(entry.unit_id, entry.voter_id, entry.choice) for entry in log] == [
        ("b1-101", "wang", Choice.AGREE), ("b1-102", "wang", Choice.AGREE)]
    for receipt in ballots:
        checked = await client.get(f"/api/voting/proposals/p-lifts/receipts/{receipt['receipt']}",
                                   headers=bearer("wang"))
        assert (await checked.json())["status"] == "counted"
    assert (await voting.verify("p-lifts")).is_clean


async def test_a_proxys_units_come_too_and_a_co_owner_who_does_not_represent_is_left_out(site) -> None:  # type: ignore[no-untyped-def]
    client, voting, clock = site
    assert await voting.record_delegation(Delegation("zhao", "wang", "p-lifts", "b1-102"), clock.now) is None
    cast = await client.post("/api/voting/proposals/p-lifts/ballots/all", json={"choice": "oppose"},
                             headers=bearer("zhao"))  # zhao co-owns b1-201, which li represents
    assert cast.status == 201
    assert [(b["unit_id"], b["capacity"]) for b in (await cast.json())["ballots"]] == [("b1-102", "proxy")]


async def test_nothing_is_recorded_when_there_is_nothing_to_vote_for_or_voting_closed(site) -> None:  # type: ignore[no-untyped-def]
    client, voting, clock = site
    nobody = await client.post("/api/voting/proposals/p-lifts/ballots/all", json={"choice": "agree"},
                               headers=bearer("chen"))
    assert nobody.status == 403  # not on the roll at all: not entitled to the proposal
    both = await client.post("/api/voting/proposals/p-lifts/ballots/all", json={"choice": "agree", "approve": []},
                             headers=bearer("wang"))
    assert both.status == 400
    await voting.cast(Ballot("p-lifts", "b1-201", "li", Capacity.OWNER, Choice.AGREE), clock.now)
    clock.now = CLOSES
    late = await client.post("/api/voting/proposals/p-lifts/ballots/all", json={"choice": "agree"},
                             headers=bearer("wang"))
    assert late.status == 409 and (await late.json())["reason"] == "voting_closed"
    assert [entry.unit_id for entry in await voting.log("p-lifts")] == ["b1-201"], "nothing else recorded"


async def test_the_owner_lists_their_open_votes(site) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = site
    mine = await (await client.get("/api/voting/mine", headers=bearer("wang"))).json()
    assert [(p["proposal_id"], p["may_vote"]) for p in mine["proposals"]] == [("p-lifts", True)]
    assert [u["unit_id"] for u in mine["proposals"][0]["my_units"]] == ["b1-101", "b1-102"]
    await client.post("/api/voting/proposals/p-lifts/ballots/all", json={"choice": "agree"}, headers=bearer("wang"))
    voted = await (await client.get("/api/voting/mine", headers=bearer("wang"))).json()
    assert voted["proposals"][0]["may_vote"] is True and all(u["voted"] for u in voted["proposals"][0]["my_units"])
    assert (await (await client.get("/api/voting/mine", headers=bearer("chen"))).json())["proposals"] == []
    assert (await client.get("/api/voting/mine")).status == 401
