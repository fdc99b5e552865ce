"""Each gate's whitelist sync state, and the whitelist versions it refers to: a version is stored once
with its content and checked against its content hash when read back; versions no state refers to any more are
pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from community.access.permissions import CredentialKind, Grant, WeeklyWindow, Whitelist, WhitelistEntry
from community.access.storage.tables import gate_sync, whitelist_versions
from community.access.whitelist_sync import GateSyncState, PendingPlan, VersionedWhitelist, WhitelistVersion
from devices.gate_commands import WhitelistArgs


class SyncRepository:
    """Each gate's whitelist sync state, and the whitelist versions it refers to (others are pruned)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def load(self, gate_id: str, *, for_update: bool = False) -> GateSyncState | None:
        query = select(gate_sync).where(gate_sync.c.gate_id == gate_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).mappings().first()
        if row is None:
            return None
        wanted = {row["acked_version"], row["desired_version"]}
        if row["pending"] is not None:
            wanted.add(row["pending"]["target_version"])
        versions = await self._versions(gate_id, {number for number in wanted if number is not None})
        pending = None
        if row["pending"] is not None:
            plan = row["pending"]
            pending = PendingPlan(
                versions[plan["target_version"]],
                tuple(_command_from_json(command) for command in plan["commands"]),
                frozenset(plan["acked_ids"]), plan["attempts"], datetime.fromisoformat(plan["next_attempt_at"]))
        return GateSyncState(
            gate_id, online=row["online"], acked=versions.get(row["acked_version"]),
            desired=versions.get(row["desired_version"]), pending=pending, uncertain=row["uncertain"])

    async def save(self, state: GateSyncState, changed_at: datetime | None = None) -> None:
        """Store the state; `changed_at` when the gate's availability changed."""
        for versioned in (state.acked, state.desired, state.pending.target if state.pending else None):
            if versioned is not None:
                await self._keep_version(state.gate_id, versioned)
        values: dict[str, Any] = {
            "online": state.online, "uncertain": state.uncertain,
            "acked_version": state.acked.version.number if state.acked else None,
            "desired_version": state.desired.version.number if state.desired else None,
            "pending": None if state.pending is None else _plan_to_json(state.pending),
            "retry_at": None if state.pending is None else state.pending.next_attempt_at,
        }
        if changed_at is not None:
            values["state_at"] = changed_at
        await self._connection.execute(update(gate_sync).where(gate_sync.c.gate_id == state.gate_id).values(**values))
        kept = {v.version.number for v in (state.acked, state.desired, state.pending.target if state.pending else None)
                if v is not None}
        await self._connection.execute(delete(whitelist_versions).where(
            whitelist_versions.c.gate_id == state.gate_id, whitelist_versions.c.version.not_in(kept)))

    async def availability(self) -> dict[str, tuple[bool, datetime | None]]:
        """Every gate's (online, since when), to restore the offline alarms' clocks after a restart. A gate never
        heard from is offline since its registration (None for gates registered before that was recorded)."""
        rows = await self._connection.execute(select(gate_sync.c.gate_id, gate_sync.c.online, gate_sync.c.state_at))
        return {gate_id: (online, since) for gate_id, online, since in rows}

    async def due(self, now: datetime) -> list[str]:
        """Gates online with a plan in flight that is due to be sent again by `now`."""
        return list((await self._connection.execute(
            select(gate_sync.c.gate_id).where(gate_sync.c.online.is_(True), gate_sync.c.retry_at <= now)
            .order_by(gate_sync.c.gate_id))).scalars())

    async def _versions(self, gate_id: str, numbers: set[int]) -> dict[int, VersionedWhitelist]:
        if not numbers:
            return {}
        rows = await self._connection.execute(select(whitelist_versions).where(
            whitelist_versions.c.gate_id == gate_id, whitelist_versions.c.version.in_(sorted(numbers))))
        found = {}
        for row in rows.mappings():
            whitelist = whitelist_from_payload(row["payload"])
            if whitelist.content_hash != row["content_hash"]:
                raise ValueError(f"stored whitelist {gate_id} v{row['version']} does not match its content hash")
            found[row["version"]] = VersionedWhitelist(WhitelistVersion(row["version"], row["content_hash"]),
                                                       whitelist)
        return found

    async def _keep_version(self, gate_id: str, versioned: VersionedWhitelist) -> None:
        exists = (await self._connection.execute(select(whitelist_versions.c.content_hash).where(
            whitelist_versions.c.gate_id == gate_id,
            whitelist_versions.c.version == versioned.version.number))).scalar()
        if exists is None:
            await self._connection.execute(whitelist_versions.insert().values(
                gate_id=gate_id, version=versioned.version.number, content_hash=versioned.version.content_hash,
                payload=versioned.whitelist.to_payload()))
        elif exists != versioned.version.content_hash:
            raise ValueError(f"whitelist {gate_id} v{versioned.version.number} was stored with other content")


def whitelist_from_payload(payload: Mapping[str, Any]) -> Whitelist:
    """The domain whitelist from its ``sync_whitelist`` payload (validated by the gate contract)."""
    wire = WhitelistArgs.model_validate(payload)
    return Whitelist(
        wire.gate,
        tuple(WhitelistEntry(
            entry.hash, CredentialKind(entry.kind.value), entry.valid_from, entry.valid_to,
            tuple(Grant(grant.group, tuple(grant.doors),
                        tuple(WeeklyWindow(frozenset(w.days), w.start, w.end) for w in grant.windows),
                        grant.valid_from, grant.valid_to) for grant in entry.grants))
            for entry in wire.entries),
        tuple(wire.blacklist),
    )


def _plan_to_json(plan: PendingPlan) -> dict[str, Any]:
    return {
        "target_version": plan.target.version.number,
        "commands": [{**command, "issued_at": command["issued_at"].isoformat()} for command in plan.commands],
        "acked_ids": sorted(plan.acked_ids),
        "attempts": plan.attempts,
        "next_attempt_at": plan.next_attempt_at.isoformat(),
    }


def _command_from_json(command: dict[str, Any]) -> dict[str, Any]:
    return {**command, "issued_at": datetime.fromisoformat(command["issued_at"])}
