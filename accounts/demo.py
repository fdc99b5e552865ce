"""The demo's people: staff (a property manager, a market operator, an administrator) and
residents whose account ids are owner ids on a demo voter roll (the pages' tests use
:data:`DEMO_RESIDENTS`; ``smartcity run`` signs in owners of its simulated compounds instead).
Never seeded into a database that already has accounts.

Staff belong to organisations and everyone but the administrator is assigned what they may act on: an account
that names its organisation and scope gets them; one that does not is given the ``communities`` and ``markets``
the caller seeds for (staff through a demo property company or market operator that holds them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from accounts.domain import Account, AccountRefusal
from accounts.organisations import STAFF_ROLE, Organisation, OrganisationKind
from accounts.service import AccountService
from webkit.identity import Role, Scope

DEMO_PASSWORD = "smartcity-demo"


@dataclass(frozen=True)
class DemoAccount:
    account_id: str
    display_name: str
    roles: tuple[Role, ...]
    organisation: str | None = None
    """Its organisation's id (staff); None: the demo's default organisation for its role, if staff."""
    communities: tuple[str, ...] | None = None
    """What it is assigned; None: the communities (or markets) the demo is seeded for."""
    markets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DemoOrganisation:
    organisation: Organisation
    communities: tuple[str, ...] = ()
    markets: tuple[str, ...] = ()


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
DEFAULT_ORGANISATIONS = {
    OrganisationKind.PROPERTY_COMPANY: Organisation("demo-property", "阳光物业服务有限公司",
                                                    OrganisationKind.PROPERTY_COMPANY),
    OrganisationKind.MARKET_OPERATOR: Organisation("demo-market", "城东农贸市场管理有限公司",
                                                   OrganisationKind.MARKET_OPERATOR),
    OrganisationKind.SUPERVISION_OFFICE: Organisation("demo-office", "城东街道办事处",
                                                      OrganisationKind.SUPERVISION_OFFICE),
}
"""The organisation of a demo staff account that names none."""


async def seed_demo_accounts(accounts: AccountService, now: datetime, people: Sequence[DemoAccount] = DEMO_ACCOUNTS,
                             *, communities: Sequence[str] = (), markets: Sequence[str] = (),
                             organisations: Sequence[DemoOrganisation] = ()) -> list[Account]:
    """Create ``people``'s accounts (all with password :data:`DEMO_PASSWORD`) when there are no accounts yet,
    with ``organisations`` and what they hold, each account in its organisation and assigned its scope (by
    default ``communities`` and ``markets``; a committee member the first community only); returns those
    created (none when the table already had accounts)."""
    if await accounts.count() > 0:
        return []
    tenancy = accounts.tenancy
    defaults = _default_organisations(people, communities, markets)
    for demo_organisation in (*organisations, *defaults):
        organisation = demo_organisation.organisation
        await tenancy.create_organisation(organisation.organisation_id, organisation.name, organisation.kind, now)
        await tenancy.hold(organisation.organisation_id,
                           Scope.of(demo_organisation.communities, demo_organisation.markets))
    created: list[Account] = []
    for demo in people:
        outcome = await accounts.create_account(demo.account_id, demo.display_name, demo.roles, DEMO_PASSWORD, now)
        if isinstance(outcome, AccountRefusal):
            raise RuntimeError(f"demo account {demo.account_id!r} refused: {outcome.message}")
        await _place(accounts, demo, communities, markets)
        created.append(outcome)
    return created


def _default_organisations(people: Sequence[DemoAccount], communities: Sequence[str],
                           markets: Sequence[str]) -> list[DemoOrganisation]:
    needed = {kind for demo in people if demo.organisation is None
              for kind, role in STAFF_ROLE.items() if role in demo.roles}
    held = {OrganisationKind.PROPERTY_COMPANY: (tuple(communities), ()),
            OrganisationKind.MARKET_OPERATOR: ((), tuple(markets)),
            OrganisationKind.SUPERVISION_OFFICE: (tuple(communities), tuple(markets))}
    return [DemoOrganisation(DEFAULT_ORGANISATIONS[kind], *held[kind]) for kind in OrganisationKind if kind in needed]


async def _place(accounts: AccountService, demo: DemoAccount, communities: Sequence[str],
                 markets: Sequence[str]) -> None:
    if Role.ADMIN in demo.roles:
        return
    staff = [kind for kind, role in STAFF_ROLE.items() if role in demo.roles]
    if staff:
        organisation = demo.organisation or DEFAULT_ORGANISATIONS[staff[0]].organisation_id
        await accounts.tenancy.join(demo.account_id, organisation)
    wanted_communities = demo.communities if demo.communities is not None else tuple(communities)
    wanted_markets = demo.markets if demo.markets is not None else tuple(markets)
    if not staff:
        wanted_markets = ()
        if Role.COMMITTEE in demo.roles:
            wanted_communities = wanted_communities[:1]
    elif Role.SUPERVISOR not in demo.roles:
        if Role.PROPERTY_MANAGER not in demo.roles:
            wanted_communities = ()
        if Role.MARKET_OPERATOR not in demo.roles:
            wanted_markets = ()
    if wanted_communities or wanted_markets:
        await accounts.tenancy.assign(demo.account_id, Scope.of(wanted_communities, wanted_markets))
