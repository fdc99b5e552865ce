"""Account use cases: create, enable and disable an account, check a sign-in, say whether a token may still be
used, revoke one. Hashing runs in a worker thread: scrypt is deliberately slow, and the event loop keeps serving
other requests meanwhile — which is why a sign-in attempt is counted by the throttle before the hash is awaited."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import (
    SALT_BYTES,
    Account,
    AccountRefusal,
    check_new_account,
    hash_password,
    password_matches,
)
from accounts.onboarding import OnboardingService
from accounts.residents import ResidentDirectory
from accounts.storage import AccountExists, AccountRepository
from accounts.tenancy import TenancyService
from accounts.throttling import MAX_ACCOUNT_KEY_CHARS, Admitted, Refused, SignInThrottle
from webkit.identity import Principal, Role, Standing

log = logging.getLogger(__name__)

MAX_LOGGED_CLIENT_CHARS = 64


class SignInRefused(Enum):
    WRONG_CREDENTIALS = "wrong_credentials"
    """Unknown account or wrong password: the two are not told apart, so ids cannot be probed."""
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    DISABLED = "disabled"
    """The right password for a disabled account (said only to whoever knows the password)."""


class AccountService:
    def __init__(self, engine: AsyncEngine, throttle: SignInThrottle | None = None,
                 residents: ResidentDirectory | None = None) -> None:
        self._engine = engine
        self._throttle = throttle or SignInThrottle()
        self.tenancy = TenancyService(engine)
        """Organisations, assignments and integration tokens on the same database."""
        self.onboarding = OnboardingService(engine, residents)
        """The setup link, invitations, password resets and residents' activation codes (``residents``: who lives
        in which community, for the letters)."""
        self._decoy_hash: str | None = None

    async def setup_link_if_empty(self, now: datetime, base_url: str = "") -> str | None:
        """With no account at all, a one-time link to create the first administrator with (printed at start)."""
        return await self.onboarding.setup_link_if_empty(now, base_url)

    async def create_account(
        self, account_id: str, display_name: str, roles: Iterable[Role], password: str, now: datetime
    ) -> Account | AccountRefusal:
        roles = frozenset(roles)
        refusal = check_new_account(account_id, display_name, roles, password)
        if refusal is not None:
            return refusal
        password_hash = await asyncio.to_thread(hash_password, password, secrets.token_bytes(SALT_BYTES))
        account = Account(account_id, display_name.strip(), roles, password_hash)
        try:
            async with self._engine.begin() as connection:
                await AccountRepository(connection).add(account, now)
        except AccountExists:
            return AccountRefusal.EXISTS
        log.info("account created", extra={"roles": sorted(role.value for role in roles)})
        return account

    async def sign_in(self, account_id: str, password: str, now: datetime, *,
                      client: str) -> Account | SignInRefused:
        """The account when ``password`` is its password. ``client``: the address the attempt comes from (see
        :mod:`accounts.throttling` for how attempts per account and per address are limited). The check takes
        as long for an unknown id as for a known one."""
        account = await self.account(account_id)
        # no await between the throttle's decision and its counting of the attempt: concurrent guesses see it
        verdict = self._throttle.admit(account_id, client, account is not None, now)
        if isinstance(verdict, Refused):
            log.warning("sign-in throttled", extra={
                **_who(account_id, client), "limit": verdict.by.value,
                "retry_after_s": int(verdict.retry_after.total_seconds())})
            return SignInRefused.TOO_MANY_ATTEMPTS
        stored = account.password_hash if account is not None else await self._decoy()
        matches = await asyncio.to_thread(password_matches, password, stored)
        return self._settled(account, matches, verdict, now)

    async def retry_after(self, account_id: str, client: str, now: datetime) -> timedelta:
        """How long until ``client`` may try ``account_id`` again (zero: now), to tell whoever was refused."""
        exists = await self.account(account_id) is not None
        return self._throttle.wait(account_id, client, exists, now)

    def _settled(self, account: Account | None, matches: bool, attempt: Admitted,
                 now: datetime) -> Account | SignInRefused:
        who = _who(attempt.account_key, attempt.address)
        if account is None or not matches:
            log.info("sign-in refused", extra={**who, "reason": SignInRefused.WRONG_CREDENTIALS.value})
            return SignInRefused.WRONG_CREDENTIALS
        if not account.enabled:
            log.info("sign-in refused", extra={**who, "reason": SignInRefused.DISABLED.value})
            return SignInRefused.DISABLED
        self._throttle.succeeded(attempt, now)
        log.info("signed in", extra={**who, "lane": attempt.lane.value,
                                     "roles": sorted(role.value for role in account.roles)})
        return account

    async def standing(self, principal: Principal) -> Standing:
        """Whether a well-signed, unexpired token may still be used, with the account's roles and scope now
        (:class:`webkit.identity.TokenChecker`): queries by primary keys, uncached, so a revocation, a disabled
        account or an assignment taken away takes effect at once on every instance sharing the database."""
        async with self._engine.connect() as connection:
            return await AccountRepository(connection).standing(principal)

    async def revoke(self, principal: Principal, now: datetime) -> None:
        """Refuse ``principal``'s token from now on (signing out)."""
        async with self._engine.begin() as connection:
            await AccountRepository(connection).revoke(principal, now)
        log.info("token revoked", extra={"account_id": principal.subject})

    async def set_enabled(self, account_id: str, enabled: bool) -> bool:
        """Enable or disable an account (a disabled one cannot sign in, and its tokens are refused); False when
        there is no such account."""
        async with self._engine.begin() as connection:
            found = await AccountRepository(connection).set_enabled(account_id, enabled)
        if found:
            log.info("account enabled" if enabled else "account disabled", extra={"account_id": account_id})
        return found

    async def account(self, account_id: str) -> Account | None:
        async with self._engine.connect() as connection:
            return await AccountRepository(connection).get(account_id)

    async def display_name(self, account_id: str) -> str | None:
        account = await self.account(account_id)
        return account.display_name if account is not None else None

    async def count(self) -> int:
        async with self._engine.connect() as connection:
            return await AccountRepository(connection).count()

    async def _decoy(self) -> str:
        if self._decoy_hash is None:
            self._decoy_hash = await asyncio.to_thread(
                hash_password, secrets.token_urlsafe(16), secrets.token_bytes(SALT_BYTES))
        return self._decoy_hash


def _who(account_id: str, client: str) -> dict[str, str]:
    """The log fields naming an attempt: the account id as typed and the client's address, both cut short, as
    either may be anything an attacker sends."""
    return {"account_id": account_id[:MAX_ACCOUNT_KEY_CHARS], "client": client[:MAX_LOGGED_CLIENT_CHARS]}
