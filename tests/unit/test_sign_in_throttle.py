"""The sign-in throttle as a state machine fed attempts and ``now``: per address a hard limit, per account free
failures and then a slowing that doubles, never a lock the owner cannot pass from an address that is not failing;
attempts counted when admitted; bounded tables that made-up ids cannot use to evict a real account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.throttling import Admitted, Lane, Refused, RefusedBy, SignInRules, SignInThrottle

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RULES = SignInRules()  # the defaults: 5 free, 1 s doubling to 15 min, 10 s between new addresses, 20 per address


@dataclass(frozen=True)
class Try:
    """An attempt at second ``at``: ``address`` on ``account`` with the right password or not."""

    at: float
    account: str
    address: str
    right: bool = False
    exists: bool = True


def play(attempts: list[Try], throttle: SignInThrottle | None = None) -> list[str]:
    """Each attempt's answer: ``free``, ``slot``, ``known_address``, ``new_address`` when admitted (then settled:
    a right password succeeds), ``address+N`` or ``account+N`` when refused, N the seconds to wait."""
    throttle = throttle or SignInThrottle(RULES)
    answers = []
    for attempt in attempts:
        now = T0 + timedelta(seconds=attempt.at)
        verdict = throttle.admit(attempt.account, attempt.address, attempt.exists, now)
        if isinstance(verdict, Refused):
            answers.append(f"{verdict.by.value}+{verdict.retry_after.total_seconds():g}")
            continue
        if attempt.right:
            throttle.succeeded(verdict, now)
        answers.append(verdict.lane.value)
    return answers


def wrong(at: float, address: str = "198.51.100.7", account: str = "wang", exists: bool = True) -> Try:
    return Try(at, account, address, False, exists)


def right(at: float, address: str, account: str = "wang") -> Try:
    return Try(at, account, address, True)


ATTACKER, HOME, CAFE = "198.51.100.7", "203.0.113.9", "192.0.2.44"

SCENARIOS: dict[str, tuple[Any, ...]] = {
    "five free failures, then each further guess waits 1 s, 2 s, 4 s ...": (
        [wrong(0)] * 6 + [wrong(1), wrong(2), wrong(3), wrong(6.5), wrong(7)],
        ["free"] * 5 + ["account+1", "slot", "account+1", "slot", "account+0.5", "slot"],
    ),
    "the wait stops doubling at 15 minutes": (
        [wrong(0)] * 5 + [wrong(2**k - 1) for k in range(1, 11)] + [wrong(1023 + 899), wrong(1023 + 900)],
        ["free"] * 5 + ["slot"] * 10 + ["account+1", "slot"],
    ),
    "one account's failures do not slow another": (
        [wrong(0)] * 6 + [wrong(0, account="li")],
        ["free"] * 5 + ["account+1", "free"],
    ),
    "a right password forgives the failures before it": (
        [wrong(0)] * 4 + [right(0, ATTACKER)] + [wrong(0)] * 6,
        ["free"] * 5 + ["free"] * 5 + ["account+1"],
    ),
    "the owner, from an address that is not failing, is not locked out by someone else's guesses": (
        [wrong(0)] * 30 + [right(0, HOME)],
        ["free"] * 5 + ["account+1"] * 25 + ["new_address"],
    ),
    "addresses that are not failing get one attempt per 10 s between them": (
        [wrong(0)] * 5 + [wrong(0, "192.0.2.1"), wrong(0, "192.0.2.2"), wrong(9, "192.0.2.2"), wrong(10, "192.0.2.2"),
                          wrong(10, "192.0.2.3")],
        ["free"] * 5 + ["new_address", "account+10", "account+1", "new_address", "account+10"],
        SignInRules(first_delay=timedelta(minutes=15)),  # the account's own slot far off
    ),
    "the account's slot and the new addresses' turn are two lanes": (
        [wrong(0)] * 5 + [wrong(0, "192.0.2.1"), wrong(0, "192.0.2.2"), wrong(2), wrong(10, "192.0.2.2"),
                          wrong(10, "192.0.2.3")],
        ["free"] * 5 + ["new_address", "account+2", "slot", "slot", "new_address"],
    ),
    "an address the account signed in from goes ahead at once, whatever the others do": (
        [right(0, HOME)] + [wrong(1)] * 5 + [wrong(1, "192.0.2.1"), right(1, HOME)],
        ["free"] + ["free"] * 5 + ["new_address", "known_address"],
    ),
    "an address the account signed in from waits like the others once it is failing": (
        [right(0, HOME)] + [wrong(1)] * 5 + [wrong(1, HOME), right(1, HOME)],
        ["free"] + ["free"] * 5 + ["known_address", "account+2"],
    ),
    "twenty failures from one address refuse it on any account until the first is 15 minutes old": (
        [wrong(second, account=f"id-{second}", exists=False) for second in range(20)] + [wrong(60, account="li"),
                                                                                         wrong(900, account="li")],
        ["free"] * 20 + ["address+840", "free"],
    ),
    "an address's refusals are its own: another address still signs in": (
        [wrong(second, account=f"id-{second}", exists=False) for second in range(20)] + [right(20, HOME)],
        ["free"] * 20 + ["free"],
    ),
    "an account's failures are forgotten a day after the last one": (
        [wrong(0)] * 6 + [wrong(86_400)],
        ["free"] * 5 + ["account+1", "free"],
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_rule(scenario: str) -> None:
    attempts, answers, *rules = SCENARIOS[scenario]
    assert play(attempts, SignInThrottle(*rules)) == answers


def test_attempts_are_counted_when_admitted_so_concurrent_guesses_see_each_other() -> None:
    throttle = SignInThrottle(RULES)
    admitted = [throttle.admit("wang", ATTACKER, True, T0) for _ in range(400)]  # none settled yet: in flight
    assert sum(isinstance(verdict, Admitted) for verdict in admitted) == RULES.free_failures


def test_guesses_at_made_up_ids_never_evict_a_real_accounts_record() -> None:
    throttle = SignInThrottle(RULES)
    for _ in range(RULES.free_failures):
        throttle.admit("wang", ATTACKER, True, T0)
    record = throttle.account_record("wang", True)
    for number in range(10_000):  # 20 each (the most an address may fail) from 500 addresses
        throttle.admit(f"junk-{number}", f"10.0.{number // 20 // 250}.{number // 20 % 250}", False, T0)
    assert throttle.account_record("wang", True) == record
    assert throttle.admit("wang", ATTACKER, True, T0) == Refused(RefusedBy.ACCOUNT, timedelta(seconds=1))
    assert throttle.tracked == (1, RULES.max_unknown_ids, 501)


def test_ids_longer_than_any_account_are_kept_under_their_first_64_characters() -> None:
    throttle = SignInThrottle(RULES)
    verdict = throttle.admit("x" * 10_000, ATTACKER, False, T0)
    assert isinstance(verdict, Admitted) and verdict.account_key == "x" * 64


def test_the_wait_is_told_without_counting_an_attempt() -> None:
    throttle = SignInThrottle(RULES)
    for _ in range(RULES.free_failures):
        throttle.admit("wang", ATTACKER, True, T0)
    assert throttle.wait("wang", ATTACKER, True, T0) == timedelta(seconds=1)
    assert throttle.wait("wang", ATTACKER, True, T0) == timedelta(seconds=1), "asking twice changes nothing"
    assert throttle.wait("wang", HOME, True, T0) == timedelta(0)


@pytest.mark.parametrize("rules", [
    {"free_failures": 0}, {"address_failures": 0}, {"first_delay": timedelta(0)},
    {"first_delay": timedelta(minutes=20)}, {"max_unknown_ids": 0},
])
def test_rules_that_would_not_throttle_are_refused(rules: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SignInRules(**rules)  # type: ignore[arg-type]


# --- properties, for any sequence of attempts ------------------------------------------------------------------

SMALL = SignInRules(free_failures=3, address_failures=6, max_accounts=3, max_unknown_ids=3, max_addresses=4)
ACCOUNTS = ["wang", "li", "zhao", "chen", "junk-1", "junk-2"]
ADDRESSES = [f"192.0.2.{n}" for n in range(1, 8)]
attempts = st.lists(st.tuples(
    st.integers(0, 120), st.sampled_from(ACCOUNTS), st.sampled_from(ADDRESSES), st.booleans(),
), max_size=80)


def _exists(account: str) -> bool:
    return not account.startswith("junk")


def _feed(throttle: SignInThrottle, steps: list[tuple[int, str, str, bool]]) -> list[tuple[datetime, Try, object]]:
    log, now = [], T0
    for gap, account, address, is_right in steps:
        now += timedelta(seconds=gap)
        verdict = throttle.admit(account, address, _exists(account), now)
        if isinstance(verdict, Admitted) and is_right:
            throttle.succeeded(verdict, now)
        log.append((now, Try(0, account, address, is_right, _exists(account)), verdict))
    return log


@settings(max_examples=100, deadline=None)
@given(steps=attempts)
def test_no_address_fails_more_than_its_limit_in_any_window(steps: list[tuple[int, str, str, bool]]) -> None:
    log = _feed(SignInThrottle(SignInRules(free_failures=3, address_failures=6)), steps)
    failed = [(now, attempt.address) for now, attempt, verdict in log
              if isinstance(verdict, Admitted) and not attempt.right]
    for now, address in failed:
        in_window = [at for at, other in failed if other == address and now <= at < now + SMALL.address_window]
        assert len(in_window) <= SMALL.address_failures


@settings(max_examples=100, deadline=None)
@given(gaps=st.lists(st.floats(0, 100), max_size=60))
def test_from_one_address_the_guesses_after_the_free_ones_are_spaced_by_a_doubling_delay(gaps: list[float]) -> None:
    throttle, now, admitted = SignInThrottle(SignInRules(address_failures=10_000)), T0, []
    for gap in gaps:
        now += timedelta(seconds=gap)
        if isinstance(throttle.admit("wang", ATTACKER, True, now), Admitted):
            admitted.append(now)
    for count, (earlier, later) in enumerate(pairwise(admitted), start=1):
        assert later - earlier >= RULES.delay_after(count)


@settings(max_examples=100, deadline=None)
@given(steps=attempts, at_once=st.integers(1, 50))
def test_at_one_instant_an_account_takes_at_most_its_free_failures_and_one_new_address(
        steps: list[tuple[int, str, str, bool]], at_once: int) -> None:
    throttle = SignInThrottle(SMALL)
    log = _feed(throttle, [(gap, account, address, False) for gap, account, address, _ in steps])
    now = log[-1][0] if log else T0
    verdicts = [throttle.admit("wang", ADDRESSES[n % len(ADDRESSES)], True, now) for n in range(at_once)]
    assert sum(isinstance(verdict, Admitted) for verdict in verdicts) <= SMALL.free_failures + 1


@settings(max_examples=100, deadline=None)
@given(steps=attempts)
def test_whatever_others_do_the_owner_gets_in_from_a_known_address_at_once_or_a_new_one_soon(
        steps: list[tuple[int, str, str, bool]]) -> None:
    throttle = SignInThrottle(SignInRules(known_addresses=2))
    home, elsewhere = "203.0.113.1", "203.0.113.2"
    signed_in = throttle.admit("wang", home, True, T0)
    assert isinstance(signed_in, Admitted)
    throttle.succeeded(signed_in, T0)
    log = _feed(throttle, [(gap, account, address, False) for gap, account, address, _ in steps])  # only guesses
    now = log[-1][0] if log else T0
    assert throttle.wait("wang", elsewhere, True, now) <= RULES.new_address_spacing
    verdict = throttle.admit("wang", home, True, now)
    assert isinstance(verdict, Admitted) and verdict.lane in (Lane.FREE, Lane.SLOT, Lane.KNOWN_ADDRESS)


@settings(max_examples=100, deadline=None)
@given(steps=attempts)
def test_the_tables_stay_bounded_and_made_up_ids_leave_real_accounts_alone(
        steps: list[tuple[int, str, str, bool]]) -> None:
    throttle = SignInThrottle(SMALL)
    log = _feed(throttle, [step for step in steps if _exists(step[1])])
    real = {account: throttle.account_record(account, True) for account in ACCOUNTS if _exists(account)}
    now = log[-1][0] if log else T0
    for number in range(50):
        throttle.admit(f"junk-{number}", ADDRESSES[number % len(ADDRESSES)], False, now)
    assert {account: throttle.account_record(account, True) for account in real} == real
    accounts, unknown, addresses = throttle.tracked
    assert accounts <= SMALL.max_accounts and unknown <= SMALL.max_unknown_ids and addresses <= SMALL.max_addresses


@settings(max_examples=100, deadline=None)
@given(steps=attempts)
def test_the_answers_do_not_tell_whether_an_id_exists(steps: list[tuple[int, str, str, bool]]) -> None:
    guesses = [(gap, account, address, False) for gap, account, address, _ in steps]
    rules = SignInRules(free_failures=3, address_failures=6)
    real, made_up = SignInThrottle(rules), SignInThrottle(rules)
    answers_real = [verdict for _, _, verdict in _feed(real, guesses)]
    made_up_answers = []
    now = T0
    for gap, account, address, _ in guesses:
        now += timedelta(seconds=gap)
        made_up_answers.append(made_up.admit(account, address, not _exists(account), now))
    assert [_answer(verdict) for verdict in answers_real] == [_answer(verdict) for verdict in made_up_answers]


def _answer(verdict: object) -> object:
    return verdict.lane if isinstance(verdict, Admitted) else verdict
