"""Which of a controller's event indices to publish next: none twice, none skipped, a reset noticed.

A controller numbers its events 1, 2, 3… in a ring buffer it keeps across power cuts. The bridge keeps, per
controller and durably, the last index it published (after the broker acknowledged it) and an *epoch* that grows
each time the controller's log is found reset (its index went back: a factory reset, a replaced board), so event
ids stay unique. Pure: fed what the controller said, it returns the next cursor and what to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class EventCursor:
    """``last`` is the last index published in this ``epoch``; None: the bridge has never seen this controller."""

    epoch: int = 0
    last: int | None = None

    def advanced(self, index: int) -> EventCursor:
        return EventCursor(self.epoch, index)


class Observation(Enum):
    FIRST_CONTACT = "first_contact"  # nothing published before: start at the controller's current index
    IN_STEP = "in_step"
    BEHIND = "behind"  # the controller holds events the bridge has not published
    RESET = "reset"  # the controller's index is below the last one published: its log was reset


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """Read and publish ``first``..``last`` (inclusive, empty when first > last), with the cursor to start from."""

    cursor: EventCursor
    first: int
    last: int
    observation: Observation

    @property
    def indices(self) -> range:
        return range(self.first, self.last + 1)


def plan_reads(cursor: EventCursor, controller_index: int, last_still_there: bool = True) -> ReadPlan:
    """What to read given the controller's current (last written) event index.

    A first contact does not replay the controller's whole history (it may hold 100 000 events from before the
    platform): it starts at the current index. A reset starts a new epoch and reads the events since the reset. A
    reset that brought the index back exactly to (or past) where it was shows only in the event at the last index
    being another one: ``last_still_there`` false says so.
    """
    if cursor.last is None:
        start = EventCursor(cursor.epoch, controller_index)
        return ReadPlan(start, controller_index + 1, controller_index, Observation.FIRST_CONTACT)
    if controller_index < cursor.last or not last_still_there:
        start = EventCursor(cursor.epoch + 1, 0)
        return ReadPlan(start, 1, controller_index, Observation.RESET)
    observation = Observation.BEHIND if controller_index > cursor.last else Observation.IN_STEP
    return ReadPlan(cursor, cursor.last + 1, controller_index, observation)


class PushVerdict(Enum):
    NEXT = "next"  # the very next index: publish it now
    GAP = "gap"  # later than the next: read the ones between first (they were missed)
    STALE = "stale"  # at or before the last published: a repeat, or a reset — ask the controller's index


def judge_push(cursor: EventCursor, index: int) -> PushVerdict:
    """What a pushed event's index means against the cursor (a push is a hint: the log is the truth)."""
    if cursor.last is None:
        return PushVerdict.STALE  # not yet anchored: let the controller's index decide
    if index == cursor.last + 1:
        return PushVerdict.NEXT
    if index > cursor.last + 1:
        return PushVerdict.GAP
    return PushVerdict.STALE
