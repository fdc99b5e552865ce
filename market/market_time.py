"""The market's calendar: a market day is a day in Asia/Shanghai, whatever the server's zone.

Times are aware UTC datetimes everywhere inside; this is where they become the dates printed on
licences and the "today" of a price board.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Final

# Asia/Shanghai has kept +08:00 without daylight saving since 1991; a fixed offset needs no tzdata.
MARKET_TZ: Final = timezone(timedelta(hours=8), "CST")
MARKET_TZ_OFFSET: Final = "+08:00"


def market_day(at: datetime) -> date:
    """The local date of an aware instant."""
    if at.tzinfo is None:
        raise ValueError("an aware datetime is needed to tell the market day")
    return at.astimezone(MARKET_TZ).date()


def day_start(day: date) -> datetime:
    """The first instant of a market day, in UTC."""
    return datetime.combine(day, time(0), MARKET_TZ).astimezone(UTC)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a market day in UTC."""
    return day_start(day), day_start(day + timedelta(days=1))


def local_text(at: datetime) -> str:
    """How a time is shown to people at the market: ``2026-11-23 08:30``."""
    return at.astimezone(MARKET_TZ).strftime("%Y-%m-%d %H:%M")
