"""The voter roll, who may cast a ballot for a unit, and what the counted ballots add up to.

Counting follows SPC interpretation 法释〔2009〕7号 (as revised by 法释〔2020〕17号) arts. 8–9:

* area is each unit's registered exclusive area; the total is the sum over the roll;
* headcount is one per unit, except that units held by the same owner(s) count as one person and the developer's
  unsold (or sold but undelivered) units together count as one person;
* both totals are over **all** exclusive parts: a unit whose owner is not recorded stays on the roll with its area
  and as a person of its own, who cannot take part (see docs/voting.md, "Units without a recorded owner").

We make "the same owner(s)" precise as **the same owner set**: an :class:`OwnerPerson` is a distinct set of owner ids.
A sole owner of two flats is one person; a couple co-owning a flat is one person; a person who owns one flat alone and
co-owns another is two persons (two different buyers in the interpretation's words). Ballots are cast per unit; a
person takes part if any of their units took part, and is in favour only if every one of their units that voted
agreed — see docs/voting.md for why.

Nothing here reads a clock: the caller passes `now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, Rounded, localcontext
from enum import Enum
from fractions import Fraction
from functools import cached_property
from itertools import groupby
from types import MappingProxyType
from typing import TypeVar

from community.voting.rules import ELECTION_RULE, QUORUM, Matter, PassingRule, rule_for

T = TypeVar("T")


class Choice(Enum):
    """The options of a yes/no resolution."""

    AGREE = "agree"
    OPPOSE = "oppose"
    ABSTAIN = "abstain"

    @property
    def label_zh(self) -> str:
        return {Choice.AGREE: "同意", Choice.OPPOSE: "反对", Choice.ABSTAIN: "弃权"}[self]


@dataclass(frozen=True)
class Approvals:
    """An election ballot: the candidates this unit approves. Approving nobody is taking part and abstaining."""

    candidates: frozenset[str] = frozenset()


BallotChoice = Choice | Approvals


class Capacity(Enum):
    """In what capacity a ballot is cast for a unit."""

    OWNER = "owner"
    """An owner of the unit; for a co-owned unit, the co-owner who represents it."""
    PROXY = "proxy"
    """Someone holding a recorded delegation for this unit and this proposal."""


class BallotRefusal(Enum):
    """Why a ballot was not accepted. Refused ballots are not counted and not written to the ballot log."""

    WRONG_PROPOSAL = "wrong_proposal"
    NOT_OPEN_YET = "not_open_yet"
    VOTING_CLOSED = "voting_closed"
    UNIT_NOT_ON_ROLL = "unit_not_on_roll"
    NOT_AN_OWNER = "not_an_owner"
    NO_DELEGATION = "no_delegation"
    DOUBLE_REPRESENTATION = "double_representation"
    WRONG_OPTION = "wrong_option"
    TOO_MANY_CANDIDATES = "too_many_candidates"
    DELEGATION_EXISTS = "delegation_exists"
    """Given to a delegation, not a ballot: this proxy already holds one for this unit and this proposal."""
    PAPER_BALLOT_COUNTS = "paper_ballot_counts"
    """An online ballot for a unit whose paper ballot counts (the rule the notice states: paper prevails)."""
    PAPER_EXISTS = "paper_exists"
    """A second paper ballot for a unit: one paper ballot per unit."""
    PAPER_RECEIVED_AFTER_CLOSE = "paper_received_after_close"
    SAME_CLERK = "same_clerk"
    """Given by the service: the two entries of a paper ballot must be made by two different committee members."""
    ROLL_NOT_FROZEN = "roll_not_frozen"
    """Given by the service, before any rule here: the proposal has no frozen roll to check a ballot against (its
    roll is frozen from the ownership register when voting opens, or could not be)."""

    @property
    def message_zh(self) -> str:
        return _REFUSAL_MESSAGES[self][0]

    @property
    def message_en(self) -> str:
        return _REFUSAL_MESSAGES[self][1]


_REFUSAL_MESSAGES: dict[BallotRefusal, tuple[str, str]] = {
    BallotRefusal.WRONG_PROPOSAL: ("选票不属于本次表决", "The ballot is for another proposal"),
    BallotRefusal.NOT_OPEN_YET: ("表决尚未开始", "Voting has not opened yet"),
    BallotRefusal.VOTING_CLOSED: ("表决已结束", "Voting is closed"),
    BallotRefusal.UNIT_NOT_ON_ROLL: ("该专有部分不在本次表决的业主名册中", "The unit is not on the voter roll"),
    BallotRefusal.NOT_AN_OWNER: ("投票人不是该专有部分的业主", "The voter is not an owner of the unit"),
    BallotRefusal.NO_DELEGATION: (
        "投票人没有该专有部分本次表决的有效委托",
        "The voter holds no valid delegation for this unit and this proposal",
    ),
    BallotRefusal.DOUBLE_REPRESENTATION: (
        "该专有部分已由他人代表表决，一个专有部分只能由一人代表",
        "Someone else already speaks for this unit; one unit has one voice",
    ),
    BallotRefusal.WRONG_OPTION: ("选项不属于本次表决", "The option is not one of this proposal's options"),
    BallotRefusal.TOO_MANY_CANDIDATES: ("同意的候选人超过应选名额", "More candidates approved than there are seats"),
    BallotRefusal.DELEGATION_EXISTS: (
        "该受托人已受托代表该专有部分参与本次表决",
        "This proxy already holds a delegation for this unit and this proposal",
    ),
    BallotRefusal.PAPER_BALLOT_COUNTS: (
        "该专有部分已有纸质选票计入（按表决公告：送达的纸质选票优先），不能再在线投票",
        "A paper ballot counts for this unit (by the rule the notice states: a delivered paper ballot prevails)",
    ),
    BallotRefusal.PAPER_EXISTS: ("该专有部分的纸质选票已经计入，一个专有部分只有一张选票",
                                 "A paper ballot counts for this unit already: one ballot per unit"),
    BallotRefusal.PAPER_RECEIVED_AFTER_CLOSE: ("纸质选票在投票截止后才送达，不计入",
                                               "The paper ballot was delivered after voting closed"),
    BallotRefusal.SAME_CLERK: ("纸质选票须由两位不同的业主委员会委员分别录入",
                               "A paper ballot is entered twice, by two different committee members"),
    BallotRefusal.ROLL_NOT_FROZEN: (
        "业主名册尚未冻结，表决尚未开始（名册在投票开始时按产权登记冻结）",
        "The voter roll is not frozen yet, so voting has not opened (the roll is frozen from the ownership register "
        "when voting opens)",
    ),
}


@dataclass(frozen=True)
class Unit:
    """An exclusive part (专有部分) on the roll.

    `area` is the registered exclusive area in m² (interpretation art. 8: the register, else the survey, else the
    sales contract). `held_by_developer` marks units the developer has not sold, or sold but not yet delivered; list
    the developer as their owner. `representative_id` is the co-owner the co-owners designated to vote for the unit,
    if they recorded one before the roll was frozen.

    Empty `owner_ids` mean that no owner is recorded for the unit: it still counts in the totals (its area, and one
    person of its own), but nobody can cast its ballot or delegate it.
    """

    unit_id: str
    label: str
    area: Decimal
    owner_ids: frozenset[str]
    held_by_developer: bool = False
    representative_id: str | None = None

    @property
    def is_co_owned(self) -> bool:
        return len(self.owner_ids) > 1

    @property
    def has_recorded_owner(self) -> bool:
        return bool(self.owner_ids)


@dataclass(frozen=True)
class OwnerPerson:
    """One person for the headcount: a distinct set of owners (the developer's held units share one set)."""

    owner_ids: frozenset[str]
    unit_without_owner: str | None = None
    """Set only for a unit with no recorded owner. Nobody is known to hold it together with another unit, so it is
    one person of its own (interpretation art. 9: one person per exclusive part), and that person cannot take part."""

    @classmethod
    def of(cls, unit: Unit) -> OwnerPerson:
        return cls(unit.owner_ids, None if unit.owner_ids else unit.unit_id)


@dataclass(frozen=True)
class VoterRoll:
    """The units entitled to vote, frozen when voting opens. Raises ValueError when the roll is inconsistent."""

    units: tuple[Unit, ...]
    frozen_at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.frozen_at, "frozen_at")
        if not self.units:
            raise ValueError("the roll has no units")
        seen: set[str] = set()
        for unit in self.units:
            if unit.unit_id in seen:
                raise ValueError(f"unit {unit.unit_id!r} is on the roll twice")
            seen.add(unit.unit_id)
            if not isinstance(unit.area, Decimal) or not unit.area.is_finite() or unit.area <= 0:
                raise ValueError(f"unit {unit.unit_id!r} must have a positive Decimal area, not {unit.area!r}")
            if unit.held_by_developer and not unit.owner_ids:
                raise ValueError(f"unit {unit.unit_id!r} is held by the developer but lists no owner")
            if unit.representative_id is not None and unit.representative_id not in unit.owner_ids:
                raise ValueError(f"the representative of unit {unit.unit_id!r} is not one of its owners")
        developer_owner_sets = {unit.owner_ids for unit in self.units if unit.held_by_developer}
        if len(developer_owner_sets) > 1:
            raise ValueError("units held by the developer must all list the same owner (the developer)")

    @cached_property
    def units_by_id(self) -> Mapping[str, Unit]:
        return MappingProxyType({unit.unit_id: unit for unit in self.units})

    def unit(self, unit_id: str) -> Unit | None:
        return self.units_by_id.get(unit_id)

    def person_of(self, unit_id: str) -> OwnerPerson:
        return OwnerPerson.of(self.units_by_id[unit_id])

    @cached_property
    def units_by_person(self) -> Mapping[OwnerPerson, tuple[str, ...]]:
        grouped: dict[OwnerPerson, list[str]] = {}
        for unit in self.units:
            grouped.setdefault(OwnerPerson.of(unit), []).append(unit.unit_id)
        return MappingProxyType({person: tuple(unit_ids) for person, unit_ids in grouped.items()})

    @cached_property
    def total_area(self) -> Decimal:
        return _exact_sum(unit.area for unit in self.units)

    @property
    def total_headcount(self) -> int:
        return len(self.units_by_person)


@dataclass(frozen=True)
class Election:
    """Candidates for the owners' committee and how many seats are filled by this vote."""

    candidates: tuple[str, ...]
    seats: int


@dataclass(frozen=True)
class Proposal:
    """One question put to the owners, open for ballots in [opens_at, closes_at)."""

    proposal_id: str
    matter: Matter
    title: str
    opens_at: datetime
    closes_at: datetime
    election: Election | None = None

    def __post_init__(self) -> None:
        _require_aware(self.opens_at, "opens_at")
        _require_aware(self.closes_at, "closes_at")
        if self.closes_at <= self.opens_at:
            raise ValueError("a proposal must close after it opens")
        if self.election is not None:
            if self.matter is not Matter.OWNERS_COMMITTEE:
                raise ValueError("only the owners' committee (Art. 278 item 3) is chosen by election")
            candidates = self.election.candidates
            if len(set(candidates)) != len(candidates):
                raise ValueError("a candidate is listed twice")
            if not 1 <= self.election.seats <= len(candidates):
                raise ValueError("seats must be between 1 and the number of candidates")

    @property
    def rule(self) -> PassingRule:
        return ELECTION_RULE if self.election is not None else rule_for(self.matter)


@dataclass(frozen=True)
class Delegation:
    """A recorded proxy: `granted_by` (an owner of the unit) lets `delegate_id` vote for one unit on one proposal."""

    delegate_id: str
    granted_by: str
    proposal_id: str
    unit_id: str


@dataclass(frozen=True)
class Ballot:
    """What a voter submits for one unit. The time it was cast is the `now` of whoever receives it."""

    proposal_id: str
    unit_id: str
    voter_id: str
    capacity: Capacity
    choice: BallotChoice


@dataclass(frozen=True)
class Turnout:
    """Participation against the whole roll; published live while voting is open (approvals are not)."""

    total_area: Decimal
    total_headcount: int
    participating_area: Decimal
    participating_headcount: int
    participation_area_ratio: Fraction
    participation_headcount_ratio: Fraction
    quorum_met: bool


@dataclass(frozen=True)
class Tally:
    """The result of a yes/no resolution. Approval ratios are shares of those who took part."""

    proposal_id: str
    matter: Matter
    rule: PassingRule
    turnout: Turnout
    in_favour_area: Decimal
    in_favour_headcount: int
    approval_area_ratio: Fraction
    approval_headcount_ratio: Fraction
    split_headcount: int
    """Owner persons whose units voted differently; they take part but are not in favour."""
    passed: bool


@dataclass(frozen=True)
class CandidateResult:
    candidate: str
    approval_area: Decimal
    approval_headcount: int
    approval_area_ratio: Fraction
    approval_headcount_ratio: Fraction
    meets_threshold: bool
    elected: bool


@dataclass(frozen=True)
class ElectionTally:
    """The result of an election. `candidates` follow the proposal's order; `elected` is in rank order."""

    proposal_id: str
    matter: Matter
    rule: PassingRule
    seats: int
    turnout: Turnout
    candidates: tuple[CandidateResult, ...]
    elected: tuple[str, ...]
    tied_for_last_seat: tuple[str, ...]
    split_headcount: int


def check_ballot(
    ballot: Ballot,
    *,
    proposal: Proposal,
    roll: VoterRoll,
    delegations: Iterable[Delegation],
    counted_ballots: Mapping[str, Ballot],
    now: datetime,
) -> BallotRefusal | None:
    """Why `ballot`, arriving at `now`, must be refused, or None when it may be counted.

    `counted_ballots` maps unit id to the ballot currently counted for it. One unit has one voice: once a ballot from
    one voter counts for a unit, that voter may change it until close, but nobody else may vote for the unit (another
    co-owner, a second proxy, or the owner after their proxy voted); a co-owned unit with a recorded representative is
    voted for only by that representative or their proxy.
    """
    if ballot.proposal_id != proposal.proposal_id:
        return BallotRefusal.WRONG_PROPOSAL
    if now < proposal.opens_at:
        return BallotRefusal.NOT_OPEN_YET
    if now >= proposal.closes_at:
        return BallotRefusal.VOTING_CLOSED
    unit = roll.unit(ballot.unit_id)
    if unit is None:
        return BallotRefusal.UNIT_NOT_ON_ROLL
    if ballot.capacity is Capacity.OWNER:
        refusal = speaker_refusal(unit, ballot.voter_id)
        if refusal is not None:
            return refusal
    elif not any(_delegation_covers(delegation, ballot, unit) for delegation in delegations):
        return BallotRefusal.NO_DELEGATION
    counted = counted_ballots.get(ballot.unit_id)
    if counted is not None and counted.voter_id != ballot.voter_id:
        return BallotRefusal.DOUBLE_REPRESENTATION
    return _check_option(ballot.choice, proposal.election)


def speaker_refusal(unit: Unit, person_id: str) -> BallotRefusal | None:
    """Why `person_id` may not speak for `unit` in their own right, or None.

    Speaking for a unit is casting its ballot as its owner or delegating its vote to a proxy: the same person may do
    both, so one rule decides both. An owner speaks for their unit, except that a co-owned unit with a designated
    representative is spoken for by the representative only; nobody speaks for a unit without a recorded owner.
    """
    if person_id not in unit.owner_ids:
        return BallotRefusal.NOT_AN_OWNER
    if unit.representative_id is not None and person_id != unit.representative_id:
        return BallotRefusal.DOUBLE_REPRESENTATION
    return None


def check_delegation(
    delegation: Delegation,
    *,
    proposal: Proposal,
    roll: VoterRoll,
    delegations: Iterable[Delegation],
    now: datetime,
) -> BallotRefusal | None:
    """Why `delegation`, arriving at `now`, must be refused, or None when it may be recorded.

    `delegations` are those recorded already. A delegation may be recorded once the roll is frozen and until voting
    closes (a proxy appointed afterwards could never vote), only by someone who may speak for the unit
    (:func:`speaker_refusal`, the rule the ballot check applies), and once per proxy, unit and proposal.
    """
    if delegation.proposal_id != proposal.proposal_id:
        return BallotRefusal.WRONG_PROPOSAL
    if now >= proposal.closes_at:
        return BallotRefusal.VOTING_CLOSED
    unit = roll.unit(delegation.unit_id)
    if unit is None:
        return BallotRefusal.UNIT_NOT_ON_ROLL
    refusal = speaker_refusal(unit, delegation.granted_by)
    if refusal is not None:
        return refusal
    if any(d.unit_id == delegation.unit_id and d.delegate_id == delegation.delegate_id for d in delegations):
        return BallotRefusal.DELEGATION_EXISTS
    return None


def _delegation_covers(delegation: Delegation, ballot: Ballot, unit: Unit) -> bool:
    # the grantor is checked again here: delegations handed to the box are not necessarily checked ones
    return (
        delegation.delegate_id == ballot.voter_id
        and delegation.proposal_id == ballot.proposal_id
        and delegation.unit_id == ballot.unit_id
        and speaker_refusal(unit, delegation.granted_by) is None
    )


def _check_option(choice: BallotChoice, election: Election | None) -> BallotRefusal | None:
    if election is None:
        return None if isinstance(choice, Choice) else BallotRefusal.WRONG_OPTION
    if not isinstance(choice, Approvals) or not choice.candidates <= set(election.candidates):
        return BallotRefusal.WRONG_OPTION
    if len(choice.candidates) > election.seats:
        return BallotRefusal.TOO_MANY_CANDIDATES
    return None


PAPER_VOTER = "paper"
"""The voter of a counted paper ballot: the unit's paper, whoever signed it (the scan shows the signature)."""


class BallotBox:
    """The ballots of one proposal while it is open: a small state machine fed ballots and the time they arrive."""

    def __init__(self, proposal: Proposal, roll: VoterRoll, delegations: Iterable[Delegation] = ()) -> None:
        """`delegations` are taken as recorded already; :meth:`delegate` records (and checks) more."""
        if roll.frozen_at > proposal.opens_at:
            raise ValueError("the roll must be frozen when voting opens, not after")
        self.proposal = proposal
        self.roll = roll
        self._delegations = list(delegations)
        self._counted: dict[str, Ballot] = {}
        self._paper_units: set[str] = set()

    @property
    def delegations(self) -> tuple[Delegation, ...]:
        return tuple(self._delegations)

    def delegate(self, delegation: Delegation, now: datetime) -> BallotRefusal | None:
        """Record `delegation` and return None, or return why it was refused."""
        refusal = check_delegation(
            delegation, proposal=self.proposal, roll=self.roll, delegations=self._delegations, now=now
        )
        if refusal is None:
            self._delegations.append(delegation)
        return refusal

    def cast(self, ballot: Ballot, now: datetime) -> BallotRefusal | None:
        """Count `ballot` (replacing the unit's earlier one) and return None, or return why it was refused."""
        refusal = check_ballot(
            ballot,
            proposal=self.proposal,
            roll=self.roll,
            delegations=self._delegations,
            counted_ballots=self._counted,
            now=now,
        )
        if ballot.unit_id in self._paper_units and refusal in (None, BallotRefusal.DOUBLE_REPRESENTATION):
            return BallotRefusal.PAPER_BALLOT_COUNTS
        if refusal is None:
            self._counted[ballot.unit_id] = ballot
        return refusal

    def paper_refusal(self, unit_id: str, choice: BallotChoice, received_at: datetime,
                      now: datetime) -> BallotRefusal | None:
        """Why a paper ballot for `unit_id`, delivered at `received_at` and entered (its second entry) at `now`, must
        be refused, or None."""
        if now < self.proposal.opens_at:
            return BallotRefusal.NOT_OPEN_YET
        if now >= self.proposal.closes_at:
            return BallotRefusal.VOTING_CLOSED
        if received_at >= self.proposal.closes_at:
            return BallotRefusal.PAPER_RECEIVED_AFTER_CLOSE
        if self.roll.unit(unit_id) is None:
            return BallotRefusal.UNIT_NOT_ON_ROLL
        if unit_id in self._paper_units:
            return BallotRefusal.PAPER_EXISTS
        return _check_option(choice, self.proposal.election)

    def cast_paper(self, unit_id: str, choice: BallotChoice, received_at: datetime,
                   now: datetime) -> BallotRefusal | None:
        """Count a paper ballot for `unit_id` and return None, or return why it was refused.

        A paper ballot delivered before close counts for its unit in place of any online ballot, and no online
        ballot counts for the unit afterwards: the default rule a meeting's notice states (docs/voting.md)."""
        refusal = self.paper_refusal(unit_id, choice, received_at, now)
        if refusal is None:
            self._paper_units.add(unit_id)
            self._counted[unit_id] = Ballot(self.proposal.proposal_id, unit_id, PAPER_VOTER, Capacity.OWNER, choice)
        return refusal

    @property
    def paper_units(self) -> frozenset[str]:
        return frozenset(self._paper_units)

    @property
    def counted_ballots(self) -> Mapping[str, Ballot]:
        """The ballot that counts for each unit that voted: the last accepted one."""
        return MappingProxyType(self._counted)

    def turnout(self) -> Turnout:
        return measure_turnout(self.roll, self._counted)

    def tally(self) -> Tally | ElectionTally:
        return tally(self.proposal, self.roll, self._counted.values())


def measure_turnout(roll: VoterRoll, counted_ballots: Mapping[str, Ballot]) -> Turnout:
    """Participation of the units in `counted_ballots` (unit id → counted ballot) against the roll."""
    return _turnout(roll, {unit_id: ballot.choice for unit_id, ballot in counted_ballots.items()})


def tally(proposal: Proposal, roll: VoterRoll, ballots: Iterable[Ballot]) -> Tally | ElectionTally:
    """Count `ballots` (in the order they were accepted) for a resolution or an election."""
    if proposal.election is not None:
        return tally_election(proposal, roll, ballots)
    return tally_resolution(proposal, roll, ballots)


def tally_resolution(proposal: Proposal, roll: VoterRoll, ballots: Iterable[Ballot]) -> Tally:
    """Count a yes/no resolution. A later ballot for a unit replaces an earlier one.

    Raises ValueError for a ballot the ballot box would have refused outright (another proposal, a unit not on the
    roll, a wrong option): the tally counts accepted ballots, it does not judge them.
    """
    if proposal.election is not None:
        raise ValueError("an election is counted with tally_election")
    choices = _last_choice_per_unit(proposal, roll, ballots)
    resolution_choices: dict[str, Choice] = {}
    for unit_id, choice in choices.items():
        if not isinstance(choice, Choice):
            raise ValueError(f"unit {unit_id!r} has an election ballot in a resolution")
        resolution_choices[unit_id] = choice
    turnout = _turnout(roll, choices)
    by_person = _choices_by_person(roll, resolution_choices)

    in_favour_area = _exact_sum(
        roll.units_by_id[unit_id].area for unit_id, choice in resolution_choices.items() if choice is Choice.AGREE
    )
    in_favour_headcount = sum(
        1 for person_choices in by_person.values() if all(choice is Choice.AGREE for choice in person_choices)
    )
    approval_area_ratio = _ratio(in_favour_area, turnout.participating_area)
    approval_headcount_ratio = _ratio(in_favour_headcount, turnout.participating_headcount)
    rule = proposal.rule
    return Tally(
        proposal_id=proposal.proposal_id,
        matter=proposal.matter,
        rule=rule,
        turnout=turnout,
        in_favour_area=in_favour_area,
        in_favour_headcount=in_favour_headcount,
        approval_area_ratio=approval_area_ratio,
        approval_headcount_ratio=approval_headcount_ratio,
        split_headcount=_split_headcount(by_person),
        passed=(
            turnout.quorum_met
            and rule.approval.is_met_by(approval_area_ratio)
            and rule.approval.is_met_by(approval_headcount_ratio)
        ),
    )


def tally_election(proposal: Proposal, roll: VoterRoll, ballots: Iterable[Ballot]) -> ElectionTally:
    """Count an approval election: each candidate is judged by the ordinary majority of participants, then ranked.

    A person approves a candidate (headcount) only when every one of their units that voted approved them.
    """
    election = proposal.election
    if election is None:
        raise ValueError("a resolution is counted with tally_resolution")
    choices = _last_choice_per_unit(proposal, roll, ballots)
    approvals: dict[str, frozenset[str]] = {}
    for unit_id, choice in choices.items():
        if not isinstance(choice, Approvals) or not choice.candidates <= set(election.candidates):
            raise ValueError(f"unit {unit_id!r} has a ballot that is not an approval of listed candidates")
        approvals[unit_id] = choice.candidates
    turnout = _turnout(roll, choices)
    by_person = _choices_by_person(roll, approvals)
    rule = proposal.rule

    measured: list[tuple[str, Decimal, int, Fraction, Fraction, bool]] = []
    for candidate in election.candidates:
        area = _exact_sum(
            roll.units_by_id[unit_id].area for unit_id, approved in approvals.items() if candidate in approved
        )
        headcount = sum(
            1 for person_approvals in by_person.values() if all(candidate in approved for approved in person_approvals)
        )
        area_ratio = _ratio(area, turnout.participating_area)
        headcount_ratio = _ratio(headcount, turnout.participating_headcount)
        meets = rule.approval.is_met_by(area_ratio) and rule.approval.is_met_by(headcount_ratio)
        measured.append((candidate, area, headcount, area_ratio, headcount_ratio, meets))

    qualifying = [row for row in measured if row[5]] if turnout.quorum_met else []
    elected, tied = _fill_seats([(row[0], row[1], row[2]) for row in qualifying], election.seats)
    return ElectionTally(
        proposal_id=proposal.proposal_id,
        matter=proposal.matter,
        rule=rule,
        seats=election.seats,
        turnout=turnout,
        candidates=tuple(
            CandidateResult(candidate, area, headcount, area_ratio, headcount_ratio, meets, candidate in elected)
            for candidate, area, headcount, area_ratio, headcount_ratio, meets in measured
        ),
        elected=elected,
        tied_for_last_seat=tied,
        split_headcount=_split_headcount(by_person),
    )


def _fill_seats(qualifying: list[tuple[str, Decimal, int]], seats: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Seats go down the ranking (area, then headcount); a tie group that does not fit the seats left gets none."""
    ranked = sorted(qualifying, key=lambda row: (row[1], row[2]), reverse=True)
    elected: list[str] = []
    for _, group in groupby(ranked, key=lambda row: (row[1], row[2])):
        names = [row[0] for row in group]
        if len(elected) == seats:
            break
        if len(elected) + len(names) > seats:
            return tuple(elected), tuple(names)
        elected.extend(names)
    return tuple(elected), ()


def _last_choice_per_unit(proposal: Proposal, roll: VoterRoll, ballots: Iterable[Ballot]) -> dict[str, BallotChoice]:
    choices: dict[str, BallotChoice] = {}
    for ballot in ballots:
        if ballot.proposal_id != proposal.proposal_id:
            raise ValueError(f"a ballot for proposal {ballot.proposal_id!r} is not one of {proposal.proposal_id!r}")
        if roll.unit(ballot.unit_id) is None:
            raise ValueError(f"unit {ballot.unit_id!r} is not on the roll")
        choices[ballot.unit_id] = ballot.choice
    return choices


def _turnout(roll: VoterRoll, choices: Mapping[str, BallotChoice]) -> Turnout:
    participating_area = _exact_sum(roll.units_by_id[unit_id].area for unit_id in choices)
    participating_headcount = len({roll.person_of(unit_id) for unit_id in choices})
    area_ratio = _ratio(participating_area, roll.total_area)
    headcount_ratio = _ratio(participating_headcount, roll.total_headcount)
    return Turnout(
        total_area=roll.total_area,
        total_headcount=roll.total_headcount,
        participating_area=participating_area,
        participating_headcount=participating_headcount,
        participation_area_ratio=area_ratio,
        participation_headcount_ratio=headcount_ratio,
        quorum_met=QUORUM.is_met_by(area_ratio) and QUORUM.is_met_by(headcount_ratio),  # one quorum for all matters
    )


def _choices_by_person(roll: VoterRoll, choices: Mapping[str, T]) -> dict[OwnerPerson, list[T]]:
    by_person: dict[OwnerPerson, list[T]] = {}
    for unit_id, choice in choices.items():
        by_person.setdefault(roll.person_of(unit_id), []).append(choice)
    return by_person


def _split_headcount(by_person: Mapping[OwnerPerson, list[T]]) -> int:
    return sum(1 for person_choices in by_person.values() if any(c != person_choices[0] for c in person_choices))


def _ratio(part: Decimal | int, whole: Decimal | int) -> Fraction:
    """part / whole exactly; nothing of nothing is a share of zero (no participants, nobody in favour)."""
    if whole == 0:
        return Fraction(0)
    return Fraction(part) / Fraction(whole)


_EXACT_ARITHMETIC = Context(prec=100, traps=[Inexact, Rounded, InvalidOperation, Overflow])


def _exact_sum(areas: Iterable[Decimal]) -> Decimal:
    """Sum areas without rounding; an area too precise to add exactly raises instead of being rounded."""
    with localcontext(_EXACT_ARITHMETIC):
        total = Decimal(0)
        for area in areas:
            total += area
    return total


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
