"""What a result is made of: agree, oppose, abstain and not voted, by area and by heads; each Art. 278 criterion met
or failed and by how much; the owners whose units voted differently.

Derived from the same counted ballots as the tally (``tally.py``), never stored on its own: anyone who recounts the
log gets the same breakdown. By heads, a person's units count as one (interpretation art. 9): a person is counted
under a choice when every one of their units that voted made it; a person whose units voted differently is *split*
(takes part, is not in favour — see docs/voting.md); a person none of whose units voted has *not voted*.

Plain Python, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, Rounded, localcontext
from enum import Enum
from fractions import Fraction
from math import floor

from community.voting.rules import QUORUM, Threshold
from community.voting.tally import Ballot, Choice, OwnerPerson, Proposal, VoterRoll, tally_resolution


@dataclass(frozen=True)
class Share:
    """Area (m², exact) and heads (persons) under one heading."""

    area: Decimal
    headcount: int


class Criterion(Enum):
    """The four measurements Art. 278 ¶2 asks for, each by area and by heads."""

    QUORUM_AREA = "quorum_area"
    QUORUM_HEADCOUNT = "quorum_headcount"
    APPROVAL_AREA = "approval_area"
    APPROVAL_HEADCOUNT = "approval_headcount"

    @property
    def label_zh(self) -> str:
        return {Criterion.QUORUM_AREA: "参与表决的专有部分面积", Criterion.QUORUM_HEADCOUNT: "参与表决的业主人数",
                Criterion.APPROVAL_AREA: "同意的专有部分面积", Criterion.APPROVAL_HEADCOUNT: "同意的业主人数"}[self]

    @property
    def by_area(self) -> bool:
        return self in (Criterion.QUORUM_AREA, Criterion.APPROVAL_AREA)


@dataclass(frozen=True)
class CriterionOutcome:
    """One measurement against its threshold.

    `needed` is the least quantity that meets the threshold over `base` (for heads a whole number of persons; for
    area the threshold itself, which a strict threshold must exceed); `margin` = `measured` − `needed`: ≥ 0 by how
    much it was met (for a strict area threshold, > 0), < 0 by how much it failed.
    """

    criterion: Criterion
    threshold: Threshold
    measured: Fraction
    base: Fraction
    needed: Fraction
    met: bool

    @property
    def ratio(self) -> Fraction:
        return self.measured / self.base if self.base else Fraction(0)

    @property
    def margin(self) -> Fraction:
        return self.measured - self.needed


@dataclass(frozen=True)
class SplitOwner:
    """A person whose units voted differently: their units' labels with each unit's choice, in roll order."""

    owner_ids: tuple[str, ...]
    units: tuple[tuple[str, Choice], ...]


@dataclass(frozen=True)
class Breakdown:
    agree: Share
    oppose: Share
    abstain: Share
    split: Share
    """Split persons (heads only; their area is under each unit's own choice, so `split.area` is 0)."""
    not_voted: Share
    criteria: tuple[CriterionOutcome, ...]
    split_owners: tuple[SplitOwner, ...]
    passed: bool

    @property
    def failed(self) -> tuple[CriterionOutcome, ...]:
        return tuple(outcome for outcome in self.criteria if not outcome.met)


def breakdown(proposal: Proposal, roll: VoterRoll, ballots: Iterable[Ballot]) -> Breakdown:
    """The breakdown of a yes/no resolution from its counted ballots (the last per unit counts, as in the tally).

    Raises ValueError for an election (each candidate has its own count there) and for ballots the tally refuses.
    """
    ballots = list(ballots)
    result = tally_resolution(proposal, roll, ballots)  # also checks the ballots, and is what `passed` must equal
    choices: dict[str, Choice] = {}
    for ballot in ballots:
        if isinstance(ballot.choice, Choice):
            choices[ballot.unit_id] = ballot.choice
    by_person = _persons(roll, choices)
    heads = {choice: 0 for choice in Choice}
    split: list[SplitOwner] = []
    for person, unit_choices in by_person.items():
        distinct = {choice for _, choice in unit_choices}
        if len(distinct) == 1:
            heads[distinct.pop()] += 1
        else:
            labelled = tuple((roll.units_by_id[unit_id].label, choice) for unit_id, choice in unit_choices)
            split.append(SplitOwner(tuple(sorted(person.owner_ids)), labelled))

    def area_of(choice: Choice) -> Decimal:
        with localcontext(_EXACT):  # as the tally adds areas: never rounded
            return sum((roll.units_by_id[u].area for u, c in choices.items() if c is choice), Decimal(0))

    turnout = result.turnout
    not_voted = Share(turnout.total_area - turnout.participating_area,
                      turnout.total_headcount - turnout.participating_headcount)
    approval = result.rule.approval
    criteria = (
        _outcome(Criterion.QUORUM_AREA, QUORUM, turnout.participating_area, turnout.total_area),
        _outcome(Criterion.QUORUM_HEADCOUNT, QUORUM, turnout.participating_headcount, turnout.total_headcount),
        _outcome(Criterion.APPROVAL_AREA, approval, result.in_favour_area, turnout.participating_area),
        _outcome(Criterion.APPROVAL_HEADCOUNT, approval, result.in_favour_headcount, turnout.participating_headcount),
    )
    return Breakdown(
        agree=Share(area_of(Choice.AGREE), heads[Choice.AGREE]),
        oppose=Share(area_of(Choice.OPPOSE), heads[Choice.OPPOSE]),
        abstain=Share(area_of(Choice.ABSTAIN), heads[Choice.ABSTAIN]),
        split=Share(Decimal(0), len(split)),
        not_voted=not_voted,
        criteria=criteria,
        split_owners=tuple(split),
        passed=result.passed,
    )


def _persons(roll: VoterRoll, choices: Mapping[str, Choice]) -> dict[OwnerPerson, list[tuple[str, Choice]]]:
    grouped: dict[OwnerPerson, list[tuple[str, Choice]]] = {}
    for unit in roll.units:  # roll order, so a split owner's units are listed as the roll lists them
        if unit.unit_id in choices:
            grouped.setdefault(roll.person_of(unit.unit_id), []).append((unit.unit_id, choices[unit.unit_id]))
    return grouped


def _outcome(criterion: Criterion, threshold: Threshold, measured: Decimal | int,
             base: Decimal | int) -> CriterionOutcome:
    measured_f, base_f = Fraction(measured), Fraction(base)
    bound = threshold.share * base_f
    # whole persons: the least count at or above (以上) / above (过半数) the bound; area: the bound itself
    needed = bound if criterion.by_area else Fraction(_ceil(bound) if threshold.inclusive else floor(bound) + 1)
    ratio = measured_f / base_f if base_f else Fraction(0)
    return CriterionOutcome(criterion, threshold, measured_f, base_f, needed, threshold.is_met_by(ratio))


_EXACT = Context(prec=100, traps=[Inexact, Rounded])


def _ceil(value: Fraction) -> int:
    return -floor(-value)
