"""Access-control use cases: the directory and permissions, keeping every gate's whitelist in sync, visitor passes,
remote opens, the access log, presence and alarms. Each use case runs in one transaction, lets the domain decide
(permissions, whitelist_sync, visitor_pass, alarms) and stores the outcome; commands go to the gates and items to
the live feed only once the transaction has committed.

Gate uplinks arrive through :meth:`AccessService.handle` (idempotent: events by gate and event id, acks by command
id, availability by value), periodic work through :meth:`AccessService.tick`. One service process per database: the
whitelist sync and the alarm rules keep a little state in memory (restored from the database at start), and writes
are serialised in-process.

`AccessService` (in `access_service`) is the entry point; it hands each call to the module of its use-case group.
"""

from community.access.service.access_service import AccessService
from community.access.service.compound import CompoundWork
from community.access.service.directory import CommunityImport, CredentialEnrolment
from community.access.service.errors import (
    UNSTORABLE_VALUE,
    AccessError,
    Conflict,
    NotAllowed,
    NotFound,
    Refused,
    not_found,
)
from community.access.service.retention import Purged
from community.access.service.settings import AccessKeys, AccessSettings
from community.access.service.visitors import IssuedPass
from community.access.service.whitelists import GateStatus

__all__ = [
    "UNSTORABLE_VALUE",
    "AccessError",
    "AccessKeys",
    "AccessService",
    "AccessSettings",
    "CommunityImport",
    "CompoundWork",
    "Conflict",
    "CredentialEnrolment",
    "GateStatus",
    "IssuedPass",
    "NotAllowed",
    "NotFound",
    "Purged",
    "Refused",
    "not_found",
]
