"""The voter roll frozen from the ownership register: plain Python, no I/O, no clock.

`roll_from_register(snapshot, frozen_at)` turns the register as it stood at a moment (units with their exclusive
areas from the access register, and each unit's recorded ownership) into a :class:`VoterRoll`. It decides only what
goes on the roll; how the roll is counted — several units of one owner once, a co-owned unit once and voted by its
representative, the developer's held units together once — stays in `tally.py`, which reads the `Unit`s built here.

A unit without a recorded owner cannot be voted for by anyone, and counting its area would raise the quorum against
owners who cannot reach it; it is left off the roll and **reported** (`RegisterRoll.left_off`), so the property
office sees which units to register — never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from community.ownership.register import RegisterSnapshot
from community.voting.tally import Unit, VoterRoll


class LeftOffReason(Enum):
    NO_OWNER_RECORDED = "no_owner_recorded"

    @property
    def message_zh(self) -> str:
        return {LeftOffReason.NO_OWNER_RECORDED: "产权登记中没有该专有部分的业主"}[self]

    @property
    def message_en(self) -> str:
        return {LeftOffReason.NO_OWNER_RECORDED: "no owner is recorded for the unit in the ownership register"}[self]


@dataclass(frozen=True)
class LeftOffUnit:
    """A unit of the community that is not on the roll, and why."""

    unit_id: str
    label: str
    area: Decimal
    reason: LeftOffReason


@dataclass(frozen=True)
class RegisterRoll:
    roll: VoterRoll
    left_off: tuple[LeftOffUnit, ...]


def roll_from_register(snapshot: RegisterSnapshot, frozen_at: datetime) -> RegisterRoll:
    """The roll of the units in `snapshot` that have a recorded owner, frozen at `frozen_at`, and the units left off.

    Raises ValueError when no roll can be made: no unit has a recorded owner, or the roll's own checks refuse it.
    """
    on_roll: list[Unit] = []
    left_off: list[LeftOffUnit] = []
    for unit in snapshot.units:
        ownership = snapshot.ownership.get(unit.unit_id)
        if ownership is None:
            left_off.append(LeftOffUnit(unit.unit_id, unit.label, unit.area, LeftOffReason.NO_OWNER_RECORDED))
            continue
        on_roll.append(Unit(unit.unit_id, unit.label, unit.area, ownership.owner_ids, ownership.held_by_developer,
                            ownership.representative_id))
    if not on_roll:
        raise ValueError(f"no unit of community {snapshot.community_id!r} had a recorded owner at "
                         f"{snapshot.as_of.isoformat()} ({len(left_off)} units without one): there is nobody to vote")
    return RegisterRoll(VoterRoll(tuple(on_roll), frozen_at), tuple(left_off))
