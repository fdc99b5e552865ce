"""Where a proposal stands, and where one person stands in it: plain Python, no I/O, no clock.

* :func:`phase_of` — upcoming, open or closed at a moment: open only with a frozen roll;
* :func:`units_of` — the units a person may vote for on a frozen roll (as an owner, or as a proxy), the ballot of
  theirs that counts for each, and why they cannot vote for one when someone else speaks for it.

The pages (``pages.py``) and the API's list of proposals (``listing.py``) both read these, so a person is told the
same on either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from community.voting.audit import LogEntry
from community.voting.tally import BallotRefusal, Capacity, Delegation, Proposal, Unit, VoterRoll


class Phase(Enum):
    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {Phase.UPCOMING: "未开始", Phase.OPEN: "投票中", Phase.CLOSED: "已结束"}[self]


def phase_of(proposal: Proposal, now: datetime, roll_frozen: bool = True) -> Phase:
    """Voting is open only with a frozen roll: until the roll is frozen from the register, the
    proposal is still upcoming (and, if the register never gave one, closed without a vote)."""
    if now >= proposal.closes_at:
        return Phase.CLOSED
    return Phase.OPEN if now >= proposal.opens_at and roll_frozen else Phase.UPCOMING


@dataclass(frozen=True)
class MyUnit:
    """A unit the person may vote for, and where its ballot stands."""

    unit: Unit
    capacity: Capacity
    counted: LogEntry | None
    """This person's ballot that currently counts for the unit."""
    blocked_by: BallotRefusal | None
    """Why this person cannot vote for it (someone else speaks for the unit), if so."""


def units_of(subject: str, roll: VoterRoll | None, delegations: Iterable[Delegation],
             entries: Sequence[LogEntry]) -> list[MyUnit]:
    """The units on the frozen ``roll`` that ``subject`` owns or holds a delegation for, in roll order, with the
    ballot of theirs that counts for each (from ``entries``, the log's ballots in order). None until the roll is
    frozen: nobody votes before."""
    if roll is None:
        return []
    last = {entry.unit_id: entry for entry in entries}
    delegated = {d.unit_id for d in delegations if d.delegate_id == subject}
    mine: list[MyUnit] = []
    for unit in roll.units:
        if subject in unit.owner_ids:
            capacity = Capacity.OWNER
        elif unit.unit_id in delegated:
            capacity = Capacity.PROXY
        else:
            continue
        counted = last.get(unit.unit_id)
        blocked = None
        if capacity is Capacity.OWNER and unit.representative_id not in (None, subject):
            blocked = BallotRefusal.DOUBLE_REPRESENTATION
        if counted is not None and counted.voter_id != subject:
            blocked, counted = BallotRefusal.DOUBLE_REPRESENTATION, None
        mine.append(MyUnit(unit, capacity, counted, blocked))
    return mine
