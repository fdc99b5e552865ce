"""Visitor passes: a resident invites a visitor to doors they may open themself, and the visitor gets a signed pass
(its QR text) the gates verify offline; passes are listed and revoked, a revoked pass blacklisted on the gates of
its doors until it would have expired. Signing and its rules are the domain's (`community.access.visitor_pass`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from community.access.directory import ResidentStatus
from community.access.permissions import Door
from community.access.service.directory import existing_resident
from community.access.service.errors import Conflict, NotAllowed, NotFound, Refused
from community.access.service.settings import AccessKeys, AccessSettings
from community.access.service.unit_of_work import UnitOfWork
from community.access.storage import DirectoryRepository, VisitorRepository
from community.access.visitor_pass import VisitorPass, issue
from community.access.visitors import PassStatus, VisitorPassRecord, pass_credential_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedPass:
    record: VisitorPassRecord
    text: str  # what the QR code holds


class VisitorPasses:
    def __init__(self, uow: UnitOfWork, keys: AccessKeys, settings: AccessSettings) -> None:
        self._uow = uow
        self._keys = keys
        self._settings = settings

    async def invite(
        self,
        resident_id: str,
        doors: frozenset[Door],
        *,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        max_uses: int | None = None,
        visitor_name: str | None = None,
        visitor_phone: str | None = None,
    ) -> IssuedPass:
        """A signed pass for a visitor, for doors the inviting resident may open themself."""
        async with self._uow.work() as work:
            directory = DirectoryRepository(work.connection)
            resident, community_id = await existing_resident(directory, resident_id)
            if resident.status is not ResidentStatus.ACTIVE:
                raise NotAllowed(f"resident {resident_id!r} is {resident.status.value} and cannot invite")
            groups = {record.group.group_id: record.group for record in await directory.groups(community_id)}
            theirs = {door for group_id in resident.group_ids if group_id in groups for door in groups[group_id].doors}
            if not doors <= theirs:
                outside = ", ".join(f"{door.gate_id}#{door.number}" for door in sorted(doors - theirs))
                raise NotAllowed(f"a resident invites only to doors they may open themself, not {outside}")
            start = (valid_from or work.now).replace(microsecond=0)
            end = (valid_to or start + self._settings.pass_default_validity).replace(microsecond=0)
            pass_id = f"vp-{secrets.token_hex(8)}"
            try:
                visit = VisitorPass(pass_id, resident_id, doors, start, end,
                                    max_uses or self._settings.pass_default_uses, visitor_name)
                text = issue(visit, self._keys.pass_key, max_validity=self._settings.pass_max_validity)
            except ValueError as invalid:
                raise Refused(str(invalid)) from None
            if end <= work.now:
                raise Refused("the pass would be over before it is handed out")
            record = VisitorPassRecord(visit, pass_credential_hash(pass_id, self._keys.site_key), work.now,
                                       visitor_phone)
            await VisitorRepository(work.connection).add(record)
        log.info("visitor pass issued", extra={"pass": pass_id, "resident": resident_id, "doors": len(doors)})
        return IssuedPass(record, text)

    async def visitor_pass(self, pass_id: str) -> tuple[VisitorPassRecord, str]:
        """The pass record and its community."""
        async with self._uow.connect() as connection:
            record = await VisitorRepository(connection).get(pass_id)
            if record is None:
                raise NotFound(f"no visitor pass {pass_id!r}")
            _, community_id = await existing_resident(DirectoryRepository(connection), record.resident_id)
        return record, community_id

    def pass_text(self, record: VisitorPassRecord) -> str:
        """The QR text of a pass (signing is deterministic: the same pass gives the same text)."""
        return issue(record.visitor_pass, self._keys.pass_key, max_validity=self._settings.pass_max_validity)

    async def passes(self, *, community_id: str | None = None, resident_ids: Iterable[str] | None = None,
                     limit: int = 200) -> list[VisitorPassRecord]:
        async with self._uow.connect() as connection:
            return await VisitorRepository(connection).listed(community_id=community_id, resident_ids=resident_ids,
                                                              limit=limit)

    async def revoke_pass(self, pass_id: str, by: str) -> VisitorPassRecord:
        """Revoke a pass; gates whose doors it names blacklist it until it would have expired."""
        async with self._uow.work() as work:
            visitors = VisitorRepository(work.connection)
            record = await visitors.get(pass_id)
            if record is None:
                raise NotFound(f"no visitor pass {pass_id!r}")
            status = record.status(work.now)
            if status in (PassStatus.REVOKED, PassStatus.EXPIRED):
                raise Conflict(f"visitor pass {pass_id!r} is {status.value} already")
            await visitors.revoke(pass_id, work.now, by)
            _, community_id = await existing_resident(DirectoryRepository(work.connection), record.resident_id)
            work.resync.add(community_id)
        return replace(record, revoked_at=work.now, revoked_by=by)
