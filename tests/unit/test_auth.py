"""Bearer tokens: signed, expiring, each with an id, role-checked, refused when the accounts say so (no account,
disabled, revoked); 401 and 403 as a client expects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from config.keys import load_or_create_secret
from smartcity.cli import main
from webkit.auth import AUTHORITY, CLOCK, PRINCIPAL, TOKEN_CHECKER, check_tokens_with, require_roles, serve_tokens
from webkit.identity import AuthError, Principal, PrincipalStatus, Role, Standing, TokenAuthority

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECRET = b"k" * 32


def test_a_token_names_its_subject_roles_and_expiry() -> None:
    authority = TokenAuthority(SECRET)
    token = authority.issue("wang", [Role.RESIDENT, Role.COMMITTEE], NOW, timedelta(hours=1))
    principal = authority.verify(token, NOW + timedelta(minutes=59))
    assert principal.subject == "wang"
    assert principal.roles == {Role.RESIDENT, Role.COMMITTEE}
    assert principal.expires_at == NOW + timedelta(hours=1)


def test_an_expired_token_is_refused_at_its_expiry_instant() -> None:
    authority = TokenAuthority(SECRET)
    token = authority.issue("wang", [Role.RESIDENT], NOW, timedelta(hours=1))
    with pytest.raises(AuthError, match="expired"):
        authority.verify(token, NOW + timedelta(hours=1))


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
    lambda t: t.split(".")[0] + ".eyJzdWIiOiJhZG1pbiJ9." + t.split(".")[2],  # claims swapped
    lambda t: "not-a-token",
])
def test_a_tampered_or_malformed_token_is_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    authority = TokenAuthority(SECRET)
    token = authority.issue("wang", [Role.RESIDENT], NOW, timedelta(hours=1))
    with pytest.raises(AuthError, match="invalid token"):
        authority.verify(mangle(token), NOW)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = TokenAuthority(b"x" * 32).issue("wang", [Role.ADMIN], NOW, timedelta(hours=1))
    with pytest.raises(AuthError):
        TokenAuthority(SECRET).verify(token, NOW)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenAuthority(b"short")


def test_a_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_secret(None, tmp_path)
    assert load_or_create_secret(None, tmp_path) == first and len(first) >= 32
    assert oct((tmp_path / "auth-token.key").stat().st_mode)[-3:] == "600"
    configured = "configured-secret-of-enough-length!"
    assert load_or_create_secret(configured, tmp_path) == configured.encode()


async def test_routes_answer_401_without_a_token_403_without_the_role_and_pass_the_principal() -> None:
    authority = TokenAuthority(SECRET)

    @require_roles(Role.PROPERTY_MANAGER)
    async def manage(request: web.Request) -> web.Response:
        return web.json_response({"subject": request[PRINCIPAL].subject})

    app = web.Application()
    app[AUTHORITY] = authority
    app[CLOCK] = lambda: NOW
    app[TOKEN_CHECKER] = Accounts({"pm-1", "wang", "root"})
    app.router.add_get("/manage", manage)
    manager = authority.issue("pm-1", [Role.PROPERTY_MANAGER], NOW, timedelta(hours=1))
    resident = authority.issue("wang", [Role.RESIDENT], NOW, timedelta(hours=1))
    admin = authority.issue("root", [Role.ADMIN], NOW, timedelta(hours=1))
    expired = authority.issue("pm-1", [Role.PROPERTY_MANAGER], NOW - timedelta(hours=2), timedelta(hours=1))
    async with TestClient(TestServer(app)) as client:
        missing = await client.get("/manage")
        assert missing.status == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
        assert (await client.get("/manage", headers={"Authorization": "Basic x"})).status == 401
        late = await client.get("/manage", headers={"Authorization": f"Bearer {expired}"})
        assert late.status == 401 and (await late.json())["error"] == "token expired"
        forbidden = await client.get("/manage", headers={"Authorization": f"Bearer {resident}"})
        assert forbidden.status == 403 and "property_manager" in (await forbidden.json())["error"]
        ok = await client.get("/manage", headers={"Authorization": f"Bearer {manager}"})
        assert ok.status == 200 and (await ok.json()) == {"subject": "pm-1"}
        assert (await client.get("/manage", headers={"Authorization": f"Bearer {admin}"})).status == 200


def test_token_issue_command_prints_a_token_the_same_secret_verifies(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    secret = "s" * 40
    monkeypatch.setenv("SC_AUTH_SECRET", secret)
    monkeypatch.setenv("SC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SC_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'smartcity.db'}")
    organisation = CliRunner().invoke(main, ["org", "create", "nongmao", "--name", "农贸市场", "--kind",
                                             "market_operator"])
    assert organisation.exit_code == 0, organisation.output  # a market operator's staff belong to one
    created = CliRunner().invoke(main, ["account", "create", "--id", "op-7", "--name", "七号操作员", "--role",
                                        "market_operator", "--organisation", "nongmao"],
                                 input="a long password\na long password\n")
    assert created.exit_code == 0, created.output  # a token is issued only for an account
    result = CliRunner().invoke(main, ["token", "issue", "--subject", "op-7", "--role", "market_operator"])
    assert result.exit_code == 0, result.output
    principal = TokenAuthority(secret.encode()).verify(result.output.strip(), datetime.now(UTC))
    assert principal.subject == "op-7" and principal.roles == {Role.MARKET_OPERATOR}


class Accounts:
    """The accounts as the token checks see them: who has an enabled account, which tokens are revoked."""

    def __init__(self, enabled: set[str], disabled: set[str] = frozenset(), revoked: set[str] = frozenset()) -> None:
        self.enabled, self.disabled, self.revoked = enabled, disabled, revoked
        self.asked: list[Principal] = []

    async def standing(self, principal: Principal) -> Standing:
        self.asked.append(principal)
        if principal.subject in self.disabled:
            return Standing(PrincipalStatus.DISABLED)
        if principal.subject not in self.enabled:
            return Standing(PrincipalStatus.NO_ACCOUNT)
        if principal.token_id in self.revoked:
            return Standing(PrincipalStatus.REVOKED)
        return Standing(PrincipalStatus.ACTIVE, frozenset(Role))


def test_each_token_has_an_id_of_its_own() -> None:
    authority = TokenAuthority(SECRET)
    first, second = (authority.verify(authority.issue("wang", [Role.RESIDENT], NOW, timedelta(hours=1)), NOW)
                     for _ in range(2))
    assert first.token_id and second.token_id and first.token_id != second.token_id


def test_a_token_without_an_id_is_refused() -> None:
    expiry = int((NOW + timedelta(hours=1)).timestamp())
    claims = {"iss": "smartcity", "sub": "wang", "roles": ["resident"], "exp": expiry}  # as tokens were before ids
    with pytest.raises(AuthError, match="MissingRequiredClaimError"):
        TokenAuthority(SECRET).verify(jwt.encode(claims, SECRET, algorithm="HS256"), NOW)


def test_no_token_lives_longer_than_a_year() -> None:
    authority = TokenAuthority(SECRET)
    assert authority.verify(authority.issue("wang", [Role.RESIDENT], NOW, timedelta(days=365)), NOW)
    for ttl in (timedelta(days=366), timedelta(days=3650), timedelta(0)):
        with pytest.raises(ValueError, match="365 days"):
            authority.issue("wang", [Role.RESIDENT], NOW, ttl)


async def test_a_well_signed_token_is_refused_when_the_accounts_say_so() -> None:
    authority = TokenAuthority(SECRET)

    @require_roles(Role.RESIDENT)
    async def mine(request: web.Request) -> web.Response:
        return web.json_response({"subject": request[PRINCIPAL].subject})

    signed_out = authority.issue("wang", [Role.RESIDENT], NOW, timedelta(hours=1))
    accounts = Accounts({"wang"}, disabled={"li"}, revoked={authority.verify(signed_out, NOW).token_id})
    app = web.Application()
    serve_tokens(app, authority, lambda: NOW)
    check_tokens_with(app, accounts)
    app.router.add_get("/mine", mine)
    tokens = {name: authority.issue(name, [Role.ADMIN], NOW, timedelta(hours=1)) for name in ("wang", "li", "ghost")}
    async with TestClient(TestServer(app)) as client:
        async def error(token: str) -> tuple[int, str]:
            response = await client.get("/mine", headers={"Authorization": f"Bearer {token}"})
            return response.status, (await response.json()).get("error", "")

        assert await error(tokens["ghost"]) == (401, "the token's subject has no account")
        assert await error(tokens["li"]) == (401, "the token's account is disabled")
        assert await error(signed_out) == (401, "token revoked")
        assert (await client.get("/mine", headers={"Authorization": f"Bearer {tokens['wang']}"})).status == 200
    assert len(accounts.asked) == 4, "every request asks"


async def test_an_application_taking_tokens_does_not_start_without_a_token_checker() -> None:
    app = web.Application()
    serve_tokens(app, TokenAuthority(SECRET), lambda: NOW)
    with pytest.raises(RuntimeError, match="no token checker"):
        async with TestClient(TestServer(app)):
            pass
