"""What the market's pages make of what people type and what they show: prices in yuan as exact fen, quantities in
kilograms as grams, licence highlighting, a trace code from a receipt's address."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.licences import Document, DocumentKind, document_status
from market.pages.form_fields import InputProblem, fen_from_yuan, grams_from_kilograms, trace_code_from
from market.pages.wording import licence_text, licence_tone
from market.pricing import MAX_UNIT_PRICE_FEN
from market.web.presenting import yuan

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(("typed", "fen"), [
    ("6.8", 680), ("6.80", 680), ("12", 1200), ("0.01", 1), ("19.99", 1999), ("0.29", 29), ("1.15", 115),
    (" 7.20 ", 720), ("１２.５", 1250), ("1000000", MAX_UNIT_PRICE_FEN), ("1000000.00", MAX_UNIT_PRICE_FEN),
])
def test_a_price_in_yuan_becomes_exact_fen(typed: str, fen: int) -> None:
    assert fen_from_yuan(typed) == fen


@pytest.mark.parametrize(("typed", "message"), [
    ("12.345", "最多两位小数"), ("0.001", "最多两位小数"), ("-1", "必须大于 0"), ("-0.5", "必须大于 0"),
    ("0", "必须大于 0"), ("0.00", "必须大于 0"), ("abc", "请输入数字"), ("1e3", "请输入数字"), ("6,80", "请输入数字"),
    ("6.8.1", "请输入数字"), ("", "请填写价格"), ("1000000.01", "不能超过"), ("9" * 5000, "请输入数字"),
])
def test_a_price_that_is_not_a_whole_number_of_fen_is_refused_with_a_message(typed: str, message: str) -> None:
    with pytest.raises(InputProblem, match=message):
        fen_from_yuan(typed)


@given(st.integers(min_value=1, max_value=MAX_UNIT_PRICE_FEN))
def test_every_price_shown_in_yuan_reads_back_as_the_same_fen(fen: int) -> None:
    assert fen_from_yuan(yuan(fen)) == fen


def test_quantities_in_kilograms_become_exact_grams() -> None:
    assert grams_from_kilograms("50") == 50_000
    assert grams_from_kilograms("12.5") == 12_500
    assert grams_from_kilograms("0.001") == 1
    for typed in ("1.2345", "-3", "kg", "0"):
        with pytest.raises(InputProblem):
            grams_from_kilograms(typed)


@pytest.mark.parametrize(("valid_to", "tone", "shown"), [
    (date(2027, 1, 31), "ok", "有效"), (date(2026, 12, 23), "warn", "剩 30 天"),
    (date(2026, 11, 30), "warn", "剩 7 天"), (date(2026, 11, 24), "warn", "剩 1 天"),
    (date(2026, 11, 23), "bad", "今天到期"), (date(2026, 11, 22), "bad", "已过期 1 天"),
])
def test_licences_are_highlighted_at_30_7_and_0_days(valid_to: date, tone: str, shown: str) -> None:
    document = Document(DocumentKind.HEALTH_CERTIFICATE, "JK-1", date(2025, 12, 1), valid_to, holder="王建国")
    status = document_status(DocumentKind.HEALTH_CERTIFICATE, document, TODAY)
    assert (licence_tone(status), licence_text(status)) == (tone, shown)
    missing = document_status(DocumentKind.FOOD_FILING, None, TODAY)
    assert (licence_tone(missing), licence_text(missing)) == ("bad", "缺失")


def test_a_trace_code_is_taken_as_typed_or_from_a_receipt_address() -> None:
    assert trace_code_from(" xinfadi-A03-0001 ") == "xinfadi-A03-0001"
    assert trace_code_from("https://market.example.cn/market/xinfadi/trace/xinfadi-A03-0001") == "xinfadi-A03-0001"
    assert trace_code_from("https://m.example/market/x/trace/a%2Fb%20c?from=qr#top") == "a/b c"
    assert trace_code_from("/market/xinfadi/trace/xinfadi-A03-0001/") == "xinfadi-A03-0001"
    assert trace_code_from("") is None
    assert trace_code_from("x" * 65) is None
    assert trace_code_from("bad\ncode") is None
