"""The notifications' tables (SQLAlchemy Core, async), mirroring ``notifications/migrations``, and the repositories
over them: the outbox, the coalescing windows, the deliveries, the notification centre, people's preferences and
organisations' endpoints. No table refers to another context's by a foreign key: accounts and organisations are
named by their ids, as the other contexts name them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from notifications.coalescing import Window
from notifications.events import Channel, NotificationEvent, NotificationKind, Severity
from notifications.preferences import Preferences
from notifications.quiet_hours import QuietHours
from relational.database import UtcDateTime

metadata = MetaData()

outbox = Table(
    "notification_outbox", metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("community_id", String(64), nullable=True, index=True),
    Column("market_id", String(64), nullable=True, index=True),
    Column("title", String(200), nullable=False),
    Column("text", String(2000), nullable=False),
    Column("dedupe_key", String(200), nullable=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("data", JSON(), nullable=False),
    Column("count", Integer, nullable=False),
    Column("state", String(16), nullable=False, index=True),
)
"""Events as the services recorded them. state: new (not yet expanded), expanded (its deliveries made), folded
(counted in a coalescing window instead)."""

windows = Table(
    "notification_windows", metadata,
    Column("key", String(200), primary_key=True),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("folded", Integer, nullable=False),
    Column("last_event_id", Integer, nullable=True),
)

deliveries = Table(
    "notification_deliveries", metadata,
    Column("delivery_id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer, nullable=False, index=True),
    Column("recipient", String(80), nullable=False),
    Column("account_id", String(64), nullable=True),
    Column("endpoint_id", Integer, nullable=True),
    Column("channel", String(16), nullable=False),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("community_id", String(64), nullable=True),
    Column("market_id", String(64), nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("held_until", UtcDateTime(), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("last_error", String(500), nullable=True),
    Index("ix_notification_deliveries_lane", "state", "recipient", "channel", "delivery_id"),
)
"""One event to one recipient (``account:<id>`` or ``endpoint:<id>``) on one channel. A lane (recipient, channel)
delivers in event order; ``held_until``: quiet hours (a held delivery does not block its lane)."""

centre = Table(
    "notifications", metadata,
    Column("notification_id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False),
    Column("event_id", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("text", String(2000), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("read_at", UtcDateTime(), nullable=True),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Index("ix_notifications_account", "account_id", "read_at"),
)
"""The notification centre: what each person was told in-app."""

contacts = Table(
    "notification_contacts", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("email", String(254), nullable=True),
    Column("phone", String(20), nullable=True),
    Column("quiet_start", String(5), nullable=True),
    Column("quiet_end", String(5), nullable=True),
    Column("channels", JSON(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
"""A person's contact, quiet hours (HH:MM, Asia/Shanghai) and channels per kind ({kind: [channel, ...]})."""

endpoints = Table(
    "notification_endpoints", metadata,
    Column("endpoint_id", Integer, primary_key=True, autoincrement=True),
    Column("organisation_id", String(64), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("label", String(100), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("secret", String(200), nullable=False),
    Column("kinds", JSON(), nullable=False),
    Column("enabled", Boolean(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
"""An organisation's receiving systems and group robots. ``secret`` signs (webhook, DingTalk); it is kept as given
because signing needs it. ``kinds``: the kinds it receives (empty: all)."""


once = Table(
    "notification_once", metadata,
    Column("key", String(255), primary_key=True),
    Column("event_id", Integer, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)
"""The keys of events recorded at most once (a periodic check's: a licence reaching a threshold, a vote's phase),
so a check repeated — after a restart, by a second tick the same day — records nothing more."""


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


NEW, EXPANDED, FOLDED = "new", "expanded", "folded"


def idempotency_key(event_id: int, recipient: str, channel: Channel) -> str:
    """Stable per event, recipient and channel: the same on every attempt and after any restart."""
    return hashlib.sha256(f"{event_id}|{recipient}|{channel.value}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class StoredEvent:
    event_id: int
    event: NotificationEvent


@dataclass(frozen=True)
class Delivery:
    delivery_id: int
    event_id: int
    recipient: str
    account_id: str | None
    endpoint_id: int | None
    channel: Channel
    idempotency_key: str
    community_id: str | None
    market_id: str | None
    state: DeliveryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    held_until: datetime | None
    sent_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: int
    organisation_id: str
    channel: Channel
    label: str
    url: str
    secret: str
    kinds: frozenset[NotificationKind]
    enabled: bool
    created_at: datetime

    def receives(self, kind: NotificationKind) -> bool:
        return self.enabled and (not self.kinds or kind in self.kinds)


@dataclass(frozen=True)
class CentreItem:
    notification_id: int
    kind: NotificationKind
    severity: Severity
    title: str
    text: str
    occurred_at: datetime
    read_at: datetime | None


def event_of(row: Any) -> NotificationEvent:
    return NotificationEvent(
        kind=NotificationKind(row["kind"]), title=row["title"], text=row["text"], occurred_at=row["occurred_at"],
        community_id=row["community_id"], market_id=row["market_id"], dedupe_key=row["dedupe_key"],
        severity=Severity(row["severity"]), data=row["data"], count=row["count"])


class OutboxRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, event: NotificationEvent) -> int:
        result = await self._connection.execute(outbox.insert().values(
            kind=event.kind.value, severity=event.severity.value, community_id=event.community_id,
            market_id=event.market_id, title=event.title, text=event.text, dedupe_key=event.dedupe_key,
            occurred_at=event.occurred_at, data=dict(event.data), count=event.count, state=NEW))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def new(self, limit: int) -> list[StoredEvent]:
        rows = (await self._connection.execute(select(outbox).where(outbox.c.state == NEW)
                                               .order_by(outbox.c.event_id).limit(limit))).mappings()
        return [StoredEvent(row["event_id"], event_of(row)) for row in rows]

    async def get(self, event_id: int) -> NotificationEvent | None:
        row = (await self._connection.execute(select(outbox).where(outbox.c.event_id == event_id))).mappings().first()
        return None if row is None else event_of(row)

    async def mark(self, event_id: int, state: str) -> None:
        await self._connection.execute(update(outbox).where(outbox.c.event_id == event_id).values(state=state))

    async def add_once(self, key: str, event: NotificationEvent, now: datetime) -> int | None:
        """Record ``event`` unless an event of ``key`` was recorded before; its id, or None when it was."""
        if (await self._connection.execute(select(once.c.key).where(once.c.key == key))).first() is not None:
            return None
        event_id = await self.add(event)
        await self._connection.execute(once.insert().values(key=key, event_id=event_id, recorded_at=now))
        return event_id

    async def recorded_once(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` have had their event recorded."""
        wanted = sorted(set(keys))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            found |= set((await self._connection.execute(
                select(once.c.key).where(once.c.key.in_(wanted[start:start + 500])))).scalars())
        return found

    async def oldest_new(self) -> datetime | None:
        """When the oldest event not yet expanded happened (None: there is none)."""
        value: datetime | None = (await self._connection.execute(
            select(func.min(outbox.c.occurred_at)).where(outbox.c.state == NEW))).scalar_one_or_none()
        return value

    async def depth(self) -> int:
        return int((await self._connection.execute(
            select(func.count()).select_from(outbox).where(outbox.c.state == NEW))).scalar_one())

    async def window(self, key: str) -> Window | None:
        row = (await self._connection.execute(select(windows).where(windows.c.key == key))).mappings().first()
        return None if row is None else Window(row["key"], row["opened_at"], row["folded"], row["last_event_id"])

    async def save_window(self, window: Window, existed: bool) -> None:
        values = {"opened_at": window.opened_at, "folded": window.folded, "last_event_id": window.last_event_id}
        if existed:
            await self._connection.execute(update(windows).where(windows.c.key == window.key).values(**values))
        else:
            await self._connection.execute(windows.insert().values(key=window.key, **values))

    async def windows_with_folded(self, limit: int) -> list[Window]:
        rows = (await self._connection.execute(select(windows).where(windows.c.folded > 0)
                                               .order_by(windows.c.opened_at).limit(limit))).mappings()
        return [Window(row["key"], row["opened_at"], row["folded"], row["last_event_id"]) for row in rows]


class DeliveryRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self._connection.execute(deliveries.insert(), list(rows))

    async def heads(self, now: datetime, exclude: Iterable[tuple[str, str]], limit: int) -> list[Delivery]:
        """The first pending, unheld delivery of each lane, when it is due: a lane delivers in order, and a lane
        waiting for its retry holds back only itself."""
        free = or_(deliveries.c.held_until.is_(None), deliveries.c.held_until <= now)
        firsts = (select(func.min(deliveries.c.delivery_id))
                  .where(deliveries.c.state == DeliveryState.PENDING.value, free)
                  .group_by(deliveries.c.recipient, deliveries.c.channel))
        rows = (await self._connection.execute(
            select(deliveries).where(deliveries.c.delivery_id.in_(firsts), deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.delivery_id).limit(limit + len(set(exclude))))).mappings()
        busy = set(exclude)
        found = [delivery_of(row) for row in rows]
        return [d for d in found if (d.recipient, d.channel.value) not in busy][:limit]

    async def get(self, delivery_id: int) -> Delivery | None:
        row = (await self._connection.execute(
            select(deliveries).where(deliveries.c.delivery_id == delivery_id))).mappings().first()
        return None if row is None else delivery_of(row)

    async def sent(self, delivery_id: int, now: datetime) -> None:
        await self._connection.execute(update(deliveries).where(deliveries.c.delivery_id == delivery_id).values(
            state=DeliveryState.SENT.value, attempts=deliveries.c.attempts + 1, sent_at=now, last_error=None))

    async def failed_attempt(self, delivery_id: int, error: str, retry_at: datetime | None) -> None:
        values: dict[str, Any] = {"attempts": deliveries.c.attempts + 1, "last_error": error[:500]}
        if retry_at is None:
            values["state"] = DeliveryState.FAILED.value
        else:
            values["next_attempt_at"] = retry_at
        await self._connection.execute(
            update(deliveries).where(deliveries.c.delivery_id == delivery_id).values(**values))

    async def retry(self, delivery_id: int, now: datetime) -> bool:
        """A failed delivery pending again, due now, its time bound counted afresh."""
        result = await self._connection.execute(update(deliveries).where(and_(
            deliveries.c.delivery_id == delivery_id, deliveries.c.state == DeliveryState.FAILED.value)).values(
            state=DeliveryState.PENDING.value, next_attempt_at=now, created_at=now, held_until=None))
        return bool(result.rowcount)

    async def listed(self, communities: frozenset[str] | None, markets: frozenset[str] | None,
                     state: DeliveryState | None, limit: int, offset: int = 0) -> list[Delivery]:
        """Deliveries of events concerning ``communities`` or ``markets`` (None: every one), newest first."""
        query = select(deliveries)
        if communities is not None and markets is not None:
            query = query.where(or_(deliveries.c.community_id.in_(sorted(communities)),
                                    deliveries.c.market_id.in_(sorted(markets))))
        if state is not None:
            query = query.where(deliveries.c.state == state.value)
        rows = (await self._connection.execute(
            query.order_by(deliveries.c.delivery_id.desc()).limit(limit).offset(offset))).mappings()
        return [delivery_of(row) for row in rows]

    async def counts(self) -> dict[tuple[str, str], int]:
        rows = await self._connection.execute(
            select(deliveries.c.channel, deliveries.c.state, func.count()).group_by(
                deliveries.c.channel, deliveries.c.state))
        return {(channel, state): int(count) for channel, state, count in rows}

    async def pending_count(self) -> int:
        return int((await self._connection.execute(select(func.count()).select_from(deliveries).where(
            deliveries.c.state == DeliveryState.PENDING.value))).scalar_one())

    async def oldest_unheld(self, now: datetime) -> datetime | None:
        """When the oldest pending delivery not held by quiet hours was made (None: there is none)."""
        value: datetime | None = (await self._connection.execute(
            select(func.min(deliveries.c.created_at)).where(
                deliveries.c.state == DeliveryState.PENDING.value,
                or_(deliveries.c.held_until.is_(None), deliveries.c.held_until <= now)))).scalar_one_or_none()
        return value

    async def oldest_pending(self) -> datetime | None:
        value: datetime | None = (await self._connection.execute(
            select(func.min(deliveries.c.created_at)).where(
                deliveries.c.state == DeliveryState.PENDING.value))).scalar_one_or_none()
        return value


def delivery_of(row: Any) -> Delivery:
    return Delivery(
        row["delivery_id"], row["event_id"], row["recipient"], row["account_id"], row["endpoint_id"],
        Channel(row["channel"]), row["idempotency_key"], row["community_id"], row["market_id"],
        DeliveryState(row["state"]), row["attempts"], row["created_at"], row["next_attempt_at"], row["held_until"],
        row["sent_at"], row["last_error"])


class CentreRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, account_id: str, event_id: int, event: NotificationEvent, key: str, now: datetime) -> None:
        """Once per idempotency key: a delivery repeated after a restart adds nothing."""
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(centre.insert().values(
                    account_id=account_id, event_id=event_id, kind=event.kind.value, severity=event.severity.value,
                    title=event.title, text=event.text, occurred_at=event.occurred_at, created_at=now,
                    idempotency_key=key))
        except IntegrityError:
            pass

    async def listed(self, account_id: str, limit: int, offset: int = 0,
                     unread_only: bool = False) -> list[CentreItem]:
        query = select(centre).where(centre.c.account_id == account_id)
        if unread_only:
            query = query.where(centre.c.read_at.is_(None))
        rows = (await self._connection.execute(
            query.order_by(centre.c.notification_id.desc()).limit(limit).offset(offset))).mappings()
        return [CentreItem(row["notification_id"], NotificationKind(row["kind"]), Severity(row["severity"]),
                           row["title"], row["text"], row["occurred_at"], row["read_at"]) for row in rows]

    async def unread(self, account_id: str) -> int:
        return int((await self._connection.execute(select(func.count()).select_from(centre).where(
            centre.c.account_id == account_id, centre.c.read_at.is_(None)))).scalar_one())

    async def mark_read(self, account_id: str, notification_id: int, now: datetime) -> bool:
        """False when ``account_id`` has no such notification (another's is not theirs to read)."""
        found = (await self._connection.execute(select(centre.c.notification_id).where(
            centre.c.notification_id == notification_id, centre.c.account_id == account_id))).first()
        if found is None:
            return False
        await self._connection.execute(update(centre).where(
            centre.c.notification_id == notification_id, centre.c.read_at.is_(None)).values(read_at=now))
        return True

    async def mark_all_read(self, account_id: str, through: int, now: datetime) -> int:
        """Read every notification of ``account_id`` up to ``through`` (those the page showed, not one arrived
        since)."""
        result = await self._connection.execute(update(centre).where(
            centre.c.account_id == account_id, centre.c.read_at.is_(None),
            centre.c.notification_id <= through).values(read_at=now))
        return int(result.rowcount)


class PreferenceRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, account_id: str) -> Preferences:
        return (await self.of([account_id])).get(account_id, Preferences())

    async def of(self, account_ids: Iterable[str]) -> dict[str, Preferences]:
        wanted = sorted(set(account_ids))
        if not wanted:
            return {}
        rows = (await self._connection.execute(select(contacts).where(contacts.c.account_id.in_(wanted)))).mappings()
        return {row["account_id"]: _preferences(row) for row in rows}

    async def save(self, account_id: str, preferences: Preferences, now: datetime) -> None:
        hours = preferences.quiet_hours
        values = {
            "email": preferences.email, "phone": preferences.phone,
            "quiet_start": hours.start.strftime("%H:%M") if hours else None,
            "quiet_end": hours.end.strftime("%H:%M") if hours else None,
            "channels": {kind.value: sorted(c.value for c in chosen) for kind, chosen in preferences.channels.items()},
            "updated_at": now,
        }
        result = await self._connection.execute(
            update(contacts).where(contacts.c.account_id == account_id).values(**values))
        if not result.rowcount:
            await self._connection.execute(contacts.insert().values(account_id=account_id, **values))


def _preferences(row: Any) -> Preferences:
    hours = None
    if row["quiet_start"] and row["quiet_end"]:
        hours = QuietHours(time.fromisoformat(row["quiet_start"]), time.fromisoformat(row["quiet_end"]))
    channels = {NotificationKind(kind): frozenset(Channel(c) for c in chosen)
                for kind, chosen in (row["channels"] or {}).items() if kind in NotificationKind.__members__.values()}
    return Preferences(row["email"], row["phone"], hours, channels)


class EndpointRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, organisation_id: str, channel: Channel, label: str, url: str, secret: str,
                  kinds: Iterable[NotificationKind], now: datetime) -> Endpoint:
        result = await self._connection.execute(endpoints.insert().values(
            organisation_id=organisation_id, channel=channel.value, label=label, url=url, secret=secret,
            kinds=sorted(kind.value for kind in kinds), enabled=True, created_at=now))
        found = await self.get(int(result.inserted_primary_key[0]))  # type: ignore[index]
        assert found is not None
        return found

    async def get(self, endpoint_id: int) -> Endpoint | None:
        row = (await self._connection.execute(
            select(endpoints).where(endpoints.c.endpoint_id == endpoint_id))).mappings().first()
        return None if row is None else _endpoint(row)

    async def of(self, organisation_ids: Iterable[str]) -> list[Endpoint]:
        wanted = sorted(set(organisation_ids))
        if not wanted:
            return []
        rows = (await self._connection.execute(select(endpoints).where(
            endpoints.c.organisation_id.in_(wanted)).order_by(endpoints.c.endpoint_id))).mappings()
        return [_endpoint(row) for row in rows]

    async def change(self, endpoint_id: int, *, enabled: bool | None = None, label: str | None = None,
                     kinds: Iterable[NotificationKind] | None = None) -> None:
        """Change what is given (None: left as it is); ``kinds`` replaces the kinds it receives (empty: all), kept
        as :meth:`add` keeps them."""
        values: dict[str, Any] = {}
        if enabled is not None:
            values["enabled"] = enabled
        if label is not None:
            values["label"] = label
        if kinds is not None:
            values["kinds"] = sorted({kind.value for kind in kinds})
        if values:
            await self._connection.execute(
                update(endpoints).where(endpoints.c.endpoint_id == endpoint_id).values(**values))

    async def delete(self, endpoint_id: int) -> None:
        await self._connection.execute(endpoints.delete().where(endpoints.c.endpoint_id == endpoint_id))


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(row["endpoint_id"], row["organisation_id"], Channel(row["channel"]), row["label"], row["url"],
                    row["secret"], frozenset(NotificationKind(kind) for kind in row["kinds"]), bool(row["enabled"]),
                    row["created_at"])
