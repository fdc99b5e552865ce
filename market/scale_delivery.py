"""Delivering commands to scales until they answer: pending → acked, failed, given up or superseded.

Each command (``set_prices``, ``block_batch``, ``unblock_batch``) to each scale is a :class:`Delivery`.
It is sent at once, then again with the same ``cmd_id`` after a backoff (30 s, doubling up to 10 min)
while no ack comes, for a bounded number of sends; after the last one has had its wait, it is given up
and shown as such.
A scale known to be offline is not sent to (its retries are not used up); when it comes back its
unanswered commands are due again. A newer price table supersedes an unanswered older one, as it
holds everything the older one did; lifting a block supersedes the unanswered ``block_batch`` of that
batch, and blocking it again the unanswered ``unblock_batch``. A broker that cannot take the command costs no attempt.

Sans-I/O: the service sends and stores; these functions say what the new state is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from devices.contract import Command
from devices.scale_commands import (
    BLOCK_BATCH,
    SET_PRICES,
    UNBLOCK_BATCH,
    BlockBatchResult,
    SetPricesArgs,
    SetPricesResult,
    UnblockBatchResult,
)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    ACKED = "acked"
    FAILED = "failed"
    GIVEN_UP = "given_up"
    SUPERSEDED = "superseded"

    @property
    def unanswered(self) -> bool:
        return self in (DeliveryStatus.PENDING, DeliveryStatus.GIVEN_UP)


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_after: timedelta = timedelta(seconds=30)
    max_retry_interval: timedelta = timedelta(minutes=10)
    max_attempts: int = 6
    """Sends, the first included; the last one is waited for like the others before giving up."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.retry_after <= timedelta(0) or self.max_retry_interval < self.retry_after:
            raise ValueError("a delivery policy sends at least once and waits a positive, bounded time")

    def backoff(self, sends: int) -> timedelta:
        """How long to wait for an ack after the ``sends``-th send."""
        doubled: timedelta = self.retry_after * (2 ** min(max(sends - 1, 0), 30))
        return min(doubled, self.max_retry_interval)


DEFAULT_POLICY = DeliveryPolicy()


@dataclass(frozen=True)
class Delivery:
    cmd_id: str
    site: str
    scale: str
    stall: str
    op: str
    args: Mapping[str, Any]
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_sent_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    result: Mapping[str, Any] | None = field(default=None)

    def command(self) -> Command:
        """The command on the wire; every send of this delivery is the same command."""
        return Command(cmd_id=self.cmd_id, op=self.op, args=dict(self.args), issued_at=self.created_at)


def new_delivery(cmd_id: str, site: str, scale: str, stall: str, command: Command, now: datetime) -> Delivery:
    return Delivery(cmd_id, site, scale, stall, command.op, dict(command.args), now, next_attempt_at=now)


def is_due(delivery: Delivery, now: datetime, online: bool | None) -> bool:
    """Whether to send (or give up) now; ``online`` None means the scale's state is not known yet."""
    return (delivery.status is DeliveryStatus.PENDING and online is not False
            and (delivery.next_attempt_at is None or delivery.next_attempt_at <= now))


def out_of_attempts(delivery: Delivery, policy: DeliveryPolicy = DEFAULT_POLICY) -> bool:
    return delivery.attempts >= policy.max_attempts


def sent(delivery: Delivery, now: datetime, policy: DeliveryPolicy = DEFAULT_POLICY) -> Delivery:
    """The broker took the command: wait for the ack, longer after each send."""
    attempts = delivery.attempts + 1
    return replace(delivery, attempts=attempts, last_sent_at=now, next_attempt_at=now + policy.backoff(attempts),
                   error=None)


def not_sent(delivery: Delivery, now: datetime, reason: str, policy: DeliveryPolicy = DEFAULT_POLICY) -> Delivery:
    """The broker could not take it: try again soon, without using up an attempt."""
    return replace(delivery, next_attempt_at=now + policy.retry_after, error=reason[:200])


def given_up(delivery: Delivery, now: datetime) -> Delivery:
    return replace(delivery, status=DeliveryStatus.GIVEN_UP, finished_at=now, next_attempt_at=None,
                   error=f"no ack after {delivery.attempts} sends")


def acknowledged(delivery: Delivery, ok: bool, error: str | None, result: Mapping[str, Any] | None,
                 now: datetime) -> Delivery:
    """The scale answered. A late answer to a given-up command still counts (the scale did act on it);
    answers to commands already settled change nothing (redelivered acks)."""
    if not delivery.status.unanswered:
        return delivery
    problem = error if not ok else result_problem(delivery, result)
    status = DeliveryStatus.FAILED if problem is not None else DeliveryStatus.ACKED
    return replace(delivery, status=status, finished_at=now, next_attempt_at=None, error=problem,
                   result=dict(result) if result is not None else None)


def result_problem(delivery: Delivery, result: Mapping[str, Any] | None) -> str | None:
    """A positive ack whose result says the command was not fully applied. A result is optional; one
    that does not follow the op's model is a failure (firmware that means something else by it)."""
    if result is None:
        return None
    try:
        if delivery.op == SET_PRICES:
            loaded = SetPricesResult.model_validate(result).prices_loaded
            wanted = len(SetPricesArgs.model_validate(delivery.args).prices)
            return None if loaded == wanted else f"the scale loaded {loaded} of {wanted} prices"
        if delivery.op == BLOCK_BATCH and not BlockBatchResult.model_validate(result).blocked:
            return "the scale did not block the batch"
        if delivery.op == UNBLOCK_BATCH and not UnblockBatchResult.model_validate(result).unblocked:
            return "the scale did not lift the block"
    except ValidationError:
        return f"the scale's ack result is not a {delivery.op} result"
    return None


def superseded(delivery: Delivery, now: datetime) -> Delivery:
    """A newer command replaces this unanswered one (a newer price table; a release of a block not
    yet delivered, or a block again after a release)."""
    if not delivery.status.unanswered:
        return delivery
    return replace(delivery, status=DeliveryStatus.SUPERSEDED, finished_at=now, next_attempt_at=None)


def rearmed(delivery: Delivery, now: datetime) -> Delivery:
    """The scale is back online: an unanswered command is due now, with its attempts renewed."""
    if not delivery.status.unanswered:
        return delivery
    return replace(delivery, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, finished_at=None)
