"""The demo's sign-in accounts for the voting pages' tests, with a community in their scope: a person sees the
proposals of their communities only, so the residents and the property manager are assigned the community the
test's proposals are for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.demo import DEMO_RESIDENTS, seed_demo_accounts
from accounts.service import AccountService
from accounts.storage import AccountRepository
from community.access.directory import Community
from community.access.storage import DirectoryRepository
from webkit.identity import Scope

DEMO_MANAGER = "pm-zhang"


async def demo_accounts_of(engine: AsyncEngine, community: Community, now: datetime) -> AccountService:
    """The demo's accounts on ``engine``, its residents and property manager assigned ``community`` (added to the
    access register unless it is there already)."""
    accounts = AccountService(engine)
    await seed_demo_accounts(accounts, now)
    async with engine.begin() as connection:
        if await DirectoryRepository(connection).community(community.community_id) is None:
            await DirectoryRepository(connection).add_community(community)
        scope = Scope(communities=frozenset({community.community_id}))
        for account_id in (*(resident.account_id for resident in DEMO_RESIDENTS), DEMO_MANAGER):
            await AccountRepository(connection).assign(account_id, scope)
    return accounts
