"""GET /api/voting/proposals (issue 13), on both databases, with real accounts and the real checker: each caller
lists the proposals of their communities — an owner with where they stand (on the roll, the units they may vote
for, whether their ballot counts), the committee, property managers and the supervisor theirs, the administrator
all — filtered by community and status, a page at a time; a community outside the caller's scope is answered as one
that does not exist, and bad query values are refused with a 400.

The two communities of ``test_voting_scope``: c1 (wang owns b1-101 and b1-102, li and zhao co-own b1-201 which li
represents) and c2 (o1-101, co-owned by ma and wang, whom the account assigns c1 only); p-c1 and p-c2 open since an
hour, wang voted for b1-101 and ma for o1-101."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.api_accounts import give_accounts
from tests.integration.test_voting_register import OPENS, T0
from tests.integration.test_voting_scope import AUTHORITY, Compound, compound, proposal_for
from webkit.identity import Role, Scope

__all__ = ["compound"]  # the fixture, used by name

LIST = "/api/voting/proposals"


def ids(answer: tuple[int, str, Any]) -> list[str]:
    status, _, body = answer
    assert status == 200, answer
    return [item["proposal_id"] for item in body["items"]]


def item(answer: tuple[int, str, Any], proposal_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(entry for entry in answer[2]["items"] if entry["proposal_id"] == proposal_id)
    return found


async def later_and_earlier(compound: Compound) -> None:
    """Two more proposals of c1: p-later opens in a week (its roll is not frozen yet), p-old closed yesterday."""
    later = proposal_for("p-later", "c1") | {"opens_at": (OPENS + timedelta(days=7)).isoformat(),
                                             "closes_at": (OPENS + timedelta(days=14)).isoformat()}
    old = proposal_for("p-old", "c1") | {"opens_at": (OPENS - timedelta(days=10)).isoformat(),
                                         "closes_at": (OPENS - timedelta(days=1)).isoformat(), "title": "修改管理规约",
                                         "matter": "management_covenant"}
    for body in (later, old):
        assert (await compound.answer("POST", LIST, "pm-1", body))[0] == 201


async def test_an_owner_lists_their_communitys_proposals_with_where_they_stand(compound: Compound,
                                                                                engine: AsyncEngine) -> None:
    answer = await compound.answer("GET", LIST, "wang")
    assert ids(answer) == ["p-c1"], "wang co-owns a unit of c2, but the account acts on c1 only"
    lifts = item(answer, "p-c1")
    assert lifts["community_id"] == "c1" and lifts["status"] == "open" and lifts["roll_frozen"] is True
    assert lifts["matter"] == "use_of_maintenance_funds" and lifts["matter_zh"] and lifts["title"] == "更换电梯"
    assert lifts["on_roll"] is True and lifts["may_vote"] is True and lifts["election"] is False
    assert lifts["my_units"] == [
        {"unit_id": "b1-101", "label": lifts["my_units"][0]["label"], "capacity": "owner", "voted": True,
         "blocked": None},
        {"unit_id": "b1-102", "label": lifts["my_units"][1]["label"], "capacity": "owner", "voted": False,
         "blocked": None}]
    assert ids(await compound.answer("GET", LIST, "ma")) == ["p-c2"]

    # a co-owner whom the other co-owner represents: on the roll, but someone else casts the unit's ballot
    await give_accounts(engine, {"zhao": (Role.RESIDENT,)}, scope={"zhao": Scope(frozenset({"c1"}))})
    token = AUTHORITY.issue("zhao", {Role.RESIDENT}, T0, timedelta(days=365))
    response = await compound.client.get(LIST, headers={"Authorization": f"Bearer {token}"})
    zhao = (await response.json())["items"][0]
    assert zhao["on_roll"] is True and zhao["may_vote"] is False
    assert [(u["unit_id"], u["blocked"]) for u in zhao["my_units"]] == [("b1-201", "double_representation")]


async def test_the_committee_managers_supervisor_and_administrator_list_what_their_scope_holds(
        compound: Compound) -> None:
    for subject in ("wei", "pm-1", "street"):
        answer = await compound.answer("GET", LIST, subject)
        assert ids(answer) == ["p-c1"], subject
        assert item(answer, "p-c1")["on_roll"] is False and item(answer, "p-c1")["may_vote"] is False, subject
        assert item(answer, "p-c1")["my_units"] == [], subject
    assert ids(await compound.answer("GET", LIST, "pm-2")) == ["p-c2"]
    assert sorted(ids(await compound.answer("GET", LIST, "admin"))) == ["p-c1", "p-c2"]


async def test_the_list_filters_by_community_and_status_and_pages(compound: Compound) -> None:
    await later_and_earlier(compound)
    assert ids(await compound.answer("GET", LIST + "?status=open", "pm-1")) == ["p-c1"]
    assert ids(await compound.answer("GET", LIST + "?status=upcoming", "pm-1")) == ["p-later"]
    assert ids(await compound.answer("GET", LIST + "?status=closed", "pm-1")) == ["p-old"]
    assert ids(await compound.answer("GET", LIST + "?community_id=c2", "admin")) == ["p-c2"]
    assert ids(await compound.answer("GET", LIST + "?community_id=c1&status=open", "admin")) == ["p-c1"]

    # newest first by closing time, a page at a time
    first = await compound.answer("GET", LIST + "?limit=2", "pm-1")
    assert ids(first) == ["p-later", "p-c1"] and first[2]["next_offset"] == 2 and first[2]["limit"] == 2
    rest = await compound.answer("GET", LIST + "?limit=2&offset=2", "pm-1")
    assert ids(rest) == ["p-old"] and rest[2]["next_offset"] is None and rest[2]["offset"] == 2

    # upcoming, roll not frozen: whether one is on the roll comes from the register now; nobody votes yet
    later = item(await compound.answer("GET", LIST, "wang"), "p-later")
    assert later["status"] == "upcoming" and later["roll_frozen"] is False
    assert later["on_roll"] is True and later["may_vote"] is False and later["my_units"] == []

    old = item(await compound.answer("GET", LIST, "wang"), "p-old")
    assert old["status"] == "closed" and old["result_published"] is False and old["may_vote"] is False
    assert [u["voted"] for u in old["my_units"]] == [None, None], "told while voting is open only"
    assert (await compound.answer("POST", f"{LIST}/p-old/close", "pm-1"))[0] == 201
    assert item(await compound.answer("GET", LIST + "?status=closed", "wang"), "p-old")["result_published"] is True


async def test_a_community_outside_the_scope_is_answered_as_an_unknown_one(compound: Compound) -> None:
    for subject in ("wang", "wei", "pm-1", "street"):
        unknown = await compound.answer("GET", LIST + "?community_id=nowhere", subject)
        assert unknown[0] == 404 and unknown[2]["reason"] == "unknown_community", unknown
        outside = await compound.answer("GET", LIST + "?community_id=c2", subject)
        assert outside == (404, unknown[1], {**unknown[2], "error": unknown[2]["error"].replace("nowhere", "c2")})
    assert (await compound.answer("GET", LIST + "?community_id=nowhere", "admin"))[0] == 404


async def test_bad_query_values_are_refused_with_a_reason(compound: Compound) -> None:
    for query, field in (("status=voting", "status"), ("limit=0", "limit"), ("limit=201", "limit"),
                         ("limit=abc", "limit"), ("offset=-1", "offset"), ("community_id=a%2Fb", "community_id")):
        status, _, body = await compound.answer("GET", f"{LIST}?{query}", "pm-1")
        assert status == 400 and body["field"] == field and body["error"], (query, body)
