"""Corrections an operator makes to what was recorded, each kept as an audit entry: what was changed
(``kind`` and ``subject``), by whom, when, why, and the values before and after.

* ``release_batch`` — a block lifted (a recall withdrawn, a failed test overturned by a passing retest);
  the scales are told they may sell the batch again (``unblock_batch``).
* ``void_document`` — a mistyped licence, permit, filing or health certificate voided: it no longer
  counts for the stall's licences, and stays listed as voided.
* ``correct_quantity`` — a batch's received grams corrected (a typing error at receiving); the mass
  balance follows.
* ``licence_policy`` — the market's own licence rules changed (health certificates at every stall, a licence of
  farmers too); the subject is the market's site id.

Nothing is deleted: the entry keeps the old values, so what was shown before can be explained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

CorrectionValue = str | int | bool | None


class CorrectionKind(StrEnum):
    RELEASE_BATCH = "release_batch"
    VOID_DOCUMENT = "void_document"
    CORRECT_QUANTITY = "correct_quantity"
    LICENCE_POLICY = "licence_policy"

    @property
    def label_zh(self) -> str:
        return _LABELS_ZH[self]


_LABELS_ZH: Final = {
    CorrectionKind.RELEASE_BATCH: "解除封控",
    CorrectionKind.VOID_DOCUMENT: "作废证照",
    CorrectionKind.CORRECT_QUANTITY: "更正进货量",
    CorrectionKind.LICENCE_POLICY: "更改本市场证照规定",
}


@dataclass(frozen=True)
class Correction:
    """One correction: ``subject`` is the batch id, the document id or the market's site id it changed."""

    kind: CorrectionKind
    subject: str
    reason: str
    by: str
    at: datetime
    detail: Mapping[str, CorrectionValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("a correction says why")


@dataclass(frozen=True)
class RecordedCorrection:
    correction_id: int
    correction: Correction
