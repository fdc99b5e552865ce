"""Storage of the access context (SQLAlchemy Core, async), one repository per aggregate over the tables of
`tables`; the domain stays plain dataclasses and is converted in each repository's module, at the edge.

* `tables` — the tables and their `metadata` (mirroring community/migrations/versions/0004_access.py);
* `directory` — communities, buildings, units, residents, credentials, gates and doors, access groups;
* `gate_sync` — each gate's whitelist sync state and the whitelist versions it refers to;
* `visitors` — visitor passes, their uses and revocations;
* `access_log` — the access log and presence;
* `alarms` — alarms as raised and handled;
* `remote_opens` — the remote-open audit;
* `database_errors` — telling a value the database cannot store, or a key that exists, from a failure.
"""

from community.access.storage.access_log import AccessLogRepository
from community.access.storage.alarms import AlarmRepository
from community.access.storage.database_errors import is_conflict, is_data_error
from community.access.storage.directory import DirectoryRepository
from community.access.storage.gate_sync import SyncRepository, whitelist_from_payload
from community.access.storage.remote_opens import RemoteOpenRepository
from community.access.storage.visitors import VisitorRepository

__all__ = [
    "AccessLogRepository",
    "AlarmRepository",
    "DirectoryRepository",
    "RemoteOpenRepository",
    "SyncRepository",
    "VisitorRepository",
    "is_conflict",
    "is_data_error",
    "whitelist_from_payload",
]
