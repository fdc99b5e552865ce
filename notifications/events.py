"""What a notification is about: its kind, severity, the community or market it concerns, its words, and the key
that coalesces a storm of like events. Plain values: no I/O, no framework."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 2000
MAX_KEY_CHARS = 200
MAX_ONCE_KEY_CHARS = 255
EVENT_SCHEMA = "smartcity.event/1"
"""The version of the JSON event a webhook carries (docs/integrations.md); a change that is not additive is /2."""


class NotificationKind(StrEnum):
    GATE_ALARM = "gate_alarm"
    GATE_OFFLINE = "gate_offline"
    LICENCE_EXPIRING = "licence_expiring"
    LICENCE_EXPIRED = "licence_expired"
    TEST_FAILED = "test_failed"
    BATCH_RECALLED = "batch_recalled"
    BATCH_RELEASED = "batch_released"
    PRICE_FINDING = "price_finding"
    VOTE_OPENED = "vote_opened"
    VOTE_CLOSING = "vote_closing"
    VOTE_PUBLISHED = "vote_published"
    MEETING_NOTICE = "meeting_notice"
    TEST = "test"
    """The "send test" of an organisation's endpoint: concerns no community or market."""


KIND_NAMES: dict[NotificationKind, str] = {
    NotificationKind.GATE_ALARM: "门禁报警", NotificationKind.GATE_OFFLINE: "门禁离线",
    NotificationKind.LICENCE_EXPIRING: "证照即将到期", NotificationKind.LICENCE_EXPIRED: "证照已过期",
    NotificationKind.TEST_FAILED: "快检不合格", NotificationKind.BATCH_RECALLED: "批次召回",
    NotificationKind.BATCH_RELEASED: "批次放行", NotificationKind.PRICE_FINDING: "价格与计量发现",
    NotificationKind.VOTE_OPENED: "表决开始", NotificationKind.VOTE_CLOSING: "表决即将截止",
    NotificationKind.VOTE_PUBLISHED: "表决结果公布", NotificationKind.MEETING_NOTICE: "会议通知",
    NotificationKind.TEST: "测试通知",
}
"""How the pages name each kind."""


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    """Someone should act now (a forced door, a tamper switch): delivered through quiet hours."""


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"
    WECOM = "wecom"
    DINGTALK = "dingtalk"


PERSONAL_CHANNELS = (Channel.IN_APP, Channel.EMAIL, Channel.SMS)
"""Channels that reach a person (an account), chosen in their preferences."""
ENDPOINT_CHANNELS = (Channel.WEBHOOK, Channel.WECOM, Channel.DINGTALK)
"""Channels that reach an organisation's endpoint (a receiving system, a group robot)."""
CHANNEL_NAMES: dict[Channel, str] = {
    Channel.IN_APP: "站内通知", Channel.EMAIL: "电子邮件", Channel.SMS: "短信", Channel.WEBHOOK: "Webhook",
    Channel.WECOM: "企业微信群机器人", Channel.DINGTALK: "钉钉群机器人",
}


class EventInvalid(ValueError):
    """An event that cannot be recorded; the message says which field."""


@dataclass(frozen=True)
class NotificationEvent:
    """One thing that happened and should reach people. Exactly one of ``community_id`` and ``market_id`` names
    what it concerns (that decides who hears of it). ``dedupe_key``: events with the same key within the
    coalescing window are folded into one message with a count (None: never folded). ``data``: JSON values that a
    webhook carries for a receiving system."""

    kind: NotificationKind
    title: str
    text: str
    occurred_at: datetime
    community_id: str | None = None
    market_id: str | None = None
    dedupe_key: str | None = None
    severity: Severity = Severity.WARNING
    data: Mapping[str, Any] = field(default_factory=dict)
    count: int = 1
    """How many events this one stands for (a coalescing summary: those folded into it)."""

    def __post_init__(self) -> None:
        if (self.community_id is None) == (self.market_id is None) and self.kind is not NotificationKind.TEST:
            raise EventInvalid("an event concerns exactly one community or one market")
        if not self.title or len(self.title) > MAX_TITLE_CHARS:
            raise EventInvalid(f"a title has 1 to {MAX_TITLE_CHARS} characters")
        if len(self.text) > MAX_TEXT_CHARS:
            raise EventInvalid(f"a text has at most {MAX_TEXT_CHARS} characters")
        if self.dedupe_key is not None and not 0 < len(self.dedupe_key) <= MAX_KEY_CHARS:
            raise EventInvalid(f"a dedupe key has 1 to {MAX_KEY_CHARS} characters")
        if self.occurred_at.tzinfo is None:
            raise EventInvalid("occurred_at is an aware datetime")
        if self.count < 1:
            raise EventInvalid("an event stands for at least itself")


def event_document(event_id: int, event: NotificationEvent) -> dict[str, Any]:
    """The stable, versioned JSON of an event as webhooks carry it (docs/integrations.md)."""
    return {
        "schema": EVENT_SCHEMA, "event_id": event_id, "kind": event.kind.value, "severity": event.severity.value,
        "community_id": event.community_id, "market_id": event.market_id, "title": event.title,
        "text": event.text, "occurred_at": event.occurred_at.isoformat(), "count": event.count,
        "data": dict(event.data),
    }
