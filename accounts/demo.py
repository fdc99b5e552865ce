"""The demo's people: staff (a property manager, a market operator, an administrator) and
residents whose account ids are owner ids on a demo voter roll (the pages' tests use
:data:`DEMO_RESIDENTS`; ``smartcity run`` signs in owners of its simulated compound instead).
Never seeded into a database that already has accounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from accounts.domain import Account, AccountRefusal
from accounts.service import AccountService
from webkit.identity import Role

DEMO_PASSWORD = "smartcity-demo"


@dataclass(frozen=True)
class DemoAccount:
    account_id: str
    display_name: str
    roles: tuple[Role, ...]


DEMO_RESIDENTS = (
    DemoAccount("wang", "王芳", (Role.RESIDENT,)),
    DemoAccount("li", "李明", (Role.RESIDENT, Role.COMMITTEE)),
    DemoAccount("zhao", "赵丽", (Role.RESIDENT,)),
    DemoAccount("chen", "陈刚", (Role.RESIDENT,)),
)
DEMO_STAFF = (
    DemoAccount("pm-zhang", "张经理（物业）", (Role.PROPERTY_MANAGER,)),
    DemoAccount("market-liu", "刘主任（市场）", (Role.MARKET_OPERATOR,)),
    DemoAccount("admin", "系统管理员", (Role.ADMIN,)),
)
DEMO_ACCOUNTS = DEMO_RESIDENTS + DEMO_STAFF


async def seed_demo_accounts(accounts: AccountService, now: datetime,
                             people: Sequence[DemoAccount] = DEMO_ACCOUNTS) -> list[Account]:
    """Create ``people``'s accounts (all with password :data:`DEMO_PASSWORD`) when there are no
    accounts yet; returns those created (none when the table already had accounts)."""
    if await accounts.count() > 0:
        return []
    created: list[Account] = []
    for demo in people:
        outcome = await accounts.create_account(demo.account_id, demo.display_name, demo.roles, DEMO_PASSWORD, now)
        if isinstance(outcome, AccountRefusal):
            raise RuntimeError(f"demo account {demo.account_id!r} refused: {outcome.message}")
        created.append(outcome)
    return created
