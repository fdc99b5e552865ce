"""One transaction of the access use cases, and the outbox around it: `UnitOfWork.work` runs the transaction and
collects in a `Work` what it produced — commands for the gates, items for the live feed, the communities whose
whitelists must be recomputed. The recomputation runs inside the transaction, before the commit; the commands go to
the gates and the items to the feed only once it has committed, so nothing leaves for a change that was rolled back.

One service process per database: writes are serialised in-process by one lock, and the in-memory state the alarm
rules keep is restored from the database before the first transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from community.access.live_feed import FeedItem, LiveFeed
from community.access.service.errors import UNSTORABLE_VALUE, Refused
from community.access.storage import is_data_error
from devices.contract import Command
from devices.topics import DeviceKind
from messaging.downlink import Downlink, DownlinkUnavailable

log = logging.getLogger(__name__)


@dataclass
class Work:
    """One transaction's connection and what to do once it has committed."""

    connection: AsyncConnection
    now: datetime
    commands: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    feed: list[FeedItem] = field(default_factory=list)
    resync: set[str] = field(default_factory=set)

    def send(self, site: str, gate_id: str, commands: Iterable[dict[str, Any]]) -> None:
        self.commands.extend((site, gate_id, command) for command in commands)


Restore = Callable[[AsyncConnection, datetime], Awaitable[None]]
"""Reads back, once before the first transaction, the state kept in memory (the alarm rules')."""

Resync = Callable[[Work, str], Awaitable[None]]
"""Recomputes the whitelists of a community's gates within the transaction, planning what each gate needs."""


class UnitOfWork:
    """The engine, the downlink the commands leave by and the feed the items are published to."""

    def __init__(self, engine: AsyncEngine, downlink: Downlink, clock: Callable[[], datetime], feed: LiveFeed, *,
                 restore: Restore, resync: Resync) -> None:
        self._engine = engine
        self._downlink = downlink
        self._clock = clock
        self._feed = feed
        self._restore = restore
        self._resync = resync
        self._lock = asyncio.Lock()
        self._restored = False

    def connect(self) -> AsyncConnection:
        """A connection for reads: not serialised with the writes, nothing sent after it."""
        return self._engine.connect()

    @contextlib.asynccontextmanager
    async def work(self, now: datetime | None = None) -> AsyncIterator[Work]:
        """One serialised transaction; its commands are sent and its feed items published after the commit."""
        async with self._lock:
            now = now or self._clock()
            if not self._restored:
                async with self._engine.connect() as connection:
                    await self._restore(connection, now)
                self._restored = True
            try:
                async with self._engine.begin() as connection:
                    work = Work(connection, now)
                    yield work
                    for community_id in sorted(work.resync):
                        await self._resync(work, community_id)
            except DBAPIError as failed:
                if not is_data_error(failed):
                    raise
                # bad input that slipped past validation: refused, and without the SQL text (it holds the values)
                log.warning("a value the database cannot store was refused",
                            extra={"error": type(failed.orig).__name__})
                raise Refused(UNSTORABLE_VALUE) from None
        for item in work.feed:
            self._feed.publish(item)
        for site, gate_id, command in work.commands:
            try:
                await self._downlink.send(site, DeviceKind.GATE, gate_id, Command.model_validate(command))
            except DownlinkUnavailable as unavailable:
                # the plan stays pending: tick() sends it again when it is due
                log.warning("whitelist command not sent",
                            extra={"gate": gate_id, "cmd_id": command["cmd_id"], "error": str(unavailable)})
