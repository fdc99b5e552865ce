"""The vendor's credit rating (信用评价) as the operator's vendor page shows it: the grade and score, each source's
points against its cap, and every deduction with its reason and a link to the fact it came from (a batch, the
stall's findings of that kind, a complaint) — to the market's operators and its supervisor only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import quote, urlencode

from market.credit import CreditRating, CreditSource, Deduction, Grade
from market.findings import FindingKind
from market.service import MarketService

GRADE_TONES: Final = {Grade.A: "ok", Grade.B: "ok", Grade.C: "warn", Grade.D: "bad"}


@dataclass(frozen=True)
class DeductionLine:
    deduction: Deduction
    href: str | None


@dataclass(frozen=True)
class CreditView:
    rating: CreditRating
    lines: list[DeductionLine]

    @property
    def tone(self) -> str:
        return GRADE_TONES[self.rating.grade]


async def credit_view(service: MarketService, site: str, vendor_id: str, now: datetime, base: str) -> CreditView:
    """The vendor's rating now, each deduction linked under the market's operator pages at ``base``."""
    rating = await service.vendor_credit(site, vendor_id, now)
    return CreditView(rating, [DeductionLine(d, fact_href(d, base)) for d in rating.deductions])


_FINDING_RULES: Final = {kind.value for kind in FindingKind}


def fact_href(deduction: Deduction, base: str) -> str | None:
    """Where the operator looks the fact up: a batch's page, the stall's findings of the kind, the complaint."""
    kind, _, subject = deduction.fact.partition(":")
    if kind == "batch":
        return f"{base}/batches/{quote(subject, safe='')}"
    if kind == "complaint" and subject.isdigit():
        return f"{base}/complaints/{subject}"
    if deduction.source is CreditSource.FINDING and deduction.rule in _FINDING_RULES:
        return f"{base}/findings?" + urlencode({"kind": deduction.rule, "stall": deduction.stall or "",
                                                "state": "all"})
    if deduction.source is CreditSource.LICENCE and deduction.stall:
        return f"{base}/stalls/{quote(deduction.stall, safe='')}#documents"
    return None
