"""The demo of ``smartcity run``: a compound, its ownership register and proposals, a market and sign-in
accounts, all matching the simulated devices."""

from __future__ import annotations

import logging
from datetime import datetime

from accounts.demo import DEMO_PASSWORD, DEMO_STAFF, DemoAccount, seed_demo_accounts
from community.access.demo import seed_demo as seed_demo_community
from community.access.service import NotFound as ResidentNotFound
from community.ownership.demo import seed_demo_ownership
from community.voting.demo import seed_demo_proposals
from devices.simulator import TrafficGenerator
from market.demo import seed_demo_market
from smartcity.bootstrap import Services
from webkit.identity import Role

log = logging.getLogger(__name__)


DEMO_OWNERS = (
    ("P010001", (Role.RESIDENT,)),  # owns two flats of building 1
    ("P010004", (Role.RESIDENT,)),  # represents a co-owned flat
    ("P010005", (Role.RESIDENT,)),  # the other co-owner: someone else votes for that flat
    ("P020001", (Role.RESIDENT, Role.COMMITTEE)),
)
"""Owners of the demo compound who get sign-in accounts (the ids the access demo gives its residents
and the ownership demo makes owners, whatever the simulator's seed)."""


async def seed_demo(services: Services, site: str, generator: TrafficGenerator, now: datetime) -> list[str]:
    """Demo data matching the simulated devices (each part only where the database has none):
    the compound and its ownership register, two proposals, the market, and sign-in accounts.
    Returns lines telling the user how to sign in."""
    await seed_demo_community(services.access, site, generator.community_roster(), now)
    await seed_demo_ownership(services.ownership, services.access, site, now)
    await seed_demo_proposals(services.voting, site, now)
    await seed_demo_market(services.market, site, now, generator.market_roster(now))
    owners = []
    for owner_id, roles in DEMO_OWNERS:
        try:
            resident, _community = await services.access.resident(owner_id)
        except ResidentNotFound:  # a demo compound too small to have this person
            continue
        name = f"{resident.name}（业委会）" if Role.COMMITTEE in roles else resident.name
        owners.append(DemoAccount(owner_id, name, roles))
    created = await seed_demo_accounts(services.accounts, now, (*owners, *DEMO_STAFF))
    if not created:
        return []
    names = ", ".join(f"{account.account_id} {account.display_name} "
                      f"({', '.join(sorted(role.value for role in account.roles))})" for account in created)
    return [f"Demo accounts, password {DEMO_PASSWORD!r}: {names}"]


