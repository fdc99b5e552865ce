"""Price publication (明码标价): prices in force, the public board, daily statistics, compliance.

An operator publishes a stall's price of a product (PLU) per kilogram, effective from a time; prices
are never edited, a new one supersedes the old from its ``effective_from``. A sale is compared with the
price in force at the time of sale; the amount with weight × price (the contract's rounding).
Money is integer fen throughout; averages are exact fractions, rounded half up only when shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Final

from devices.contract import AMOUNT_TOLERANCE_FEN, expected_amount_fen
from market.findings import Finding, FindingKind, finding_key
from market.market_time import market_day
from market.tracing import Sale

MAX_UNIT_PRICE_FEN: Final = 100_000_000  # the contract's bound


@dataclass(frozen=True)
class PublishedPrice:
    stall: str
    plu: str
    product: str
    unit_price_fen: int  # per kilogram
    effective_from: datetime
    published_at: datetime
    published_by: str

    def __post_init__(self) -> None:
        if isinstance(self.unit_price_fen, bool) or not 0 < self.unit_price_fen <= MAX_UNIT_PRICE_FEN:
            raise ValueError(f"a unit price is 1 to {MAX_UNIT_PRICE_FEN} fen per kg, not {self.unit_price_fen!r}")
        if not self.product:
            raise ValueError("a published price names its product")


def _precedence(price: PublishedPrice) -> tuple[datetime, datetime]:
    # two prices effective from the same moment: the one published last counts
    return price.effective_from, price.published_at


def price_in_force(prices: Iterable[PublishedPrice], stall: str, plu: str, at: datetime) -> PublishedPrice | None:
    """The price of ``plu`` at ``stall`` in force at ``at``."""
    effective = [p for p in prices if p.stall == stall and p.plu == plu and p.effective_from <= at]
    return max(effective, key=_precedence, default=None)


def prices_in_force(prices: Iterable[PublishedPrice], at: datetime) -> list[PublishedPrice]:
    """Every stall's price of every product in force at ``at``, by stall and PLU."""
    latest: dict[tuple[str, str], PublishedPrice] = {}
    for price in prices:
        if price.effective_from > at:
            continue
        key = (price.stall, price.plu)
        known = latest.get(key)
        if known is None or _precedence(price) > _precedence(known):
            latest[key] = price
    return [latest[key] for key in sorted(latest)]


def scale_price_table(prices: Iterable[PublishedPrice], stall: str, now: datetime) -> list[PublishedPrice]:
    """What a stall's scales must hold: each product's price in force now and every later one already
    published, so a scale switches on time even if it cannot be reached at that moment."""
    own = [p for p in prices if p.stall == stall]
    table = prices_in_force(own, now)
    later: dict[tuple[str, datetime], PublishedPrice] = {}
    for price in own:
        if price.effective_from > now:
            key = (price.plu, price.effective_from)
            if key not in later or price.published_at > later[key].published_at:
                later[key] = price
    table.extend(later[key] for key in sorted(later))
    return sorted(table, key=lambda p: (p.plu, p.effective_from))


def round_half_up(value: Fraction) -> int:
    """Nearest integer, halves away from zero for the non-negative amounts this is used on."""
    return int((value * 2 + 1) // 2)


@dataclass(frozen=True)
class BoardLine:
    """One product across the market: lowest, mean and highest price of the stalls selling it."""

    plu: str
    product: str
    stalls: int
    min_fen: int
    max_fen: int
    mean_fen: Fraction

    @property
    def avg_fen(self) -> int:
        return round_half_up(self.mean_fen)


def price_board(in_force: Sequence[PublishedPrice]) -> list[BoardLine]:
    """Aggregate the prices in force (one per stall and PLU) into the public board, by PLU."""
    by_plu: dict[str, list[PublishedPrice]] = {}
    for price in in_force:
        by_plu.setdefault(price.plu, []).append(price)
    lines = []
    for plu in sorted(by_plu):
        group = by_plu[plu]
        values = [p.unit_price_fen for p in group]
        product = max(group, key=lambda p: p.published_at).product
        lines.append(BoardLine(plu, product, len(group), min(values), max(values), Fraction(sum(values), len(values))))
    return lines


@dataclass(frozen=True)
class DailyPrice:
    """Prices paid for a product on one market day: lowest, highest, and the mean weighted by weight
    (what a kilogram cost on average), over ``sales`` sales of ``grams`` in total."""

    day: date
    plu: str
    sales: int
    grams: int
    min_fen: int
    max_fen: int
    weighted_mean_fen: Fraction

    @property
    def avg_fen(self) -> int:
        return round_half_up(self.weighted_mean_fen)


def daily_price(day: date, plu: str, sales: int, grams: int, min_fen: int, max_fen: int,
                fen_grams: int) -> DailyPrice:
    """A day's statistics from its totals (as a time series sums them): ``fen_grams`` is Σ price × grams,
    so the weighted mean is exact however many sales there were."""
    if sales < 1 or grams < 1:
        raise ValueError("a day with statistics has at least one sale of at least one gram")
    return DailyPrice(day, plu, sales, grams, min_fen, max_fen, Fraction(fen_grams, grams))


def pricing_findings(sale: Sale, published: PublishedPrice | None, registered_stall: str | None) -> list[Finding]:
    """What a sale breaks of price publication: a unit price other than the one in force (each sale is
    evidence), selling a product with no published price (once per stall, product and day), an amount
    that is not weight × price, and a scale reporting a stall other than the one it is registered to."""
    findings = []
    if registered_stall is None:
        findings.append(Finding(FindingKind.UNREGISTERED_SCALE,
                                finding_key(FindingKind.UNREGISTERED_SCALE, sale.scale), sale.stall, sale.ts,
                                {"scale": sale.scale, "reported_stall": sale.stall}))
    elif registered_stall != sale.stall:
        findings.append(Finding(FindingKind.STALL_MISMATCH,
                                finding_key(FindingKind.STALL_MISMATCH, sale.scale, sale.stall), registered_stall,
                                sale.ts, {"scale": sale.scale, "registered_stall": registered_stall,
                                          "reported_stall": sale.stall, "trace_code": sale.trace_code}))
    if published is None:
        day = market_day(sale.ts).isoformat()
        findings.append(Finding(FindingKind.NO_PUBLISHED_PRICE,
                                finding_key(FindingKind.NO_PUBLISHED_PRICE, sale.stall, sale.plu, day),
                                sale.stall, sale.ts,
                                {"plu": sale.plu, "charged_fen": sale.unit_price_fen, "trace_code": sale.trace_code}))
    elif published.unit_price_fen != sale.unit_price_fen:
        findings.append(Finding(FindingKind.PRICE_DIFFERS,
                                finding_key(FindingKind.PRICE_DIFFERS, sale.scale, sale.record_id), sale.stall,
                                sale.ts,
                                {"plu": sale.plu, "charged_fen": sale.unit_price_fen,
                                 "published_fen": published.unit_price_fen,
                                 "difference_fen": sale.unit_price_fen - published.unit_price_fen,
                                 "trace_code": sale.trace_code, "scale": sale.scale}))
    expected = expected_amount_fen(sale.net_g, sale.unit_price_fen)
    if abs(sale.amount_fen - expected) > AMOUNT_TOLERANCE_FEN:
        findings.append(Finding(FindingKind.AMOUNT_MISMATCH,
                                finding_key(FindingKind.AMOUNT_MISMATCH, sale.scale, sale.record_id), sale.stall,
                                sale.ts,
                                {"net_g": sale.net_g, "unit_price_fen": sale.unit_price_fen,
                                 "amount_fen": sale.amount_fen, "expected_amount_fen": expected,
                                 "trace_code": sale.trace_code, "scale": sale.scale}))
    return findings
