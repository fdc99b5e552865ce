"""A property manager opening a door from the console: an audited request whose outcome the gate's ack decides.

pending → opened (ack ok) | failed (ack with an error, or the broker could not take the command) | timed_out (no ack
by the deadline; the command carries the same deadline as ``expires_at``, so a gate that gets it late ignores it
rather than opening a door nobody is waiting at). Every request is kept: who, when, which door, why, what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class RemoteOpenStatus(StrEnum):
    PENDING = "pending"
    OPENED = "opened"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class RemoteOpen:
    cmd_id: str
    gate_id: str
    door: int
    requested_by: str
    reason: str
    requested_at: datetime
    deadline: datetime
    status: RemoteOpenStatus = RemoteOpenStatus.PENDING
    finished_at: datetime | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("say why the door is opened remotely")
        if self.deadline <= self.requested_at:
            raise ValueError("the deadline of a remote open must follow the request")


def answered(request: RemoteOpen, ok: bool, error: str | None, at: datetime) -> RemoteOpen | None:
    """The request once the gate acked; None when it is no longer pending (a late or repeated ack changes nothing)."""
    if request.status is not RemoteOpenStatus.PENDING:
        return None
    status = RemoteOpenStatus.OPENED if ok else RemoteOpenStatus.FAILED
    return replace(request, status=status, finished_at=at, error=None if ok else (error or "refused by the gate"))


def undeliverable(request: RemoteOpen, error: str, at: datetime) -> RemoteOpen:
    """The broker did not take the command: the manager learns at once instead of waiting for the timeout."""
    return replace(request, status=RemoteOpenStatus.FAILED, finished_at=at, error=error)


def timed_out(request: RemoteOpen, now: datetime) -> RemoteOpen | None:
    """The request as timed out if it is still pending at its deadline, else None."""
    if request.status is not RemoteOpenStatus.PENDING or now < request.deadline:
        return None
    return replace(request, status=RemoteOpenStatus.TIMED_OUT, finished_at=now, error="no answer from the gate")
