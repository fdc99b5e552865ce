"""Proxy attendance (委托出席) and the minutes' re-anchoring, on SQLite and PostgreSQL.

An owner who cannot come appoints another account of the community to attend for the units they speak for — refused
for a unit not theirs or not on the roll, by a co-owner who is not the designated representative, for oneself, for an
account of another community or none, twice for one unit, for a unit signed in already, before the notice and after
sign-in closes —; the proxy signs in through the same sign-in and attendance counts each unit once and the proxy as
the owner they attend for; the API and who sees which sign-ins. An appointment is withdrawn (撤回委托) by who made it
or who speaks for the unit now — refused for anyone else, once the proxy has signed in, after sign-in closed, for a
unit without one —, kept for the record and counting nothing, and the unit appointed for again; a withdrawal and the
proxy's sign-in at once never both succeed. A vote on the agenda that closes after the minutes
were published appends one result entry with its final log head to the meeting's chain — by the tick or by hand,
never twice, not again after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.service import AccountService
from community.ownership.service import OwnershipService
from community.voting import Ballot, Capacity, Choice
from community.voting.meeting_service import MeetingService
from community.voting.meeting_storage import MaterialFiles
from community.voting.meetings import MeetingRefusal, Presence, ProxyAppointment, ProxyWithdrawal
from community.voting.service import AUTOMATIC_CLOSE, Accepted, VotingService
from community.voting.web import mount as mount_voting_api
from tests.integration.api_accounts import give_accounts
from tests.integration.test_voting_api import AUTHORITY, Clock
from tests.integration.test_voting_meetings import ENDS, NOTICE_DAY, STARTS, assembly, bearer
from tests.integration.test_voting_register import CLOSES, OPENS, REGISTER, T0, proposal, seed_units
from tests.integration.test_voting_scope import C2_REGISTER
from webkit.auth import check_tokens_with
from webkit.identity import Role, Scope

pytestmark = pytest.mark.integration

PEOPLE: dict[str, tuple[tuple[Role, ...], str]] = {
    "pm-1": ((Role.PROPERTY_MANAGER,), "c1"), "pm-2": ((Role.PROPERTY_MANAGER,), "c2"),
    "wang": ((Role.RESIDENT,), "c1"), "li": ((Role.RESIDENT,), "c1"), "zhao": ((Role.RESIDENT,), "c1"),
    "liu": ((Role.RESIDENT,), "c1"), "wei": ((Role.RESIDENT, Role.COMMITTEE), "c1"),
    "chen": ((Role.RESIDENT,), "c2"), "street": ((Role.SUPERVISOR,), "c1"),
}
"""liu rents in c1 and owns nothing there: the proxy. chen lives in c2. pm-1 manages c1 but signs in to nothing."""


@pytest.fixture
async def service(engine: AsyncEngine, tmp_path: Path) -> MeetingService:
    await seed_units(engine)
    ownership = OwnershipService(engine)
    await ownership.import_register("c1", REGISTER, "pm-1", T0)
    await ownership.import_register("c2", C2_REGISTER, "pm-2", T0)
    await give_accounts(engine, {name: roles for name, (roles, _) in PEOPLE.items()},
                        {name: Scope(communities=frozenset({c})) for name, (_, c) in PEOPLE.items()})
    voting = VotingService(engine, notice=timedelta(days=15))
    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1", now=T0)
    meetings = MeetingService(engine, voting, MaterialFiles(tmp_path / "voting-materials"))
    await meetings.create(assembly(), "pm-1", T0)
    assert await meetings.add_item("m-1", "p-lifts", T0) is None
    return meetings


async def test_a_proxy_attends_for_the_owner_who_appointed_them_and_each_unit_counts_once(
        service: MeetingService) -> None:
    async def appoint(unit_id: str, proxy_id: str, by: str, now: Any = NOTICE_DAY) -> Any:
        return await service.appoint_proxy("m-1", unit_id, proxy_id, by, now)

    assert await appoint("b1-201", "liu", "li", T0) is MeetingRefusal.NOTICE_NOT_PUBLISHED
    assert await service.publish_notice("m-1", NOTICE_DAY) is None
    assert await appoint("b1-201", "liu", "zhao") is MeetingRefusal.NOT_REPRESENTATIVE, "li represents b1-201"
    assert await appoint("b1-201", "liu", "wang") is MeetingRefusal.NOT_OWNER_OF_UNIT
    assert await appoint("b2-102", "liu", "wang") is MeetingRefusal.NOT_OWNER_OF_UNIT, "no owner recorded"
    assert await appoint("o1-101", "liu", "wang") is MeetingRefusal.UNIT_NOT_ON_ROLL, "c2's unit, wang co-owns it"
    assert await appoint("b9-999", "liu", "li") is MeetingRefusal.UNIT_NOT_ON_ROLL
    assert await appoint("b1-201", "li", "li") is MeetingRefusal.PROXY_IS_SELF
    for outsider in ("chen", "nobody", "pm-1", "street"):
        assert await appoint("b1-201", outsider, "li") is MeetingRefusal.UNKNOWN_PROXY, outsider
    appointed = await appoint("b1-201", "liu", "li")
    assert appointed == ProxyAppointment("b1-201", "liu", "li", NOTICE_DAY)
    assert await appoint("b1-201", "wang", "li") is MeetingRefusal.PROXY_APPOINTED, "one proxy per unit"
    assert isinstance(await appoint("b2-101", "wang", "dev-hengda"), ProxyAppointment), "an owner attends for two"
    assert (await service.view("m-1", NOTICE_DAY)).proxies == (
        appointed, ProxyAppointment("b2-101", "wang", "dev-hengda", NOTICE_DAY))

    minute = timedelta(minutes=1)
    assert await service.sign_in("m-1", "liu", STARTS) == ("b1-201",)
    assert await service.sign_in("m-1", "wang", STARTS + minute) == ("b1-101", "b1-102", "b2-101")
    assert await service.sign_in("m-1", "li", STARTS + 2 * minute) == ("b1-201",), "the owner may come after all"
    assert await service.sign_in("m-1", "chen", STARTS) is MeetingRefusal.NOT_AN_OWNER
    assert await service.sign_in("m-1", "liu", STARTS) is MeetingRefusal.ALREADY_SIGNED_IN
    assert await appoint("b1-101", "liu", "wang", STARTS) is MeetingRefusal.UNIT_SIGNED_IN

    present = await service.attendance("m-1", STARTS + 3 * minute)
    assert present is not None
    assert (present.persons, present.units, present.area, present.proxy_units) == (3, 4, Decimal("370.50"), 2), \
        "wang, li and zhao's unit, the developer: three persons; b1-201 once though li and liu both came"
    assert present.present == (Presence("liu", (), (("b1-201", "li"),)),
                               Presence("wang", ("b1-101", "b1-102"), (("b2-101", "dev-hengda"),)),
                               Presence("li", (), ()))
    assert await appoint("b1-201", "wang", "li", ENDS) is MeetingRefusal.APPOINTMENT_CLOSED


async def test_two_appointments_for_one_unit_at_once_keep_one(service: MeetingService) -> None:
    await service.publish_notice("m-1", NOTICE_DAY)

    outcomes = await asyncio.gather(*(service.appoint_proxy("m-1", "b1-201", proxy, "li", NOTICE_DAY)
                                      for proxy in ("liu", "wang", "wei")))

    assert sum(isinstance(outcome, ProxyAppointment) for outcome in outcomes) == 1
    assert [o for o in outcomes if not isinstance(o, ProxyAppointment)] == [MeetingRefusal.PROXY_APPOINTED] * 2
    assert len((await service.view("m-1", NOTICE_DAY)).proxies) == 1


@pytest.fixture
async def api(engine: AsyncEngine, service: MeetingService) -> AsyncIterator[tuple[TestClient[Any, Any], Clock]]:
    clock = Clock()
    clock.now = NOTICE_DAY
    app = web.Application()
    mount_voting_api(app, service.voting, AUTHORITY, clock, service)
    check_tokens_with(app, AccountService(engine))
    async with TestClient(TestServer(app)) as client:
        yield client, clock


def resident(subject: str) -> dict[str, str]:
    return bearer(subject, Role.RESIDENT)


async def test_the_api_appoints_a_proxy_and_shows_who_signed_in_for_whom(
        api: tuple[TestClient[Any, Any], Clock]) -> None:
    client, clock = api
    pm = bearer("pm-1", Role.PROPERTY_MANAGER)
    path = "/api/voting/meetings/m-1"
    assert (await client.post(path + "/proxies", json={"unit_id": "b1-201", "proxy_id": "liu"},
                              headers=resident("li"))).status == 404, "a draft: not the residents'"
    assert (await client.post(path + "/notice", headers=pm)).status == 201

    async def appoint(who: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = await client.post(path + "/proxies", json=body, headers=resident(who))
        return response.status, await response.json()

    status, body = await appoint("li", {"unit_id": "b1-201", "proxy_id": "chen"})
    assert (status, body["reason"]) == (422, "unknown_proxy") and "本小区" in body["error_zh"]
    status, body = await appoint("wang", {"unit_id": "b1-201", "proxy_id": "liu"})
    assert (status, body["reason"]) == (403, "not_owner_of_unit")
    status, body = await appoint("zhao", {"unit_id": "b1-201", "proxy_id": "liu"})
    assert (status, body["reason"]) == (403, "not_representative")
    status, body = await appoint("li", {"unit_id": "b1-201"})
    assert status == 400, "the body breaks the schema"
    status, body = await appoint("li", {"unit_id": "b1-201", "proxy_id": "liu"})
    assert status == 201 and body | {"granted_at": None} == {"unit_id": "b1-201", "proxy_id": "liu",
                                                             "granted_by": "li", "granted_at": None}
    status, body = await appoint("li", {"unit_id": "b1-201", "proxy_id": "wang"})
    assert (status, body["reason"]) == (409, "proxy_appointed")
    other = await client.post(path + "/proxies", json={"unit_id": "o1-101", "proxy_id": "chen"},
                              headers=resident("chen"))
    unknown = await client.post("/api/voting/meetings/m-none/proxies", json={"unit_id": "o1-101", "proxy_id": "chen"},
                                headers=resident("chen"))
    assert other.status == unknown.status == 404, "another community's meeting: as one that does not exist"
    assert (await other.json())["error"].replace("m-1", "X") == (await unknown.json())["error"].replace("m-none", "X")
    assert (await client.post(path + "/proxies", json={"unit_id": "b1-201", "proxy_id": "liu"},
                              headers=bearer("street", Role.SUPERVISOR))).status == 403

    clock.now = STARTS
    signed = await client.post(path + "/sign-in", headers=resident("liu"))
    assert signed.status == 201 and (await signed.json())["unit_ids"] == ["b1-201"]
    clock.now = STARTS + timedelta(minutes=1)
    assert (await client.post(path + "/sign-in", headers=resident("wang"))).status == 201

    everything = await (await client.get(path + "/attendance", headers=pm)).json()
    assert (everything["persons"], everything["units"], everything["proxy_units"]) == (2, 3, 1)
    assert everything["sign_ins"] == [
        {"person_id": "liu", "own_units": [], "proxy_for": [{"unit_id": "b1-201", "granted_by": "li"}]},
        {"person_id": "wang", "own_units": ["b1-101", "b1-102"], "proxy_for": []}]
    assert [p["proxy_id"] for p in everything["proxies"]] == ["liu"]
    supervised = await (await client.get(path + "/attendance", headers=bearer("street", Role.SUPERVISOR))).json()
    assert supervised["sign_ins"] == everything["sign_ins"]
    mine = await (await client.get(path + "/attendance", headers=resident("li"))).json()
    assert [s["person_id"] for s in mine["sign_ins"]] == ["liu"], "the sign-in that attends for li, not wang's"
    assert [p["proxy_id"] for p in mine["proxies"]] == ["liu"]
    neighbour = await (await client.get(path + "/attendance", headers=resident("zhao"))).json()
    assert (neighbour["sign_ins"], neighbour["proxies"], neighbour["units"]) == ([], [], 3), "figures, no names"

    clock.now = ENDS
    status, body = await appoint("wang", {"unit_id": "b1-101", "proxy_id": "liu"})
    assert (status, body["reason"]) == (409, "appointment_closed") and "签到已截止" in body["error_zh"]


# --- withdrawing an appointment (撤回委托) -------------------------------------------------------------------------

async def test_an_appointment_is_withdrawn_until_the_proxy_signs_in_and_the_unit_appointed_again(
        service: MeetingService) -> None:
    async def withdraw(unit_id: str, by: str, now: Any = NOTICE_DAY) -> Any:
        return await service.withdraw_proxy("m-1", unit_id, by, now)

    assert await service.publish_notice("m-1", NOTICE_DAY) is None
    first = await service.appoint_proxy("m-1", "b1-201", "liu", "li", NOTICE_DAY)
    assert isinstance(first, ProxyAppointment)
    for other in ("zhao", "liu", "wang", "pm-1"):  # the other co-owner (li represents b1-201), the proxy, strangers
        assert await withdraw("b1-201", other) is MeetingRefusal.NOT_YOUR_APPOINTMENT, other
    assert await withdraw("b1-101", "wang") is MeetingRefusal.NO_APPOINTMENT
    later = NOTICE_DAY + timedelta(days=3)
    assert await withdraw("b1-201", "li", later) == ProxyWithdrawal(first, "li", later)
    assert await withdraw("b1-201", "li", later) is MeetingRefusal.NO_APPOINTMENT, "withdrawn already"
    view = await service.view("m-1", later)
    assert view.proxies == () and view.withdrawn == (ProxyWithdrawal(first, "li", later),), "kept for the record"
    assert [unit.unit_id for unit in await service.appointable(view, "li", later)] == ["b1-201"]

    again = await service.appoint_proxy("m-1", "b1-201", "wei", "li", later)
    assert again == ProxyAppointment("b1-201", "wei", "li", later), "the unit is appointed for again"
    assert await service.sign_in("m-1", "liu", STARTS) is MeetingRefusal.NOT_AN_OWNER, "the withdrawn proxy: nothing"
    assert await service.sign_in("m-1", "wei", STARTS) == ("b1-201",)
    assert await withdraw("b1-201", "li", STARTS) is MeetingRefusal.PROXY_SIGNED_IN
    present = await service.attendance("m-1", STARTS)
    assert present is not None and (present.persons, present.units, present.proxy_units) == (1, 1, 1)
    assert present.present == (Presence("wei", (), (("b1-201", "li"),)),), "the withdrawn appointment counts nothing"

    assert isinstance(await service.appoint_proxy("m-1", "b2-101", "wang", "dev-hengda", STARTS), ProxyAppointment)
    assert await withdraw("b2-101", "dev-hengda", ENDS) is MeetingRefusal.WITHDRAWAL_CLOSED
    assert len((await service.view("m-1", ENDS)).withdrawn) == 1


async def test_a_withdrawal_and_the_proxys_sign_in_at_once_never_both_succeed(service: MeetingService) -> None:
    await service.publish_notice("m-1", NOTICE_DAY)
    await service.appoint_proxy("m-1", "b1-201", "liu", "li", NOTICE_DAY)
    await service.appoint_proxy("m-1", "b2-101", "wei", "dev-hengda", NOTICE_DAY)

    twice = await asyncio.gather(*(service.withdraw_proxy("m-1", "b2-101", by, STARTS)
                                   for by in ("dev-hengda", "dev-hengda")))
    signed, withdrawn = await asyncio.gather(service.sign_in("m-1", "liu", STARTS),
                                             service.withdraw_proxy("m-1", "b1-201", "li", STARTS))

    assert sorted(isinstance(outcome, ProxyWithdrawal) for outcome in twice) == [False, True]
    assert MeetingRefusal.NO_APPOINTMENT in twice
    if signed == ("b1-201",):
        assert withdrawn is MeetingRefusal.PROXY_SIGNED_IN
    else:
        assert signed is MeetingRefusal.NOT_AN_OWNER and isinstance(withdrawn, ProxyWithdrawal)
    view = await service.view("m-1", STARTS)
    assert len(view.withdrawn) == 1 + isinstance(withdrawn, ProxyWithdrawal)
    present = await service.attendance("m-1", STARTS)
    assert present is not None and present.proxy_units == (1 if signed == ("b1-201",) else 0)


async def test_the_api_withdraws_an_appointment_for_who_made_it_and_keeps_the_record(
        api: tuple[TestClient[Any, Any], Clock]) -> None:
    client, clock = api
    pm = bearer("pm-1", Role.PROPERTY_MANAGER)
    path = "/api/voting/meetings/m-1"

    async def withdraw(who: str, unit_id: str = "b1-201") -> tuple[int, dict[str, Any]]:
        response = await client.post(f"{path}/proxies/{unit_id}/withdraw", headers=resident(who))
        return response.status, await response.json()

    assert (await withdraw("li"))[0] == 404, "a draft: not the residents'"
    assert (await client.post(path + "/notice", headers=pm)).status == 201
    status, body = await withdraw("li")
    assert (status, body["reason"]) == (404, "no_appointment") and "没有委托" in body["error_zh"]
    appointed = await client.post(path + "/proxies", json={"unit_id": "b1-201", "proxy_id": "liu"},
                                  headers=resident("li"))
    assert appointed.status == 201
    status, body = await withdraw("zhao")
    assert (status, body["reason"]) == (403, "not_your_appointment") and "撤回" in body["error_zh"]
    other = await client.post(f"{path}/proxies/b1-201/withdraw", headers=resident("chen"))
    unknown = await client.post("/api/voting/meetings/m-none/proxies/b1-201/withdraw", headers=resident("chen"))
    assert other.status == unknown.status == 404, "another community's meeting: as one that does not exist"
    assert (await other.json())["error"].replace("m-1", "X") == (await unknown.json())["error"].replace("m-none", "X")
    assert (await client.post(f"{path}/proxies/b1-201/withdraw",
                              headers=bearer("street", Role.SUPERVISOR))).status == 403

    clock.now = NOTICE_DAY + timedelta(hours=1)
    status, body = await withdraw("li")
    assert status == 200 and body | {"granted_at": None, "withdrawn_at": None} == {
        "unit_id": "b1-201", "proxy_id": "liu", "granted_by": "li", "granted_at": None, "withdrawn_by": "li",
        "withdrawn_at": None}
    assert body["withdrawn_at"] > body["granted_at"]
    shown = await (await client.get(path + "/attendance", headers=pm)).json()
    assert shown["proxies"] == [] and [w["withdrawn_by"] for w in shown["withdrawn"]] == ["li"]
    seen_by_proxy = await (await client.get(path + "/attendance", headers=resident("liu"))).json()
    assert [w["proxy_id"] for w in seen_by_proxy["withdrawn"]] == ["liu"], "the proxy sees they were withdrawn"
    assert (await (await client.get(path + "/attendance", headers=resident("wang"))).json())["withdrawn"] == []

    again = await client.post(path + "/proxies", json={"unit_id": "b1-201", "proxy_id": "wei"},
                              headers=resident("li"))
    assert again.status == 201, await again.text()
    clock.now = STARTS
    assert (await client.post(path + "/sign-in", headers=resident("wei"))).status == 201
    status, body = await withdraw("li")
    assert (status, body["reason"]) == (409, "proxy_signed_in")
    clock.now = ENDS
    status, body = await withdraw("li")
    assert (status, body["reason"]) == (409, "withdrawal_closed") and "会议已结束" in body["error_zh"]
    assert [p["proxy_id"] for p in (await (await client.get(path + "/attendance", headers=pm)).json())["proxies"]] \
        == ["wei"], "refusals change nothing"


# --- re-anchoring: a vote closing after the minutes ----------------------------------------------------------------

async def published_minutes(service: MeetingService, meeting_id: str = "m-1") -> None:
    if meeting_id != "m-1":
        await service.create(assembly(meeting_id), "pm-1", T0)
        assert await service.add_item(meeting_id, "p-lifts", T0) is None
    assert await service.publish_notice(meeting_id, NOTICE_DAY) is None
    assert await service.draft_minutes(meeting_id, "一、审议电梯更换方案。", "wei", ENDS) is None
    assert await service.approve_minutes(meeting_id, "zhou", ENDS) is None
    assert await service.publish_minutes(meeting_id, "zhou", ENDS) is None


async def test_a_vote_closing_after_the_minutes_binds_its_final_head_to_the_chain_once(
        service: MeetingService, engine: AsyncEngine, tmp_path: Path) -> None:
    await published_minutes(service)
    await published_minutes(service, "m-2")  # two meetings took up the same vote
    voting = service.voting
    for unit_id, voter, choice in (("b1-101", "wang", Choice.AGREE), ("b1-201", "li", Choice.OPPOSE)):
        cast = await voting.cast(Ballot("p-lifts", unit_id, voter, Capacity.OWNER, choice), OPENS)
        assert isinstance(cast, Accepted), cast
    before = await service.view("m-1", OPENS)
    assert [e.kind for e in before.chain] == ["notice", "minutes"] and before.bound_heads == {"p-lifts": None}

    await voting.tick(CLOSES + timedelta(seconds=1))
    published = await voting.published("p-lifts")
    assert published is not None and published.published_by == AUTOMATIC_CLOSE
    for meeting_id in ("m-1", "m-2"):
        view = await service.view(meeting_id, CLOSES)
        assert [e.kind for e in view.chain] == ["notice", "minutes", "result"], meeting_id
        assert view.chain[2].record["proposal_id"] == "p-lifts"
        assert (view.chain[2].record["length"], view.chain[2].record["head_hash"]) == (
            published.head.length, published.head.head_hash)
        bound = view.bound_heads["p-lifts"]
        assert bound is not None and (bound.length, bound.head_hash, bound.sequence, bound.kind) == (
            published.head.length, published.head.head_hash, 3, "result")
        assert not view.chain_problems

    await voting.tick(CLOSES + timedelta(minutes=1))
    await voting.close("p-lifts", CLOSES + timedelta(minutes=2), "wei")
    restarted = MeetingService(engine, VotingService(engine, notice=timedelta(days=15)),
                               MaterialFiles(tmp_path / "voting-materials"))
    await restarted.voting.tick(CLOSES + timedelta(hours=1))
    await restarted.voting.close("p-lifts", CLOSES + timedelta(hours=1), "wei")
    assert [len((await restarted.view(m, CLOSES)).chain) for m in ("m-1", "m-2")] == [3, 3], "one entry per vote"


async def test_minutes_published_after_the_vote_closed_bind_it_themselves(service: MeetingService) -> None:
    await service.publish_notice("m-1", NOTICE_DAY)
    await service.voting.cast(Ballot("p-lifts", "b1-101", "wang", Capacity.OWNER, Choice.AGREE), OPENS)
    published = await service.voting.close("p-lifts", CLOSES, "wei")
    assert [e.kind for e in (await service.view("m-1", CLOSES)).chain] == ["notice"], "no minutes: nothing to bind"

    await service.draft_minutes("m-1", "一、审议电梯更换方案。", "wei", CLOSES)
    await service.approve_minutes("m-1", "zhou", CLOSES)
    await service.publish_minutes("m-1", "zhou", CLOSES)
    view = await service.view("m-1", CLOSES)
    assert [e.kind for e in view.chain] == ["notice", "minutes"]
    assert view.chain[1].record["results"] == {"p-lifts": {"length": published.head.length,
                                                           "head_hash": published.head.head_hash}}
    bound = view.bound_heads["p-lifts"]
    assert bound is not None and (bound.sequence, bound.kind) == (2, "minutes")


async def test_the_api_shows_the_bound_heads_and_the_chain(api: tuple[TestClient[Any, Any], Clock],
                                                          service: MeetingService) -> None:
    client, _ = api
    await published_minutes(service)
    await service.voting.tick(CLOSES)  # freezes the roll no ballot froze, counts nobody, publishes
    shown = await (await client.get("/api/voting/meetings/m-1", headers=resident("wang"))).json()
    published = await service.voting.published("p-lifts")
    assert published is not None
    assert shown["chain_length"] == 3 and shown["chain_intact"]
    assert [entry["kind"] for entry in shown["chain"]] == ["notice", "minutes", "result"]
    assert shown["chain"][2]["entry_hash"] == shown["chain_head"]
    assert shown["chain"][1]["record"]["results"] == {"p-lifts": None}
    assert shown["agenda"][0]["result_head"] == {"length": published.head.length,
                                                 "head_hash": published.head.head_hash,
                                                 "chain_entry": 3, "bound_by": "result"}
