"""The tenancy use cases on both databases: organisations and what they hold, accounts placed in them all or
nothing, assignments that take effect on the next request, integration tokens' accounts; and the accounts'
schema upgrading to organisations in place (and back)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.organisations import OrganisationKind
from accounts.service import AccountService
from accounts.tenancy import INTEGRATION_PREFIX, NotPermitted, NotVisible, TenancyRefused, TenancyService
from relational.database import migrate, version_table
from tests.integration.conftest import empty_engine
from webkit.identity import EVERYTHING, NOTHING, Principal, PrincipalStatus, Role, Scope, TokenAuthority

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PASSWORD = "a long password"
DEMO = Scope(frozenset({"demo"}))
NORTH = Scope(frozenset({"demo-north"}))
BOTH = Scope(frozenset({"demo", "demo-north"}))
AUTHORITY = TokenAuthority(b"t" * 32)


@pytest.fixture
async def tenancy(engine: AsyncEngine) -> TenancyService:
    service = TenancyService(engine)
    await service.create_organisation("lvcheng", " 绿城物业 ", OrganisationKind.PROPERTY_COMPANY, NOW)
    await service.hold("lvcheng", BOTH)
    return service


async def standing(engine: AsyncEngine, account_id: str, *roles: Role) -> tuple[PrincipalStatus, Scope]:
    principal = AUTHORITY.verify(AUTHORITY.issue(account_id, roles, NOW, timedelta(hours=1)), NOW)
    found = await AccountService(engine).standing(principal)
    return found.status, found.applied_to(principal).scope


async def test_organisations_are_created_once_and_listed_with_what_they_hold(tenancy: TenancyService) -> None:
    await tenancy.create_organisation("nongmao", "农贸市场", OrganisationKind.MARKET_OPERATOR, NOW)
    with pytest.raises(TenancyRefused, match="exists already"):
        await tenancy.create_organisation("lvcheng", "又一个", OrganisationKind.PROPERTY_COMPANY, NOW)
    with pytest.raises(TenancyRefused, match="holds markets, not communities"):
        await tenancy.hold("nongmao", DEMO)
    await tenancy.hold("lvcheng", DEMO)  # held already: nothing new, no error
    listed = {organisation.organisation_id: (organisation.name, held) for organisation, held
              in await tenancy.organisations()}
    assert listed == {"lvcheng": ("绿城物业", BOTH), "nongmao": ("农贸市场", NOTHING)}


async def test_an_account_is_created_placed_and_assigned_or_not_at_all(tenancy: TenancyService,
                                                                      engine: AsyncEngine) -> None:
    created = await tenancy.create_account("pm-1", " 张经理 ", {Role.PROPERTY_MANAGER}, PASSWORD, NOW,
                                           organisation_id="lvcheng", scope=DEMO)
    assert created.display_name == "张经理"
    assert await tenancy.scope_of("pm-1") == ("lvcheng", DEMO)
    assert await standing(engine, "pm-1", Role.PROPERTY_MANAGER) == (PrincipalStatus.ACTIVE, DEMO)
    signed_in = await AccountService(engine).sign_in("pm-1", PASSWORD, NOW, client="127.0.0.1")
    assert signed_in == created, "the password is the account's"

    with pytest.raises(TenancyRefused, match="not held by organisation 'lvcheng': east"):
        await tenancy.create_account("pm-2", "李", {Role.PROPERTY_MANAGER}, PASSWORD, NOW,
                                     organisation_id="lvcheng", scope=Scope(frozenset({"demo", "east"})))
    with pytest.raises(TenancyRefused, match="an account with this id exists already"):
        await tenancy.create_account("pm-1", "张", {Role.PROPERTY_MANAGER}, PASSWORD, NOW,
                                     organisation_id="lvcheng", scope=NORTH)
    with pytest.raises(TenancyRefused, match="at least 8 characters"):
        await tenancy.create_account("pm-3", "王", {Role.PROPERTY_MANAGER}, "short", NOW, organisation_id="lvcheng")
    assert await AccountService(engine).account("pm-2") is None, "nothing created"
    assert await tenancy.scope_of("pm-1") == ("lvcheng", DEMO), "the first account's placement kept"


async def test_assignments_take_effect_on_the_next_check(tenancy: TenancyService, engine: AsyncEngine) -> None:
    await tenancy.create_account("pm-1", "张", {Role.PROPERTY_MANAGER}, PASSWORD, NOW, organisation_id="lvcheng")
    assert await standing(engine, "pm-1", Role.PROPERTY_MANAGER) == (PrincipalStatus.ACTIVE, NOTHING)
    assert await tenancy.assign("pm-1", DEMO) == DEMO
    assert await tenancy.assign("pm-1", NORTH) == BOTH
    assert await standing(engine, "pm-1", Role.PROPERTY_MANAGER) == (PrincipalStatus.ACTIVE, BOTH)
    assert await tenancy.unassign("pm-1", Scope(frozenset({"demo", "never-assigned"}))) == NORTH
    assert await standing(engine, "pm-1", Role.PROPERTY_MANAGER) == (PrincipalStatus.ACTIVE, NORTH)
    with pytest.raises(TenancyRefused, match="no account 'nobody'"):
        await tenancy.assign("nobody", DEMO)


async def test_an_administrators_token_acts_on_everything_and_a_token_without_the_role_on_the_assignment(
    tenancy: TenancyService, engine: AsyncEngine,
) -> None:
    await tenancy.create_account("root", "管理员", {Role.ADMIN}, PASSWORD, NOW)
    assert await standing(engine, "root", Role.ADMIN) == (PrincipalStatus.ACTIVE, EVERYTHING)
    await tenancy.create_account("wang", "王芳", {Role.RESIDENT}, PASSWORD, NOW, scope=DEMO)
    assert await standing(engine, "wang", Role.RESIDENT, Role.ADMIN) == (PrincipalStatus.ACTIVE, DEMO), \
        "a token naming a role its account lacks gets no more than the account"


async def test_joining_another_organisation_waits_until_its_old_assignments_are_gone(
    tenancy: TenancyService,
) -> None:
    await tenancy.create_organisation("wanke", "万科物业", OrganisationKind.PROPERTY_COMPANY, NOW)
    await tenancy.hold("wanke", Scope(frozenset({"east"})))
    await tenancy.create_account("pm-1", "张", {Role.PROPERTY_MANAGER}, PASSWORD, NOW, organisation_id="lvcheng",
                                 scope=DEMO)
    with pytest.raises(TenancyRefused, match="not held by organisation 'wanke': demo"):
        await tenancy.join("pm-1", "wanke")
    with pytest.raises(TenancyRefused, match="belongs to an organisation"):
        await tenancy.join("pm-1", None)
    await tenancy.unassign("pm-1", DEMO)
    await tenancy.join("pm-1", "wanke")
    assert await tenancy.scope_of("pm-1") == ("wanke", NOTHING)
    with pytest.raises(TenancyRefused, match="no organisation 'nobody'"):
        await tenancy.join("pm-1", "nobody")


async def test_releasing_a_community_takes_it_from_the_organisations_accounts_only(tenancy: TenancyService) -> None:
    await tenancy.create_account("pm-1", "张", {Role.PROPERTY_MANAGER}, PASSWORD, NOW, organisation_id="lvcheng",
                                 scope=BOTH)
    await tenancy.create_account("wang", "王芳", {Role.RESIDENT}, PASSWORD, NOW, scope=BOTH)
    assert await tenancy.release("lvcheng", NORTH) == ["pm-1"]
    assert await tenancy.scope_of("pm-1") == ("lvcheng", DEMO)
    assert await tenancy.scope_of("wang") == (None, BOTH), "a resident's home is theirs, whoever manages it"
    with pytest.raises(TenancyRefused, match="not held by organisation 'lvcheng': demo-north"):
        await tenancy.assign("pm-1", NORTH)


async def test_an_integration_tokens_account_is_in_its_creators_organisation(tenancy: TenancyService) -> None:
    await tenancy.create_account("pm-1", "张", {Role.PROPERTY_MANAGER}, PASSWORD, NOW, organisation_id="lvcheng",
                                 scope=BOTH)
    creator = Principal("pm-1", frozenset({Role.PROPERTY_MANAGER}), NOW + timedelta(hours=1), "t1", BOTH)
    token = await tenancy.create_api_token(creator, " 门禁同步 ", Role.PROPERTY_MANAGER, DEMO, timedelta(days=30), NOW)
    assert token.account_id.startswith(INTEGRATION_PREFIX) and token.label == "门禁同步"
    member = await tenancy.member(token.account_id)
    assert member.integration and member.organisation is not None and member.organisation.organisation_id == "lvcheng"
    assert member.scope == DEMO and member.account.roles == {Role.PROPERTY_MANAGER}
    assert not (await tenancy.member("pm-1")).integration
    assert await tenancy.members("lvcheng") == sorted(["pm-1", token.account_id])

    integration = Principal(token.account_id, frozenset({Role.PROPERTY_MANAGER}), token.expires_at, token.token_id,
                            DEMO)
    with pytest.raises(NotPermitted):
        await tenancy.create_api_token(integration, "child", Role.PROPERTY_MANAGER, DEMO, timedelta(days=1), NOW)
    assert await tenancy.api_tokens(integration) == []
    with pytest.raises(NotVisible):
        await tenancy.revoke_api_token(integration, token.token_id, NOW)

    revoked = await tenancy.revoke_api_token(creator, token.token_id, NOW)
    assert revoked.revoked and not revoked.active(NOW)
    [listed] = await tenancy.api_tokens(creator)
    assert listed == revoked
    assert not (await tenancy.member(token.account_id)).account.enabled


async def test_staff_without_an_organisation_create_no_tokens(tenancy: TenancyService, engine: AsyncEngine) -> None:
    await AccountService(engine).create_account("pm-old", "老张", {Role.PROPERTY_MANAGER}, PASSWORD, NOW)
    legacy = Principal("pm-old", frozenset({Role.PROPERTY_MANAGER}), NOW + timedelta(hours=1), "t2", DEMO)
    with pytest.raises(TenancyRefused, match="you belong to no organisation"):
        await tenancy.create_api_token(legacy, "sync", Role.PROPERTY_MANAGER, DEMO, timedelta(days=1), NOW)
    assert await tenancy.api_tokens(legacy) == []


# -- the schema: organisations added to an installation with accounts -------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
async def engine_at_0002(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = await empty_engine(request, tmp_path)
    await migrate(made, "accounts", "0002_revocation")
    yield made
    await made.dispose()


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", "accounts:migrations")
        config.attributes["connection"] = connection
        config.attributes["version_table"] = version_table("accounts")
        command.downgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def test_upgrading_keeps_the_accounts_in_no_organisation_assigned_nothing(engine_at_0002: AsyncEngine) -> None:
    async with engine_at_0002.begin() as connection:  # as the code of revision 0002 wrote
        await connection.execute(text(
            "INSERT INTO accounts (account_id, display_name, roles, password_hash, created_at, enabled) "
            "VALUES ('pm-zhang', '张经理', '[\"property_manager\"]', 'scrypt$x', :now, true)"), {"now": NOW})
    await migrate(engine_at_0002, "accounts")
    tenancy = TenancyService(engine_at_0002)
    assert await tenancy.scope_of("pm-zhang") == (None, NOTHING)
    assert await standing(engine_at_0002, "pm-zhang", Role.PROPERTY_MANAGER) == (PrincipalStatus.ACTIVE, NOTHING), \
        "signed in, acting on nothing until assigned"
    await tenancy.create_organisation("lvcheng", "绿城物业", OrganisationKind.PROPERTY_COMPANY, NOW)
    await tenancy.hold("lvcheng", DEMO)
    assert await tenancy.assign("pm-zhang", DEMO, "lvcheng") == DEMO

    await downgrade(engine_at_0002, "0002_revocation")  # and back, the account kept
    async with engine_at_0002.connect() as connection:
        kept = (await connection.execute(text("SELECT account_id, display_name FROM accounts"))).all()
    assert [tuple(row) for row in kept] == [("pm-zhang", "张经理")]
    await migrate(engine_at_0002, "accounts")
    assert await TenancyService(engine_at_0002).scope_of("pm-zhang") == (None, NOTHING)
