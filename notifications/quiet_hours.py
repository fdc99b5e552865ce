"""Quiet hours: a person's local (Asia/Shanghai) span of the night when only what cannot wait reaches their phone
and mailbox. Decided here (docs/notifications.md): in-app notifications are never held (nothing rings); e-mail and SMS
are held until the quiet hours end, except for events of severity critical (a forced door, a tamper switch), which
a property manager must hear of at 3 a.m. Organisation endpoints (webhooks, group robots) have no quiet hours.
Pure: the caller passes ``now``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifications.events import Channel, Severity

LOCAL = ZoneInfo("Asia/Shanghai")
HELD_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS})


@dataclass(frozen=True)
class QuietHours:
    """From ``start`` to ``end`` local time; a span over midnight (22:00–07:00) wraps; start == end: none."""

    start: time
    end: time

    def until(self, now: datetime) -> datetime | None:
        """When the quiet hours around ``now`` end (UTC), or None when ``now`` is not within them."""
        if self.start == self.end:
            return None
        local = now.astimezone(LOCAL)
        clock = local.time().replace(tzinfo=None)
        wraps = self.start > self.end
        inside = (clock >= self.start or clock < self.end) if wraps else (self.start <= clock < self.end)
        if not inside:
            return None
        end = datetime.combine(local.date(), self.end, LOCAL)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


def held_until(hours: QuietHours | None, severity: Severity, channel: Channel, now: datetime) -> datetime | None:
    """When a delivery on ``channel`` of an event of ``severity`` may leave, if not now (None: now)."""
    if hours is None or severity is Severity.CRITICAL or channel not in HELD_CHANNELS:
        return None
    return hours.until(now)
