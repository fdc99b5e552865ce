"""The demo of ``smartcity run``: two compounds with their ownership registers and proposals, two markets, the
organisations that run them and a district office that oversees them, and sign-in accounts for each — all matching
the simulated devices — so that the scoping of one installation serving many tenants can be seen: 张经理 manages
the first compound, 孙经理 the north one; 刘主任 runs the first market, 周主任 the north one; 吴科长 of the street
office reads all four; each owner sees their own compound."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from accounts.demo import DEMO_PASSWORD, DemoAccount, DemoOrganisation, seed_demo_accounts
from accounts.organisations import Organisation, OrganisationKind
from community.access.demo import NORTH_GATES, NORTH_PREFIX, DemoCompound
from community.access.demo import seed_demo as seed_demo_community
from community.access.directory import ResidentRole
from community.access.service import NotFound as ResidentNotFound
from community.ownership.demo import NORTH_DEVELOPER, seed_demo_ownership
from community.voting.demo import seed_demo_meetings, seed_demo_proposals
from devices.provisioning import BrokerUser, fleet_users
from devices.simulator import GateKeys, TrafficGenerator
from market.demo import NORTH_SCALES, NORTH_SEED_OFFSET, north_site, seed_demo_market, seed_north_demo_market
from smartcity.bootstrap import Services
from webkit.identity import Role

log = logging.getLogger(__name__)


DEMO_OWNERS = (
    ("P010001", (Role.RESIDENT,)),  # owns two flats of building 1
    ("P010004", (Role.RESIDENT,)),  # represents a co-owned flat
    ("P010005", (Role.RESIDENT,)),  # the other co-owner: someone else votes for that flat
    ("P020001", (Role.RESIDENT, Role.COMMITTEE)),
)
"""Owners of the first demo compound who get sign-in accounts (the ids the access demo gives its residents
and the ownership demo makes owners, whatever the simulator's seed)."""
NORTH_OWNER_ACCOUNTS = 2
"""Owners of the north compound who get accounts: the first is on its owners' committee."""


@dataclass(frozen=True)
class DemoFleet:
    """The simulated devices the demo matches: the installation's own site (its compound and market), and the north
    site's smaller compound and market, whose device and resident ids start with ``north-`` (ids are unique across
    the installation, and a device id is its broker user and MQTT client id)."""

    main: TrafficGenerator
    north: TrafficGenerator

    @classmethod
    def of(cls, main: TrafficGenerator, seed: int, gate_keys: GateKeys | None = None) -> DemoFleet:
        """``main`` (seeded with ``seed``) and the north site's simulator beside it."""
        north = TrafficGenerator(north_site(main.site), NORTH_GATES, NORTH_SCALES, seed + NORTH_SEED_OFFSET,
                                 bad_ratio=main.bad_ratio, gate_keys=gate_keys, id_prefix=NORTH_PREFIX)
        return cls(main, north)

    @property
    def generators(self) -> tuple[TrafficGenerator, TrafficGenerator]:
        return self.main, self.north

    def north_users(self) -> list[BrokerUser]:
        """The north devices' broker users (the main site's are the run's ``fleet``)."""
        return north_users(self.main.site)


def north_users(site: str) -> list[BrokerUser]:
    """Broker users for the simulated devices of ``site``'s demo north site (``smartcity provision --demo``)."""
    return fleet_users(north_site(site), NORTH_GATES, NORTH_SCALES, prefix=NORTH_PREFIX)


def demo_organisations(site: str) -> tuple[DemoOrganisation, ...]:
    north = north_site(site)
    return (
        DemoOrganisation(Organisation("yangguang-wuye", "阳光物业服务有限公司", OrganisationKind.PROPERTY_COMPANY),
                         communities=(site,)),
        DemoOrganisation(Organisation("beiyuan-wuye", "北苑物业管理有限公司", OrganisationKind.PROPERTY_COMPANY),
                         communities=(north,)),
        DemoOrganisation(Organisation("chengdong-shichang", "城东农贸市场管理有限公司",
                                      OrganisationKind.MARKET_OPERATOR), markets=(site,)),
        DemoOrganisation(Organisation("beishi-shichang", "北市场经营管理有限公司", OrganisationKind.MARKET_OPERATOR),
                         markets=(north,)),
        DemoOrganisation(Organisation("chengdong-jiedao", "城东街道办事处（含市场监管所）",
                                      OrganisationKind.SUPERVISION_OFFICE),
                         communities=(site, north), markets=(site, north)),
    )


def demo_staff(site: str) -> tuple[DemoAccount, ...]:
    north = north_site(site)
    return (
        DemoAccount("pm-zhang", "张经理（阳光物业）", (Role.PROPERTY_MANAGER,), "yangguang-wuye", (site,), ()),
        DemoAccount("pm-sun", "孙经理（北苑物业）", (Role.PROPERTY_MANAGER,), "beiyuan-wuye", (north,), ()),
        DemoAccount("market-liu", "刘主任（城东农贸市场）", (Role.MARKET_OPERATOR,), "chengdong-shichang", (), (site,)),
        DemoAccount("market-zhou", "周主任（北市场）", (Role.MARKET_OPERATOR,), "beishi-shichang", (), (north,)),
        DemoAccount("jianguan-wu", "吴科长（街道办）", (Role.SUPERVISOR,), "chengdong-jiedao", (site, north),
                    (site, north)),
        DemoAccount("admin", "系统管理员", (Role.ADMIN,)),
    )


async def seed_demo(services: Services, site: str, fleet: DemoFleet, now: datetime) -> list[str]:
    """Demo data matching the simulated devices (each part only where the database has none): the compounds and
    their ownership registers, two proposals in each, the markets, the organisations and sign-in accounts.
    Returns lines telling the user how to sign in."""
    north_id = north_site(site)
    await seed_demo_community(services.access, site, fleet.main.community_roster(), now)
    await seed_demo_community(services.access, site, fleet.north.community_roster(), now, DemoCompound.north(site))
    first_owners, north_owners = await _first_owners(services, site), await _north_owners(services, north_id)
    await seed_demo_ownership(services.ownership, services.access, site, now)
    await seed_demo_ownership(services.ownership, services.access, north_id, now, developer=NORTH_DEVELOPER)
    await seed_demo_proposals(services.voting, site, now, created_by="pm-zhang")
    await seed_demo_proposals(services.voting, north_id, now, created_by="pm-sun",
                              demo_owners={owner.account_id for owner in north_owners})
    await seed_demo_markets(services, site, fleet, now)
    people = [*first_owners, *north_owners, *demo_staff(site)]
    created = await seed_demo_accounts(services.accounts, now, people, organisations=demo_organisations(site))
    if services.meetings is not None:  # after the accounts: a meeting's proxy must be a person of its community
        await seed_demo_meetings(services.meetings, site, now, created_by="pm-zhang",
                                 committee=_committee(first_owners))
        await seed_demo_meetings(services.meetings, north_id, now, created_by="pm-sun",
                                 committee=_committee(north_owners))
    if not created:
        return []
    names = ", ".join(f"{account.account_id} {account.display_name} "
                      f"({', '.join(sorted(role.value for role in account.roles))})" for account in created)
    return [f"Demo accounts, password {DEMO_PASSWORD!r}: {names}"]


def _committee(owners: Sequence[DemoAccount]) -> tuple[str, str]:
    """Two committee members to draft and approve the demo's minutes: the demo owners on the committee, else the
    first two owners."""
    members = [o.account_id for o in owners if Role.COMMITTEE in o.roles] + [o.account_id for o in owners]
    members = [*dict.fromkeys(members), "committee-1", "committee-2"]
    return members[0], members[1]


async def seed_demo_markets(services: Services, site: str, fleet: DemoFleet, now: datetime) -> None:
    """Both demo markets with ``now``'s day's batches (the simulated scales print batch ids with the day in them)."""
    await seed_demo_market(services.market, site, now, fleet.main.market_roster(now))
    await seed_north_demo_market(services.market, site, now, fleet.north.market_roster(now), with_scales=True)


async def _first_owners(services: Services, site: str) -> list[DemoAccount]:
    owners = []
    for owner_id, roles in DEMO_OWNERS:
        try:
            resident, _community = await services.access.resident(owner_id)
        except ResidentNotFound:  # a demo compound too small to have this person
            continue
        name = f"{resident.name}（业委会）" if Role.COMMITTEE in roles else resident.name
        owners.append(DemoAccount(owner_id, name, roles, communities=(site,)))
    return owners


async def _north_owners(services: Services, north_id: str) -> Sequence[DemoAccount]:
    residents = [r for r in await services.access.residents(north_id, active_only=True)
                 if r.role is ResidentRole.OWNER]
    owners = []
    for index, resident in enumerate(sorted(residents, key=lambda r: r.resident_id)[:NORTH_OWNER_ACCOUNTS]):
        roles = (Role.RESIDENT, Role.COMMITTEE) if index == 0 else (Role.RESIDENT,)
        name = f"{resident.name}（北苑业委会）" if index == 0 else resident.name
        owners.append(DemoAccount(resident.resident_id, name, roles, communities=(north_id,)))
    return owners
