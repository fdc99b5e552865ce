"""Retention of the access log (PIPL: personal information kept no longer than its purpose needs): every
`purge_every`, within the periodic tick's transaction, what is older than `log_retention` goes — gate events and
presence rows deleted, the visitor's name and phone taken off visitor passes that ended, resolved alarms deleted.
What the gates and the console still need is kept: open alarms, passes still valid, the directory itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from community.access.service.settings import AccessSettings
from community.access.service.unit_of_work import Work
from community.access.storage import AccessLogRepository, AlarmRepository, VisitorRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purged:
    """How many rows a purge removed or cleared, by kind."""

    events: int
    presence: int
    visitor_passes: int
    alarms: int


class Retention:
    def __init__(self, settings: AccessSettings) -> None:
        self._settings = settings
        self._next_purge: datetime | None = None
        if settings.log_retention is None:
            log.warning("the access log is kept forever (SC_ACCESS_LOG_RETENTION_DAYS=0): people's movements and "
                        "visitors' phone numbers accumulate without end; set a retention the purpose justifies")

    async def purge_when_due(self, work: Work) -> Purged | None:
        """Purge what is past the retention, once every `purge_every` (the first time at once); None when it is not
        due or the log is kept forever."""
        retention = self._settings.log_retention
        if retention is None or (self._next_purge is not None and work.now < self._next_purge):
            return None
        self._next_purge = work.now + self._settings.purge_every
        return await self.purge(work, work.now - retention)

    @staticmethod
    async def purge(work: Work, before: datetime) -> Purged:
        """Delete the events, presence rows and resolved alarms older than ``before``; clear the visitor's name and
        phone of passes whose validity ended before it."""
        access_log = AccessLogRepository(work.connection)
        purged = Purged(
            events=await access_log.delete_events_before(before),
            presence=await access_log.delete_presence_before(before),
            visitor_passes=await VisitorRepository(work.connection).forget_visitors_ended_before(before),
            alarms=await AlarmRepository(work.connection).delete_resolved_before(before),
        )
        if any(vars(purged).values()):
            log.info("access log purged", extra={"before": before.isoformat(), **vars(purged)})
        return purged
