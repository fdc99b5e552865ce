"""The voting API end to end over HTTP, on both databases: roles, rules as 4xx, receipts, results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.voting import ORDINARY_RULE, Matter
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.service import VotingService
from community.voting.web import create_app
from tests.integration.api_accounts import check_tokens_with_accounts
from tests.integration.helpers import assert_openapi_describes_the_routes
from tests.integration.test_voting_register import seed_units
from webkit.identity import Role, TokenAuthority

pytestmark = pytest.mark.integration

OPENS = datetime(2026, 12, 1, tzinfo=UTC)
AUTHORITY = TokenAuthority(b"t" * 32)


class Clock:
    def __init__(self) -> None:
        self.now = OPENS - timedelta(hours=2)

    def __call__(self) -> datetime:
        return self.now


def bearer(subject: str, *roles: Role) -> dict[str, str]:
    token = AUTHORITY.issue(subject, roles, OPENS - timedelta(days=1), timedelta(days=30))
    return {"Authorization": f"Bearer {token}"}


SUBJECTS = {"pm-1": [Role.PROPERTY_MANAGER], "wei": [Role.COMMITTEE],
            **{name: [Role.RESIDENT] for name in ("wang", "li", "zhao", "chen", "sun")}}
"""Everyone the tests issue tokens for has an account (the API refuses a token of a subject without one)."""
MANAGER = bearer("pm-1", Role.PROPERTY_MANAGER)
WANG, LI, ZHAO = (bearer(name, Role.RESIDENT) for name in ("wang", "li", "zhao"))
CHEN = bearer("chen", Role.RESIDENT)

PROPOSAL: dict[str, Any] = {
    "proposal_id": "p-lifts",
    "matter": "use_of_maintenance_funds",
    "title": "使用维修资金更换电梯",
    "opens_at": OPENS.isoformat(),
    "closes_at": (OPENS + timedelta(days=7)).isoformat(),
    "community_id": "c1",
    "roll": [
        {"unit_id": "1-101", "label": "1栋101", "area_m2": "89.37", "owner_ids": ["wang"]},
        {"unit_id": "1-102", "label": "1栋102", "area_m2": "120.05", "owner_ids": ["li", "zhao"],
         "representative_id": "li"},
        {"unit_id": "2-201", "label": "2栋201", "area_m2": "75.50", "owner_ids": ["wang"]},
    ],
}


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[tuple[TestClient[Any, Any], Clock]]:
    clock = Clock()
    await seed_units(engine)  # the communities a proposal may be for (its roll is given, not the register's)
    voting = VotingService(engine, notice=TEST_INSTALLATION_NOTICE)  # the proposals open two hours after notice
    app = await check_tokens_with_accounts(create_app(voting, AUTHORITY, clock), engine, SUBJECTS)
    async with TestClient(TestServer(app)) as client:
        yield client, clock


async def test_only_managers_open_proposals_and_bad_ones_are_refused_clearly(api) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    assert (await client.post("/api/voting/proposals", json=PROPOSAL)).status == 401
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=WANG)).status == 403
    broken = await client.post("/api/voting/proposals", json={**PROPOSAL, "matter": "party"}, headers=MANAGER)
    assert broken.status == 400 and (await broken.json())["details"][0]["field"] == "matter"
    backwards = await client.post("/api/voting/proposals", headers=MANAGER,
                                  json={**PROPOSAL, "closes_at": OPENS.isoformat()})
    assert backwards.status == 422 and "close after it opens" in (await backwards.json())["error"]
    created = await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)
    assert created.status == 201
    body = await created.json()
    assert body["matter_zh"] == Matter.USE_OF_MAINTENANCE_FUNDS.label_zh
    assert body["rule_en"] == ORDINARY_RULE.statement_en
    assert all("owner_ids" not in unit for unit in body["roll"]), "the published roll names no owners"
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)).status == 409
    assert (await client.get("/api/voting/proposals/p-lifts")).status == 401
    assert (await client.get("/api/voting/proposals/nope", headers=WANG)).status == 404


async def test_a_vote_from_ballot_to_receipt_to_result(api) -> None:  # type: ignore[no-untyped-def]
    client, clock = api
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)).status == 201
    url = "/api/voting/proposals/p-lifts"

    early = await client.post(f"{url}/ballots", json={"unit_id": "1-101", "choice": "agree"}, headers=WANG)
    assert early.status == 409 and (await early.json())["reason"] == "not_open_yet"
    clock.now = OPENS + timedelta(hours=1)

    receipts = []
    for unit in ("1-101", "2-201"):
        cast = await client.post(f"{url}/ballots", json={"unit_id": unit, "choice": "agree"}, headers=WANG)
        assert cast.status == 201
        receipts.append((await cast.json())["receipt"])
    represented = await client.post(f"{url}/ballots", json={"unit_id": "1-102", "choice": "agree"}, headers=ZHAO)
    assert represented.status == 403 and (await represented.json())["reason"] == "double_representation"
    stranger = await client.post(f"{url}/ballots", json={"unit_id": "1-102", "choice": "agree"}, headers=CHEN)
    assert stranger.status == 403 and (await stranger.json())["reason"] == "not_entitled"
    assert (await client.get(url, headers=CHEN)).status == 403, "the roll is published to those entitled only"
    not_theirs = await client.post(f"{url}/ballots", json={"unit_id": "1-102", "choice": "agree"}, headers=WANG)
    assert not_theirs.status == 403 and (await not_theirs.json())["reason"] == "not_an_owner"
    for bad in ({"unit_id": "1-102", "choice": "maybe"}, {"unit_id": "1-102"},
                {"unit_id": "1-102", "choice": "agree", "approve": ["x"]}):
        assert (await client.post(f"{url}/ballots", json=bad, headers=LI)).status == 400, bad
    assert (await client.post(f"{url}/ballots", json={"unit_id": "9-999", "choice": "agree"},
                              headers=LI)).status == 422
    proxied = await client.post(f"{url}/ballots", json={"unit_id": "1-102", "capacity": "proxy",
                                                        "choice": "oppose"}, headers=WANG)
    assert proxied.status == 403 and (await proxied.json())["reason"] == "no_delegation"
    assert (await client.post(f"{url}/delegations", json={"unit_id": "1-102", "delegate_id": "chen"},
                              headers=WANG)).status == 403, "only an owner delegates"
    assert (await client.post(f"{url}/delegations", json={"unit_id": "1-102", "delegate_id": "chen"},
                              headers=LI)).status == 201
    assert (await client.post(f"{url}/ballots", json={"unit_id": "1-102", "capacity": "proxy",
                                                     "choice": "oppose"}, headers=CHEN)).status == 201

    turnout = await (await client.get(f"{url}/turnout", headers=WANG)).json()
    assert turnout["participation_area_ratio"] == "1/1" and turnout["quorum_met"] is True
    status = await (await client.get(f"{url}/receipts/{receipts[0]}", headers=WANG)).json()
    assert status == {"status": "counted"}
    still_open = await (await client.get(f"{url}/verification", headers=WANG)).json()
    assert still_open["chain_intact"] is True and still_open["closed"] is False and still_open["result"] is None

    clock.now = OPENS + timedelta(days=8)
    late = await client.post(f"{url}/ballots", json={"unit_id": "1-101", "choice": "oppose"}, headers=WANG)
    assert late.status == 409 and (await late.json())["reason"] == "voting_closed"
    closed = await (await client.get(f"{url}/verification", headers=LI)).json()
    result = closed["result"]
    # wang's two units (164.87 m², one person) agree; 1-102 (120.05 m², one person) opposes
    assert result["approval_area_ratio"] == "16487/28492"
    assert result["approval_headcount_ratio"] == "1/2" and result["passed"] is False
    assert result["rule_zh"] == ORDINARY_RULE.statement_zh


async def test_the_openapi_document_matches_the_routes(api) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    document = await (await client.get("/openapi.json")).json()
    assert_openapi_describes_the_routes(document, client.app)
    ballot = document["paths"]["/api/voting/proposals/{proposal_id}/ballots"]["post"]
    assert ballot["security"] == [{"bearer": []}] and {"201", "401", "403", "409", "422"} <= set(ballot["responses"])


async def test_owners_deliberate_until_close_and_the_committee_moderates(api) -> None:  # type: ignore[no-untyped-def]
    client, clock = api
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)).status == 201
    url = "/api/voting/proposals/p-lifts/comments"
    first = await client.post(url, json={"body": "电梯已经用了二十年，赞成更换"}, headers=WANG)
    assert first.status == 201
    rude = await client.post(url, json={"body": "广告：低价装修"}, headers=ZHAO)
    assert rude.status == 201
    rude_id = (await rude.json())["comment_id"]
    outsider = await client.post(url, json={"body": "hello"}, headers=CHEN)
    assert outsider.status == 403 and (await outsider.json())["reason"] == "not_entitled"
    assert (await client.post(url, json={"body": ""}, headers=WANG)).status == 400
    assert (await client.post(url, json={"body": "x" * 2001}, headers=WANG)).status == 400

    committee = bearer("wei", Role.COMMITTEE)
    assert (await client.post(f"{url}/{rude_id}/hide", json={"reason": "广告"}, headers=WANG)).status == 403
    assert (await client.post(f"{url}/999/hide", json={"reason": "x"}, headers=committee)).status == 404
    assert (await client.post(f"{url}/{rude_id}/hide", json={"reason": "广告"}, headers=committee)).status == 200

    seen_by_owner = (await (await client.get(url, headers=WANG)).json())["comments"]
    assert [c["body"] for c in seen_by_owner] == ["电梯已经用了二十年，赞成更换", ""]
    assert seen_by_owner[1]["hidden"] is True and seen_by_owner[1]["hidden_reason"] == "广告"
    seen_by_committee = (await (await client.get(url, headers=committee)).json())["comments"]
    assert seen_by_committee[1]["body"] == "广告：低价装修"

    clock.now = OPENS + timedelta(days=8)
    closed = await client.post(url, json={"body": "too late"}, headers=WANG)
    assert closed.status == 409 and (await closed.json())["reason"] == "voting_closed"


async def test_closing_publishes_the_result_once_and_verification_compares_with_it(api) -> None:  # type: ignore[no-untyped-def]
    client, clock = api
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)).status == 201
    url = "/api/voting/proposals/p-lifts"
    clock.now = OPENS + timedelta(hours=1)
    for unit in ("1-101", "2-201"):
        assert (await client.post(f"{url}/ballots", json={"unit_id": unit, "choice": "agree"},
                                  headers=WANG)).status == 201
    assert (await client.post(f"{url}/close", headers=WANG)).status == 403
    early = await client.post(f"{url}/close", headers=MANAGER)
    assert early.status == 409 and (await early.json())["reason"] == "still_open"
    assert (await client.get(f"{url}/result", headers=WANG)).status == 404

    clock.now = OPENS + timedelta(days=7)
    closed = await client.post(f"{url}/close", headers=MANAGER)
    assert closed.status == 201
    published = await closed.json()
    assert published["chain_length"] == 2 and len(published["chain_head"]) == 64
    # one person (wang, two units) of two took part: headcount 1/2 < 2/3, no quorum, not passed
    assert published["result"]["turnout"]["quorum_met"] is False and published["result"]["passed"] is False
    again = await (await client.post(f"{url}/close", headers=MANAGER)).json()
    assert again == published
    assert await (await client.get(f"{url}/result", headers=LI)).json() == published
    check = await (await client.get(f"{url}/verification", headers=LI)).json()
    assert check["chain_intact"] is True and check["published_result_matches"] is True


async def test_a_proposal_carries_its_text_and_attachments_by_reference(api) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    quote = {"title": "电梯更换报价单", "ref": "https://files.example/quotes/lift-2026.pdf", "sha256": "ab" * 32}
    bad = await client.post("/api/voting/proposals", headers=MANAGER,
                            json={**PROPOSAL, "attachments": [{**quote, "sha256": "not-a-hash"}]})
    assert bad.status == 400 and (await bad.json())["details"][0]["field"].startswith("attachments")
    body = "拟使用专项维修资金 48 万元更换 1、2 栋电梯。"
    created = await client.post("/api/voting/proposals", headers=MANAGER,
                                json={**PROPOSAL, "body": body, "attachments": [quote]})
    assert created.status == 201
    shown = await (await client.get("/api/voting/proposals/p-lifts", headers=WANG)).json()
    assert shown["body"] == body and shown["attachments"] == [quote]


async def test_a_delegation_is_checked_by_the_ballot_rule_recorded_once_and_only_until_close(api) -> None:  # type: ignore[no-untyped-def]
    client, clock = api
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)).status == 201
    url = "/api/voting/proposals/p-lifts"
    clock.now = OPENS + timedelta(hours=1)

    # zhao co-owns 1-102 but li speaks for it: zhao may not cast its ballot, so may not hand it to a proxy either
    not_representative = await client.post(f"{url}/delegations", json={"unit_id": "1-102", "delegate_id": "chen"},
                                           headers=ZHAO)
    assert not_representative.status == 403
    assert await not_representative.json() == {
        "error": "Someone else already speaks for this unit; one unit has one voice",
        "error_zh": "该专有部分已由他人代表表决，一个专有部分只能由一人代表", "reason": "double_representation"}
    stranger = await client.post(f"{url}/delegations", json={"unit_id": "1-102", "delegate_id": "chen"}, headers=WANG)
    assert stranger.status == 403 and (await stranger.json())["reason"] == "not_an_owner"
    nowhere = await client.post(f"{url}/delegations", json={"unit_id": "9-999", "delegate_id": "chen"}, headers=LI)
    assert nowhere.status == 422 and (await nowhere.json())["reason"] == "unit_not_on_roll"

    assert (await client.post(f"{url}/delegations", json={"unit_id": "1-102", "delegate_id": "chen"},
                              headers=LI)).status == 201
    again = await client.post(f"{url}/delegations", json={"unit_id": "1-102", "delegate_id": "chen"}, headers=LI)
    assert again.status == 409, await again.text()
    assert (await again.json())["reason"] == "delegation_exists"

    clock.now = OPENS + timedelta(days=7)  # the closing instant: too late to appoint anyone
    late = await client.post(f"{url}/delegations", json={"unit_id": "1-101", "delegate_id": "chen"}, headers=WANG)
    assert late.status == 409 and (await late.json())["reason"] == "voting_closed"
    verification = await (await client.get(f"{url}/verification", headers=LI)).json()
    assert verification["delegation_entries"] == 1 and verification["delegations_match_log"] is True


async def test_every_refusal_says_what_is_wrong_in_both_languages(api) -> None:  # type: ignore[no-untyped-def]
    client, clock = api
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)).status == 201
    url = "/api/voting/proposals/p-lifts"
    early = await client.post(f"{url}/ballots", json={"unit_id": "1-101", "choice": "agree"}, headers=WANG)
    assert early.status == 409
    assert await early.json() == {"error": "Voting has not opened yet", "error_zh": "表决尚未开始",
                                  "reason": "not_open_yet"}
    clock.now = OPENS + timedelta(hours=1)
    not_on_roll = await client.post(f"{url}/ballots", json={"unit_id": "9-999", "choice": "agree"}, headers=WANG)
    assert not_on_roll.status == 422
    assert await not_on_roll.json() == {"error": "The unit is not on the voter roll",
                                        "error_zh": "该专有部分不在本次表决的业主名册中", "reason": "unit_not_on_roll"}
    empty = await client.post(f"{url}/comments", json={"body": "   "}, headers=WANG)
    assert empty.status == 422
    assert await empty.json() == {"error": "The comment is empty", "error_zh": "意见内容不能为空", "reason": "empty"}


async def test_a_wrong_option_or_too_many_candidates_is_422(api) -> None:  # type: ignore[no-untyped-def]
    client, clock = api
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)).status == 201
    committee = {**PROPOSAL, "proposal_id": "p-committee", "matter": "owners_committee", "title": "选举业主委员会",
                 "election": {"candidates": ["李明", "赵丽", "孙强"], "seats": 2}}
    assert (await client.post("/api/voting/proposals", json=committee, headers=MANAGER)).status == 201
    clock.now = OPENS + timedelta(hours=1)
    resolution, election = "/api/voting/proposals/p-lifts/ballots", "/api/voting/proposals/p-committee/ballots"

    for url, ballot, reason in (
        (resolution, {"unit_id": "1-101", "approve": ["李明"]}, "wrong_option"),
        (election, {"unit_id": "1-101", "choice": "agree"}, "wrong_option"),
        (election, {"unit_id": "1-101", "approve": ["张三"]}, "wrong_option"),
        (election, {"unit_id": "1-101", "approve": ["李明", "赵丽", "孙强"]}, "too_many_candidates"),
    ):
        refused = await client.post(url, json=ballot, headers=WANG)
        assert refused.status == 422, (ballot, await refused.text())
        body = await refused.json()
        assert body["reason"] == reason and body["error"] and body["error_zh"]
    assert (await (await client.get("/api/voting/proposals/p-committee/verification",
                                    headers=WANG)).json())["entries"] == 0, "nothing was recorded"


async def test_a_whole_election_over_the_api(api) -> None:  # type: ignore[no-untyped-def]
    client, clock = api
    committee = {**PROPOSAL, "proposal_id": "p-committee", "matter": "owners_committee", "title": "选举业主委员会",
                 "election": {"candidates": ["李明", "赵丽", "孙强"], "seats": 2}}
    created = await client.post("/api/voting/proposals", json=committee, headers=MANAGER)
    assert created.status == 201
    assert (await created.json())["candidates"] == ["李明", "赵丽", "孙强"] and (await created.json())["seats"] == 2
    bad_seats = await client.post("/api/voting/proposals", headers=MANAGER, json={
        **committee, "proposal_id": "p-bad", "election": {"candidates": ["李明"], "seats": 2}})
    assert bad_seats.status == 422 and "seats" in (await bad_seats.json())["error"]
    not_committee = await client.post("/api/voting/proposals", headers=MANAGER, json={
        **committee, "proposal_id": "p-bad", "matter": "rebuilding"})
    assert not_committee.status == 422
    url = "/api/voting/proposals/p-committee"
    clock.now = OPENS + timedelta(hours=1)
    # wang (two units, one person) approves 李明 and 赵丽; li (for the co-owned flat) approves 李明 and 孙强
    for unit, headers, approve in (("1-101", WANG, ["李明", "赵丽"]), ("2-201", WANG, ["赵丽", "李明"]),
                                   ("1-102", LI, ["李明", "孙强"])):
        cast = await client.post(f"{url}/ballots", json={"unit_id": unit, "approve": approve}, headers=headers)
        assert cast.status == 201, await cast.text()
    clock.now = OPENS + timedelta(days=7)
    published = await (await client.post(f"{url}/close", headers=MANAGER)).json()
    result = published["result"]
    assert result["turnout"]["quorum_met"] is True and result["rule_zh"].startswith("选举")
    # 李明: everyone (2 of 2 persons); 赵丽: wang only (1/2, not more than half); 孙强: li only
    assert result["elected"] == ["李明"] and result["tied_for_last_seat"] == []
    assert [c["approval_headcount_ratio"] for c in result["candidates"]] == ["1/1", "1/2", "1/2"]
    check = await (await client.get(f"{url}/verification", headers=LI)).json()
    assert check["published_result_matches"] is True and check["chain_intact"] is True


async def test_anyone_entitled_downloads_the_record_and_recounts_it(api) -> None:  # type: ignore[no-untyped-def]
    from community.voting.verification import record_from_document, verify_record

    client, clock = api
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)).status == 201
    url = "/api/voting/proposals/p-lifts"
    clock.now = OPENS + timedelta(hours=1)
    assert (await client.post(f"{url}/delegations", json={"unit_id": "1-102", "delegate_id": "chen"},
                              headers=LI)).status == 201
    for unit, headers, capacity in (("1-101", WANG, "owner"), ("1-102", CHEN, "proxy")):
        assert (await client.post(f"{url}/ballots", json={"unit_id": unit, "choice": "agree", "capacity": capacity},
                                  headers=headers)).status == 201
    assert (await client.get(f"{url}/record")).status == 401
    assert (await client.get(f"{url}/record", headers=bearer("sun", Role.RESIDENT))).status == 403

    # the whole record once the result is published (before, the hash chain alone: the test below)
    clock.now = OPENS + timedelta(days=7)
    published = await (await client.post(f"{url}/close", headers=MANAGER)).json()
    downloaded = await client.get(f"{url}/record", headers=CHEN)  # a proxy is entitled too
    assert downloaded.status == 200 and "attachment" in downloaded.headers["Content-Disposition"]
    document = await downloaded.json()
    assert [unit["owner_ids"] for unit in document["roll"]["units"]] == [["wang"], ["li", "zhao"], ["wang"]]
    assert document["delegations"] == [{"unit_id": "1-102", "delegate_id": "chen", "granted_by": "li"}]
    assert [entry.get("kind", "ballot") for entry in document["chain"]] == ["delegation", "ballot", "ballot"]
    assert document["head"]["length"] == 3
    shown = await (await client.get(url, headers=WANG)).json()
    assert document["roll_digest"] == shown["roll_digest"] == document["chain"][0]["previous_hash"]
    assert verify_record(record_from_document(document)).is_clean

    assert await (await client.get(f"{url}/record", headers=WANG)).json() == document
    assert document["published"]["chain_head"] == published["chain_head"] == document["head"]["head_hash"]
    assert published["result"]["roll_digest"] == document["roll_digest"]
    report = verify_record(record_from_document(document))
    assert report.is_clean and report.published is not None


async def test_while_the_result_is_unpublished_the_record_is_the_hash_chain_alone(api) -> None:  # type: ignore[no-untyped-def]
    client, clock = api
    assert (await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)).status == 201
    url = "/api/voting/proposals/p-lifts"
    clock.now = OPENS + timedelta(hours=1)
    assert (await client.post(f"{url}/delegations", json={"unit_id": "1-102", "delegate_id": "chen"},
                              headers=LI)).status == 201
    receipts = []
    for unit, headers, capacity, choice in (("1-101", WANG, "owner", "agree"), ("1-102", CHEN, "proxy", "oppose")):
        cast = await client.post(f"{url}/ballots", json={"unit_id": unit, "choice": choice, "capacity": capacity},
                                 headers=headers)
        assert cast.status == 201
        receipts.append((await cast.json())["receipt"])
    roll_digest = (await (await client.get(url, headers=ZHAO)).json())["roll_digest"]

    links = []
    for when in (OPENS + timedelta(hours=1), OPENS + timedelta(days=7)):  # open; then closed, not yet published
        clock.now = when
        downloaded = await client.get(f"{url}/record", headers=ZHAO)
        assert downloaded.status == 200 and "attachment" in downloaded.headers["Content-Disposition"]
        text = await downloaded.text()
        for named in ("wang", "li", "chen", "zhao", "1-101", "1-102", "agree", "oppose", "voter_id", "unit_id",
                      "choice", "owner_ids", "delegate_id", "granted_by", "units", "result"):
            assert f'"{named}"' not in text, f"{named} is shown before the result is published"
        chain = json.loads(text)
        assert chain["format"] == "smartcity-vote-chain/1" and chain["published"] is None
        links = chain["chain"]
        assert [sorted(link) for link in links] == [["entry_hash", "previous_hash", "sequence"]] * 3
        assert links[0]["previous_hash"] == chain["roll_digest"] == roll_digest, "the log begins at the roll"
        assert all(later["previous_hash"] == earlier["entry_hash"] for earlier, later in pairwise(links))
        assert chain["head"] == {"length": 3, "head_hash": links[-1]["entry_hash"]}
        assert [link["entry_hash"][:16] for link in links[1:]] == [code.replace("-", "") for code in receipts], \
            "each voter finds their receipt in the chain"

    published = await (await client.post(f"{url}/close", headers=MANAGER)).json()
    record = await (await client.get(f"{url}/record", headers=ZHAO)).json()
    assert record["format"] == "smartcity-vote-record/1"
    assert record["published"]["chain_head"] == published["chain_head"]
    assert [entry["entry_hash"] for entry in record["chain"]] == [link["entry_hash"] for link in links], \
        "the published log is the one whose chain was shown"
    assert [entry.get("choice") for entry in record["chain"]] == [None, "agree", "oppose"]
