"""How a result is published: a plain JSON document with every ratio as an exact fraction and
the rule in words, so what is published, stored and recounted can be compared field by field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from community.voting.audit import ChainHead
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
