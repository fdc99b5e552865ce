"""Who may open which door when: access groups, credentials, each gate's effective whitelist and the door decision.

A resident belongs to access groups; a group opens a set of doors during weekly windows (local Asia/Shanghai time,
which has had no DST since 1991) within an optional validity period. A credential (card, PIN, face template, static
QR) is known here only by a keyed hash of its raw value, so neither the platform's database nor a gate's whitelist
holds card numbers or PINs.

The whitelist of a gate is computed, never edited: it follows from credentials, residents and groups, has a
deterministic order, and a content hash that the sync (`whitelist_sync`) versions. Validity periods are half-open:
a credential valid from 08:00 to 18:00 opens at 08:00:00 and no longer at 18:00:00.

Nothing here reads a clock: the caller passes `at`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from devices.gate_commands import presented_credential_hash

# the gate's own answer, which the platform predicts: re-exported as part of this module's model
from devices.gate_memory import Decision as Decision
from devices.gate_memory import Denied as Denied
from devices.gate_memory import Granted as Granted
from devices.gate_memory import decide_entry

SHANGHAI = ZoneInfo("Asia/Shanghai")

JsonObject = dict[str, Any]


class CredentialKind(StrEnum):
    CARD = "card"
    PIN = "pin"
    FACE = "face"
    QR = "qr"


def credential_hash(kind: CredentialKind, raw_value: str, site_key: bytes) -> str:
    """The keyed hash (HMAC-SHA256, hex) a gate compares against; the raw value is never stored.

    Keyed rather than a bare SHA-256 because a six-digit PIN or a card number has so little entropy that an unkeyed
    hash is reversed by trying every value. Gates hold the site key to hash what they read.
    """
    # the gates compute the very same thing (the wire contract's function), so they can never disagree
    return presented_credential_hash(kind.value, raw_value, site_key)


@dataclass(frozen=True, order=True)
class Door:
    """Door `number` (1..1024, as in GateEvent.door) of the gate controller `gate_id`."""

    gate_id: str
    number: int

    def __post_init__(self) -> None:
        if not self.gate_id:
            raise ValueError("a door needs a gate id")
        if isinstance(self.number, bool) or not 1 <= self.number <= 1024:
            raise ValueError(f"door number must be 1..1024, not {self.number!r}")


@dataclass(frozen=True)
class WeeklyWindow:
    """Opening hours on some weekdays (0 = Monday), local Shanghai time, start inclusive, end exclusive.

    When `end` is not after `start` the window crosses midnight: Fri 22:00–02:00 runs into Saturday morning, and
    start == end is 24 hours from `start`. The days are the days on which a window *starts*.
    """

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError("days must be a non-empty set of weekdays 0 (Monday) .. 6 (Sunday)")
        for moment in (self.start, self.end):
            if moment.tzinfo is not None:
                raise ValueError("window times are local wall-clock times without a timezone")

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def contains(self, at: datetime) -> bool:
        """Whether the aware moment `at` falls in this window (evaluated in Asia/Shanghai)."""
        _require_aware(at, "at")
        local = at.astimezone(SHANGHAI)
        clock = local.time().replace(tzinfo=None)
        weekday = local.weekday()
        if not self.crosses_midnight:
            return weekday in self.days and self.start <= clock < self.end
        return (weekday in self.days and clock >= self.start) or ((weekday - 1) % 7 in self.days and clock < self.end)

    def to_payload(self) -> JsonObject:
        return {"days": sorted(self.days), "start": self.start.isoformat(), "end": self.end.isoformat()}


ALWAYS = WeeklyWindow(frozenset(range(7)), time(0), time(0))
"""Every day, around the clock."""


@dataclass(frozen=True)
class AccessGroup:
    """Doors opened together on a schedule, e.g. "1栋 residents": the building's doors, Mon–Sun 06:00–23:00."""

    group_id: str
    doors: frozenset[Door]
    windows: tuple[WeeklyWindow, ...] = (ALWAYS,)
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def __post_init__(self) -> None:
        _check_period(self.valid_from, self.valid_to, f"group {self.group_id!r}")
        if not self.windows:
            raise ValueError(f"group {self.group_id!r} has no time window (use ALWAYS for around the clock)")


@dataclass(frozen=True)
class Credential:
    """Something a resident presents at a door, known only by `value_hash` (see :func:`credential_hash`)."""

    credential_id: str
    kind: CredentialKind
    value_hash: str
    holder_id: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    revoked: bool = False

    def __post_init__(self) -> None:
        _check_period(self.valid_from, self.valid_to, f"credential {self.credential_id!r}")
        if len(self.value_hash) != 64 or any(c not in "0123456789abcdef" for c in self.value_hash):
            raise ValueError(f"credential {self.credential_id!r} must carry a lowercase hex SHA-256 hash, not a value")


@dataclass(frozen=True)
class Resident:
    """A resident and the access groups they belong to."""

    resident_id: str
    group_ids: frozenset[str]


@dataclass(frozen=True)
class Grant:
    """What one access group lets a credential do on one gate."""

    group_id: str
    doors: tuple[int, ...]
    windows: tuple[WeeklyWindow, ...]
    valid_from: datetime | None
    valid_to: datetime | None

    def to_payload(self) -> JsonObject:
        return {
            "group": self.group_id,
            "doors": list(self.doors),
            "windows": [window.to_payload() for window in self.windows],
            "valid_from": _iso(self.valid_from),
            "valid_to": _iso(self.valid_to),
        }


@dataclass(frozen=True)
class WhitelistEntry:
    """One credential on a gate: its own validity and the union of its holder's groups on this gate."""

    credential_hash: str
    kind: CredentialKind
    valid_from: datetime | None
    valid_to: datetime | None
    grants: tuple[Grant, ...]

    @property
    def doors(self) -> frozenset[int]:
        return frozenset(door for grant in self.grants for door in grant.doors)

    def to_payload(self) -> JsonObject:
        return {
            "hash": self.credential_hash,
            "kind": self.kind.value,
            "valid_from": _iso(self.valid_from),
            "valid_to": _iso(self.valid_to),
            "grants": [grant.to_payload() for grant in self.grants],
        }


@dataclass(frozen=True)
class Whitelist:
    """A gate's effective whitelist: entries sorted by hash, and the revoked hashes it must refuse as blacklisted."""

    gate_id: str
    entries: tuple[WhitelistEntry, ...]
    blacklist: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        hashes = [entry.credential_hash for entry in self.entries]
        if hashes != sorted(set(hashes)):
            raise ValueError("whitelist entries must be unique and sorted by credential hash")
        if list(self.blacklist) != sorted(set(self.blacklist)) or set(self.blacklist) & set(hashes):
            raise ValueError("the blacklist must be sorted, unique and disjoint from the entries")

    @cached_property
    def by_hash(self) -> Mapping[str, WhitelistEntry]:
        return MappingProxyType({entry.credential_hash: entry for entry in self.entries})

    def to_payload(self) -> JsonObject:
        """The JSON-ready form sent to the gate in a ``sync_whitelist`` command."""
        return {
            "gate": self.gate_id,
            "entries": [entry.to_payload() for entry in self.entries],
            "blacklist": list(self.blacklist),
        }

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON payload: equal whitelists hash equal, any change changes it."""
        canonical = json.dumps(self.to_payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def effective_whitelist(
    gate_id: str,
    credentials: Iterable[Credential],
    residents: Iterable[Resident],
    groups: Iterable[AccessGroup],
    *,
    as_of: datetime | None = None,
) -> Whitelist:
    """The whitelist gate `gate_id` should hold.

    A credential is listed when its holder is a known resident in at least one group with a door on this gate;
    groups without a door here add nothing. A revoked credential that would otherwise be listed goes to the
    blacklist instead (unless an active credential carries the same hash: the card was re-enrolled). Credentials of
    unknown residents (moved out) are dropped. With `as_of`, entries whose validity ended by then are left out to
    keep the list short; without it the result does not depend on time at all.

    Raises ValueError when two active credentials share a hash or a resident names an unknown group.
    """
    if as_of is not None:
        _require_aware(as_of, "as_of")
    groups_by_id = {group.group_id: group for group in groups}
    grants_of: dict[str, tuple[Grant, ...]] = {}
    for resident in residents:
        grants: list[Grant] = []
        for group_id in sorted(resident.group_ids):
            group = groups_by_id.get(group_id)
            if group is None:
                raise ValueError(f"resident {resident.resident_id!r} is in unknown group {group_id!r}")
            doors = tuple(sorted(door.number for door in group.doors if door.gate_id == gate_id))
            if doors:
                grants.append(Grant(group_id, doors, group.windows, group.valid_from, group.valid_to))
        if grants:
            grants_of[resident.resident_id] = tuple(grants)

    entries: dict[str, WhitelistEntry] = {}
    owners: dict[str, str] = {}
    revoked: set[str] = set()
    for credential in credentials:
        grants_here = grants_of.get(credential.holder_id)
        if grants_here is None:
            continue
        if credential.revoked:
            revoked.add(credential.value_hash)
            continue
        if credential.value_hash in entries:
            raise ValueError(
                f"credentials {owners[credential.value_hash]!r} and {credential.credential_id!r} share a hash"
            )
        if as_of is not None and credential.valid_to is not None and credential.valid_to <= as_of:
            continue
        owners[credential.value_hash] = credential.credential_id
        entries[credential.value_hash] = WhitelistEntry(
            credential.value_hash, credential.kind, credential.valid_from, credential.valid_to, grants_here
        )
    return Whitelist(
        gate_id,
        tuple(entries[key] for key in sorted(entries)),
        tuple(sorted(revoked - entries.keys())),
    )


def decide(whitelist: Whitelist, credential_hash: str, door: int, at: datetime) -> Decision:
    """What the gate will do when `credential_hash` is presented at `door` at the aware moment `at` (the gate's own
    decision, `devices.gate_memory.decide_entry`, on the platform's list).

    Checked in this order: blacklisted (revoked), unknown credential, the credential's own validity (expired — also
    before it starts, the contract has no separate reason), no group opening this door, no such group valid at
    `at` (expired), none in its weekly window (outside schedule).
    """
    _require_aware(at, "at")
    return decide_entry(credential_hash in whitelist.blacklist, whitelist.by_hash.get(credential_hash), door, at,
                        _group_open_at)


def _group_open_at(grant: Grant, at: datetime) -> str | None:
    return grant.group_id if any(window.contains(at) for window in grant.windows) else None


def _check_period(valid_from: datetime | None, valid_to: datetime | None, what: str) -> None:
    if valid_from is not None:
        _require_aware(valid_from, f"valid_from of {what}")
    if valid_to is not None:
        _require_aware(valid_to, f"valid_to of {what}")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise ValueError(f"{what} must end after it starts")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
