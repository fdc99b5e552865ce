"""The notice period on SQLite and PostgreSQL: a proposal whose voting opens sooner than SC_VOTING_NOTICE_DAYS after
its notice (its creation) is refused with the rule quoted — by the service, the API and the proposal form — and
nothing is recorded; a test installation's 0 is warned about at start."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from community.voting.service import NoticeRefused, VotingService
from community.voting.web import create_app
from config.settings import load_settings
from smartcity.bootstrap import voting_service
from tests.integration.api_accounts import check_tokens_with_accounts
from tests.integration.test_voting_api import AUTHORITY, MANAGER, PROPOSAL, SUBJECTS, Clock
from tests.integration.test_voting_api import OPENS as API_OPENS
from tests.integration.test_voting_register import OPENS, proposal, seed_units

pytestmark = pytest.mark.integration

LEGAL = timedelta(days=15)


async def test_a_proposal_opening_sooner_than_fifteen_days_after_its_notice_is_refused(engine: AsyncEngine) -> None:
    await seed_units(engine)
    voting = VotingService(engine)  # the law's default
    with pytest.raises(NoticeRefused) as refused:
        await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1",
                                                 now=OPENS - LEGAL + timedelta(minutes=1))
    assert "15日以前通知全体业主" in refused.value.refusal.message_zh
    assert refused.value.refusal.short_by == timedelta(minutes=1)
    assert await voting.proposal_ids(10) == [], "nothing recorded"
    await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1", now=OPENS - LEGAL)
    state = await voting.state("p-lifts", OPENS - LEGAL)
    assert state.notice_published_at == OPENS - LEGAL


async def test_a_community_requiring_more_notice_refuses_the_legal_minimum(engine: AsyncEngine) -> None:
    await seed_units(engine)
    voting = VotingService(engine, notice=timedelta(days=20))
    with pytest.raises(NoticeRefused):
        await voting.open_proposal_from_register(proposal(), "c1", body="", created_by="pm-1", now=OPENS - LEGAL)


@pytest.fixture
async def lawful_api(engine: AsyncEngine) -> AsyncIterator[tuple[TestClient[Any, Any], Clock]]:
    clock = Clock()
    await seed_units(engine)
    app = await check_tokens_with_accounts(create_app(VotingService(engine), AUTHORITY, clock), engine, SUBJECTS)
    async with TestClient(TestServer(app)) as client:
        yield client, clock


async def test_the_api_refuses_a_short_notice_naming_the_rule_and_the_field(lawful_api) -> None:  # type: ignore[no-untyped-def]
    client, clock = lawful_api
    refused = await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)
    assert refused.status == 422
    body = await refused.json()
    assert body["reason"] == "notice_too_short" and body["field"] == "opens_at"
    assert "《物业管理条例》第十三条、第十四条" in body["error_zh"]
    assert (await client.get("/api/voting/proposals", headers=MANAGER)).status == 200
    clock.now = API_OPENS - LEGAL
    created = await client.post("/api/voting/proposals", json=PROPOSAL, headers=MANAGER)
    assert created.status == 201
    assert (await created.json())["notice_published_at"].startswith((API_OPENS - LEGAL).date().isoformat())


def test_a_test_installation_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        service = voting_service(load_settings(voting_notice_days=0), engine=None)  # type: ignore[arg-type]
    assert service.notice == timedelta(0)
    assert any("SC_VOTING_NOTICE_DAYS=0" in record.getMessage() for record in caplog.records)
    caplog.clear()
    assert voting_service(load_settings(), engine=None).notice == LEGAL  # type: ignore[arg-type]
    assert not caplog.records
