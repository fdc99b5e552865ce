"""The voter roll frozen from the ownership register: plain Python, no I/O, no clock.

`roll_from_register(snapshot, frozen_at)` turns the register as it stood at a moment (units with their exclusive
areas from the access register, and each unit's recorded ownership) into a :class:`VoterRoll`. It decides only what
goes on the roll; how the roll is counted — several units of one owner once, a co-owned unit once and voted by its
representative, the developer's held units together once — stays in `tally.py`, which reads the `Unit`s built here.

**Every unit goes on the roll**, a unit without a recorded owner too. SPC interpretation 法释〔2009〕7号 arts. 8–9
measure the totals over *all* exclusive parts: the total area is the sum of every unit's exclusive area and the total
headcount counts every exclusive part, so leaving a unit off would lower the quorum's base and let fewer owners
decide for everybody. Such a unit keeps its area and is one person of its own (the register cannot tell who holds it,
so neither exception of art. 9 — same buyer, developer's unsold units — can be shown to apply); nobody can vote for
it, so it never takes part. It is **reported** (:func:`roll_problems`) so that the property office registers its
owner — the sooner, the less it weighs against the quorum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from community.ownership.register import RegisterSnapshot
from community.voting.tally import Unit, VoterRoll


class RollProblemKind(Enum):
    NO_OWNER_RECORDED = "no_owner_recorded"
    """On the roll and counted in both totals, but nobody can vote for it."""
    LEFT_OFF = "left_off"
    """Not on the roll at all: rolls frozen before migration 0006 left units without a recorded owner off."""

    @property
    def message_zh(self) -> str:
        return _MESSAGES[self][0]

    @property
    def message_en(self) -> str:
        return _MESSAGES[self][1]


_MESSAGES: dict[RollProblemKind, tuple[str, str]] = {
    RollProblemKind.NO_OWNER_RECORDED: (
        "产权登记中没有该专有部分的业主：其面积计入总面积、按一人计入总人数，但无人可以投票",
        "no owner is recorded for the unit: its area counts in the total area and it counts as one person in the "
        "total headcount, but nobody can vote for it",
    ),
    RollProblemKind.LEFT_OFF: (
        "产权登记中没有该专有部分的业主，按旧规则未列入名册（未计入总面积和总人数）",
        "no owner was recorded for the unit, and under the old rule it was left off the roll (not counted in the "
        "totals)",
    ),
}


@dataclass(frozen=True)
class RollProblem:
    """A unit of the community the property office should look at, and why."""

    unit_id: str
    label: str
    area: Decimal
    kind: RollProblemKind


def roll_from_register(snapshot: RegisterSnapshot, frozen_at: datetime) -> VoterRoll:
    """The roll of every unit in `snapshot`, frozen at `frozen_at`; units without a recorded owner have none.

    Raises ValueError when no roll can be made: no unit has a recorded owner (there is nobody to vote), or the roll's
    own checks refuse it.
    """
    units: list[Unit] = []
    for unit in snapshot.units:
        ownership = snapshot.ownership.get(unit.unit_id)
        if ownership is None:
            units.append(Unit(unit.unit_id, unit.label, unit.area, frozenset()))
        else:
            units.append(Unit(unit.unit_id, unit.label, unit.area, ownership.owner_ids, ownership.held_by_developer,
                              ownership.representative_id))
    if not any(unit.has_recorded_owner for unit in units):
        raise ValueError(f"no unit of community {snapshot.community_id!r} had a recorded owner at "
                         f"{snapshot.as_of.isoformat()} ({len(units)} units without one): there is nobody to vote")
    return VoterRoll(tuple(units), frozen_at)


def roll_problems(roll: VoterRoll, left_off: Iterable[RollProblem] = ()) -> tuple[RollProblem, ...]:
    """The units on `roll` without a recorded owner, after `left_off` (units an older roll left off), by unit id."""
    missing_owner = (RollProblem(unit.unit_id, unit.label, unit.area, RollProblemKind.NO_OWNER_RECORDED)
                     for unit in roll.units if not unit.has_recorded_owner)
    return (*left_off, *sorted(missing_owner, key=lambda problem: problem.unit_id))
