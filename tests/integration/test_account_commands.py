"""``smartcity account``, ``smartcity org`` and ``smartcity token`` on a SQLite database: tokens only for existing,
enabled accounts, for at most a year, revocable; accounts created (in their organisation, assigned what they act
on, all or nothing), assigned, unassigned, shown, disabled and enabled again; organisations created, holding and
releasing communities and markets."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from accounts.domain import Account
from accounts.storage import AccountRepository
from accounts.tenancy import NO_PASSWORD
from relational.database import create_engine
from smartcity.cli import main
from webkit.identity import Role, TokenAuthority

pytestmark = pytest.mark.integration

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def installation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SC_AUTH_SECRET", SECRET)
    monkeypatch.setenv("SC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SC_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'smartcity.db'}")


def smartcity(*arguments: str, password: str | None = None) -> Result:
    return CliRunner().invoke(main, list(arguments), input=f"{password}\n{password}\n" if password else None)


def ok(*arguments: str, password: str | None = None) -> str:
    result = smartcity(*arguments, password=password)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*arguments: str, password: str | None = None) -> str:
    """The output of a command that must be refused with a message (exit status 1)."""
    result = smartcity(*arguments, password=password)
    assert result.exit_code == 1 and "Error: " in result.output, result.output
    return result.output


def create_operator() -> None:
    ok("org", "create", "nongmao", "--name", "农贸市场管理公司", "--kind", "market_operator")
    ok("org", "hold", "nongmao", "--market", "demo")
    created = ok("account", "create", "--id", "op-7", "--name", "七号操作员", "--role", "market_operator",
                 "--organisation", "nongmao", "--market", "demo", password="a long password")
    assert "account 'op-7' created (organisation 'nongmao'; communities: none; markets: demo)" in created


def test_a_token_is_issued_only_for_an_existing_account() -> None:
    refused = smartcity("token", "issue", "--subject", "op-7", "--role", "market_operator")
    assert refused.exit_code == 1
    assert "no account 'op-7'" in refused.output and "smartcity account create" in refused.output
    create_operator()
    issued = smartcity("token", "issue", "--subject", "op-7", "--role", "market_operator")
    assert issued.exit_code == 0, issued.output
    assert TokenAuthority(SECRET.encode()).verify(issued.output.strip(), datetime.now(UTC)).subject == "op-7"


def test_a_token_lives_at_most_a_year() -> None:
    create_operator()
    refused = smartcity("token", "issue", "--subject", "op-7", "--role", "market_operator", "--ttl-days", "3650")
    assert refused.exit_code == 2 and "1<=x<=365" in refused.output
    assert smartcity("token", "issue", "--subject", "op-7", "--role", "market_operator", "--ttl-days",
                     "365").exit_code == 0


def test_a_disabled_account_gets_no_token_until_enabled_again() -> None:
    create_operator()
    disabled = smartcity("account", "disable", "op-7")
    assert disabled.exit_code == 0 and "disabled" in disabled.output
    refused = smartcity("token", "issue", "--subject", "op-7", "--role", "market_operator")
    assert refused.exit_code == 1 and "disabled" in refused.output
    assert smartcity("account", "enable", "op-7").exit_code == 0
    assert smartcity("token", "issue", "--subject", "op-7", "--role", "market_operator").exit_code == 0
    missing = smartcity("account", "disable", "nobody")
    assert missing.exit_code == 1 and "no account 'nobody'" in missing.output


def test_a_token_can_be_revoked_before_it_expires() -> None:
    create_operator()
    token = smartcity("token", "issue", "--subject", "op-7", "--role", "market_operator").output.strip()
    revoked = smartcity("token", "revoke", token)
    assert revoked.exit_code == 0 and "token of 'op-7' revoked" in revoked.output
    nonsense = smartcity("token", "revoke", "not-a-token")
    assert nonsense.exit_code == 1 and "nothing to revoke: invalid token" in nonsense.output


def test_an_account_the_rules_refuse_is_not_created() -> None:
    refused = smartcity("account", "create", "--id", "op 7", "--name", "x", "--role", "admin",
                        password="a long password")
    assert refused.exit_code == 1 and "account id is 1–64 letters" in refused.output


# -- organisations and what accounts act on --------------------------------------------------------------------------

def property_company() -> None:
    created = ok("org", "create", "lvcheng", "--name", "绿城物业", "--kind", "property_company")
    assert "organisation lvcheng (绿城物业, property_company) created" in created
    held = ok("org", "hold", "lvcheng", "--community", "demo", "--community", "demo-north")
    assert "organisation 'lvcheng' holds communities: demo, demo-north; markets: none" in held


def shown(account_id: str) -> dict[str, str]:
    lines = ok("account", "show", account_id).splitlines()
    return {label.strip(): value.strip() for label, _, value in (line.partition(":") for line in lines)}


def test_organisations_are_created_hold_communities_or_markets_and_are_listed() -> None:
    assert "no organisations yet" in ok("org", "list")
    property_company()
    ok("org", "create", "chengdong", "--name", "城东街道办事处", "--kind", "supervision_office")
    ok("org", "hold", "chengdong", "--community", "demo", "--market", "demo")
    listed = ok("org", "list")
    assert listed.index("chengdong (城东街道办事处, supervision_office)") < listed.index("lvcheng (绿城物业")
    assert "  communities: demo, demo-north\n  markets: none\n  accounts: none" in listed

    assert "already" in refused("org", "create", "lvcheng", "--name", "又一个", "--kind", "property_company")
    assert "organisation id is 1–64" in refused("org", "create", "绿城", "--name", "x", "--kind", "property_company")
    assert smartcity("org", "create", "x", "--name", "x", "--kind", "bank").exit_code == 2
    assert "holds communities, not markets" in refused("org", "hold", "lvcheng", "--market", "demo")
    assert "no organisation 'nobody'" in refused("org", "hold", "nobody", "--community", "demo")
    assert "not a community or market id" in refused("org", "hold", "lvcheng", "--community", "de mo")
    assert "chengdong (城东街道办事处, supervision_office)\n  communities: demo\n  markets: demo\n" in ok("org", "list")


def test_a_second_company_holding_a_community_is_pointed_out() -> None:
    property_company()
    ok("org", "create", "wanke", "--name", "万科物业", "--kind", "property_company")
    held = ok("org", "hold", "wanke", "--community", "demo")
    assert "note: demo held by organisation 'lvcheng' too" in held and "smartcity org release lvcheng" in held


def test_an_account_is_created_in_its_organisation_and_assigned_in_one_go() -> None:
    property_company()
    created = ok("account", "create", "--id", "pm-1", "--name", "张经理", "--role", "property_manager",
                 "--organisation", "lvcheng", "--community", "demo", password="a long password")
    assert "account 'pm-1' created (organisation 'lvcheng'; communities: demo; markets: none)" in created
    assert shown("pm-1") == {"account": "pm-1 (张经理)", "roles": "property_manager", "enabled": "yes",
                             "organisation": "lvcheng (绿城物业, property_company)", "communities": "demo",
                             "markets": "none"}
    resident = ok("account", "create", "--id", "wang", "--name", "王芳", "--role", "resident", "--community", "demo",
                  password="a long password")
    assert "account 'wang' created (communities: demo; markets: none)" in resident
    ok("account", "create", "--id", "root", "--name", "管理员", "--role", "admin", password="a long password")
    assert shown("root")["scope"].startswith("everything")
    assert shown("root")["organisation"] == "none"


@pytest.mark.parametrize(("options", "reason"), [
    (["--role", "property_manager"], "a property_manager belongs to an organisation (name it: --organisation)"),
    (["--role", "property_manager", "--organisation", "lvcheng", "--community", "east"],
     "not held by organisation 'lvcheng': east"),
    (["--role", "property_manager", "--organisation", "nobody"], "no organisation 'nobody'"),
    (["--role", "market_operator", "--organisation", "lvcheng"],
     "organisation 'lvcheng' is a property_company: its staff are property_managers"),
    (["--role", "resident", "--market", "demo"], "markets are assigned to staff"),
    (["--role", "resident", "--role", "committee", "--community", "demo", "--community", "demo-north"],
     "an owners' committee member acts in one community"),
    (["--role", "admin", "--organisation", "lvcheng"], "an administrator belongs to no organisation"),
    (["--role", "admin", "--community", "demo"], "an administrator acts on every community and market"),
    (["--role", "resident", "--community", "de mo"], "not a community or market id: 'de mo'"),
])
def test_an_account_the_tenancy_rules_refuse_is_not_created_at_all(options: list[str], reason: str) -> None:
    property_company()
    output = refused("account", "create", "--id", "x-1", "--name", "某人", *options, password="a long password")
    assert f"account 'x-1' not created: {reason}" in output
    assert "no account 'x-1'" in refused("account", "show", "x-1"), "nothing created"


def test_assigning_and_unassigning_change_what_an_account_acts_on() -> None:
    property_company()
    ok("account", "create", "--id", "pm-1", "--name", "张经理", "--role", "property_manager", "--organisation",
       "lvcheng", password="a long password")
    assert shown("pm-1")["communities"] == "none", "in the organisation, assigned nothing yet"
    assigned = ok("account", "assign", "pm-1", "--community", "demo", "--community", "demo-north")
    assert "account 'pm-1' assigned; it acts on communities: demo, demo-north; markets: none" in assigned
    assert "not held by organisation 'lvcheng': east" in refused("account", "assign", "pm-1", "--community", "east")
    assert shown("pm-1")["communities"] == "demo, demo-north", "a refused assignment changes nothing"
    unassigned = ok("account", "unassign", "pm-1", "--community", "demo")
    assert "it acts on communities: demo-north; markets: none" in unassigned
    assert "no account 'nobody'" in refused("account", "assign", "nobody", "--community", "demo")
    assert "no account 'nobody'" in refused("account", "unassign", "nobody", "--community", "demo")


def test_a_resident_is_assigned_their_community_and_an_administrator_nothing() -> None:
    property_company()
    ok("account", "create", "--id", "root", "--name", "管理员", "--role", "admin", password="a long password")
    ok("account", "create", "--id", "wang", "--name", "王芳", "--role", "resident", password="a long password")
    assert "markets are assigned to staff" in refused("account", "assign", "wang", "--market", "demo")
    assigned = ok("account", "assign", "wang", "--community", "demo")
    assert "account 'wang' assigned; it acts on communities: demo" in assigned
    assert "an administrator acts on every" in refused("account", "assign", "root", "--community", "demo")
    assert "an administrator belongs to no organisation" in refused("account", "assign", "root", "--organisation",
                                                                      "lvcheng")


def test_a_staff_account_joins_its_organisation_with_its_first_assignment() -> None:
    """A manager whose account predates organisations (created by an older smartcity) gets one with assign."""
    property_company()
    ok("org", "create", "wanke", "--name", "万科物业", "--kind", "property_company")
    ok("org", "hold", "wanke", "--community", "east")
    _legacy_account("pm-old", "property_manager")
    assert "belongs to an organisation" in refused("account", "assign", "pm-old", "--community", "demo")
    joined = ok("account", "assign", "pm-old", "--organisation", "lvcheng", "--community", "demo")
    assert "account 'pm-old' assigned, in organisation 'lvcheng'; it acts on communities: demo" in joined
    assert shown("pm-old")["organisation"] == "lvcheng (绿城物业, property_company)"
    moved = refused("account", "assign", "pm-old", "--organisation", "wanke", "--community", "east")
    assert "not held by organisation 'wanke': demo" in moved, "what the old company holds goes first"
    ok("account", "unassign", "pm-old", "--community", "demo")
    ok("account", "assign", "pm-old", "--organisation", "wanke", "--community", "east")
    assert shown("pm-old")["organisation"].startswith("wanke")


def test_an_organisation_that_releases_a_community_takes_it_from_its_accounts() -> None:
    property_company()
    ok("account", "create", "--id", "pm-1", "--name", "张经理", "--role", "property_manager", "--organisation",
       "lvcheng", "--community", "demo", "--community", "demo-north", password="a long password")
    released = ok("org", "release", "lvcheng", "--community", "demo-north")
    assert "no longer holds communities: demo-north" in released and "its accounts pm-1" in released
    assert shown("pm-1")["communities"] == "demo"
    assert "lvcheng (绿城物业, property_company)\n  communities: demo\n" in ok("org", "list")
    assert "accounts: pm-1" in ok("org", "list")
    assert "no organisation 'nobody'" in refused("org", "release", "nobody", "--community", "demo")


def test_a_disabled_account_shows_so() -> None:
    create_operator()
    ok("account", "disable", "op-7")
    assert shown("op-7")["enabled"].startswith("no")


def test_a_supervisor_token_is_issued_for_a_supervisor() -> None:
    ok("org", "create", "chengdong", "--name", "城东街道办事处", "--kind", "supervision_office")
    ok("org", "hold", "chengdong", "--community", "demo")
    ok("account", "create", "--id", "sv-1", "--name", "街道李", "--role", "supervisor", "--organisation", "chengdong",
       "--community", "demo", password="a long password")
    token = ok("token", "issue", "--subject", "sv-1", "--role", "supervisor").strip()
    assert TokenAuthority(SECRET.encode()).verify(token, datetime.now(UTC)).roles == {Role.SUPERVISOR}


def _legacy_account(account_id: str, role: str) -> None:
    """An account as 'smartcity account create' made it before organisations: staff in none."""

    async def add() -> None:
        engine = create_engine(os.environ["SC_DATABASE_URL"])
        try:
            async with engine.begin() as connection:
                await AccountRepository(connection).add(
                    Account(account_id, account_id, frozenset({Role(role)}), NO_PASSWORD), datetime.now(UTC))
        finally:
            await engine.dispose()

    asyncio.run(add())
