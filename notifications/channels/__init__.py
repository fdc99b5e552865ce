"""The channels a delivery leaves by, each one module behind :class:`Sender`: ``in_app`` (the notification centre),
``mail`` (SMTP), ``webhook`` (signed JSON), ``robots`` (WeCom and DingTalk group robots), ``sms`` (a provider's HTTP
call, configured). A sender raises :class:`DeliveryFailed` with a reason the delivery log shows; the dispatcher
decides when to try again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from notifications.events import NotificationEvent
from notifications.quiet_hours import LOCAL


@dataclass(frozen=True)
class Outgoing:
    """One delivery as a channel sends it."""

    idempotency_key: str
    event_id: int
    event: NotificationEvent
    account_id: str | None = None
    address: str = ""
    """Where to: an e-mail address, a phone number, an endpoint's URL."""
    secret: str = ""
    """An endpoint's signing secret."""


class DeliveryFailed(Exception):
    """The receiver did not take the delivery; the message says why (no personal data in it). ``permanent``: trying
    again cannot help (no address to send to): failed at once."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, outgoing: Outgoing) -> None:
        """Deliver ``outgoing`` or raise :class:`DeliveryFailed`; sending the same idempotency key again is harmless
        for a receiver that honours it."""
        ...


def plain_text(event: NotificationEvent) -> str:
    """The event as a few lines a person reads (mail body, robots, SMS)."""
    when = event.occurred_at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S")
    lines = [event.title, event.text, f"时间：{when}（北京时间）"]
    if event.count > 1:
        lines.append(f"合并条数：{event.count}")
    return "\n".join(line for line in lines if line)
