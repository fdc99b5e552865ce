"""``smartcity admin create`` on a SQLite database: the first administrator, with a password asked for twice (asked
again while it is too weak, with the reason) or read from standard input (refused at once when weak); what the
tenancy refuses (a taken id) is a message and exit status 1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from accounts.service import AccountService
from relational.database import create_engine, migrate
from smartcity.cli import main
from webkit.identity import Role

pytestmark = pytest.mark.integration

STRONG = "lotus pond 2027"


@pytest.fixture(autouse=True)
def database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'smartcity.db'}"
    monkeypatch.setenv("SC_AUTH_SECRET", "s" * 40)
    monkeypatch.setenv("SC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SC_DATABASE_URL", url)
    return url


def smartcity(*arguments: str, typed: str = "") -> Result:
    return CliRunner().invoke(main, list(arguments), input=typed)


def signs_in(url: str, account_id: str, password: str) -> bool:
    async def check() -> bool:
        engine = create_engine(url)
        try:
            await migrate(engine, "accounts")  # as the commands do (not yet, when none reached the database)
            outcome = await AccountService(engine).sign_in(account_id, password, datetime.now(UTC), client="cli")
            return getattr(outcome, "roles", None) == {Role.ADMIN}
        finally:
            await engine.dispose()

    return asyncio.run(check())


def test_the_first_administrator_is_created_with_a_password_typed_twice(database: str) -> None:
    created = smartcity("admin", "create", "root", "--name", "系统管理员", typed=f"{STRONG}\n{STRONG}\n")
    assert created.exit_code == 0, created.output
    assert "administrator 'root' created" in created.output and STRONG not in created.output
    assert signs_in(database, "root", STRONG)


def test_a_weak_password_is_asked_again_with_the_reason(database: str) -> None:
    typed = "woaini1314\nwoaini1314\nroot-2027\nroot-2027\n12345678901\n12345678901\n" + f"{STRONG}\n{STRONG}\n"
    created = smartcity("admin", "create", "root", typed=typed)
    assert created.exit_code == 0, created.output
    assert "Weak password: this password is one of the most common ones" in created.output
    assert "Weak password: the password must not be the account id, nor contain it" in created.output
    assert "Weak password: a password of one kind of character only" in created.output
    assert signs_in(database, "root", STRONG)


def test_passwords_that_differ_are_asked_again(database: str) -> None:
    created = smartcity("admin", "create", "root", typed=f"{STRONG}\nsomething else\n{STRONG}\n{STRONG}\n")
    assert created.exit_code == 0 and "do not match" in created.output, created.output
    assert signs_in(database, "root", STRONG)


def test_a_password_from_standard_input_is_refused_at_once_when_weak(database: str) -> None:
    refused = smartcity("admin", "create", "root", "--password-stdin", typed="88888888\n")
    assert refused.exit_code == 1
    assert "administrator 'root' not created: weak password: this password is one of the most common" \
        in refused.output
    created = smartcity("admin", "create", "root", "--password-stdin", typed=f"{STRONG}\n")
    assert created.exit_code == 0, created.output
    assert signs_in(database, "root", STRONG)


def test_a_taken_or_malformed_id_is_refused_with_nothing_created(database: str) -> None:
    assert smartcity("admin", "create", "root", "--password-stdin", typed=f"{STRONG}\n").exit_code == 0
    taken = smartcity("admin", "create", "root", "--password-stdin", typed="another long password\n")
    assert taken.exit_code == 1 and "an account with this id exists already" in taken.output
    malformed = smartcity("admin", "create", "wang fang", "--password-stdin", typed=f"{STRONG}\n")
    assert malformed.exit_code == 1 and "the account id is 1–64 letters" in malformed.output
    assert signs_in(database, "root", STRONG)


def test_the_end_of_input_leaves_without_an_administrator(database: str) -> None:
    aborted = smartcity("admin", "create", "root", typed="short\nshort\n")
    assert aborted.exit_code == 1 and "Aborted" in aborted.output
    assert not signs_in(database, "root", "short")
