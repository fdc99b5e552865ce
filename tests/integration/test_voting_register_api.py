"""The API of rolls frozen from the ownership register, and of the register itself, on both databases: a proposal
given its roll or taking it from the register, "roll not yet frozen" until voting opens, ballots refused with a
reason until then, the published roll with its frozen time, its digest and the units without a recorded owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.ownership.service import OwnershipService
from community.ownership.web import mount as mount_ownership_api
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.service import VotingService
from community.voting.web import mount as mount_voting_api
from tests.integration.api_accounts import check_tokens_with_accounts
from tests.integration.helpers import assert_openapi_describes_the_routes
from tests.integration.test_voting_register import OPENS, REGISTER, T0, seed_units
from webkit.identity import Role, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"r" * 32)


class Clock:
    def __init__(self) -> None:
        self.now = OPENS - timedelta(days=2)

    def __call__(self) -> Any:
        return self.now


def bearer(subject: str, *roles: Role) -> dict[str, str]:
    token = AUTHORITY.issue(subject, roles, T0 - timedelta(days=1), timedelta(days=365))
    return {"Authorization": f"Bearer {token}"}


SUBJECTS = {"pm-zhang": [Role.PROPERTY_MANAGER], "admin": [Role.ADMIN],
            **{name: [Role.RESIDENT] for name in ("wang", "li", "zhao", "chen")}}
"""Everyone the tests issue tokens for has an account (the API refuses a token of a subject without one)."""
MANAGER = bearer("pm-zhang", Role.PROPERTY_MANAGER)
ADMIN = bearer("admin", Role.ADMIN)
WANG, LI, ZHAO, CHEN = (bearer(name, Role.RESIDENT) for name in ("wang", "li", "zhao", "chen"))

PROPOSAL: dict[str, Any] = {
    "proposal_id": "p-lifts",
    "matter": "use_of_maintenance_funds",
    "title": "使用维修资金更换电梯",
    "opens_at": OPENS.isoformat(),
    "closes_at": (OPENS + timedelta(days=7)).isoformat(),
    "roll_from_register": {"community_id": "c1"},
}
P = "/api/voting/proposals/p-lifts"


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[tuple[TestClient[Any, Any], Clock, VotingService]]:
    await seed_units(engine)
    await OwnershipService(engine).import_register("c1", REGISTER, "pm-zhang", T0)
    clock, voting = Clock(), VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    app = web.Application()
    mount_voting_api(app, voting, AUTHORITY, clock)
    mount_ownership_api(app, OwnershipService(engine), AUTHORITY, clock)
    await check_tokens_with_accounts(app, engine, SUBJECTS)
    async with TestClient(TestServer(app)) as client:
        yield client, clock, voting


async def test_a_proposal_takes_its_roll_from_the_register_when_voting_opens(api) -> None:  # type: ignore[no-untyped-def]
    client, clock, voting = api
    created = await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)
    assert created.status == 201, await created.text()
    body = await created.json()
    assert body["roll_source"] == "register" and body["roll_community_id"] == "c1"
    assert body["roll_frozen"] is False and body["roll_frozen_at"] is None and body["roll"] == []
    assert "roll not yet frozen" in body["roll_note"]
    preview = body["roll_preview"]
    assert preview["units"] == 5 and preview["total_area_m2"] == "450.00", "every unit, with or without an owner"
    assert [unit["unit_id"] for unit in preview["problems"]] == ["b2-102"], "the manager sees what to register"

    assert (await client.get(P, headers=ZHAO)).status == 200, "an owner in the register sees it before freezing"
    owner_view = await (await client.get(P, headers=ZHAO)).json()
    assert owner_view["roll_preview"] is None and owner_view["roll_frozen"] is False
    assert (await client.get(P, headers=CHEN)).status == 403

    for path, payload in ((f"{P}/ballots", {"unit_id": "b1-101", "choice": "agree"}),
                          (f"{P}/delegations", {"unit_id": "b1-101", "delegate_id": "chen"})):
        refused = await client.post(path, json=payload, headers=WANG)
        assert refused.status == 409, path
        assert (await refused.json())["reason"] == "roll_not_frozen"
    turnout = await client.get(f"{P}/turnout", headers=WANG)
    assert turnout.status == 409 and (await turnout.json())["reason"] == "roll_not_frozen"

    clock.now = OPENS + timedelta(seconds=2)
    await voting.tick(clock.now)
    frozen = await (await client.get(P, headers=WANG)).json()
    assert frozen["roll_frozen"] is True and frozen["roll_frozen_at"] == "2026-12-01T01:00:00Z"
    assert frozen["roll_note"] is None and frozen["roll_preview"] is None
    assert [unit["unit_id"] for unit in frozen["roll"]] == ["b1-101", "b1-102", "b1-201", "b2-101", "b2-102"]
    assert [unit["owner_recorded"] for unit in frozen["roll"]] == [True, True, True, True, False]
    assert all("owner_ids" not in unit for unit in frozen["roll"]), "the published roll names no owners"
    assert frozen["roll_problems"] == [{
        "unit_id": "b2-102", "label": "2栋1单元102", "area_m2": "79.50", "problem": "no_owner_recorded",
        "problem_zh": "产权登记中没有该专有部分的业主：其面积计入总面积、按一人计入总人数，但无人可以投票",
        "problem_en": "no owner is recorded for the unit: its area counts in the total area and it counts as one "
                      "person in the total headcount, but nobody can vote for it"}]
    assert len(frozen["roll_digest"]) == 64 and frozen["log_anchored"] is True
    cast = await client.post(f"{P}/ballots", json={"unit_id": "b1-101", "choice": "agree"}, headers=WANG)
    assert cast.status == 201
    turnout = await (await client.get(f"{P}/turnout", headers=WANG)).json()
    assert (turnout["participating_headcount"], turnout["total_headcount"]) == (1, 4)
    assert turnout["total_area_m2"] == "450.00"
    nobody = await client.post(f"{P}/delegations", json={"unit_id": "b2-102", "delegate_id": "chen"}, headers=WANG)
    assert nobody.status == 403 and (await nobody.json())["reason"] == "not_an_owner"


async def test_a_proposal_opening_now_is_frozen_at_creation(api) -> None:  # type: ignore[no-untyped-def]
    client, clock, _ = api
    clock.now = OPENS + timedelta(minutes=5)
    created = await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)
    assert created.status == 201
    body = await created.json()
    assert body["roll_frozen"] is True and body["roll_frozen_at"] == "2026-12-01T01:00:00Z"
    assert len(body["roll"]) == 5 and [u["unit_id"] for u in body["roll_problems"]] == ["b2-102"]
    cast = await client.post(f"{P}/ballots", json={"unit_id": "b1-201", "choice": "oppose"}, headers=LI)
    assert cast.status == 201


async def test_the_given_roll_still_works_and_bad_roll_requests_are_refused(api) -> None:  # type: ignore[no-untyped-def]
    client, clock, _ = api
    given = {**PROPOSAL, "roll_from_register": None, "community_id": "c1",
             "roll": [{"unit_id": "9-101", "label": "9栋101", "area_m2": "88.00", "owner_ids": ["chen"]}]}
    created = await client.post("/api/voting/proposals", json=given, headers=MANAGER)
    assert created.status == 201
    body = await created.json()
    assert body["roll_source"] == "given" and body["roll_frozen"] is True and body["community_id"] == "c1"
    assert body["roll_frozen_at"] == clock.now.isoformat().replace("+00:00", "Z") and body["roll_problems"] == []
    assert (await client.get(P, headers=CHEN)).status == 200

    both = {**given, "proposal_id": "p-both", "roll_from_register": {"community_id": "c1"}}
    neither = {key: value for key, value in PROPOSAL.items() if key != "roll_from_register"} | {"proposal_id": "p-0"}
    for bad in (both, neither):
        refused = await client.post("/api/voting/proposals", json=bad, headers=MANAGER)
        assert refused.status == 400 and "either roll or roll_from_register" in await refused.text()
    for bad, problem in (({**given, "proposal_id": "p-x", "community_id": None}, "give community_id with a roll"),
                         ({**PROPOSAL, "proposal_id": "p-x", "community_id": "c2"}, "name different communities")):
        refused = await client.post("/api/voting/proposals", json=bad, headers=MANAGER)
        assert refused.status == 400 and problem in await refused.text()
    for unknown_community in ({**PROPOSAL, "roll_from_register": {"community_id": "nowhere"}},
                              {**given, "proposal_id": "p-x", "community_id": "nowhere"}):
        unknown = await client.post("/api/voting/proposals", headers=MANAGER, json=unknown_community)
        assert unknown.status == 422 and (await unknown.json())["reason"] == "unknown_community"
    agreeing = await client.post("/api/voting/proposals", headers=MANAGER,
                                 json={**PROPOSAL, "proposal_id": "p-agreeing", "community_id": "c1"})
    assert agreeing.status == 201 and (await agreeing.json())["community_id"] == "c1"
    assert (await client.post("/api/voting/proposals", json={**PROPOSAL, "proposal_id": "p-lifts"},
                              headers=MANAGER)).status == 409


async def test_an_empty_register_refuses_a_proposal_opening_now(api) -> None:  # type: ignore[no-untyped-def]
    client, clock, _ = api
    clock.now = OPENS
    empty = await client.post("/api/voting/proposals", headers=MANAGER,
                              json={**PROPOSAL, "opens_at": (T0 - timedelta(days=1)).isoformat()})
    assert empty.status == 422 and "had a recorded owner" in (await empty.json())["error"]
    assert (await client.get(P, headers=MANAGER)).status == 404, "nothing was recorded"


async def test_the_property_office_keeps_the_register(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    register = "/api/ownership/communities/c1"
    assert (await client.get(register, headers=WANG)).status == 403
    listed = await (await client.get(register, headers=MANAGER)).json()
    assert [unit["unit_id"] for unit in listed["unregistered"]] == ["b2-102"]
    co_owned = next(unit for unit in listed["units"] if unit["unit_id"] == "b1-201")
    assert co_owned["label"] == "1栋1单元201" and co_owned["area_m2"] == "120.50"
    assert co_owned["ownership"]["owners"] == [{"owner_id": "li", "name": "李明"}, {"owner_id": "zhao", "name": "赵丽"}]
    assert co_owned["ownership"]["representative_id"] == "li"

    chen = {"owners": [{"owner_id": "chen", "name": "陈刚"}]}
    recorded = await client.put("/api/ownership/units/b2-102", json=chen, headers=MANAGER)
    assert recorded.status == 200 and (await recorded.json())["recorded_by"] == "pm-zhang"
    assert (await (await client.get(register, headers=ADMIN)).json())["unregistered"] == []
    assert (await client.put("/api/ownership/units/b2-102", json=chen, headers=CHEN)).status == 403
    assert (await client.put("/api/ownership/units/nope", json=chen, headers=MANAGER)).status == 404
    bad_representative = await client.put("/api/ownership/units/b2-102", headers=MANAGER,
                                          json={**chen, "representative_id": "wang"})
    assert bad_representative.status == 422 and "representative" in (await bad_representative.json())["error"]
    second_developer = await client.put("/api/ownership/units/b2-102", headers=MANAGER, json={
        "owners": [{"owner_id": "dev-other", "name": "另一开发商"}], "held_by_developer": True})
    assert second_developer.status == 422 and "same developer" in (await second_developer.json())["error"]
    assert (await client.put("/api/ownership/units/b2-102", json={"owners": []}, headers=MANAGER)).status == 400
    history = await (await client.get("/api/ownership/units/b2-102/history", headers=MANAGER)).json()
    assert [entry["owners"][0]["owner_id"] for entry in history["entries"]] == ["chen"]

    imported = await client.post(f"{register}/import", headers=MANAGER, json={"units": [
        {"unit_id": "b1-101", "owners": [{"owner_id": "zhao", "name": "赵丽"}]},
        {"unit_id": "b2-102", "owners": [{"owner_id": "wang", "name": "王芳"}]}]})
    assert imported.status == 201 and (await imported.json())["recorded"] == 2
    foreign = await client.post(f"{register}/import", headers=MANAGER, json={"units": [
        {"unit_id": "o1-101", "owners": [{"owner_id": "zhao", "name": "赵丽"}]}]})
    assert foreign.status == 422 and "o1-101" in (await foreign.json())["error"]
    assert (await client.post("/api/ownership/communities/nowhere/import", headers=MANAGER, json={"units": [
        {"unit_id": "b1-101", "owners": [{"owner_id": "zhao", "name": "赵丽"}]}]})).status == 404
    assert (await client.get("/api/ownership/communities/nowhere", headers=MANAGER)).status == 404


async def test_the_openapi_document_describes_both_contexts_routes(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    document = await (await client.get("/openapi.json")).json()
    assert_openapi_describes_the_routes(document, client.app)
    assert "put" in document["paths"]["/api/ownership/units/{unit_id}"]
    proposal_in = document["components"]["schemas"]["ProposalIn"]["properties"]
    assert {"roll", "roll_from_register", "community_id"} <= set(proposal_in)


async def test_the_record_for_a_recount_holds_person_ids_and_no_names(api) -> None:  # type: ignore[no-untyped-def]
    client, clock, _ = api
    clock.now = OPENS + timedelta(minutes=5)
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)).status == 201
    assert (await client.post(f"{P}/ballots", json={"unit_id": "b1-201", "choice": "agree"}, headers=LI)).status == 201
    clock.now = OPENS + timedelta(days=7)  # the whole record once the result is published (before: the chain alone)
    assert (await client.post(f"{P}/close", headers=MANAGER)).status == 201
    downloaded = await client.get(f"{P}/record", headers=ZHAO)
    assert downloaded.status == 200
    text = await downloaded.text()
    document = await downloaded.json()
    units = {unit["unit_id"]: unit["owner_ids"] for unit in document["roll"]["units"]}
    assert units == {"b1-101": ["wang"], "b1-102": ["wang"], "b1-201": ["li", "zhao"], "b2-101": ["dev-hengda"],
                     "b2-102": []}
    assert not any(name in text for name in ("王芳", "李明", "赵丽", "恒达置业")), "the register's names stay there"
    assert (await client.get(f"{P}/record", headers=CHEN)).status == 403
