"""``smartcity account`` and ``smartcity token`` on a SQLite database: tokens only for existing, enabled accounts,
for at most a year, revocable; accounts created, disabled and enabled again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from smartcity.cli import main
from webkit.identity import TokenAuthority

pytestmark = pytest.mark.integration

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def installation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SC_AUTH_SECRET", SECRET)
    monkeypatch.setenv("SC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SC_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'smartcity.db'}")


def smartcity(*arguments: str, password: str | None = None) -> Result:
    return CliRunner().invoke(main, list(arguments), input=f"{password}\n{password}\n" if password else None)


def create_operator() -> None:
    created = smartcity("account", "create", "--id", "op-7", "--name", "七号操作员", "--role", "market_operator",
                        password="a long password")
    assert created.exit_code == 0 and "account 'op-7' created" in created.output, created.output


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
