"""Meetings on SQLite and PostgreSQL: convened, an agenda of the community's proposals (an item without a matter, of
another community or twice refused), materials checked by content and size (nothing half-kept), the notice refused
when too late with the rule quoted and then freezing agenda and materials, online sign-in with attendance by units,
area and heads, minutes drafted, approved by another member, published after the meeting into the meeting's hash
chain and never edited again; a minutes text altered in the database shows; and the API's scope answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.service import AccountService
from community.ownership.service import OwnershipService
from community.voting.materials import KeptMaterial, MaterialProblem
from community.voting.meeting_service import MeetingService
from community.voting.meeting_storage import MaterialFiles, meetings
from community.voting.meetings import Meeting, MeetingForm, MeetingKind, MeetingRefusal
from community.voting.notice import NoticeTooShort
from community.voting.service import VotingService
from community.voting.web import mount as mount_voting_api
from config.settings import load_settings
from smartcity.bootstrap import build_services, build_store
from tests.integration.api_accounts import give_accounts
from tests.integration.test_voting_api import AUTHORITY, Clock
from tests.integration.test_voting_register import OPENS, REGISTER, T0, proposal, seed_units
from tests.integration.test_voting_scope import C2_REGISTER
from webkit.auth import check_tokens_with
from webkit.identity import Role, Scope

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"
STARTS = OPENS - timedelta(hours=2)  # the assembly meets on the opening day, before voting opens
ENDS = STARTS + timedelta(hours=2)
NOTICE_DAY = T0 + timedelta(days=1)


def assembly(meeting_id: str = "m-1", community_id: str = "c1") -> Meeting:
    return Meeting(meeting_id, community_id, "2026 年第一次业主大会会议", MeetingKind.OWNERS_ASSEMBLY,
                   MeetingForm.MIXED, STARTS, ENDS, "小区会所")


@pytest.fixture
async def service(engine: AsyncEngine, tmp_path: Path) -> MeetingService:
    await seed_units(engine)
    ownership = OwnershipService(engine)
    await ownership.import_register("c1", REGISTER, "pm-1", T0)
    await ownership.import_register("c2", C2_REGISTER, "pm-2", T0)
    voting = VotingService(engine, notice=timedelta(days=15))
    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1", now=T0)
    await voting.open_proposal_from_register(proposal("p-c2"), "c2", body="", created_by="pm-2", now=T0)
    return MeetingService(engine, voting, MaterialFiles(tmp_path / "voting-materials"))


async def test_a_meeting_from_notice_to_published_minutes(service: MeetingService, tmp_path: Path) -> None:
    await service.create(assembly(), "pm-1", T0)
    assert await service.add_item("m-1", None, T0) is MeetingRefusal.NO_MATTER, "an item without a matter"
    assert await service.add_item("m-1", "p-c2", T0) is MeetingRefusal.UNKNOWN_PROPOSAL, "another community's"
    assert await service.add_item("m-1", "p-nothing", T0) is MeetingRefusal.UNKNOWN_PROPOSAL
    assert await service.add_item("m-1", "p-lifts", T0) is None
    assert await service.add_item("m-1", "p-lifts", T0) is MeetingRefusal.ITEM_EXISTS

    assert await service.add_material("m-1", "方案", b"", "pm-1", T0) is MaterialProblem.EMPTY
    assert await service.add_material("m-1", "方案", b"<html>not a document", "pm-1", T0) is (
        MaterialProblem.NOT_A_DOCUMENT)
    assert await service.add_material("m-1", "方案", PDF + b"x" * service.max_material_bytes, "pm-1", T0) is (
        MaterialProblem.TOO_LARGE)
    kept = await service.add_material("m-1", "电梯更换方案", PDF, "pm-1", T0)
    assert not isinstance(kept, MaterialProblem | MeetingRefusal) and kept.media_type == "application/pdf"
    files = list((tmp_path / "voting-materials").rglob("*.pdf"))
    assert len(files) == 1 and files[0].read_bytes() == PDF and oct(files[0].stat().st_mode)[-3:] == "600"
    found = await service.material("m-1", kept.material_id)
    assert found is not None and found[1] == PDF

    late = await service.publish_notice("m-1", STARTS - timedelta(days=14))
    assert isinstance(late, NoticeTooShort) and "第十三条、第十四条" in late.message_zh, "the rule quoted"
    assert (await service.view("m-1", T0)).notice_published_at is None, "nothing published"
    assert await service.publish_notice("m-1", NOTICE_DAY) is None
    view = await service.view("m-1", NOTICE_DAY)
    assert view.notice_published_at == NOTICE_DAY and [e.kind for e in view.chain] == ["notice"]
    assert view.chain[0].record["materials"] == [{"title": "电梯更换方案", "sha256": kept.sha256}]
    assert await service.add_item("m-1", "p-lifts", NOTICE_DAY) is MeetingRefusal.NOTICE_PUBLISHED
    assert await service.add_material("m-1", "补充", PDF, "pm-1", NOTICE_DAY) is MeetingRefusal.NOTICE_PUBLISHED
    assert len(list((tmp_path / "voting-materials").rglob("*.pdf"))) == 1, "nothing half-kept"

    assert await service.sign_in("m-1", "wang", STARTS - timedelta(hours=3)) is MeetingRefusal.SIGN_IN_CLOSED
    assert await service.sign_in("m-1", "wang", STARTS) == ("b1-101", "b1-102")
    assert await service.sign_in("m-1", "wang", STARTS) is MeetingRefusal.ALREADY_SIGNED_IN
    assert await service.sign_in("m-1", "li", STARTS) == ("b1-201",)
    assert await service.sign_in("m-1", "chen", STARTS) is MeetingRefusal.NOT_AN_OWNER, "c2's owner"
    present = await service.attendance("m-1", STARTS)
    assert present is not None and (present.persons, present.units) == (2, 3)
    assert present.area == Decimal("270.50") and present.total_area == Decimal("450.00")
    assert (present.total_persons, present.total_units) == (4, 5)

    during = STARTS + timedelta(hours=1)
    assert await service.approve_minutes("m-1", "wei", during) is MeetingRefusal.NO_MINUTES
    assert await service.draft_minutes("m-1", "  ", "wei", during) is MeetingRefusal.MINUTES_EMPTY
    assert await service.draft_minutes("m-1", "一、会议审议了电梯更换方案。", "wei", during) is None
    assert await service.draft_minutes("m-1", "一、会议审议了电梯更换方案。\n二、出席 2 人。", "wei", during) is None
    assert await service.publish_minutes("m-1", "wei", during) is MeetingRefusal.MINUTES_NOT_APPROVED
    assert await service.approve_minutes("m-1", "wei", during) is MeetingRefusal.SAME_MEMBER
    assert await service.approve_minutes("m-1", "zhou", during) is None
    assert await service.draft_minutes("m-1", "改", "wei", during) is MeetingRefusal.MINUTES_APPROVED
    assert await service.publish_minutes("m-1", "zhou", during) is MeetingRefusal.MEETING_NOT_ENDED
    assert await service.publish_minutes("m-1", "zhou", ENDS) is None
    assert await service.draft_minutes("m-1", "改", "wei", ENDS) is MeetingRefusal.MINUTES_PUBLISHED
    view = await service.view("m-1", ENDS)
    assert [e.kind for e in view.chain] == ["notice", "minutes"] and not view.chain_problems
    assert view.chain[1].record["results"] == {"p-lifts": None}, "its vote has not closed yet"
    assert view.minutes is not None and view.minutes.text.endswith("出席 2 人。")


async def test_minutes_altered_in_the_database_no_longer_match_the_chain(service: MeetingService,
                                                                        engine: AsyncEngine) -> None:
    await service.create(assembly(), "pm-1", T0)
    await service.add_item("m-1", "p-lifts", T0)
    await service.publish_notice("m-1", NOTICE_DAY)
    await service.draft_minutes("m-1", "原文", "wei", ENDS)
    await service.approve_minutes("m-1", "zhou", ENDS)
    await service.publish_minutes("m-1", "zhou", ENDS)
    async with engine.begin() as connection:
        await connection.execute(update(meetings).values(minutes_text="改过的纪要"))
    problems = (await service.view("m-1", ENDS)).chain_problems
    assert [p.problem for p in problems] == ["minutes_altered"]


async def test_an_empty_agenda_and_a_committee_meeting_notice(service: MeetingService) -> None:
    committee = Meeting("m-2", "c1", "业主委员会例会", MeetingKind.COMMITTEE, MeetingForm.ON_SITE,
                        NOTICE_DAY + timedelta(days=1), NOTICE_DAY + timedelta(days=1, hours=1), "会议室")
    await service.create(committee, "pm-1", T0)
    assert await service.publish_notice("m-2", NOTICE_DAY) is MeetingRefusal.AGENDA_EMPTY
    await service.add_item("m-2", "p-lifts", T0)
    # a committee meeting may meet tomorrow; the item's vote still needs its notice period
    assert await service.publish_notice("m-2", NOTICE_DAY) is None


@pytest.fixture
async def api(engine: AsyncEngine, service: MeetingService) -> AsyncIterator[TestClient[Any, Any]]:
    clock = Clock()
    clock.now = NOTICE_DAY
    people = {"pm-1": ([Role.PROPERTY_MANAGER], "c1"), "pm-2": ([Role.PROPERTY_MANAGER], "c2"),
              "wang": ([Role.RESIDENT], "c1"), "street": ([Role.SUPERVISOR], "c1")}
    await give_accounts(engine, {name: roles for name, (roles, _) in people.items()},
                        {name: Scope(communities=frozenset({c})) for name, (_, c) in people.items()})
    app = web.Application()
    mount_voting_api(app, service.voting, AUTHORITY, clock, service)
    check_tokens_with(app, AccountService(engine))  # the accounts' own scopes
    async with TestClient(TestServer(app)) as client:
        yield client


def bearer(subject: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {AUTHORITY.issue(subject, [role], T0, timedelta(days=60))}"}


async def test_the_api_convenes_publishes_and_answers_another_community_as_unknown(
        api: TestClient[Any, Any]) -> None:
    pm, other, wang = bearer("pm-1", Role.PROPERTY_MANAGER), bearer("pm-2", Role.PROPERTY_MANAGER), bearer(
        "wang", Role.RESIDENT)
    body = {"meeting_id": "m-api", "community_id": "c1", "title": "业主大会", "kind": "owners_assembly",
            "form": "online", "starts_at": STARTS.isoformat(), "ends_at": ENDS.isoformat(), "place": "网上"}
    created = await api.post("/api/voting/meetings", json=body, headers=pm)
    assert created.status == 201, await created.text()
    refused = await api.post("/api/voting/meetings", json=body | {"community_id": "c2"}, headers=pm)
    assert refused.status == 422 and (await refused.json())["reason"] == "unknown_community"
    item = await api.post("/api/voting/meetings/m-api/items", json={}, headers=pm)
    assert item.status == 422 and (await item.json())["reason"] == "no_matter"
    assert (await api.post("/api/voting/meetings/m-api/items", json={"proposal_id": "p-lifts"},
                           headers=pm)).status == 201
    fake = await api.post("/api/voting/meetings/m-api/materials?title=x", data=b"MZ\x90\x00", headers=pm)
    assert fake.status == 415 and (await fake.json())["reason"] == "not_a_document"
    assert (await api.get("/api/voting/meetings/m-api", headers=wang)).status == 404, "a draft: not the residents'"
    unknown = await api.get("/api/voting/meetings/m-nothing", headers=other)
    foreign = await api.get("/api/voting/meetings/m-api", headers=other)
    assert foreign.status == unknown.status == 404
    assert (await foreign.json())["error"].replace("m-api", "X") == (await unknown.json())["error"].replace(
        "m-nothing", "X")
    notice = await api.post("/api/voting/meetings/m-api/notice", headers=pm)
    assert notice.status == 201, await notice.text()
    shown = await (await api.get("/api/voting/meetings/m-api", headers=wang)).json()
    assert shown["notice_published_at"] and shown["chain_length"] == 1 and shown["chain_intact"]
    assert (await api.post("/api/voting/meetings/m-api/notice", headers=bearer("street", Role.SUPERVISOR))
            ).status == 403


async def test_an_owner_finds_the_coming_meetings_of_their_community_among_their_votes(
        api: TestClient[Any, Any]) -> None:
    wang = bearer("wang", Role.RESIDENT)
    body = {"title": "业主大会", "kind": "owners_assembly", "form": "online", "starts_at": STARTS.isoformat(),
            "ends_at": ENDS.isoformat(), "place": "网上"}
    for meeting_id, community, manager, item in (("m-draft", "c1", "pm-1", "p-lifts"),
                                                 ("m-out", "c1", "pm-1", "p-lifts"), ("m-c2", "c2", "pm-2", "p-c2")):
        pm = bearer(manager, Role.PROPERTY_MANAGER)
        made = await api.post("/api/voting/meetings", json=body | {"meeting_id": meeting_id, "community_id": community},
                              headers=pm)
        assert made.status == 201, await made.text()
        assert (await api.post(f"/api/voting/meetings/{meeting_id}/items", json={"proposal_id": item},
                               headers=pm)).status == 201
        if meeting_id != "m-draft":
            assert (await api.post(f"/api/voting/meetings/{meeting_id}/notice", headers=pm)).status == 201
    mine = await (await api.get("/api/voting/mine", headers=wang)).json()
    assert [meeting["meeting_id"] for meeting in mine["meetings"]] == ["m-out"], \
        "a draft is not announced yet, another community's meeting is none of theirs"


async def test_the_material_limit_is_the_setting_smartcity_builds_the_service_with(
        service: MeetingService, engine: AsyncEngine, tmp_path: Path) -> None:
    limit = 64 * 1024
    configured = load_settings(data_dir=tmp_path, auth_secret="s" * 32, mqtt_url="mqtt://127.0.0.1:1",
                               voting_max_material_bytes=limit)
    built = build_services(configured, engine, configured.mqtt_url, build_store(configured), lambda: T0).meetings
    assert built is not None and built.max_material_bytes == limit
    await built.create(assembly(), "pm-1", T0)

    assert await built.add_material("m-1", "方案", PDF + b"x" * (limit - len(PDF) + 1), "pm-1", T0) is (
        MaterialProblem.TOO_LARGE)
    assert isinstance(await built.add_material("m-1", "方案", PDF + b"x" * (limit - len(PDF)), "pm-1", T0),
                      KeptMaterial)
