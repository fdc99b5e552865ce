"""Sign-in throttling: how many password guesses an account and a client address are allowed, and when.

A sans-I/O state machine: the records below are plain values, the rules pure functions of ``(record, now)``, and
:class:`SignInThrottle` keeps the records in bounded tables. Nothing here reads a clock or awaits.

The rule, in the order it is applied to an attempt by a client *address* on an *account id*:

1. **Per address, a hard limit.** An address with ``address_failures`` failed (or still undecided) attempts within
   ``address_window`` is refused until the oldest leaves the window, whatever account it tries. It only ever
   locks out the address that failed.
2. **Per account, free failures.** An account with fewer than ``free_failures`` failures since its last success is
   tried at once.
3. **Per account, exponential slowing, not a lock.** After that each further attempt waits for the account's next
   slot: ``first_delay`` after the last failure, doubling with each failure up to ``max_delay``; the failures are
   forgotten ``account_memory`` after the last one, and on a success.
4. **The owner is not locked out by someone else's guesses.** An address that is not failing (no failure in
   ``address_window``) is not made to wait for the slowed account's slot: if the account signed in from it before
   (one of its ``known_addresses``) it goes ahead at once; any other such address goes ahead if no other one did in
   the last ``new_address_spacing`` — so an attacker's guesses slow an account only for the addresses guessing,
   and a person who types the right password from an address that has not been failing waits at most that spacing.

An attempt is counted when it is *admitted* — before the password hash is computed — and forgiven only when it
succeeds; so concurrent guesses see each other, and an attempt whose check never finishes counts as a failure.

Bounded memory: accounts that exist and ids that do not are kept in separate tables, so guesses at made-up ids can
fill and recycle only the table of made-up ids, never evict the record of a real account. The same rules apply
to both, so the throttle's answers do not tell which ids exist.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Generic, TypeVar

MAX_ACCOUNT_KEY_CHARS = 64
"""Longer ids exist nowhere (see ``accounts.domain.ACCOUNT_ID``); their records are kept under the first 64."""


@dataclass(frozen=True)
class SignInRules:
    """How many guesses, and when: the throttle's parameters (see the module's docstring for the rule)."""

    free_failures: int = 5
    first_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=15)
    account_memory: timedelta = timedelta(hours=24)
    new_address_spacing: timedelta = timedelta(seconds=10)
    address_failures: int = 20
    address_window: timedelta = timedelta(minutes=15)
    known_addresses: int = 4
    """Addresses an account signed in from lately, each allowed past the account's slowing."""
    known_address_memory: timedelta = timedelta(days=30)
    max_accounts: int = 100_000
    max_unknown_ids: int = 10_000
    max_addresses: int = 10_000

    def __post_init__(self) -> None:
        if self.free_failures < 1 or self.address_failures < 1 or self.known_addresses < 0:
            raise ValueError("a throttle allows at least one failure per account and per address")
        if not timedelta(0) < self.first_delay <= self.max_delay:
            raise ValueError("the first delay is positive and at most the longest delay")
        if min(self.max_accounts, self.max_unknown_ids, self.max_addresses) < 1:
            raise ValueError("each table of the throttle holds at least one record")

    def delay_after(self, failures: int) -> timedelta:
        """How long an account waits after its ``failures``-th failure (none while failures are free)."""
        if failures < self.free_failures:
            return timedelta(0)
        delay = self.first_delay
        for _ in range(failures - self.free_failures):
            if delay >= self.max_delay:
                break
            delay *= 2
        return min(delay, self.max_delay)


DEFAULT_RULES = SignInRules()


@dataclass(frozen=True)
class AccountRecord:
    """An account id's recent history: failures since its last success, and its slots."""

    failures: int = 0
    last_failure_at: datetime | None = None
    next_slot_at: datetime | None = None
    """When an attempt from a failing address may next go ahead."""
    next_new_address_at: datetime | None = None
    """When an attempt from another address that is not failing may next go ahead."""
    known_addresses: tuple[tuple[str, datetime], ...] = ()
    """(address, last success from it), most recent first."""


@dataclass(frozen=True)
class AddressRecord:
    """A client address's failed (or undecided) attempts within the window, oldest first."""

    failures: tuple[datetime, ...] = ()


class Lane(Enum):
    """Why an attempt was let through."""

    FREE = "free"
    """The account has free failures left."""
    SLOT = "slot"
    """The slowed account's slot had come."""
    KNOWN_ADDRESS = "known_address"
    NEW_ADDRESS = "new_address"


class RefusedBy(Enum):
    ADDRESS = "address"
    ACCOUNT = "account"


@dataclass(frozen=True)
class Admitted:
    """An attempt that may check its password; counted as a failure until :meth:`SignInThrottle.succeeded`."""

    account_key: str
    address: str
    account_exists: bool
    at: datetime
    lane: Lane


@dataclass(frozen=True)
class Refused:
    """An attempt refused without checking its password; ``retry_after`` says when the next one may be tried."""

    by: RefusedBy
    retry_after: timedelta


def account_key(account_id: str) -> str:
    return account_id[:MAX_ACCOUNT_KEY_CHARS]


# --- the rule, as pure functions of (record, now) ---------------------------------------------------------------

def current_account(record: AccountRecord, now: datetime, rules: SignInRules) -> AccountRecord:
    """``record`` with what ``now`` has let go: a failure streak older than the memory, stale known addresses."""
    known = tuple((address, at) for address, at in record.known_addresses if now - at < rules.known_address_memory)
    if record.last_failure_at is not None and now - record.last_failure_at >= rules.account_memory:
        return AccountRecord(known_addresses=known)
    return replace(record, known_addresses=known)


def current_address(record: AddressRecord, now: datetime, rules: SignInRules) -> AddressRecord:
    return AddressRecord(tuple(at for at in record.failures if now - at < rules.address_window))


def decide(account: AccountRecord, address_record: AddressRecord, address: str, now: datetime,
           rules: SignInRules) -> Lane | Refused:
    """May ``address`` try a password on the account now? Both records are current (see ``current_*``)."""
    if len(address_record.failures) >= rules.address_failures:
        oldest_counted = address_record.failures[-rules.address_failures]
        return Refused(RefusedBy.ADDRESS, oldest_counted + rules.address_window - now)
    if account.failures < rules.free_failures:
        return Lane.FREE
    slot = account.next_slot_at
    if slot is None or now >= slot:
        return Lane.SLOT
    if address_record.failures:
        return Refused(RefusedBy.ACCOUNT, slot - now)
    if any(known == address for known, _ in account.known_addresses):
        return Lane.KNOWN_ADDRESS
    spacing_ends = account.next_new_address_at
    if spacing_ends is None or now >= spacing_ends:
        return Lane.NEW_ADDRESS
    return Refused(RefusedBy.ACCOUNT, min(spacing_ends, slot) - now)


def after_admission(account: AccountRecord, address_record: AddressRecord, lane: Lane, now: datetime,
                    rules: SignInRules) -> tuple[AccountRecord, AddressRecord]:
    """Both records once an attempt is admitted by ``lane``: counted as a failure until it succeeds."""
    failures = account.failures + 1
    slot = now + rules.delay_after(failures) if failures >= rules.free_failures else None
    if slot is not None and account.next_slot_at is not None:
        slot = max(slot, account.next_slot_at)
    new_address_at = now + rules.new_address_spacing if lane is Lane.NEW_ADDRESS else account.next_new_address_at
    counted_account = replace(account, failures=failures, last_failure_at=now, next_slot_at=slot,
                              next_new_address_at=new_address_at)
    return counted_account, AddressRecord((*address_record.failures, now)[-rules.address_failures:])


def after_success(account: AccountRecord, address_record: AddressRecord, attempt: Admitted,
                  rules: SignInRules) -> tuple[AccountRecord, AddressRecord]:
    """Both records once ``attempt`` proved the password: the account's failures are forgiven and the address
    becomes one it is known from; the address's own counted attempt is taken back."""
    others = tuple((address, at) for address, at in account.known_addresses if address != attempt.address)
    known = ((attempt.address, attempt.at), *others)[:rules.known_addresses]
    failures = list(address_record.failures)
    if attempt.at in failures:
        failures.remove(attempt.at)
    return AccountRecord(known_addresses=known), AddressRecord(tuple(failures))


# --- the bounded tables ------------------------------------------------------------------------------------------

Record = TypeVar("Record", AccountRecord, AddressRecord)


@dataclass
class _Table(Generic[Record]):
    """Records by key, at most ``bound`` of them; the least recently used is forgotten first."""

    bound: int
    records: OrderedDict[str, Record] = field(default_factory=OrderedDict)

    def get(self, key: str) -> Record | None:
        return self.records.get(key)

    def put(self, key: str, record: Record, empty: Record) -> None:
        self.records.pop(key, None)
        if record == empty:
            return  # nothing to remember: an empty record costs no memory
        self.records[key] = record
        while len(self.records) > self.bound:
            self.records.popitem(last=False)

    def __len__(self) -> int:
        return len(self.records)


class SignInThrottle:
    """The rule of this module over bounded tables of accounts, made-up ids and addresses (see the docstring)."""

    def __init__(self, rules: SignInRules = DEFAULT_RULES) -> None:
        self.rules = rules
        self._accounts = _Table[AccountRecord](rules.max_accounts)
        self._unknown_ids = _Table[AccountRecord](rules.max_unknown_ids)
        self._addresses = _Table[AddressRecord](rules.max_addresses)

    def admit(self, account_id: str, address: str, account_exists: bool, now: datetime) -> Admitted | Refused:
        """Whether ``address`` may check a password for ``account_id`` now; an admitted attempt is counted at
        once (as a failure, until :meth:`succeeded`), so call this right before the check, not after it."""
        key, table = account_key(account_id), self._table(account_exists)
        account, address_record = self._current(key, address, account_exists, now)
        verdict = decide(account, address_record, address, now, self.rules)
        if isinstance(verdict, Refused):
            return verdict
        account, address_record = after_admission(account, address_record, verdict, now, self.rules)
        table.put(key, account, AccountRecord())
        self._addresses.put(address, address_record, AddressRecord())
        return Admitted(key, address, account_exists, now, verdict)

    def wait(self, account_id: str, address: str, account_exists: bool, now: datetime) -> timedelta:
        """How long until :meth:`admit` would let ``address`` try ``account_id`` (zero: now); counts nothing."""
        verdict = decide(*self._current(account_key(account_id), address, account_exists, now), address, now,
                         self.rules)
        return verdict.retry_after if isinstance(verdict, Refused) else timedelta(0)

    def succeeded(self, attempt: Admitted, now: datetime) -> None:
        """``attempt`` gave the right password: forgive the account's failures, remember the address."""
        table = self._table(attempt.account_exists)
        account, address_record = self._current(attempt.account_key, attempt.address, attempt.account_exists, now)
        account, address_record = after_success(account, address_record, attempt, self.rules)
        table.put(attempt.account_key, account, AccountRecord())
        self._addresses.put(attempt.address, address_record, AddressRecord())

    def account_record(self, account_id: str, account_exists: bool) -> AccountRecord | None:
        return self._table(account_exists).get(account_key(account_id))

    @property
    def tracked(self) -> tuple[int, int, int]:
        """How many accounts, made-up ids and addresses are remembered (each at most its table's bound)."""
        return len(self._accounts), len(self._unknown_ids), len(self._addresses)

    def _current(self, key: str, address: str, account_exists: bool,
                 now: datetime) -> tuple[AccountRecord, AddressRecord]:
        account = self._table(account_exists).get(key) or AccountRecord()
        address_record = self._addresses.get(address) or AddressRecord()
        return current_account(account, now, self.rules), current_address(address_record, now, self.rules)

    def _table(self, account_exists: bool) -> _Table[AccountRecord]:
        return self._accounts if account_exists else self._unknown_ids
