"""Onboarding use cases: how people get their accounts and get back into them — the first administrator by the
setup link an empty installation prints, staff by invitation, residents by the activation code of a letter, anyone
by a password reset link — and staff listing, disabling and enabling the accounts they look after.

Every code is one-time (:mod:`accounts.one_time_codes`): it is checked before the password is hashed (scrypt is
slow: an unknown code costs nothing), then used in the transaction that creates the account or sets the password,
by one conditional update — a code used twice at once makes one account, and a refused account leaves the code
usable. Who may do what to whose account is :mod:`accounts.stewardship`'s; where an account may be placed,
:mod:`accounts.tenancy`'s, checked again when an invitation is taken up."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from accounts.code_storage import CodeRepository
from accounts.domain import (
    ACCOUNT_ID,
    PASSWORD_REFUSALS,
    SALT_BYTES,
    Account,
    AccountRefusal,
    check_new_account,
    hash_password,
)
from accounts.one_time_codes import (
    ACTIVATION_CODE_BYTES,
    ACTIVATION_MAX_DAYS,
    LINK_CODE_BYTES,
    RESET_TTL,
    SETUP_TTL,
    CodeKind,
    CodeRecord,
    CodeState,
    activation_code,
    code_digest,
    days_of_validity,
    link_code,
    typed_activation_code,
)
from accounts.passwords import password_problem
from accounts.residents import DirectoryResident, NoResidents, ResidentDirectory
from accounts.stewardship import (
    LETTER_ISSUERS,
    InvitationTerms,
    Steward,
    Ward,
    committee_problem,
    invitation_problem,
    may_look_after,
    may_see_invitation,
)
from accounts.storage import AccountRepository
from accounts.tenancy import NotPermitted, NotVisible, TenancyRefused, add_placed, check_place
from webkit.identity import NOTHING, Principal, Role, Scope

log = logging.getLogger(__name__)

SETUP_PATH, INVITATION_PATH, RESET_PATH, ACTIVATION_PATH = "/setup/", "/invite/", "/reset/", "/activate"
"""Where each code is used: the link's path before its code; a letter's code is typed at /activate."""
_PATHS = {CodeKind.SETUP: SETUP_PATH, CodeKind.INVITATION: INVITATION_PATH, CodeKind.RESET: RESET_PATH}
MAX_LETTERS = 5000
"""Activation codes issued at once (a large compound's residents)."""


class CodeUnusable(Exception):
    """The code cannot be used: ``state`` says why (None: no such code, or no longer a place for it)."""

    def __init__(self, state: CodeState | None) -> None:
        super().__init__(state.value if state else "unknown")
        self.state = state


class AccountRefused(Exception):
    """The account (or password) asked for breaks a rule; ``refusal`` says which."""

    def __init__(self, refusal: AccountRefusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class ResidentsRefused(TenancyRefused):
    """Some of the residents named get no activation code; ``problems`` says why, by resident id."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(f"no activation codes issued: {len(problems)} of the residents named cannot have one")
        self.problems = problems


@dataclass(frozen=True)
class IssuedCode:
    """A new code, shown this once, and its record."""

    code: str
    record: CodeRecord

    @property
    def path(self) -> str:
        return _PATHS[self.record.kind] + self.code if self.record.kind in _PATHS else ACTIVATION_PATH


@dataclass(frozen=True)
class LookedAfter:
    """An account as its steward sees it on the accounts page: its organisation and what it is assigned."""

    account: Account
    organisation_id: str | None
    scope: Scope


@dataclass(frozen=True)
class ActivationLetter:
    resident_id: str
    name: str
    unit_id: str
    code: str


@dataclass(frozen=True)
class ActivationBatch:
    community_id: str
    community_name: str
    expires_at: datetime
    letters: list[ActivationLetter]
    replaced: int
    """Codes of these residents issued earlier and still unused, which no longer work."""


class OnboardingService:
    def __init__(self, engine: AsyncEngine, residents: ResidentDirectory | None = None) -> None:
        self._engine = engine
        self.residents: ResidentDirectory = residents or NoResidents()

    # --- the first administrator -------------------------------------------------------------------------

    async def setup_link_if_empty(self, now: datetime, base_url: str = "") -> str | None:
        """With no account at all, a new setup link (``base_url`` + /setup/<code>) to create the first
        administrator with, valid :data:`~accounts.one_time_codes.SETUP_TTL`; None once there is an account.
        Links printed at earlier starts keep working until they expire or one of them is used."""
        async with self._engine.begin() as connection:
            if await AccountRepository(connection).count() > 0:
                return None
            issued = _issue(CodeKind.SETUP, now, now + SETUP_TTL)
            await CodeRepository(connection).add([issued.record])
        log.warning("no accounts yet: a setup link was issued", extra={"expires_at": issued.record.expires_at})
        return base_url.rstrip("/") + issued.path

    async def setup_code(self, code: str, now: datetime) -> CodeRecord:
        """The pending setup code; :class:`CodeUnusable` for any other, and for every code once there is an
        account (the setup pages are gone then)."""
        async with self._engine.connect() as connection:
            if await AccountRepository(connection).count() > 0:
                raise CodeUnusable(None)
            return await _pending(connection, CodeKind.SETUP, code, now)

    async def complete_setup(self, code: str, account_id: str, display_name: str, password: str,
                             now: datetime) -> Account:
        """The first administrator, with the setup ``code``: every other setup link is let go with it."""
        await self.setup_code(code, now)
        account = await _new_account(account_id, display_name, {Role.ADMIN}, password)
        async with self._engine.begin() as connection:
            repository, codes = AccountRepository(connection), CodeRepository(connection)
            await _use(codes, CodeKind.SETUP, code, now)
            await codes.revoke_pending(CodeKind.SETUP, now)  # locks the other links' rows: one setup at a time
            if await repository.count() > 0:
                raise CodeUnusable(None)
            await _add(repository, account, now, None, NOTHING)
        log.info("first administrator created", extra={"account_id": account_id})
        return account

    # --- invitations --------------------------------------------------------------------------------------

    async def invite(self, inviter: Principal, terms: InvitationTerms, now: datetime) -> IssuedCode:
        """An invitation to an account of ``terms.role`` in an organisation, assigned ``terms.scope``: staff invite
        colleagues within their own organisation and scope (:func:`accounts.stewardship.invitation_problem`)."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            steward = await _steward(repository, inviter)
            if steward.integration:
                raise NotPermitted("an integration's token invites no one: an administrator or staff does")
            problem = invitation_problem(steward, terms)
            if problem:
                raise TenancyRefused(problem)
            organisation_id = terms.organisation_id if inviter.is_admin or terms.role is Role.ADMIN \
                else terms.organisation_id or steward.organisation_id
            await check_place(repository, {terms.role}, organisation_id, terms.scope)
            issued = _issue(CodeKind.INVITATION, now, now + timedelta(days=terms.days),
                            display_name=terms.display_name.strip(), role=terms.role,
                            organisation_id=organisation_id, scope=terms.scope, created_by=inviter.subject)
            await CodeRepository(connection).add([issued.record])
        log.info("invitation issued", extra={"invitation_id": issued.record.code_id, "role": terms.role.value,
                                             "organisation_id": organisation_id, "created_by": inviter.subject})
        return issued

    async def invitations(self, viewer: Principal) -> list[CodeRecord]:
        """The invitations ``viewer`` may see, newest first: all for an administrator; staff, those to their
        organisation within their scope."""
        async with self._engine.connect() as connection:
            steward = await _steward(AccountRepository(connection), viewer)
            records = await CodeRepository(connection).of_kind(CodeKind.INVITATION)
        return [record for record in records if may_see_invitation(steward, record.organisation_id, record.scope)]

    async def revoke_invitation(self, viewer: Principal, invitation_id: str, now: datetime) -> CodeRecord:
        """Withdraw an invitation ``viewer`` may see (:class:`NotVisible` for any other); one used already is
        refused (its account exists: disable that), one expired or revoked already is left as it is."""
        async with self._engine.begin() as connection:
            steward = await _steward(AccountRepository(connection), viewer)
            codes = CodeRepository(connection)
            record = await codes.by_id(CodeKind.INVITATION, invitation_id)
            if record is None or not may_see_invitation(steward, record.organisation_id, record.scope):
                raise NotVisible(invitation_id)
            if record.state(now) is CodeState.USED:
                raise TenancyRefused(f"the invitation was taken up by account {record.account_id!r}: disable "
                                     "that account instead")
            if not await codes.revoke(CodeKind.INVITATION, invitation_id, now):
                return record
        log.info("invitation revoked", extra={"invitation_id": invitation_id, "revoked_by": viewer.subject})
        return replace(record, revoked_at=now)

    async def invitation(self, code: str, now: datetime) -> CodeRecord:
        """The pending invitation of ``code``, else :class:`CodeUnusable`."""
        async with self._engine.connect() as connection:
            return await _pending(connection, CodeKind.INVITATION, code, now)

    async def accept_invitation(self, code: str, account_id: str, display_name: str, password: str,
                                now: datetime) -> Account:
        """The invitee's account, with the id and password they chose, placed as the invitation says — if the
        organisation still holds that scope (:class:`TenancyRefused` otherwise, the invitation left usable)."""
        record = await self.invitation(code, now)
        assert record.role is not None  # an invitation names its role
        account = await _new_account(account_id, display_name, {record.role}, password)
        async with self._engine.begin() as connection:
            await _use(CodeRepository(connection), CodeKind.INVITATION, code, now, account_id=account_id)
            await _add(AccountRepository(connection), account, now, record.organisation_id, record.scope)
        log.info("invitation taken up", extra={"invitation_id": record.code_id, "account_id": account_id})
        return account

    # --- password resets, enabling and disabling --------------------------------------------------------

    async def issue_reset(self, actor: Principal, account_id: str, now: datetime) -> IssuedCode:
        """A reset link for an account ``actor`` looks after (:class:`NotVisible` for any other); an earlier,
        unused link for it no longer works."""
        async with self._engine.begin() as connection:
            await _ward(AccountRepository(connection), actor, account_id)
            codes = CodeRepository(connection)
            await codes.revoke_pending(CodeKind.RESET, now, [account_id])
            issued = _issue(CodeKind.RESET, now, now + RESET_TTL, account_id=account_id, created_by=actor.subject)
            await codes.add([issued.record])
        log.info("password reset issued", extra={"account_id": account_id, "created_by": actor.subject})
        return issued

    async def looked_after(self, actor: Principal) -> list[LookedAfter]:
        """Every account ``actor`` may reset, disable and enable (:func:`accounts.stewardship.may_look_after`), by
        id: an administrator's are all but the integrations' (their tokens are revoked instead)."""
        async with self._engine.connect() as connection:
            repository = AccountRepository(connection)
            steward = await _steward(repository, actor)
            if steward.integration:
                raise NotPermitted("an integration's token looks after no account: an administrator or staff does")
            placed = await repository.placed()
            integrations = await repository.integration_ids()
        return [LookedAfter(account, organisation_id, scope) for account, organisation_id, scope in placed
                if may_look_after(steward, Ward(account.account_id, account.roles, organisation_id, scope,
                                                account.account_id in integrations))]

    async def looked_after_one(self, actor: Principal, account_id: str) -> LookedAfter:
        """``account_id`` if ``actor`` looks after it, else :class:`NotVisible` (as for an account that does not
        exist)."""
        async with self._engine.connect() as connection:
            repository = AccountRepository(connection)
            account = await _ward(repository, actor, account_id)
            return LookedAfter(account, await repository.organisation_of(account_id),
                               await repository.account_scope(account_id))

    async def reset(self, code: str, now: datetime) -> CodeRecord:
        """The pending reset of ``code``, else :class:`CodeUnusable`."""
        async with self._engine.connect() as connection:
            return await _pending(connection, CodeKind.RESET, code, now)

    async def complete_reset(self, code: str, password: str, now: datetime) -> str:
        """Set the account's new password with a reset ``code``; every token and session of the account issued
        before now is refused from now on. Returns the account id."""
        record = await self.reset(code, now)
        assert record.account_id is not None  # a reset names its account
        problem = password_problem(password, record.account_id)
        if problem is not None:
            raise AccountRefused(PASSWORD_REFUSALS[problem])
        password_hash = await asyncio.to_thread(hash_password, password, secrets.token_bytes(SALT_BYTES))
        async with self._engine.begin() as connection:
            await _use(CodeRepository(connection), CodeKind.RESET, code, now)
            if not await AccountRepository(connection).set_password(record.account_id, password_hash, now):
                raise CodeUnusable(None)
        log.info("password reset", extra={"account_id": record.account_id})
        return record.account_id

    async def set_enabled(self, actor: Principal, account_id: str, enabled: bool) -> Account:
        """Disable (or enable again) an account ``actor`` looks after; their own they cannot disable."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            account = await _ward(repository, actor, account_id)
            if not enabled and account_id == actor.subject:
                raise TenancyRefused("you cannot disable your own account")
            await repository.set_enabled(account_id, enabled)
        log.info("account enabled" if enabled else "account disabled",
                 extra={"account_id": account_id, "by": actor.subject})
        return replace(account, enabled=enabled)

    async def set_committee(self, actor: Principal, account_id: str, member: bool) -> Account:
        """Record a resident as a member of their community's owners' committee (``member``), or no longer; on an
        account ``actor`` looks after (:class:`NotVisible` otherwise), refused (:class:`TenancyRefused`) for an
        account that is not one community's resident. A removal takes effect on the account's next request; a new
        member acts as one once they sign in again (a token never gives more than its account had when issued)."""
        async with self._engine.begin() as connection:
            repository = AccountRepository(connection)
            account = await _ward(repository, actor, account_id)
            steward = await _steward(repository, actor)
            ward = Ward(account_id, account.roles, await repository.organisation_of(account_id),
                        await repository.account_scope(account_id))
            if (problem := committee_problem(steward, ward)) is not None:
                raise TenancyRefused(problem)
            roles = account.roles | {Role.COMMITTEE} if member else account.roles - {Role.COMMITTEE}
            await repository.set_roles(account_id, roles)
        log.info("committee member recorded" if member else "committee member removed",
                 extra={"account_id": account_id, "by": actor.subject})
        return replace(account, roles=frozenset(roles))

    # --- residents' activation codes ----------------------------------------------------------------------

    async def issue_activation_codes(self, actor: Principal, community_id: str, resident_ids: Iterable[str],
                                     days: int, now: datetime) -> ActivationBatch:
        """One activation code for each of ``resident_ids``, residents of ``community_id`` without an account yet,
        all or none (:class:`ResidentsRefused` says who cannot have one, and why); a code issued for them earlier
        and unused no longer works. :class:`NotVisible` for a community outside ``actor``'s scope, as for one
        that does not exist."""
        lifetime = days_of_validity(days, ACTIVATION_MAX_DAYS)
        if lifetime is None:
            raise TenancyRefused(f"an activation code is valid 1 to {ACTIVATION_MAX_DAYS} days")
        wanted = list(dict.fromkeys(resident_ids))
        if not 1 <= len(wanted) <= MAX_LETTERS:
            raise TenancyRefused(f"name 1 to {MAX_LETTERS} residents")
        name = await self.community_in_scope(actor, community_id)
        directory = {resident.resident_id: resident for resident in await self.residents.residents(community_id)}
        async with self._engine.begin() as connection:
            if await AccountRepository(connection).is_integration(actor.subject):
                raise NotPermitted("an integration's token issues no activation codes")
            problems = _letter_problems(wanted, directory, community_id,
                                        await AccountRepository(connection).existing(wanted))
            if problems:
                raise ResidentsRefused(problems)
            codes = CodeRepository(connection)
            replaced = await codes.revoke_pending(CodeKind.ACTIVATION, now, wanted)
            issued = [(resident, _issue(CodeKind.ACTIVATION, now, now + lifetime, account_id=resident.resident_id,
                                        display_name=resident.name, role=Role.RESIDENT,
                                        scope=Scope(frozenset({community_id})), created_by=actor.subject))
                      for resident in (directory[resident_id] for resident_id in wanted)]
            await codes.add(code.record for _resident, code in issued)
        log.info("activation codes issued", extra={"community_id": community_id, "codes": len(issued),
                                                   "replaced": replaced, "created_by": actor.subject})
        letters = [ActivationLetter(resident.resident_id, resident.name, resident.unit_id, code.code)
                   for resident, code in issued]
        return ActivationBatch(community_id, name, now + lifetime, letters, replaced)

    async def community_in_scope(self, actor: Principal, community_id: str) -> str:
        """The name of ``community_id`` when ``actor`` may issue its residents' letters; :class:`NotVisible` when it
        does not exist or is outside their scope, :class:`NotPermitted` without the role."""
        if not actor.has_any(LETTER_ISSUERS):
            raise NotPermitted("activation letters are issued by the community's property manager")
        name = await self.residents.community_name(community_id) if actor.has_community(community_id) else None
        if name is None:
            raise NotVisible(community_id)
        return name

    async def letter_states(self, resident_ids: Iterable[str], now: datetime) -> tuple[set[str], dict[str, datetime]]:
        """Which of ``resident_ids`` have an account, and the expiry of the pending code of those who have one."""
        wanted = list(resident_ids)
        async with self._engine.connect() as connection:
            existing = await AccountRepository(connection).existing(wanted)
            pending = await CodeRepository(connection).pending_for(CodeKind.ACTIVATION, wanted, now)
        return existing, pending

    async def activation(self, typed: str, now: datetime) -> CodeRecord:
        """The pending activation code a resident typed, else :class:`CodeUnusable` (also when it names a resident
        no longer living in its community)."""
        code = typed_activation_code(typed)
        if code is None:
            raise CodeUnusable(None)
        async with self._engine.connect() as connection:
            record = await _pending(connection, CodeKind.ACTIVATION, code, now)
        resident = await self.residents.resident(record.account_id or "")
        if resident is None or not resident.active or resident.community_id not in record.scope.communities:
            raise CodeUnusable(CodeState.REVOKED)
        return record

    async def activate(self, typed: str, password: str, now: datetime) -> Account:
        """The resident's account (their directory id, a resident of their community), with the password they
        chose, from the code of their letter."""
        record = await self.activation(typed, now)
        code = typed_activation_code(typed) or ""
        account = await _new_account(record.account_id or "", record.display_name or "", {Role.RESIDENT}, password)
        async with self._engine.begin() as connection:
            await _use(CodeRepository(connection), CodeKind.ACTIVATION, code, now)
            await _add(AccountRepository(connection), account, now, None, record.scope)
        log.info("resident account activated", extra={"account_id": account.account_id})
        return account


def _issue(kind: CodeKind, now: datetime, expires_at: datetime, *, account_id: str | None = None,
           display_name: str | None = None, role: Role | None = None, organisation_id: str | None = None,
           scope: Scope = NOTHING, created_by: str | None = None) -> IssuedCode:
    code = activation_code(secrets.token_bytes(ACTIVATION_CODE_BYTES)) if kind is CodeKind.ACTIVATION \
        else link_code(secrets.token_bytes(LINK_CODE_BYTES))
    record = CodeRecord(secrets.token_hex(8), code_digest(code), kind, now, expires_at, account_id=account_id,
                        display_name=display_name, role=role, organisation_id=organisation_id, scope=scope,
                        created_by=created_by)
    return IssuedCode(code, record)


async def _pending(connection: AsyncConnection, kind: CodeKind, code: str, now: datetime) -> CodeRecord:
    record = await CodeRepository(connection).by_digest(kind, code_digest(code)) if len(code) <= 64 else None
    if record is None:
        raise CodeUnusable(None)
    state = record.state(now)
    if state is not CodeState.PENDING:
        raise CodeUnusable(state)
    return record


async def _use(codes: CodeRepository, kind: CodeKind, code: str, now: datetime, account_id: str | None = None) -> None:
    """Mark the code used in the caller's transaction, or :class:`CodeUnusable` (used meanwhile, say)."""
    if not await codes.use(kind, code_digest(code), now, account_id):
        record = await codes.by_digest(kind, code_digest(code))
        raise CodeUnusable(record.state(now) if record is not None else None)


async def _new_account(account_id: str, display_name: str, roles: set[Role], password: str) -> Account:
    refusal = check_new_account(account_id, display_name, roles, password)
    if refusal is not None:
        raise AccountRefused(refusal)
    password_hash = await asyncio.to_thread(hash_password, password, secrets.token_bytes(SALT_BYTES))
    return Account(account_id, display_name.strip(), frozenset(roles), password_hash)


async def _add(repository: AccountRepository, account: Account, now: datetime, organisation_id: str | None,
               scope: Scope) -> None:
    """Store the new account, placed; a taken id is :class:`AccountRefused` (the person chooses another), a place
    the tenancy refuses :class:`TenancyRefused`."""
    if await repository.get(account.account_id) is not None:
        raise AccountRefused(AccountRefusal.EXISTS)
    await add_placed(repository, account, now, organisation_id, scope)


async def _steward(repository: AccountRepository, principal: Principal) -> Steward:
    return Steward(principal, await repository.organisation_of(principal.subject),
                   await repository.is_integration(principal.subject))


async def _ward(repository: AccountRepository, actor: Principal, account_id: str) -> Account:
    """The account ``actor`` looks after, else :class:`NotVisible` (as for an account that does not exist)."""
    steward = await _steward(repository, actor)
    if steward.integration:
        raise NotPermitted("an integration's token resets and disables no account: an administrator or staff does")
    account = await repository.get(account_id) if ACCOUNT_ID.fullmatch(account_id) else None
    if account is None:
        raise NotVisible(account_id)
    ward = Ward(account_id, account.roles, await repository.organisation_of(account_id),
                await repository.account_scope(account_id), await repository.is_integration(account_id))
    if not may_look_after(steward, ward):
        raise NotVisible(account_id)
    return account


def _letter_problems(wanted: list[str], directory: dict[str, DirectoryResident], community_id: str,
                     with_accounts: set[str]) -> dict[str, str]:
    problems = {}
    for resident_id in wanted:
        resident = directory.get(resident_id)
        if resident is None:
            problems[resident_id] = f"not a resident of community {community_id!r}"
        elif not resident.active:
            problems[resident_id] = "moved out or revoked: no activation code"
        elif resident_id in with_accounts:
            problems[resident_id] = "has an account already (reset its password if it is lost)"
    return problems

