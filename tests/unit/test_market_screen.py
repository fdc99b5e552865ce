"""What the stall screen draws: a QR code that scales to its box, the batches that fit its column, and
the public board's trends reused for a short while."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from market.pages.price_board import BoardTrends, CachedTrends
from market.rapid_tests import TestOutcome
from market.service import DisplayBatch, PriceHistory
from market.tracing import Batch, BlockCause, Certificate, CertificateType, RapidTest, block_batch
from market.web.stall_screen import SCREEN_BATCH_LINES, screen_batches, stall_qr_svg

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_the_qr_code_has_a_view_box_and_no_fixed_size_so_css_scales_it_whole() -> None:
    svg = stall_qr_svg("https://market.example.cn/market/xinfadi/stalls/A03")
    opening = svg[:svg.index(">") + 1]
    view_box = re.search(r'viewBox="0 0 (\d+) (\d+)"', opening)
    assert view_box is not None and view_box[1] == view_box[2], opening
    assert "width=" not in opening and "height=" not in opening, "a fixed size is what got cropped"
    side = int(view_box[1])
    assert side == 33 + 2 * 4, "version 4 (33 modules) with its four-module quiet zone inside the view box"
    assert f'd="M0 0h{side}v{side}h-{side}z"' in svg, "the light background covers the whole view box"


def batch(n: int, tests: int = 1, blocked: bool = False) -> DisplayBatch:
    arrived = NOW - timedelta(hours=n + 1)
    made = Batch(f"B{n}", "A03", f"10{n:02d}", "西红柿", "寿光蔬菜合作社", "370783", "山东省寿光市", 50_000,
                 (Certificate(CertificateType.COMMITMENT, "CD-1"),), arrived)
    if blocked:
        made = block_batch(made, NOW, "召回", "op", BlockCause.OPERATOR)
    return DisplayBatch(made, [RapidTest(made.batch_id, f"项目{i}", "酶抑制法", TestOutcome.NEGATIVE, None, "刘",
                                         arrived) for i in range(tests)])


def test_the_screen_shows_the_batches_that_fit_and_counts_the_rest() -> None:
    assert screen_batches([batch(n) for n in range(3)]) == 3
    assert screen_batches([batch(n) for n in range(12)]) == SCREEN_BATCH_LINES // 4
    tall = [batch(0, tests=7, blocked=True), *(batch(n) for n in range(1, 12))]
    assert screen_batches(tall) == 1 + (SCREEN_BATCH_LINES - 8) // 4, "a batch with many tests takes more room"
    assert screen_batches([batch(0, tests=40)]) == 1, "one batch is always shown"
    assert screen_batches([]) == 0


def test_board_trends_are_reused_for_their_time_to_live_only() -> None:
    trends = BoardTrends(timedelta(seconds=60), max_entries=2)
    key = ("xinfadi", 7, date(2026, 11, 23))
    made = CachedTrends(NOW, {"1001": PriceHistory("1001", [])})
    trends.put(key, made)
    assert trends.get(key, NOW + timedelta(seconds=59)) is made
    assert trends.get(key, NOW + timedelta(seconds=60)) is None, "stale after the TTL"
    assert trends.get(key, NOW - timedelta(seconds=1)) is None, "a clock set back does not trust it"
    assert trends.get(("xinfadi", 14, date(2026, 11, 23)), NOW) is None, "per range of days"
    trends.put(("b", 7, date(2026, 11, 23)), CachedTrends(NOW, {}))
    trends.put(("c", 7, date(2026, 11, 23)), CachedTrends(NOW, {}))
    assert trends.get(key, NOW) is None, "bounded: the least recently used is forgotten"
