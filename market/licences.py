"""Licences shown at a stall (亮证经营): which documents a stall needs, and whether they are valid.

* Business licence 营业执照, identified by its unified social credit code (统一社会信用代码, GB 32100-2015:
  18 characters, the last a check character over the first 17).
* Food business permit 食品经营许可证 (``JY`` + 14 digits, a business scope, valid from/to) for stalls selling
  food other than edible farm produce: cooked food, prepared food, bulk soy products. Stalls selling only
  edible farm produce (食用农产品: vegetables, fruit, meat, aquatic products, eggs) need no permit; they show
  a filing record 备案凭证 instead (a valid permit serves as well).
* Health certificates 健康证明 of the staff who handle food, each valid to a date (usually one year).

A document is valid from ``valid_from`` through ``valid_to`` inclusive, in market days (Asia/Shanghai): a
licence "有效期至 2026年11月23日" is still good on the 23rd and expired on the 24th. ``valid_to`` None is
a long-term document (长期). Nothing here reads a clock: callers pass the market day.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Final

from market.scans import Scan

# GB 32100-2015: the code's characters (no I, O, Z, S, V) and the weights 3^(i-1) mod 31 of positions 1..17.
CREDIT_CODE_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
CREDIT_CODE_LENGTH: Final = 18
FOOD_PERMIT_NUMBER: Final = re.compile(r"JY\d{14}")
DEFAULT_WARNING_DAYS: Final = (30, 7, 0)


class CreditCodeProblem(StrEnum):
    LENGTH = "length"
    CHARACTER = "character"
    REGION = "region"
    CHECK_CHARACTER = "check_character"

    @property
    def message(self) -> str:
        return {
            CreditCodeProblem.LENGTH: "a unified social credit code has 18 characters",
            CreditCodeProblem.CHARACTER: "only digits and the capitals A-H J-N P-R T U W-Y are used (no I O S V Z)",
            CreditCodeProblem.REGION: "characters 3-8 are the administrative division code: six digits",
            CreditCodeProblem.CHECK_CHARACTER: "the check character (18th) does not match the first 17 (GB 32100)",
        }[self]


def credit_code_check_character(first_17: str) -> str:
    """The GB 32100 check character of the first 17 characters of a credit code."""
    if len(first_17) != CREDIT_CODE_LENGTH - 1 or any(ch not in CREDIT_CODE_ALPHABET for ch in first_17):
        raise ValueError("need the first 17 characters of a credit code, from its alphabet")
    values = (CREDIT_CODE_ALPHABET.index(ch) for ch in first_17)
    total = sum(value * weight for value, weight in zip(values, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def normalised_credit_code(typed: str) -> str:
    """A credit code as printed: half-width capitals (``91440300708461136t`` → ``…136T``)."""
    return unicodedata.normalize("NFKC", typed).strip().upper()


def credit_code_problem(code: str) -> CreditCodeProblem | None:
    """What is wrong with a unified social credit code, or None when it is well formed."""
    if len(code) != CREDIT_CODE_LENGTH:
        return CreditCodeProblem.LENGTH
    if any(ch not in CREDIT_CODE_ALPHABET for ch in code):
        return CreditCodeProblem.CHARACTER
    if not code[2:8].isdigit():
        return CreditCodeProblem.REGION
    if credit_code_check_character(code[:17]) != code[17]:
        return CreditCodeProblem.CHECK_CHARACTER
    return None


class StallType(StrEnum):
    VEGETABLES = "vegetables"
    FRUIT = "fruit"
    MEAT = "meat"
    AQUATIC = "aquatic"
    EGGS = "eggs"
    SOY_PRODUCTS = "soy_products"
    COOKED_FOOD = "cooked_food"
    PREPARED_FOOD = "prepared_food"

    @property
    def label_zh(self) -> str:
        return _STALL_TYPE_ZH[self]

    @property
    def needs_food_permit(self) -> bool:
        """Edible farm produce is sold without a food business permit; other food needs one."""
        return self not in EDIBLE_FARM_PRODUCE


_STALL_TYPE_ZH: Final = {
    StallType.VEGETABLES: "蔬菜",
    StallType.FRUIT: "水果",
    StallType.MEAT: "肉禽",
    StallType.AQUATIC: "水产",
    StallType.EGGS: "蛋品",
    StallType.SOY_PRODUCTS: "豆制品",
    StallType.COOKED_FOOD: "熟食",
    StallType.PREPARED_FOOD: "预制及加工食品",
}
EDIBLE_FARM_PRODUCE: Final = frozenset(
    {StallType.VEGETABLES, StallType.FRUIT, StallType.MEAT, StallType.AQUATIC, StallType.EGGS}
)


class DocumentKind(StrEnum):
    BUSINESS_LICENCE = "business_licence"
    FOOD_BUSINESS_PERMIT = "food_business_permit"
    FOOD_FILING = "food_filing"
    HEALTH_CERTIFICATE = "health_certificate"

    @property
    def label_zh(self) -> str:
        return _DOCUMENT_ZH[self]


_DOCUMENT_ZH: Final = {
    DocumentKind.BUSINESS_LICENCE: "营业执照",
    DocumentKind.FOOD_BUSINESS_PERMIT: "食品经营许可证",
    DocumentKind.FOOD_FILING: "食品经营备案凭证",
    DocumentKind.HEALTH_CERTIFICATE: "健康证明",
}


def required_documents(stall_type: StallType) -> tuple[DocumentKind, ...]:
    """The documents a stall of this type must show, in display order."""
    food = DocumentKind.FOOD_BUSINESS_PERMIT if stall_type.needs_food_permit else DocumentKind.FOOD_FILING
    return DocumentKind.BUSINESS_LICENCE, food, DocumentKind.HEALTH_CERTIFICATE


# A permit allows more than a filing, so it satisfies the filing requirement of a produce stall.
_SATISFIED_BY: Final = {
    DocumentKind.BUSINESS_LICENCE: (DocumentKind.BUSINESS_LICENCE,),
    DocumentKind.FOOD_BUSINESS_PERMIT: (DocumentKind.FOOD_BUSINESS_PERMIT,),
    DocumentKind.FOOD_FILING: (DocumentKind.FOOD_FILING, DocumentKind.FOOD_BUSINESS_PERMIT),
    DocumentKind.HEALTH_CERTIFICATE: (DocumentKind.HEALTH_CERTIFICATE,),
}


@dataclass(frozen=True)
class Document:
    """One document of a vendor. ``holder`` names the person on a health certificate."""

    kind: DocumentKind
    number: str
    valid_from: date
    valid_to: date | None = None
    holder: str | None = None
    scope: str | None = None

    def __post_init__(self) -> None:
        if self.kind is DocumentKind.BUSINESS_LICENCE:
            # the code is printed in capitals; people type it in lower case or with full-width characters
            object.__setattr__(self, "number", normalised_credit_code(self.number))
        if not self.number or len(self.number) > 64:
            raise ValueError("a document number has 1 to 64 characters")
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"{self.kind.value}: valid_to {self.valid_to} is before valid_from {self.valid_from}")
        if self.kind is DocumentKind.BUSINESS_LICENCE:
            problem = credit_code_problem(self.number)
            if problem is not None:
                raise ValueError(f"business licence number {self.number!r}: {problem.message}")
        elif self.kind is DocumentKind.FOOD_BUSINESS_PERMIT:
            if not FOOD_PERMIT_NUMBER.fullmatch(self.number):
                raise ValueError(f"food business permit number {self.number!r}: expected JY and 14 digits")
            if self.valid_to is None or not self.scope:
                raise ValueError("a food business permit has a business scope and an end of validity")
        elif self.kind is DocumentKind.HEALTH_CERTIFICATE and (self.valid_to is None or not self.holder):
            raise ValueError("a health certificate names its holder and is valid to a date")

    def days_to_expiry(self, today: date) -> int | None:
        """Days left after today (0: today is the last valid day, negative: expired); None if long-term."""
        return None if self.valid_to is None else (self.valid_to - today).days


@dataclass(frozen=True)
class RecordedDocument:
    """A document as the operator recorded it, numbered; a voided one (mistyped) no longer counts. ``scan``: the
    copy of it the market keeps (a scan or photo), when one was uploaded."""

    document_id: int
    vendor_id: str
    document: Document
    recorded_at: datetime
    recorded_by: str
    voided_at: datetime | None = None
    voided_by: str | None = None
    void_reason: str | None = None
    scan: Scan | None = None

    @property
    def voided(self) -> bool:
        return self.voided_at is not None


class Validity(StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    MISSING = "missing"

    @property
    def label_zh(self) -> str:
        return _VALIDITY_ZH[self]

    @property
    def satisfies(self) -> bool:
        return self in (Validity.VALID, Validity.EXPIRING)


_VALIDITY_ZH: Final = {
    Validity.VALID: "有效",
    Validity.EXPIRING: "即将到期",
    Validity.EXPIRED: "已过期",
    Validity.NOT_YET_VALID: "尚未生效",
    Validity.MISSING: "缺失",
}


@dataclass(frozen=True)
class DocumentStatus:
    """A required document's state on a day; ``warning_days`` is the tightest threshold reached."""

    required: DocumentKind
    document: Document | None
    validity: Validity
    days_to_expiry: int | None = None
    warning_days: int | None = None


def document_status(
    required: DocumentKind, document: Document | None, today: date,
    warning_days: Sequence[int] = DEFAULT_WARNING_DAYS,
) -> DocumentStatus:
    """Whether ``document`` (possibly none) meets ``required`` on ``today``, with expiry warnings.

    A document inside the largest warning window is "expiring" and still satisfies the requirement;
    ``warning_days`` reports the smallest threshold it has reached (30, 7, then 0 on its last day).
    """
    if document is None:
        return DocumentStatus(required, None, Validity.MISSING)
    days = document.days_to_expiry(today)
    if today < document.valid_from:
        return DocumentStatus(required, document, Validity.NOT_YET_VALID, days)
    if days is not None and days < 0:
        return DocumentStatus(required, document, Validity.EXPIRED, days)
    reached = [threshold for threshold in warning_days if days is not None and days <= threshold]
    if reached:
        return DocumentStatus(required, document, Validity.EXPIRING, days, min(reached))
    return DocumentStatus(required, document, Validity.VALID, days)


def best_document(candidates: Iterable[Document], today: date) -> Document | None:
    """The document to show among several of a kind: a valid one lasting longest, else the next to
    become valid, else the one that expired last."""
    documents = list(candidates)
    valid = [d for d in documents if d.valid_from <= today and (d.valid_to is None or d.valid_to >= today)]
    if valid:
        return max(valid, key=lambda d: (d.valid_to is None, d.valid_to or date.max, d.valid_from))
    future = [d for d in documents if d.valid_from > today]
    if future:
        return min(future, key=lambda d: d.valid_from)
    return max(documents, key=lambda d: d.valid_to or date.max, default=None)


@dataclass(frozen=True)
class StallLicenceStatus:
    """What a stall must show and what it has: one status per required document (the staff's health
    certificates together count as one requirement: at least one valid) and each holder's certificate."""

    stall_type: StallType
    required: tuple[DocumentStatus, ...]
    health_certificates: tuple[DocumentStatus, ...]

    @property
    def compliant(self) -> bool:
        return all(status.validity.satisfies for status in self.required)

    @property
    def attention(self) -> tuple[DocumentStatus, ...]:
        """Everything the operator should act on: missing, expired, not yet valid, or expiring,
        including each staff member's own certificate."""
        statuses = [s for s in self.required if s.required is not DocumentKind.HEALTH_CERTIFICATE]
        statuses.extend(self.health_certificates or [s for s in self.required
                                                     if s.required is DocumentKind.HEALTH_CERTIFICATE])
        return tuple(s for s in statuses if s.validity is not Validity.VALID)


def assess_stall(
    stall_type: StallType, documents: Iterable[Document], today: date,
    warning_days: Sequence[int] = DEFAULT_WARNING_DAYS,
) -> StallLicenceStatus:
    """The licence status of a stall of ``stall_type`` whose vendor holds ``documents``, on ``today``."""
    held = list(documents)
    holders: dict[str, list[Document]] = {}
    for document in held:
        if document.kind is DocumentKind.HEALTH_CERTIFICATE and document.holder:
            holders.setdefault(document.holder, []).append(document)
    certificates = tuple(
        document_status(DocumentKind.HEALTH_CERTIFICATE, best_document(docs, today), today, warning_days)
        for _, docs in sorted(holders.items())
    )
    required = []
    for kind in required_documents(stall_type):
        if kind is DocumentKind.HEALTH_CERTIFICATE:
            required.append(_staff_requirement(certificates))
            continue
        accepted = _SATISFIED_BY[kind]
        # the document of the kind itself first: a produce stall shows its filing if it has a good one
        statuses = [document_status(kind, best_document((d for d in held if d.kind is candidate), today), today,
                                    warning_days) for candidate in accepted]
        shown = ([s for s in statuses if s.validity.satisfies]
                 or [s for s in statuses if s.validity is not Validity.MISSING] or statuses)
        required.append(shown[0])
    return StallLicenceStatus(stall_type, tuple(required), certificates)


def _staff_requirement(certificates: tuple[DocumentStatus, ...]) -> DocumentStatus:
    """At least one member of staff with a valid certificate; the best of them stands for the stall."""
    if not certificates:
        return DocumentStatus(DocumentKind.HEALTH_CERTIFICATE, None, Validity.MISSING)
    order = {Validity.VALID: 0, Validity.EXPIRING: 1, Validity.NOT_YET_VALID: 2, Validity.EXPIRED: 3}
    return min(certificates, key=lambda s: (order[s.validity], -(s.days_to_expiry or 0)))
