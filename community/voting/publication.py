"""How a result is published: a plain JSON document with every ratio as an exact fraction and
the rule in words, so what is published, stored and recounted can be compared field by field."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from community.voting.tally import ElectionTally, Tally, Turnout


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


def result_document(result: Tally | ElectionTally) -> dict[str, Any]:
    common: dict[str, Any] = {
        "rule_zh": result.rule.statement_zh,
        "rule_en": result.rule.statement_en,
        "turnout": turnout_document(result.turnout),
    }
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
