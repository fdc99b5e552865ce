"""Account use cases: create an account, check a sign-in. Hashing runs in a worker thread: scrypt
is deliberately slow, and the event loop keeps serving other requests meanwhile."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from datetime import datetime
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.domain import (
    SALT_BYTES,
    Account,
    AccountRefusal,
    SignInThrottle,
    check_new_account,
    hash_password,
    password_matches,
)
from accounts.storage import AccountExists, AccountRepository
from webkit.identity import Role

log = logging.getLogger(__name__)


class SignInRefused(Enum):
    WRONG_CREDENTIALS = "wrong_credentials"
    """Unknown account or wrong password: the two are not told apart, so ids cannot be probed."""
    TOO_MANY_ATTEMPTS = "too_many_attempts"


class AccountService:
    def __init__(self, engine: AsyncEngine, throttle: SignInThrottle | None = None) -> None:
        self._engine = engine
        self._throttle = throttle or SignInThrottle()
        self._decoy_hash: str | None = None

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

    async def sign_in(self, account_id: str, password: str, now: datetime) -> Account | SignInRefused:
        """The account when ``password`` is its password; the check takes as long for an unknown
        id as for a known one."""
        if self._throttle.is_locked(account_id, now):
            log.warning("sign-in throttled")
            return SignInRefused.TOO_MANY_ATTEMPTS
        account = await self.account(account_id)
        stored = account.password_hash if account is not None else await self._decoy()
        matches = await asyncio.to_thread(password_matches, password, stored)
        if account is None or not matches:
            self._throttle.record_failure(account_id, now)
            log.info("sign-in refused", extra={"reason": SignInRefused.WRONG_CREDENTIALS.value})
            return SignInRefused.WRONG_CREDENTIALS
        self._throttle.record_success(account_id)
        return account

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
