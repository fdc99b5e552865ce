"""What a person wants to hear, and how: their contact (an e-mail address, a phone for SMS), the channels they chose
per kind, their quiet hours. Which personal channels a delivery goes out on follows from these and from the channels
the installation has configured. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from notifications.events import PERSONAL_CHANNELS, Channel, NotificationKind
from notifications.quiet_hours import QuietHours

EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
PHONE = re.compile(r"^1[3-9][0-9]{9}$")
"""A mainland mobile number, the only kind the SMS providers we target send to."""
DEFAULT_CHANNELS = frozenset({Channel.IN_APP, Channel.EMAIL})
"""A kind nobody chose for: in the notification centre, and by e-mail when there is an address. SMS costs money
and wakes people: only when chosen."""


@dataclass(frozen=True)
class Preferences:
    email: str | None = None
    phone: str | None = None
    quiet_hours: QuietHours | None = None
    channels: Mapping[NotificationKind, frozenset[Channel]] = field(default_factory=dict)

    def chosen(self, kind: NotificationKind) -> frozenset[Channel]:
        return self.channels.get(kind, DEFAULT_CHANNELS)


def personal_channels(preferences: Preferences, kind: NotificationKind,
                      configured: frozenset[Channel]) -> list[Channel]:
    """The channels a person hears of an event of ``kind`` on: those chosen, configured on the installation, and
    with a contact to send to (in-app needs none and is always configured)."""
    reachable = {Channel.IN_APP, *((Channel.EMAIL,) if preferences.email else ()),
                 *((Channel.SMS,) if preferences.phone else ())}
    wanted = preferences.chosen(kind) & reachable & (configured | {Channel.IN_APP})
    return [channel for channel in PERSONAL_CHANNELS if channel in wanted]
