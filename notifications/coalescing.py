"""Coalescing: a storm of like events (1,000 denials at one gate in a minute) becomes a bounded number of messages
with counts. Events sharing a dedupe key are grouped in windows: the first event of a window is delivered at once,
the later ones of the same window are folded (counted, not sent), and when the window has passed one summary
carries their count. Per key, at most two messages leave per window, however many events arrive.

A state machine in the manner of :mod:`community.access.whitelist_sync`: fed the window, the time an event arrives and
the clock by the caller (the dispatcher passes its own clock for both, so a backlog expanded late is one storm, not
one per batch); nothing here reads a clock or stores anything."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Window:
    """The coalescing state of one key: when its window opened and how many events it folded since."""

    key: str
    opened_at: datetime
    folded: int = 0
    last_event_id: int | None = None
    """The last folded event (its words make the summary's)."""

    def ends_at(self, span: timedelta) -> datetime:
        return self.opened_at + span


@dataclass(frozen=True)
class Admission:
    window: Window
    """The key's state after the event."""
    deliver: bool
    """Deliver the event now (the first of its window), or fold it into the window's count."""
    closed: Window | None = None
    """The previous window, over and with folded events: its summary is due before this event."""


def admit(window: Window | None, key: str, event_id: int, at: datetime, span: timedelta) -> Admission:
    """An event of ``key`` at ``at``: delivered when it opens a window (none open, or the open one is over), folded
    otherwise."""
    if window is None or at >= window.ends_at(span):
        closed = window if window is not None and window.folded else None
        return Admission(Window(key, at), True, closed)
    return Admission(replace(window, folded=window.folded + 1, last_event_id=event_id), False)


def due(window: Window, now: datetime, span: timedelta) -> bool:
    """Whether ``window`` is over with folded events, so its summary should leave now."""
    return window.folded > 0 and now >= window.ends_at(span)


def summary_words(title: str, folded: int) -> tuple[str, str]:
    """The title and text of a window's summary, in the words people read."""
    return f"{title}（合并通知：又发生 {folded} 次）", f"在合并时间窗内，同类事件又发生了 {folded} 次，未逐条发送。"
