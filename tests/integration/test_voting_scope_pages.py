"""Issue 12 on the voting pages, on both databases, with real accounts: the list shows the proposals of one's own
communities only, and every page and form of another community's proposal is "not found", exactly as for a proposal
that does not exist (status and page)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import AccountRefusal
from accounts.pages import mount_pages
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.ownership.service import OwnershipService
from community.voting.notice import TEST_INSTALLATION_NOTICE
from community.voting.pages import mount_voting_pages
from community.voting.rules import Matter
from community.voting.service import Accepted, VotingService
from community.voting.tally import Ballot, Capacity, Choice, Proposal
from tests.integration.helpers import HTML, PageSession
from tests.integration.test_voting_register import OPENS, REGISTER, T0, seed_units
from tests.integration.test_voting_scope import C2_REGISTER, UNKNOWN, Clock
from webkit.identity import Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

AUTHORITY = TokenAuthority(b"q" * 32)
PASSWORD = "scope-test-password"
TITLES = {"p-c1": "荷花小区更换电梯", "p-c2": "桂花小区外墙翻新"}
PEOPLE: dict[str, tuple[tuple[Role, ...], str]] = {
    "wang": ((Role.RESIDENT,), "c1"),
    "wei": ((Role.RESIDENT, Role.COMMITTEE), "c1"),
    "pm-1": ((Role.PROPERTY_MANAGER,), "c1"),
    "ma": ((Role.RESIDENT,), "c2"),
    "pm-2": ((Role.PROPERTY_MANAGER,), "c2"),
}
"""Each person's roles and the one community their account is assigned."""


@dataclass
class Site(PageSession):
    landing: ClassVar[str] = "/voting"
    password: ClassVar[str] = PASSWORD
    follow_redirects: ClassVar[bool] = False
    receipt: str


async def people(engine: AsyncEngine) -> AccountService:
    accounts = AccountService(engine)
    for account_id, (roles, community_id) in PEOPLE.items():
        created = await accounts.create_account(account_id, account_id, roles, PASSWORD, T0)
        assert not isinstance(created, AccountRefusal), created
        async with engine.begin() as connection:
            await AccountRepository(connection).assign(account_id, Scope(communities=frozenset({community_id})))
    return accounts


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[Site]:
    await seed_units(engine)
    ownership, voting, clock = OwnershipService(engine), VotingService(engine, notice=TEST_INSTALLATION_NOTICE), Clock()
    await ownership.import_register("c1", REGISTER, "pm-1", T0)
    await ownership.import_register("c2", C2_REGISTER, "pm-2", T0)
    for proposal_id, community_id in (("p-c1", "c1"), ("p-c2", "c2")):
        proposal = Proposal(proposal_id, Matter.USE_OF_MAINTENANCE_FUNDS, TITLES[proposal_id], OPENS,
                            OPENS + timedelta(days=7))
        await voting.open_proposal_from_register(proposal, community_id, body="", created_by="pm", now=clock())
    cast = await voting.cast(Ballot("p-c2", "o1-101", "ma", Capacity.OWNER, Choice.AGREE), clock())
    assert isinstance(cast, Accepted)
    app = web.Application()
    mount_pages(app, await people(engine), AUTHORITY, clock)
    mount_voting_pages(app, voting)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, cast.receipt)


async def test_the_list_shows_only_ones_own_communitys_proposals(site: Site) -> None:
    for account, (_, community_id) in PEOPLE.items():
        await site.sign_in(account)
        listed = await site.page("/voting")
        own, other = ("p-c1", "p-c2") if community_id == "c1" else ("p-c2", "p-c1")
        assert TITLES[own] in listed, account  # on its roll, or on the committee, or managing it
        assert TITLES[other] not in listed and other not in listed, account


async def test_every_page_and_form_of_another_communitys_proposal_is_not_found(site: Site) -> None:
    voters, managers = (Role.RESIDENT, Role.COMMITTEE), (Role.COMMITTEE, Role.PROPERTY_MANAGER)
    readers = (*voters, Role.PROPERTY_MANAGER)
    pages: list[tuple[str, str, tuple[Role, ...], dict[str, str]]] = [
        ("GET", "", readers, {}),
        ("GET", f"/receipt?code={site.receipt}", voters, {}),
        ("GET", f"/check?code={site.receipt}", readers, {}),
        ("GET", "/result", readers, {}),
        ("POST", "/ballot", voters, {"choice.o1-101": "oppose"}),
        ("POST", "/comments", voters, {"body": "我也是业主"}),
        ("POST", "/delegations", voters, {"unit_id": "o1-101", "delegate_id": "wei"}),
        ("POST", "/close", managers, {}),
    ]
    checked = 0
    for account in ("wang", "wei", "pm-1"):
        token = await site.sign_in(account)
        for method, suffix, roles, form in pages:
            if not set(PEOPLE[account][0]) & set(roles):
                continue
            answers = []
            for proposal_id in (UNKNOWN, "p-c2"):
                path = f"/voting/proposals/{proposal_id}{suffix}"
                if method == "GET":
                    response = await site.client.get(path, headers=HTML, allow_redirects=False)
                else:
                    response = await site.post(path, form, token)
                answers.append((response.status, (await response.text()).replace(proposal_id, "{id}")))
            assert answers[0][0] == 404 and "表决不存在" in answers[0][1], (account, method, suffix)
            assert answers[1] == answers[0], (account, method, suffix)
            checked += 1
    assert checked >= 15
    await site.sign_in("ma")  # it is there, for its own community
    assert TITLES["p-c2"] in await site.page("/voting/proposals/p-c2")
