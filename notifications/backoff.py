"""Retries of a delivery: exponential back-off per attempt, capped, and a bound after which a delivery is given
up as failed (shown on the delivery log, retried by hand). Pure: the caller passes the times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=10)
    factor: int = 2
    max_delay: timedelta = timedelta(minutes=30)
    give_up_after: timedelta = timedelta(hours=24)
    """From the delivery's creation: a receiver down longer than this loses no other delivery, only this one's
    automatic retries."""

    def __post_init__(self) -> None:
        if self.first_delay <= timedelta(0) or self.factor < 1 or self.max_delay < self.first_delay:
            raise ValueError("a retry policy waits more than nothing, growing, up to its cap")


def retry_at(policy: RetryPolicy, attempts: int, created_at: datetime, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts (the first retry waits ``first_delay``, each next one
    ``factor`` times longer, at most ``max_delay``); None when that would be past ``give_up_after``: failed."""
    if attempts < 1:
        raise ValueError("retry_at is asked after a failed attempt")
    exponent = min(attempts - 1, 32)  # bounded: the cap is reached long before
    delay: timedelta = min(policy.first_delay * policy.factor ** exponent, policy.max_delay)
    at = now + delay
    if at - created_at > policy.give_up_after:
        return None
    return at
