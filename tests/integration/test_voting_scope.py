"""Issue 12 in the voting API, on both databases, with real accounts and the real checker: a proposal of a community
outside the caller's scope is answered exactly as a proposal that does not exist (status and JSON body), whatever
role the caller holds; opening one for a community outside it exactly as for an unknown community; the supervisor
reads its communities' proposals and writes nothing.

Two communities (``seed_units``): c1 (units b1-…, b2-…) and c2 (unit o1-101). Every principal but the administrator
is assigned one of them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.service import AccountService
from community.ownership.register import Owner, UnitOwnership
from community.ownership.service import OwnershipService
from community.ownership.web import mount as mount_ownership_api
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.service import VotingService
from community.voting.web import mount as mount_voting_api
from tests.integration.api_accounts import give_accounts
from tests.integration.test_voting_register import OPENS, REGISTER, T0, WANG, seed_units
from webkit.auth import check_tokens_with
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"s" * 32)
MA = Owner("ma", "马骏")
C2_REGISTER = [UnitOwnership("o1-101", (MA, WANG), representative_id="ma")]
"""c2's one unit, co-owned by wang, who lives in c1 and is assigned c1 only."""

PEOPLE: dict[str, tuple[tuple[Role, ...], frozenset[str] | None]] = {
    "pm-1": ((Role.PROPERTY_MANAGER,), frozenset({"c1"})),
    "pm-2": ((Role.PROPERTY_MANAGER,), frozenset({"c2"})),
    "wei": ((Role.COMMITTEE, Role.RESIDENT), frozenset({"c1"})),
    "wang": ((Role.RESIDENT,), frozenset({"c1"})),
    "ma": ((Role.RESIDENT,), frozenset({"c2"})),
    "street": ((Role.SUPERVISOR,), frozenset({"c1"})),
    "admin": ((Role.ADMIN,), None),
}
"""Each subject's roles and the communities its account is assigned (None: an administrator, everything)."""

UNKNOWN = "p-none"
"""A proposal id nobody created: what an out-of-scope proposal must be indistinguishable from."""


class Clock:
    def __init__(self) -> None:
        self.now = OPENS + timedelta(hours=1)

    def __call__(self) -> Any:
        return self.now


def bearer(subject: str) -> dict[str, str]:
    token = AUTHORITY.issue(subject, PEOPLE[subject][0], T0 - timedelta(days=1), timedelta(days=365))
    return {"Authorization": f"Bearer {token}"}


def proposal_for(proposal_id: str, community_id: str) -> dict[str, Any]:
    return {"proposal_id": proposal_id, "matter": "use_of_maintenance_funds", "title": "更换电梯",
            "opens_at": OPENS.isoformat(), "closes_at": (OPENS + timedelta(days=7)).isoformat(),
            "roll_from_register": {"community_id": community_id}}


@dataclass
class Compound:
    """Two communities with a proposal each, open since an hour: p-c1 (wang voted, commented) and p-c2 (ma voted,
    commented)."""

    client: TestClient[Any, Any]
    clock: Clock
    voting: VotingService
    receipts: dict[str, str]
    comments: dict[str, int]

    async def answer(self, method: str, path: str, subject: str, body: Any = None) -> tuple[int, str, Any]:
        """Status, content type and JSON body of a request by ``subject``."""
        response = await self.client.request(method, path, headers=bearer(subject), json=body)
        return response.status, response.content_type, await response.json()


async def accounts_with_scopes(engine: AsyncEngine) -> AccountService:
    await give_accounts(engine, {subject: roles for subject, (roles, _) in PEOPLE.items()},
                        scope={subject: Scope(communities=communities)
                               for subject, (_, communities) in PEOPLE.items() if communities is not None})
    return AccountService(engine)


@pytest.fixture
async def compound(engine: AsyncEngine) -> AsyncIterator[Compound]:
    await seed_units(engine)
    ownership = OwnershipService(engine)
    await ownership.import_register("c1", REGISTER, "pm-1", T0)
    await ownership.import_register("c2", C2_REGISTER, "pm-2", T0)
    clock, voting = Clock(), VotingService(engine, notice=TEST_INSTALLATION_NOTICE)
    app = web.Application()
    mount_voting_api(app, voting, AUTHORITY, clock)
    mount_ownership_api(app, ownership, AUTHORITY, clock)
    check_tokens_with(app, await accounts_with_scopes(engine))  # the real checker: the accounts' own scopes
    async with TestClient(TestServer(app)) as client:
        compound = Compound(client, clock, voting, {}, {})
        for proposal_id, community_id, voter, unit_id in (("p-c1", "c1", "wang", "b1-101"),
                                                          ("p-c2", "c2", "ma", "o1-101")):
            manager = "pm-1" if community_id == "c1" else "pm-2"
            opened = await compound.answer("POST", "/api/voting/proposals", manager,
                                           proposal_for(proposal_id, community_id))
            assert opened[0] == 201 and opened[2]["community_id"] == community_id, opened
            url = f"/api/voting/proposals/{proposal_id}"
            cast = await compound.answer("POST", f"{url}/ballots", voter, {"unit_id": unit_id, "choice": "agree"})
            assert cast[0] == 201, cast
            compound.receipts[proposal_id] = cast[2]["receipt"]
            posted = await compound.answer("POST", f"{url}/comments", voter, {"body": "广告：低价装修"})
            assert posted[0] == 201, posted
            compound.comments[proposal_id] = posted[2]["comment_id"]
        yield compound


def as_if(answer: tuple[int, str, Any], unknown_id: str, real_id: str) -> tuple[int, str, Any]:
    """The answer given for ``unknown_id``, as it would read for ``real_id`` (the body names the id asked for)."""
    status, content_type, body = answer
    return status, content_type, json.loads(json.dumps(body, ensure_ascii=False).replace(unknown_id, real_id))


def proposal_routes(compound: Compound, proposal_id: str) -> list[tuple[str, str, tuple[Role, ...], Any]]:
    """(method, path, roles that may call it, body) of every route under /api/voting/proposals/{proposal_id}."""
    url = f"/api/voting/proposals/{proposal_id}"
    comment, receipt = compound.comments["p-c2"], compound.receipts["p-c2"]
    anyone = (Role.RESIDENT, Role.COMMITTEE, Role.PROPERTY_MANAGER, Role.SUPERVISOR)
    voters = (Role.RESIDENT, Role.COMMITTEE)
    return [
        ("GET", url, anyone, None),
        ("POST", f"{url}/delegations", voters, {"unit_id": "o1-101", "delegate_id": "wei"}),
        ("POST", f"{url}/ballots", voters, {"unit_id": "o1-101", "choice": "oppose"}),
        ("POST", f"{url}/comments", voters, {"body": "我也是业主"}),
        ("GET", f"{url}/comments", anyone, None),
        ("POST", f"{url}/comments/{comment}/hide", (Role.COMMITTEE,), {"reason": "广告"}),
        ("GET", f"{url}/turnout", anyone, None),
        ("GET", f"{url}/receipts/{receipt}", anyone, None),
        ("POST", f"{url}/close", (Role.COMMITTEE, Role.PROPERTY_MANAGER), None),
        ("GET", f"{url}/result", anyone, None),
        ("GET", f"{url}/verification", anyone, None),
        ("GET", f"{url}/record", anyone, None),
    ]


async def test_another_communitys_proposal_answers_every_route_as_an_unknown_one(compound: Compound) -> None:
    compound.clock.now = OPENS + timedelta(days=8)  # closed: the record, result and close have the most to tell
    assert (await compound.answer("POST", "/api/voting/proposals/p-c2/close", "pm-2"))[0] == 201
    outsiders = [subject for subject, (_, communities) in PEOPLE.items() if communities == {"c1"}]
    checked = 0
    for (method, path, roles, body), (_, unknown_path, _, _) in zip(proposal_routes(compound, "p-c2"),
                                                                   proposal_routes(compound, UNKNOWN), strict=True):
        for subject in outsiders:
            if not set(PEOPLE[subject][0]) & set(roles):
                continue  # a role the route refuses: 403 either way, before any id is looked at
            unknown = await compound.answer(method, unknown_path, subject, body)
            assert unknown[0] == 404, (method, unknown_path, subject, unknown)
            outside = await compound.answer(method, path, subject, body)
            assert outside == as_if(unknown, UNKNOWN, "p-c2"), (method, path, subject)
            checked += 1
    assert checked >= 30
    # the proposal is there, and answers its own community's people
    assert (await compound.answer("GET", "/api/voting/proposals/p-c2/record", "ma"))[0] == 200
    assert (await compound.answer("GET", "/api/voting/proposals/p-c2", "pm-2"))[0] == 200


async def test_a_co_owner_assigned_another_community_does_not_see_its_proposal(compound: Compound) -> None:
    # wang co-owns c2's unit (on p-c2's roll) but the account holds c1 only: the scope comes first
    unknown = await compound.answer("GET", f"/api/voting/proposals/{UNKNOWN}", "wang")
    assert await compound.answer("GET", "/api/voting/proposals/p-c2", "wang") == as_if(unknown, UNKNOWN, "p-c2")
    ballot = {"unit_id": "o1-101", "choice": "agree"}
    unknown = await compound.answer("POST", f"/api/voting/proposals/{UNKNOWN}/ballots", "wang", ballot)
    assert await compound.answer("POST", "/api/voting/proposals/p-c2/ballots", "wang", ballot) == as_if(
        unknown, UNKNOWN, "p-c2")
    assert (await compound.answer("GET", "/api/voting/proposals/p-c2", "admin"))[0] == 200, "administrators see all"


async def test_a_committee_member_reads_no_other_communitys_named_record_nor_hides_its_comments(
        compound: Compound) -> None:
    """Issue 12: a committee member read another community's named ballot record and hid its comments."""
    compound.clock.now = OPENS + timedelta(days=8)
    assert (await compound.answer("POST", "/api/voting/proposals/p-c2/close", "pm-2"))[0] == 201
    named = await compound.answer("GET", "/api/voting/proposals/p-c2/record", "ma")
    assert named[0] == 200 and named[2]["chain"], "once published the record names each ballot's voter"

    unknown = await compound.answer("GET", f"/api/voting/proposals/{UNKNOWN}/record", "wei")
    assert await compound.answer("GET", "/api/voting/proposals/p-c2/record", "wei") == as_if(unknown, UNKNOWN, "p-c2")
    comment = compound.comments["p-c2"]
    hide = {"reason": "广告"}
    unknown = await compound.answer("POST", f"/api/voting/proposals/{UNKNOWN}/comments/{comment}/hide", "wei", hide)
    hidden = await compound.answer("POST", f"/api/voting/proposals/p-c2/comments/{comment}/hide", "wei", hide)
    assert hidden == as_if(unknown, UNKNOWN, "p-c2") and hidden[0] == 404
    shown = await compound.answer("GET", "/api/voting/proposals/p-c2/comments", "ma")
    assert [c["hidden"] for c in shown[2]["comments"]] == [False], "the comment stays as it was"

    # on their own community's proposal the committee member does both
    assert (await compound.answer("POST", f"/api/voting/proposals/p-c1/comments/{compound.comments['p-c1']}/hide",
                                  "wei", hide))[0] == 200
    assert (await compound.answer("POST", "/api/voting/proposals/p-c1/close", "wei"))[0] == 201
    assert (await compound.answer("GET", "/api/voting/proposals/p-c1/record", "wei"))[0] == 200


async def test_opening_a_proposal_for_another_community_is_answered_as_for_an_unknown_one(
        compound: Compound) -> None:
    given_roll = [{"unit_id": "o1-101", "label": "1栋101", "area_m2": "70.00", "owner_ids": ["ma"]}]
    payloads = {
        "from the register": lambda community: proposal_for("p-new", community),
        "given roll": lambda community: {**proposal_for("p-new", community), "roll_from_register": None,
                                         "roll": given_roll, "community_id": community},
        "both named": lambda community: {**proposal_for("p-new", community), "community_id": community},
        # the domain's own checks come first for both: still one answer
        "backwards": lambda community: {**proposal_for("p-new", community), "closes_at": OPENS.isoformat()},
        "taken id": lambda community: proposal_for("p-c1", community),
    }
    for manager in ("pm-1", "wei"):
        for name, payload in payloads.items():
            unknown = await compound.answer("POST", "/api/voting/proposals", manager, payload("nowhere"))
            assert unknown[0] == 422, (name, unknown)
            outside = await compound.answer("POST", "/api/voting/proposals", manager, payload("c2"))
            assert outside == as_if(unknown, "nowhere", "c2"), (manager, name)
    assert (await compound.answer("POST", "/api/voting/proposals", "pm-2", payloads["given roll"]("c2")))[0] == 201
    assert (await compound.answer("POST", "/api/voting/proposals", "admin",
                                  proposal_for("p-admin", "c2")))[0] == 201, "administrators open for any community"


async def test_the_supervisor_reads_its_communitys_proposals_and_writes_nothing(compound: Compound) -> None:
    url = "/api/voting/proposals/p-c1"
    for path in (url, f"{url}/comments", f"{url}/turnout", f"{url}/verification"):
        status, _, body = await compound.answer("GET", path, "street")
        assert status == 200, (path, body)
    proposal = (await compound.answer("GET", url, "street"))[2]
    assert proposal["community_id"] == "c1" and proposal["roll_preview"] is None
    assert all("owner_ids" not in unit for unit in proposal["roll"])
    comments = (await compound.answer("GET", f"{url}/comments", "street"))[2]["comments"]
    assert [c["body"] for c in comments] == ["广告：低价装修"]

    writes: list[tuple[str, Any]] = [
        ("/api/voting/proposals", proposal_for("p-street", "c1")),
        (f"{url}/ballots", {"unit_id": "b1-101", "choice": "agree"}),
        (f"{url}/delegations", {"unit_id": "b1-101", "delegate_id": "wei"}),
        (f"{url}/comments", {"body": "街道办提醒"}),
        (f"{url}/comments/{compound.comments['p-c1']}/hide", {"reason": "x"}),
        (f"{url}/close", None),
    ]
    for path, body in writes:
        assert (await compound.answer("POST", path, "street", body))[0] == 403, path
    compound.clock.now = OPENS + timedelta(days=8)
    assert (await compound.answer("GET", f"{url}/result", "street"))[0] == 404, "nothing published yet"
    assert (await compound.answer("POST", f"{url}/close", "street"))[0] == 403
    assert (await compound.answer("POST", f"{url}/close", "pm-1"))[0] == 201
    result = await compound.answer("GET", f"{url}/result", "street")
    assert result[0] == 200 and result[2]["proposal_id"] == "p-c1"
    record = await compound.answer("GET", f"{url}/record", "street")
    assert record[0] == 403 and record[2]["reason"] == "not_entitled", "the named record is not operational data"


# --- the ownership register -----------------------------------------------------------------------------------------

OWNERSHIP = {"owners": [{"owner_id": "pm-1-friend", "name": "冒名业主"}]}


async def test_a_manager_cannot_rewrite_a_units_owner_in_another_community(compound: Compound) -> None:
    """Issue 12, finding 2: a manager rewrote a unit's owner in another community."""
    unknown = await compound.answer("PUT", "/api/ownership/units/zz-999", "pm-1", OWNERSHIP)
    assert unknown[0] == 404
    rewrite = await compound.answer("PUT", "/api/ownership/units/o1-101", "pm-1", OWNERSHIP)
    assert rewrite == as_if(unknown, "zz-999", "o1-101")
    history = await compound.answer("GET", "/api/ownership/units/o1-101/history", "pm-2")
    assert [[owner["owner_id"] for owner in entry["owners"]] for entry in history[2]["entries"]] == [["ma", "wang"]]
    # a body the register refuses (422, checked before the unit) is answered alike for both too
    broken = {"owners": [{"owner_id": "x", "name": "甲"}], "representative_id": "y"}
    unknown = await compound.answer("PUT", "/api/ownership/units/zz-999", "pm-1", broken)
    assert await compound.answer("PUT", "/api/ownership/units/o1-101", "pm-1", broken) == as_if(
        unknown, "zz-999", "o1-101")
    assert (await compound.answer("PUT", "/api/ownership/units/o1-101", "pm-2", OWNERSHIP))[0] == 200
    assert (await compound.answer("PUT", "/api/ownership/units/b1-101", "pm-1", OWNERSHIP))[0] == 200


async def test_the_ownership_register_answers_another_community_as_an_unknown_one(compound: Compound) -> None:
    imported = {"units": [{"unit_id": "o1-101", "owners": [{"owner_id": "zhang", "name": "张三"}]}]}
    twice = {"units": imported["units"] * 2}  # refused before the community is looked at: one answer still
    routes: list[tuple[str, str, str, str, Any]] = [
        ("GET", "/api/ownership/units/{}/history", "zz-999", "o1-101", None),
        ("PUT", "/api/ownership/units/{}", "zz-999", "o1-101", OWNERSHIP),
        ("GET", "/api/ownership/communities/{}", "nowhere", "c2", None),
        ("POST", "/api/ownership/communities/{}/import", "nowhere", "c2", imported),
        ("POST", "/api/ownership/communities/{}/import", "nowhere", "c2", twice),
    ]
    for method, path, unknown_id, real_id, body in routes:
        unknown = await compound.answer(method, path.format(unknown_id), "pm-1", body)
        assert unknown[0] in (404, 422), (path, unknown)
        outside = await compound.answer(method, path.format(real_id), "pm-1", body)
        assert outside == as_if(unknown, unknown_id, real_id), (method, path, body)
        own = await compound.answer(method, path.format(real_id), "pm-2", body)
        assert own[0] in (200, 201, 422), "the other community's manager is answered"
        # owner names are personal data: the supervisor reads no register, in scope or not
        assert (await compound.answer(method, path.format(real_id), "street", body))[0] == 403
    assert (await compound.answer("GET", "/api/ownership/communities/c1", "street"))[0] == 403
    register = await compound.answer("GET", "/api/ownership/communities/c2", "admin")
    assert register[0] == 200 and register[2]["community_id"] == "c2", "administrators keep every register"
