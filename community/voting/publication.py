"""How a result is published: a plain JSON document with every ratio as an exact fraction and
the rule in words, so what is published, stored and recounted can be compared field by field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from community.voting.audit import ChainHead
from community.voting.breakdown import Breakdown, Share
from community.voting.tally import ElectionTally, Tally, Turnout


@dataclass(frozen=True)
class PublishedResult:
    """What is published when voting closes: the result document and the head of the log it was counted from."""

    proposal_id: str
    closed_at: datetime
    head: ChainHead
    result: dict[str, Any]
    published_by: str


def ratio(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def turnout_document(turnout: Turnout) -> dict[str, Any]:
    return {
        "total_area_m2": str(turnout.total_area),
        "total_headcount": turnout.total_headcount,
        "participating_area_m2": str(turnout.participating_area),
        "participating_headcount": turnout.participating_headcount,
        "participation_area_ratio": ratio(turnout.participation_area_ratio),
        "participation_headcount_ratio": ratio(turnout.participation_headcount_ratio),
        "quorum_met": turnout.quorum_met,
    }


def result_document(result: Tally | ElectionTally, roll_digest: str | None = None) -> dict[str, Any]:
    """The result as published; with the digest of the roll (and terms) it was counted against, when the log is
    anchored to one (see audit.roll_digest)."""
    common: dict[str, Any] = {
        "rule_zh": result.rule.statement_zh,
        "rule_en": result.rule.statement_en,
        "turnout": turnout_document(result.turnout),
    }
    if roll_digest is not None:
        common["roll_digest"] = roll_digest
    if isinstance(result, ElectionTally):
        return {
            **common,
            "elected": list(result.elected),
            "tied_for_last_seat": list(result.tied_for_last_seat),
            "candidates": [
                {"candidate": c.candidate, "approval_area_ratio": ratio(c.approval_area_ratio),
                 "approval_headcount_ratio": ratio(c.approval_headcount_ratio)}
                for c in result.candidates
            ],
        }
    return {
        **common,
        "in_favour_area_m2": str(result.in_favour_area),
        "in_favour_headcount": result.in_favour_headcount,
        "approval_area_ratio": ratio(result.approval_area_ratio),
        "approval_headcount_ratio": ratio(result.approval_headcount_ratio),
        "passed": result.passed,
    }


def differences(published: dict[str, Any], recounted: dict[str, Any]) -> list[str]:
    """The top-level fields where a published result and a recount disagree."""
    return sorted(key for key in published.keys() | recounted.keys() if published.get(key) != recounted.get(key))


def breakdown_document(found: Breakdown) -> dict[str, Any]:
    """The breakdown as the API shows it: shares by choice (areas exact, in m²), each criterion with its exact ratio,
    threshold, what was needed and the margin (exact, and to two decimals for people), and the split owners."""

    def share(part: Share) -> dict[str, Any]:
        return {"area_m2": str(part.area), "headcount": part.headcount}

    return {
        "agree": share(found.agree), "oppose": share(found.oppose), "abstain": share(found.abstain),
        "split": share(found.split), "not_voted": share(found.not_voted),
        "criteria": [{
            "criterion": outcome.criterion.value, "criterion_zh": outcome.criterion.label_zh,
            "unit": "m2" if outcome.criterion.by_area else "persons",
            "threshold": ratio(outcome.threshold.share), "inclusive": outcome.threshold.inclusive,
            "measured": ratio(outcome.measured), "base": ratio(outcome.base), "ratio": ratio(outcome.ratio),
            "needed": ratio(outcome.needed), "margin": ratio(outcome.margin), "margin_approx": approx(outcome.margin),
            "met": outcome.met,
        } for outcome in found.criteria],
        "failed": [outcome.criterion.value for outcome in found.failed],
        "split_owners": [{"owner_ids": list(owner.owner_ids),
                          "units": [{"label": label, "choice": choice.value} for label, choice in owner.units]}
                         for owner in found.split_owners],
        "passed": found.passed,
    }


def approx(value: Fraction) -> str:
    """An exact quantity to two decimals, for people to read (the exact one is beside it)."""
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01")))
