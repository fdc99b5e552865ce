"""Complaints in the domain: the texts taken, the references given, the operator's steps, the deadline and what is
published of a closed complaint (nothing of the complainant)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from market.complaints import (
    REFERENCE,
    Complaint,
    ComplaintAction,
    ComplaintCategory,
    ComplaintConclusion,
    ComplaintState,
    TransitionRefusal,
    clean_text,
    deadline_of,
    new_reference,
    published,
    text_problem,
    transition,
)
from market.market_time import market_day

FILED = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
S = ComplaintState
A = ComplaintAction
C = ComplaintConclusion
UPHELD, NOT_UPHELD = C.UPHELD, C.NOT_UPHELD


def complaint(state: ComplaintState = S.RECEIVED) -> Complaint:
    return Complaint("TS23456789AB", "A03", "xinfadi-A03-0001", ComplaintCategory.SHORT_WEIGHT, "称重少了二两",
                     FILED, deadline_of(FILED, 7), state)


@pytest.mark.parametrize(("state", "action", "outcome", "conclusion", "after", "concluded"), [
    (S.RECEIVED, A.START, None, None, S.HANDLING, None),
    (S.RECEIVED, A.RESOLVE, "已退还差价", UPHELD, S.RESOLVED, UPHELD),
    (S.RECEIVED, A.RESOLVE, "经复秤重量无误，已向投诉人说明", NOT_UPHELD, S.RESOLVED, NOT_UPHELD),
    (S.RECEIVED, A.REJECT, "复秤无误", None, S.REJECTED, NOT_UPHELD),
    (S.HANDLING, A.RESOLVE, "已退还差价", UPHELD, S.RESOLVED, UPHELD),
    (S.HANDLING, A.REJECT, "复秤无误", NOT_UPHELD, S.REJECTED, NOT_UPHELD),
    (S.HANDLING, A.START, None, None, TransitionRefusal.ALREADY_HANDLING, None),
    (S.RESOLVED, A.REJECT, "x", None, TransitionRefusal.CLOSED, None),
    (S.REJECTED, A.START, None, None, TransitionRefusal.CLOSED, None),
    (S.RECEIVED, A.RESOLVE, None, UPHELD, TransitionRefusal.NO_OUTCOME, None),
    (S.HANDLING, A.REJECT, "  \n ", None, TransitionRefusal.NO_OUTCOME, None),
    (S.HANDLING, A.RESOLVE, "长" * 501, UPHELD, TransitionRefusal.OUTCOME_TOO_LONG, None),
    (S.HANDLING, A.RESOLVE, "已退还差价", None, TransitionRefusal.NO_CONCLUSION, None),
    (S.HANDLING, A.REJECT, "已退还差价", UPHELD, TransitionRefusal.REJECTED_UPHELD, None),
    (S.RECEIVED, A.START, None, UPHELD, TransitionRefusal.CONCLUSION_BEFORE_CLOSING, None),
])
def test_the_operators_steps(state: ComplaintState, action: ComplaintAction, outcome: str | None,
                             conclusion: ComplaintConclusion | None, after: ComplaintState | TransitionRefusal,
                             concluded: ComplaintConclusion | None) -> None:
    now = FILED + timedelta(days=1)
    moved = transition(complaint(state), action, outcome, "op-liu", now, conclusion)
    if isinstance(after, TransitionRefusal):
        assert moved is after
        return
    assert isinstance(moved, Complaint) and moved.state is after and moved.handled_by == "op-liu"
    assert moved.closed_at == (now if after.closed else None)
    assert moved.outcome == (outcome if after.closed else None)
    assert moved.conclusion is concluded
    assert moved.upheld is (concluded is UPHELD)


@pytest.mark.parametrize(("state", "conclusion", "upheld"), [
    (S.RESOLVED, UPHELD, True), (S.RESOLVED, NOT_UPHELD, False), (S.REJECTED, NOT_UPHELD, False),
    (S.RESOLVED, None, True),  # closed before conclusions were recorded: read as the rules read it then
    (S.REJECTED, None, False), (S.HANDLING, None, False), (S.RECEIVED, None, False),
])
def test_upheld_is_the_conclusion_or_for_a_complaint_closed_before_conclusions_its_state(
        state: ComplaintState, conclusion: ComplaintConclusion | None, upheld: bool) -> None:
    assert replace(complaint(state), conclusion=conclusion).upheld is upheld


def test_the_deadline_counts_from_filing_and_a_closed_complaint_is_never_overdue() -> None:
    open_one = complaint()
    assert open_one.deadline == FILED + timedelta(days=7)
    assert not open_one.overdue(FILED + timedelta(days=7)) and open_one.overdue(FILED + timedelta(days=7, seconds=1))
    assert not complaint(S.RESOLVED).overdue(FILED + timedelta(days=30))


@pytest.mark.parametrize(("text", "kept", "problem"), [
    ("称重少了二两", "称重少了二两", None),
    ("  短\r\n了\x00 二两 \x1b ", "短\n了 二两", None),
    ("<script>alert(1)</script>", "<script>alert(1)</script>", None),  # kept as typed; the pages escape it
    ("少了", "少了", "text"),
    ("x" * 1001, "x" * 1001, "text"),
])
def test_texts_are_kept_as_typed_without_control_characters(text: str, kept: str, problem: str | None) -> None:
    assert clean_text(text) == kept
    found = text_problem(text)
    assert (found.field if found else None) == problem


def test_references_are_readable_and_random() -> None:
    references = {new_reference() for _ in range(200)}
    assert len(references) == 200 and all(REFERENCE.fullmatch(r) for r in references)
    assert not any(c in r[2:] for r in references for c in "01IO")


def test_what_is_published_of_a_closed_complaint_holds_nothing_of_the_complainant() -> None:
    assert published(complaint(), market_day) is None
    closed = transition(complaint(), A.RESOLVE, "经复秤少 100 克，已退还差价并约谈经营者", "op-liu",
                        FILED + timedelta(days=2), UPHELD)
    assert isinstance(closed, Complaint)
    outcome = published(closed, market_day)
    assert outcome is not None
    assert (outcome.category, outcome.state, outcome.filed_on, outcome.closed_on, outcome.conclusion) == (
        ComplaintCategory.SHORT_WEIGHT, S.RESOLVED, date(2026, 11, 23), date(2026, 11, 25), UPHELD)
    shown = repr(outcome)
    assert "二两" not in shown and "xinfadi-A03-0001" not in shown and "TS23456789AB" not in shown
    assert published(replace(closed, outcome=None), market_day) is None
