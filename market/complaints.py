"""Complaints (投诉): what a shopper files about a stall or a purchase, and how the market's operator handles it.

A shopper files a complaint from the public pages — about a purchase (the receipt's trace code) or a stall — with
a category (short weight 短斤少两, price, quality, hygiene, attitude, other), a text and optionally a photo, and gets
a reference to follow it by. The operator handles it within a deadline (the market's complaint period from filing):
received → handling → resolved or rejected, each close with an outcome written for publication and a conclusion:
**upheld** (查实: what the shopper said was so) or **not upheld** (不属实) — a complaint resolved may be either (the
market looked into it and found it true, or found it not so and said why); one rejected is not upheld. The vendor's
credit counts the upheld ones. The outcome is published on the stall's page **anonymised**: category, the days filed
and closed, the state, the conclusion and the outcome — never the complainant's text, photo or purchase. Plain
values in, plain values out: no clock, no I/O.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from market.refusals import FieldProblem
from market.scans import Scan, ScanType

MIN_TEXT: Final = 5
MAX_TEXT: Final = 1000
MAX_OUTCOME: Final = 500
DEFAULT_COMPLAINT_DAYS: Final = 7
"""How long the market takes to answer a complaint, by default (SC_MARKET_COMPLAINT_DAYS)."""
PHOTO_TYPES: Final = frozenset({ScanType.JPEG, ScanType.PNG})
"""A complaint's photo is a photo: JPEG or PNG by its content (no PDF)."""
REFERENCE: Final = re.compile(r"TS[2-9A-HJ-NP-Z]{10}")
_REFERENCE_ALPHABET: Final = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud over the phone


class ComplaintCategory(StrEnum):
    SHORT_WEIGHT = "short_weight"
    PRICE = "price"
    QUALITY = "quality"
    HYGIENE = "hygiene"
    ATTITUDE = "attitude"
    OTHER = "other"

    @property
    def label_zh(self) -> str:
        return _CATEGORY_ZH[self]


_CATEGORY_ZH: Final = {
    ComplaintCategory.SHORT_WEIGHT: "短斤少两", ComplaintCategory.PRICE: "价格", ComplaintCategory.QUALITY: "质量",
    ComplaintCategory.HYGIENE: "卫生", ComplaintCategory.ATTITUDE: "服务态度", ComplaintCategory.OTHER: "其他",
}


class ComplaintState(StrEnum):
    RECEIVED = "received"
    HANDLING = "handling"
    RESOLVED = "resolved"
    REJECTED = "rejected"

    @property
    def label_zh(self) -> str:
        return _STATE_ZH[self]

    @property
    def closed(self) -> bool:
        return self in (ComplaintState.RESOLVED, ComplaintState.REJECTED)


_STATE_ZH: Final = {ComplaintState.RECEIVED: "已受理", ComplaintState.HANDLING: "处理中",
                    ComplaintState.RESOLVED: "已办结", ComplaintState.REJECTED: "不予支持"}


class ComplaintAction(StrEnum):
    """What the operator does with a complaint."""

    START = "start"
    RESOLVE = "resolve"
    REJECT = "reject"

    @property
    def label_zh(self) -> str:
        return {ComplaintAction.START: "开始处理", ComplaintAction.RESOLVE: "办结",
                ComplaintAction.REJECT: "不予支持"}[self]


class ComplaintConclusion(StrEnum):
    """What the market found, said when closing a complaint."""

    UPHELD = "upheld"
    NOT_UPHELD = "not_upheld"

    @property
    def label_zh(self) -> str:
        return {ComplaintConclusion.UPHELD: "投诉属实（查实）", ComplaintConclusion.NOT_UPHELD: "投诉不属实"}[self]


_NEXT: Final = {ComplaintAction.START: ComplaintState.HANDLING, ComplaintAction.RESOLVE: ComplaintState.RESOLVED,
                ComplaintAction.REJECT: ComplaintState.REJECTED}


@dataclass(frozen=True)
class Complaint:
    """A shopper's complaint as the market keeps it. ``text`` and ``photo`` are the complainant's, shown to the
    market's operators and its supervisor only; ``outcome`` is the operator's, published when it is closed."""

    reference: str
    stall: str
    trace_code: str | None
    category: ComplaintCategory
    text: str
    filed_at: datetime
    deadline: datetime
    state: ComplaintState = ComplaintState.RECEIVED
    photo: Scan | None = None
    handled_by: str | None = None
    outcome: str | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    complaint_id: int | None = None
    conclusion: ComplaintConclusion | None = None
    """Said when closing; None while open, and for a complaint closed before conclusions were recorded."""

    @property
    def upheld(self) -> bool:
        """Closed and found so: concluded upheld — or, closed before conclusions were recorded, resolved (已办结),
        as the rules read a resolved complaint then."""
        if self.conclusion is not None:
            return self.state.closed and self.conclusion is ComplaintConclusion.UPHELD
        return self.state is ComplaintState.RESOLVED

    def overdue(self, now: datetime) -> bool:
        """Still open past its deadline."""
        return not self.state.closed and now > self.deadline


def new_reference() -> str:
    """A complaint's reference for the complainant: ``TS`` and 10 characters (50 random bits), easy to read out."""
    return "TS" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(10))


def deadline_of(filed_at: datetime, days: int) -> datetime:
    return filed_at + timedelta(days=days)


def clean_text(text: str) -> str:
    """The text as kept: control characters other than line breaks dropped, line breaks as ``\\n``, trimmed. A
    script in it is kept as typed and shown escaped like any other text."""
    unified = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in unified if c == "\n" or unicodedata.category(c)[0] != "C").strip()


def text_problem(text: str) -> FieldProblem | None:
    length = len(clean_text(text))
    if length < MIN_TEXT:
        return FieldProblem("text", f"say what happened in at least {MIN_TEXT} characters",
                            f"请写明情况（至少 {MIN_TEXT} 个字）")
    if length > MAX_TEXT:
        return FieldProblem("text", f"at most {MAX_TEXT} characters", f"最多 {MAX_TEXT} 个字")
    return None


class TransitionRefusal(StrEnum):
    CLOSED = "closed"
    ALREADY_HANDLING = "already_handling"
    NO_OUTCOME = "no_outcome"
    OUTCOME_TOO_LONG = "outcome_too_long"
    NO_CONCLUSION = "no_conclusion"
    """Resolving says whether the complaint was upheld."""
    REJECTED_UPHELD = "rejected_upheld"
    """A complaint found so is resolved (with what was done), not rejected."""
    CONCLUSION_BEFORE_CLOSING = "conclusion_before_closing"


def transition(complaint: Complaint, action: ComplaintAction, outcome: str | None, by: str, now: datetime,
               conclusion: ComplaintConclusion | None = None) -> Complaint | TransitionRefusal:
    """The complaint after the operator's ``action``: received → handling; received or handling → resolved (upheld
    or not, which must be said) or rejected (not upheld), with an outcome for publication. A closed complaint
    changes no more."""
    if complaint.state.closed:
        return TransitionRefusal.CLOSED
    if action is ComplaintAction.START:
        if conclusion is not None:
            return TransitionRefusal.CONCLUSION_BEFORE_CLOSING
        if complaint.state is ComplaintState.HANDLING:
            return TransitionRefusal.ALREADY_HANDLING
        return replace(complaint, state=ComplaintState.HANDLING, handled_by=by, updated_at=now)
    words = clean_text(outcome or "")
    if not words:
        return TransitionRefusal.NO_OUTCOME
    if len(words) > MAX_OUTCOME:
        return TransitionRefusal.OUTCOME_TOO_LONG
    if action is ComplaintAction.REJECT:
        if conclusion is ComplaintConclusion.UPHELD:
            return TransitionRefusal.REJECTED_UPHELD
        conclusion = ComplaintConclusion.NOT_UPHELD
    elif conclusion is None:
        return TransitionRefusal.NO_CONCLUSION
    return replace(complaint, state=_NEXT[action], handled_by=by, outcome=words, updated_at=now, closed_at=now,
                   conclusion=conclusion)


@dataclass(frozen=True)
class PublishedOutcome:
    """A closed complaint as the stall's public page shows it: nothing of the complainant."""

    category: ComplaintCategory
    state: ComplaintState
    filed_on: date
    closed_on: date
    outcome: str
    conclusion: ComplaintConclusion | None = None
    """None for a complaint closed before conclusions were recorded."""


def published(complaint: Complaint, day_of: Callable[[datetime], date]) -> PublishedOutcome | None:
    """The anonymised outcome of a closed complaint (``day_of``: an instant → the market day it falls on)."""
    if not complaint.state.closed or complaint.closed_at is None or complaint.outcome is None:
        return None
    return PublishedOutcome(complaint.category, complaint.state, day_of(complaint.filed_at),
                            day_of(complaint.closed_at), complaint.outcome, complaint.conclusion)
