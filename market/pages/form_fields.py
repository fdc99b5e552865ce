"""What people type into the market's forms, read exactly, with what is wrong in words for the person
who typed it: prices in yuan as integer fen and quantities in kilograms as integer grams (by decimal
arithmetic, never through a float), Beijing wall-clock times, text fields, and the trace code in what a
shopper typed or pasted."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Final
from urllib.parse import unquote, urlsplit

from market.market_time import MARKET_TZ
from market.pricing import MAX_UNIT_PRICE_FEN
from market.tracing import MAX_BATCH_GRAMS
from market.web.presenting import yuan

ASCII_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
PHONE: Final = re.compile(r"[0-9+ -]{3,32}")
_YUAN: Final = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")
_KILOGRAMS: Final = re.compile(r"([0-9]+)(?:\.([0-9]{1,3}))?")
_TOO_PRECISE: Final = re.compile(r"[0-9]*\.[0-9]+")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


class InputProblem(ValueError):
    """What is wrong with one field, in words for the person who typed it."""


def fen_from_yuan(typed: str) -> int:
    """A price typed in yuan (``6.8``, ``6.80``, ``12``; full-width digits too) as integer fen,
    exactly: at most two decimals, more than 0, at most the contract's bound."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if not text:
        raise InputProblem("请填写价格")
    if text.startswith("-"):
        raise InputProblem("价格必须大于 0")
    match = _YUAN.fullmatch(text) if len(text) <= 20 else None
    if match is None:
        if _TOO_PRECISE.fullmatch(text):
            raise InputProblem("价格最多两位小数（精确到分）")
        raise InputProblem("请输入数字，例如 6.80")
    fen = int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
    if fen <= 0:
        raise InputProblem("价格必须大于 0")
    if fen > MAX_UNIT_PRICE_FEN:
        raise InputProblem(f"价格不能超过 {yuan(MAX_UNIT_PRICE_FEN)} 元/公斤")
    return fen


def grams_from_kilograms(typed: str) -> int:
    """A quantity typed in kilograms (at most three decimals: grams) as integer grams, exactly."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if not text:
        raise InputProblem("请填写数量")
    if text.startswith("-"):
        raise InputProblem("数量必须大于 0")
    match = _KILOGRAMS.fullmatch(text) if len(text) <= 20 else None
    if match is None:
        if _TOO_PRECISE.fullmatch(text):
            raise InputProblem("数量最多三位小数（精确到克）")
        raise InputProblem("请输入数字，例如 50 或 12.5")
    grams = int(match[1]) * 1000 + int((match[2] or "0").ljust(3, "0"))
    if grams <= 0:
        raise InputProblem("数量必须大于 0")
    if grams > MAX_BATCH_GRAMS:
        raise InputProblem(f"数量不能超过 {MAX_BATCH_GRAMS // 1000:,} 公斤")
    return grams


def moment_from_local(typed: str) -> datetime | None:
    """A wall-clock time in Beijing time (``2026-11-23T08:30`` as a datetime-local field sends it) as
    an aware UTC datetime; blank: None."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text) if len(text) <= 32 else None
    except ValueError:
        moment = None
    if moment is None:
        raise InputProblem("时间格式应为 2026-11-23 08:30")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=MARKET_TZ)
    return moment.astimezone(UTC)


def local_input(moment: datetime) -> str:
    """A time as a datetime-local field shows it (Beijing time, to the minute)."""
    return moment.astimezone(MARKET_TZ).strftime("%Y-%m-%dT%H:%M")


def text_field(typed: str, label: str, most: int, required: bool = True) -> str:
    text = typed.strip()
    if not text and required:
        raise InputProblem(f"请填写{label}")
    if len(text) > most:
        raise InputProblem(f"{label}最多 {most} 个字")
    if _CONTROL.search(text):
        raise InputProblem(f"{label}含有无法识别的字符")
    return text


def trace_code_from(typed: str) -> str | None:
    """The trace code in what a shopper typed or pasted: the code itself, or the address a receipt's
    QR code carries (``https://…/market/{site}/trace/{code}``)."""
    text = typed.strip()
    if "/trace/" in text:
        path = urlsplit(text).path if "://" in text else text.split("?", 1)[0].split("#", 1)[0]
        text = unquote(path.rsplit("/trace/", 1)[-1]).strip().strip("/")
    if not 1 <= len(text) <= 64 or not text.isprintable():
        return None
    return text
