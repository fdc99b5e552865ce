"""Bringing each gate's whitelist to the platform's current version: a sans-I/O state machine per gate.

The platform numbers the whitelists it wants on a gate (:class:`WhitelistVersion`: a monotonically increasing number
and the content hash). The gate's state here remembers the last version the gate acknowledged and the plan in flight.
Feeding it a new desired whitelist, acks, availability changes and the passing of time yields ``Command``-compatible
dicts (``devices.contract.Command``) to publish on the gate's ``cmd`` topic:

* ``sync_whitelist`` — the full list — when the gate's version is unknown or too old, the delta is large, or the gate
  may hold a half-applied change (a failed or superseded command that was already sent);
* otherwise ``upsert_credentials`` / ``revoke_credentials``, the delta from the last acknowledged whitelist.

A version is acknowledged only when every command of its plan was acked ok. Command ids are derived from the gate,
the versions and the operation, so a retry re-sends the very same command and a gate can drop duplicates.

Gate-side semantics the commands assume: ``sync_whitelist`` replaces entries and blacklist; ``upsert_credentials``
adds or replaces entries by hash (and takes the hash off the blacklist); ``revoke_credentials`` removes the listed
hashes and blacklists those in ``blacklist``. Every command carries the ``version`` and ``content_hash`` the gate
holds once the whole plan is applied.

Nothing here reads a clock: the caller passes `now`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from fractions import Fraction
from typing import Literal

from community.access.permissions import JsonObject, Whitelist

SYNC_WHITELIST = "sync_whitelist"
UPSERT_CREDENTIALS = "upsert_credentials"
REVOKE_CREDENTIALS = "revoke_credentials"


@dataclass(frozen=True, order=True)
class WhitelistVersion:
    number: int
    content_hash: str

    def __post_init__(self) -> None:
        if isinstance(self.number, bool) or self.number < 1:
            raise ValueError(f"a whitelist version is a positive integer, not {self.number!r}")


@dataclass(frozen=True)
class SyncPolicy:
    """When to send the full list instead of a delta, and how patiently to retry."""

    retry_after: timedelta = timedelta(seconds=30)
    max_retry_interval: timedelta = timedelta(minutes=10)
    max_delta_entries: int = 500
    """A delta touching more credentials than this is sent as a full list."""
    max_delta_fraction: Fraction = Fraction(1, 2)
    """A delta touching more than this share of the desired list is sent as a full list."""
    max_version_gap: int = 1000
    """A gate this many versions behind gets the full list, whatever the delta."""


DEFAULT_POLICY = SyncPolicy()


class HeldNothing(Enum):
    """A gate's report that it holds no whitelist at all (reset, replaced, or never synced)."""

    HOLDS_NOTHING = "holds_nothing"


HOLDS_NOTHING = HeldNothing.HOLDS_NOTHING
Reported = WhitelistVersion | Literal[HeldNothing.HOLDS_NOTHING]
"""What a gate's ``state`` says it holds: a version, or nothing."""


@dataclass(frozen=True)
class VersionedWhitelist:
    version: WhitelistVersion
    whitelist: Whitelist


@dataclass(frozen=True)
class PendingPlan:
    """The commands that bring the gate to `target`; `acked_ids` of them were acked ok."""

    target: VersionedWhitelist
    commands: tuple[JsonObject, ...]
    acked_ids: frozenset[str]
    attempts: int
    next_attempt_at: datetime

    @property
    def cmd_ids(self) -> frozenset[str]:
        return frozenset(str(command["cmd_id"]) for command in self.commands)

    @property
    def unacked(self) -> tuple[JsonObject, ...]:
        return tuple(command for command in self.commands if command["cmd_id"] not in self.acked_ids)


@dataclass(frozen=True)
class GateSyncState:
    """What the platform knows about one gate's whitelist.

    `uncertain` means the gate may hold a change beyond `acked` (a command was sent but failed or was superseded),
    so only a full list can make its content known again.
    """

    gate_id: str
    online: bool = False
    acked: VersionedWhitelist | None = None
    desired: VersionedWhitelist | None = None
    pending: PendingPlan | None = None
    uncertain: bool = False

    @property
    def in_sync(self) -> bool:
        return self.desired is not None and self.acked is not None and self.acked.version == self.desired.version


@dataclass(frozen=True)
class SyncStep:
    """The gate's next state and the commands to publish now (possibly none)."""

    state: GateSyncState
    commands: tuple[JsonObject, ...] = ()


def plan_sync(
    desired: Whitelist,
    desired_version: int,
    state: GateSyncState,
    now: datetime,
    policy: SyncPolicy = DEFAULT_POLICY,
) -> SyncStep:
    """Make `desired` (as version `desired_version`) the gate's target and, if the gate is online, plan and send.

    Versions only go up: an older number, or the same number with different content, raises ValueError; the same
    version again changes nothing. A plan still in flight is superseded.
    """
    if desired.gate_id != state.gate_id:
        raise ValueError(f"whitelist of gate {desired.gate_id!r} planned for gate {state.gate_id!r}")
    target = VersionedWhitelist(WhitelistVersion(desired_version, desired.content_hash), desired)
    if state.desired is not None:
        if desired_version < state.desired.version.number:
            raise ValueError(f"version {desired_version} is older than the planned {state.desired.version.number}")
        if desired_version == state.desired.version.number:
            if target.version != state.desired.version:
                raise ValueError(f"version {desired_version} was already planned with different content")
            return SyncStep(state)
    state = _abandon_pending(replace(state, desired=target))
    if not state.online:
        return SyncStep(state)
    return _send_plan(state, now, policy)


def on_ack(state: GateSyncState, cmd_id: str, ok: bool, now: datetime, policy: SyncPolicy = DEFAULT_POLICY) -> SyncStep:
    """Record the gate's answer to `cmd_id`. Acks for commands not in flight (late, duplicate) are ignored.

    The acked version advances only when every command of the plan was acked ok. A failed command leaves the gate
    uncertain; a full list is sent at the next retry.
    """
    pending = state.pending
    if pending is None or cmd_id not in pending.cmd_ids:
        return SyncStep(state)
    if not ok:
        state = replace(state, uncertain=True, pending=None)
        full = _plan(state, pending.target, now, policy)
        return SyncStep(replace(state, pending=replace(full, attempts=1, next_attempt_at=now + policy.retry_after)))
    acked_ids = pending.acked_ids | {cmd_id}
    if acked_ids == pending.cmd_ids:
        return SyncStep(replace(state, acked=pending.target, pending=None, uncertain=False))
    return SyncStep(replace(state, pending=replace(pending, acked_ids=acked_ids)))


def on_state(
    state: GateSyncState,
    online: bool,
    now: datetime,
    reported: Reported | None = None,
    policy: SyncPolicy = DEFAULT_POLICY,
) -> SyncStep:
    """The gate's availability (retained ``state``, or its last will), and what it says it holds.

    A gate coming online is brought to the desired version at once. `reported` is the version the gate says it holds
    (or that it holds nothing), if its state message carries one, and it is compared on every state, not only when
    the gate comes back: a controller that rebooted with an empty or older list while the platform never saw it go
    offline says so in its next state. The target of the plan in flight counts as acked (the acks were lost);
    anything other than the acked version makes the gate's content unknown, and an online gate then gets the full
    list at once. None means the state carries no report (older firmware): nothing is assumed.
    """
    came_online = online and not state.online
    state = replace(state, online=online)
    diverged = False
    if reported is not None:
        held = None if reported is HOLDS_NOTHING else reported
        pending = state.pending
        acked = state.acked.version if state.acked is not None else None
        if pending is not None and held == pending.target.version:
            state = replace(state, acked=pending.target, pending=None, uncertain=False)
        elif held != acked:
            diverged = True
            state = replace(state, acked=None)
    if not (came_online or (online and diverged)) or state.desired is None or state.in_sync:
        return SyncStep(state)
    state = _abandon_pending(state)
    # after a report that contradicts its acks, the gate's memory of command ids cannot be trusted either: a new id,
    # so a gate that still remembers the same full list's id applies it again instead of repeating its old ack
    return _send_plan(state, now, policy, fresh_id=diverged)


def due_retries(state: GateSyncState, now: datetime, policy: SyncPolicy = DEFAULT_POLICY) -> SyncStep:
    """The commands of the plan in flight that are unacked and due again (same ids), with exponential backoff."""
    pending = state.pending
    if not state.online or pending is None or now < pending.next_attempt_at:
        return SyncStep(state)
    backoff = min(policy.retry_after * 2 ** min(pending.attempts, 30), policy.max_retry_interval)
    pending = replace(pending, attempts=pending.attempts + 1, next_attempt_at=now + backoff)
    return SyncStep(replace(state, pending=pending), pending.unacked)


def command_id(gate_id: str, op: str, version: WhitelistVersion, base: WhitelistVersion | None, salt: str = "") -> str:
    """Deterministic id: the same gate, operation and versions give the same id, so retries are idempotent. A
    `salt` (the moment a resync was decided) makes a new id for the same content, when the old one must not count."""
    basis = f"{gate_id}\x00{op}\x00{version.number}\x00{version.content_hash}\x00{base.number if base else ''}"
    if salt:
        basis += f"\x00{salt}"
    return f"{op}-v{version.number}-{hashlib.sha256(basis.encode()).hexdigest()[:16]}"


def _abandon_pending(state: GateSyncState) -> GateSyncState:
    """Drop the plan in flight; if any of it was sent, the gate may hold part of it."""
    if state.pending is None:
        return state
    return replace(state, pending=None, uncertain=state.uncertain or state.pending.attempts > 0)


def _send_plan(state: GateSyncState, now: datetime, policy: SyncPolicy, *, fresh_id: bool = False) -> SyncStep:
    assert state.desired is not None
    if state.in_sync:
        return SyncStep(state)
    plan = _plan(state, state.desired, now, policy, salt=now.isoformat() if fresh_id else "")
    plan = replace(plan, attempts=1, next_attempt_at=now + policy.retry_after)
    return SyncStep(replace(state, pending=plan), plan.commands)


def _plan(
    state: GateSyncState, target: VersionedWhitelist, now: datetime, policy: SyncPolicy, salt: str = ""
) -> PendingPlan:
    commands = _delta_commands(state, target, now, policy)
    if commands is None:
        whole = {"whitelist": target.whitelist.to_payload()}
        commands = (_command(state.gate_id, SYNC_WHITELIST, target, None, now, whole, salt),)
    return PendingPlan(target, commands, frozenset(), attempts=0, next_attempt_at=now)


def _delta_commands(
    state: GateSyncState, target: VersionedWhitelist, now: datetime, policy: SyncPolicy
) -> tuple[JsonObject, ...] | None:
    """The upsert/revoke commands from the acked whitelist to `target`, or None when only a full list will do."""
    base = state.acked
    if base is None or state.uncertain or target.version.number - base.version.number > policy.max_version_gap:
        return None
    old, new = base.whitelist, target.whitelist
    old_payloads = {entry.credential_hash: entry.to_payload() for entry in old.entries}
    upserts = [
        entry.to_payload() for entry in new.entries if old_payloads.get(entry.credential_hash) != entry.to_payload()
    ]
    newly_blacklisted = sorted(set(new.blacklist) - set(old.blacklist))
    removed = sorted((old_payloads.keys() - new.by_hash.keys()) | set(newly_blacklisted))
    if set(old.blacklist) - set(new.blacklist) - new.by_hash.keys():
        return None  # a hash leaves the blacklist without being re-listed: deltas cannot say "forget"
    changes = len(upserts) + len(removed)
    if changes > policy.max_delta_entries or changes > policy.max_delta_fraction * len(new.entries):
        return None
    commands: list[JsonObject] = []
    if upserts or not removed:  # an empty upsert still moves the gate to the new version number
        commands.append(_command(state.gate_id, UPSERT_CREDENTIALS, target, base.version, now, {"entries": upserts}))
    if removed:
        args: JsonObject = {"credential_hashes": removed, "blacklist": newly_blacklisted}
        commands.append(_command(state.gate_id, REVOKE_CREDENTIALS, target, base.version, now, args))
    return tuple(commands)


def _command(
    gate_id: str,
    op: str,
    target: VersionedWhitelist,
    base: WhitelistVersion | None,
    now: datetime,
    args: JsonObject,
    salt: str = "",
) -> JsonObject:
    header: JsonObject = {"version": target.version.number, "content_hash": target.version.content_hash}
    if base is not None:
        header["base_version"] = base.number
    return {
        "cmd_id": command_id(gate_id, op, target.version, base, salt),
        "op": op,
        "args": header | args,
        "issued_at": now,
    }
