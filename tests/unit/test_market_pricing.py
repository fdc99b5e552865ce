"""Price publication: the price in force, the scale's table, the public board, daily stats, findings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.findings import FindingKind
from market.pricing import (
    PublishedPrice,
    daily_price,
    price_board,
    price_in_force,
    prices_in_force,
    pricing_findings,
    round_half_up,
    scale_price_table,
)
from market.tracing import Sale

MORNING = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai


def price(stall: str, plu: str, fen: int, hours: float = 0, published: float = 0,
          product: str = "西红柿") -> PublishedPrice:
    return PublishedPrice(stall, plu, product, fen, MORNING + timedelta(hours=hours),
                          MORNING + timedelta(hours=published), "op-1")


def sale(fen: int, *, net_g: int = 1250, amount: int | None = None, stall: str = "A03", plu: str = "1001",
         hours: float = 1, record: str = "r-1") -> Sale:
    amount_fen = (net_g * fen + 500) // 1000 if amount is None else amount
    return Sale("scale-01", record, MORNING + timedelta(hours=hours), stall, plu, "西红柿", net_g, fen, amount_fen,
                f"demo-{stall}-{record}")


def test_the_latest_effective_price_is_in_force_and_a_later_one_waits() -> None:
    prices = [price("A03", "1001", 680), price("A03", "1001", 720, hours=2), price("A03", "1001", 650, hours=-5)]
    assert price_in_force(prices, "A03", "1001", MORNING + timedelta(hours=1)) == prices[0]
    assert price_in_force(prices, "A03", "1001", MORNING + timedelta(hours=2)) == prices[1]
    assert price_in_force(prices, "A03", "1001", MORNING - timedelta(hours=6)) is None
    assert price_in_force(prices, "A04", "1001", MORNING + timedelta(hours=1)) is None


def test_a_republished_price_for_the_same_moment_replaces_the_first() -> None:
    first, correction = price("A03", "1001", 680), price("A03", "1001", 690, published=0.5)
    assert price_in_force([correction, first], "A03", "1001", MORNING) == correction


def test_the_scale_table_holds_prices_in_force_and_those_to_come() -> None:
    prices = [price("A03", "1001", 650, hours=-24), price("A03", "1001", 680), price("A03", "1002", 200),
              price("A03", "1001", 720, hours=3), price("A05", "1001", 999)]
    table = scale_price_table(prices, "A03", MORNING + timedelta(hours=1))
    assert [(p.plu, p.unit_price_fen) for p in table] == [("1001", 680), ("1001", 720), ("1002", 200)]


def test_the_board_shows_min_mean_max_of_the_stalls_prices() -> None:
    in_force = prices_in_force([price("A03", "1001", 680), price("A05", "1001", 700), price("A07", "1001", 705),
                                price("A03", "1002", 200, product="大白菜"), price("A05", "1001", 999, hours=5)],
                               MORNING + timedelta(hours=1))
    tomatoes, cabbage = price_board(in_force)
    assert (tomatoes.plu, tomatoes.stalls, tomatoes.min_fen, tomatoes.max_fen) == ("1001", 3, 680, 705)
    assert tomatoes.mean_fen == Fraction(2085, 3) and tomatoes.avg_fen == 695
    assert (cabbage.product, cabbage.stalls, cabbage.avg_fen) == ("大白菜", 1, 200)


def test_halves_round_up() -> None:
    assert [round_half_up(Fraction(n, 2)) for n in (1, 3, 5)] == [1, 2, 3]
    assert round_half_up(Fraction(1001, 3)) == 334 and round_half_up(Fraction(1000, 3)) == 333


@given(st.lists(st.tuples(st.integers(1, 100_000), st.integers(1, 1_000_000)), min_size=1, max_size=30))
def test_the_daily_mean_lies_between_min_and_max(pairs: list[tuple[int, int]]) -> None:
    prices = [fen for fen, _ in pairs]
    day = daily_price(MORNING.date(), "1001", len(pairs), sum(grams for _, grams in pairs), min(prices), max(prices),
                      sum(fen * grams for fen, grams in pairs))
    assert day.min_fen <= day.weighted_mean_fen <= day.max_fen
    assert day.min_fen <= day.avg_fen <= day.max_fen
    assert day.grams == sum(grams for _, grams in pairs)


def test_a_sale_at_the_published_price_raises_nothing() -> None:
    assert pricing_findings(sale(680), price("A03", "1001", 680), "A03") == []


def test_a_sale_above_the_published_price_is_a_finding_per_sale() -> None:
    (finding,) = pricing_findings(sale(700, record="r-9"), price("A03", "1001", 680), "A03")
    assert finding.kind is FindingKind.PRICE_DIFFERS
    assert finding.key == "price_differs:scale-01:r-9"
    assert finding.detail["difference_fen"] == 20 and finding.detail["published_fen"] == 680


def test_an_amount_off_by_more_than_a_fen_is_a_finding() -> None:
    assert pricing_findings(sale(680, amount=851), price("A03", "1001", 680), "A03") == []  # 850 ± 1
    (finding,) = pricing_findings(sale(680, amount=860), price("A03", "1001", 680), "A03")
    assert finding.kind is FindingKind.AMOUNT_MISMATCH and finding.detail["expected_amount_fen"] == 850


def test_selling_without_a_published_price_is_one_finding_per_stall_product_and_day() -> None:
    (first,) = pricing_findings(sale(680, record="r-1"), None, "A03")
    (second,) = pricing_findings(sale(690, record="r-2", hours=3), None, "A03")
    assert first.kind is FindingKind.NO_PUBLISHED_PRICE and first.key == second.key


def test_a_scale_reporting_another_stall_or_none_registered_is_a_finding() -> None:
    kinds = {f.kind for f in pricing_findings(sale(680, stall="A04"), price("A04", "1001", 680), "A03")}
    assert kinds == {FindingKind.STALL_MISMATCH}
    (unregistered,) = pricing_findings(sale(680), price("A03", "1001", 680), None)
    assert unregistered.kind is FindingKind.UNREGISTERED_SCALE and unregistered.key == "unregistered_scale:scale-01"


@pytest.mark.parametrize("fen", [0, -1, 100_000_001])
def test_prices_outside_the_contract_are_refused(fen: int) -> None:
    with pytest.raises(ValueError, match="fen per kg"):
        price("A03", "1001", fen)


def test_a_days_statistics_from_its_totals_are_exact() -> None:
    day = daily_price(date(2026, 11, 23), "1001", 2, 1500, 600, 900, 600 * 1000 + 900 * 500)
    assert (day.sales, day.grams, day.min_fen, day.max_fen) == (2, 1500, 600, 900)
    assert day.weighted_mean_fen == Fraction(1_050_000, 1500) and day.avg_fen == 700
    with pytest.raises(ValueError, match="at least one sale"):
        daily_price(date(2026, 11, 23), "1001", 1, 0, 600, 600, 0)
