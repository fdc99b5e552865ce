"""How the pages show times, ratios and areas to people: Asia/Shanghai wall-clock time, exact percentages."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_time(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """Asia/Shanghai wall-clock time, for people."""
    return moment.astimezone(SHANGHAI).strftime(pattern) if moment is not None else ""


def percent(ratio: Fraction, places: int = 2) -> str:
    """``ratio`` as a percentage rounded half-even to ``places`` decimals, computed exactly."""
    scaled = round(ratio * 100 * 10**places)
    sign = "-" if scaled < 0 else ""
    whole, part = divmod(abs(scaled), 10**places)
    return f"{sign}{whole}.{part:0{places}d}%" if places else f"{sign}{whole}%"


def fraction_text(ratio: Fraction) -> str:
    return f"{ratio.numerator}/{ratio.denominator}"


def area_text(area: Decimal) -> str:
    """An area in m² with two decimals (areas on the roll have at most two)."""
    return f"{area:,.2f}"
