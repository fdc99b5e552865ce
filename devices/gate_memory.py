"""What a gate controller holds and how it decides, offline: its whitelist, its blacklist, visitor pass counters.

Pure (no I/O, no clock): :class:`GateMemory` applies the platform's commands (devices/gate_commands.py) and answers,
for a credential presented at a door at a moment, granted or denied with the contract's :class:`DenialReason` — the
same answer, in the same order of checks, as the platform's own model (community/access/permissions.decide; a test
holds the two together). It also verifies a visitor's QR pass with the pass key, as the controller must do offline.

Check order for a credential: blacklisted, unknown credential, the credential's validity (expired — also before it
starts), no grant for this door (no permission), no such grant valid now (expired), none in its weekly window
(outside schedule). Validity periods include their start and exclude their end; weekly windows are Asia/Shanghai
wall-clock time (+08:00, no daylight saving since 1991).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from devices.contract import Command, CommandAck, DenialReason
from devices.gate_commands import (
    CommandArgsError,
    CredentialKind,
    GateCommandError,
    GrantArgs,
    OpenAckResult,
    OpenDoorArgs,
    RevokeCredentialsArgs,
    SyncWhitelistArgs,
    UpsertCredentialsArgs,
    WeeklyWindowArgs,
    WhitelistAckResult,
    WhitelistEntryArgs,
    parse_args,
    presented_credential_hash,
)

CHINA_STANDARD_TIME = timezone(timedelta(hours=8))
PASS_VERSION = "v1"
MAX_PASS_TEXT = 1024
MAX_PASS_DOORS = 16
MAX_VISITOR_NAME = 32
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Granted:
    """The door opens; `group_ids` are the grants that allow it now."""

    group_ids: tuple[str, ...]


@dataclass(frozen=True)
class Denied:
    reason: DenialReason


Decision = Granted | Denied


class PassRefusal(StrEnum):
    """Why the controller refuses a visitor pass (the same reasons as the platform's visitor_pass.verify)."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    WRONG_DOOR = "wrong_door"
    USED_UP = "used_up"


PASS_DENIAL: dict[PassRefusal, DenialReason] = {
    PassRefusal.MALFORMED: DenialReason.UNKNOWN_CREDENTIAL,
    PassRefusal.BAD_SIGNATURE: DenialReason.UNKNOWN_CREDENTIAL,
    PassRefusal.REVOKED: DenialReason.BLACKLISTED,
    PassRefusal.NOT_YET_VALID: DenialReason.EXPIRED,
    PassRefusal.EXPIRED: DenialReason.EXPIRED,
    PassRefusal.WRONG_DOOR: DenialReason.NO_PERMISSION,
    PassRefusal.USED_UP: DenialReason.EXPIRED,
}
"""The denial reason a gate event reports for each pass refusal (the event contract has only these five)."""


@dataclass(frozen=True)
class PassAdmitted:
    """The pass opens the door; this was use number `use` of `max_uses` on this controller."""

    pass_id: str
    use: int
    max_uses: int


@dataclass(frozen=True)
class PassRefused:
    refusal: PassRefusal
    pass_id: str | None  # None when the pass could not be read or its signature is wrong

    @property
    def reason(self) -> DenialReason:
        return PASS_DENIAL[self.refusal]


PassDecision = PassAdmitted | PassRefused


@dataclass(frozen=True)
class _SignedPass:
    pass_id: str
    doors: frozenset[tuple[str, int]]
    valid_from: datetime
    valid_to: datetime
    max_uses: int


class GateMemory:
    """One controller's local state. `doors`, when given, is how many doors it has (an open of another is refused).

    Bounded: the last `max_remembered_commands` command ids (a redelivered command is acked again, not re-applied)
    and the use counters of at most `max_pass_counters` passes, those of expired passes dropped first.
    """

    def __init__(
        self,
        gate_id: str,
        site_key: bytes,
        pass_key: bytes | None = None,
        *,
        doors: int | None = None,
        max_remembered_commands: int = 256,
        max_pass_counters: int = 4096,
    ) -> None:
        if len(site_key) < 16:
            raise ValueError("the site key must be at least 16 bytes")
        if pass_key is not None and len(pass_key) < 32:
            raise ValueError("the pass key must be at least 32 bytes")
        self.gate_id = gate_id
        self.doors = doors
        self._site_key = site_key
        self._pass_key = pass_key
        self._entries: dict[str, WhitelistEntryArgs] = {}
        self._raw_entries: dict[str, dict[str, Any]] = {}
        self._blacklist: set[str] = set()
        self.version: int | None = None
        self.content_hash: str | None = None
        self._acks: OrderedDict[str, CommandAck] = OrderedDict()
        self._max_acks = max_remembered_commands
        self._pass_uses: OrderedDict[str, tuple[int, datetime]] = OrderedDict()
        self._max_pass_counters = max_pass_counters

    # -- commands ---------------------------------------------------------------------------------------------

    def apply(self, command: Command, now: datetime) -> CommandAck:
        """Apply one command and return the ack to publish. The same `cmd_id` again gets the same ack."""
        remembered = self._acks.get(command.cmd_id)
        if remembered is not None:
            return remembered
        if command.expires_at is not None and now >= command.expires_at:
            ack = _refusal(command, GateCommandError.EXPIRED, "the command expired before it arrived")
        else:
            try:
                ack = self._apply(command, parse_args(command), now)
            except CommandArgsError as refused:
                ack = _refusal(command, refused.error, str(refused))
        self._acks[command.cmd_id] = ack
        while len(self._acks) > self._max_acks:
            self._acks.popitem(last=False)
        return ack

    def _apply(self, command: Command, args: Any, now: datetime) -> CommandAck:
        if isinstance(args, OpenDoorArgs):
            if self.doors is not None and args.door > self.doors:
                raise CommandArgsError(GateCommandError.NO_SUCH_DOOR, f"this controller has {self.doors} doors")
            opened = OpenAckResult(door=args.door, opened_at=now)
            return CommandAck(cmd_id=command.cmd_id, ok=True, result=opened.model_dump(mode="json"))
        if isinstance(args, SyncWhitelistArgs):
            self._replace(args, command.args["whitelist"])
        elif isinstance(args, UpsertCredentialsArgs):
            self._check_base(args.base_version, args.version)
            for entry, raw in zip(args.entries, command.args["entries"], strict=True):
                self._entries[entry.hash] = entry
                self._raw_entries[entry.hash] = raw
                self._blacklist.discard(entry.hash)
        elif isinstance(args, RevokeCredentialsArgs):
            self._check_base(args.base_version, args.version)
            for key in args.credential_hashes:
                self._entries.pop(key, None)
                self._raw_entries.pop(key, None)
            self._blacklist.update(args.blacklist)
        self.version, self.content_hash = args.version, args.content_hash
        result = WhitelistAckResult(version=args.version, content_hash=args.content_hash)
        return CommandAck(cmd_id=command.cmd_id, ok=True, result=result.model_dump(mode="json"))

    def _replace(self, args: SyncWhitelistArgs, raw: dict[str, Any]) -> None:
        if args.whitelist.gate != self.gate_id:
            raise CommandArgsError(GateCommandError.WRONG_GATE, f"a whitelist for {args.whitelist.gate!r}")
        if canonical_hash(raw) != args.content_hash:
            raise CommandArgsError(GateCommandError.CONTENT_HASH_MISMATCH, "the list does not match its hash")
        self._entries = {entry.hash: entry for entry in args.whitelist.entries}
        self._raw_entries = {entry["hash"]: entry for entry in raw["entries"]}
        self._blacklist = set(args.whitelist.blacklist)

    def _check_base(self, base_version: int, version: int) -> None:
        # the second command of a plan finds the gate already at the plan's version
        if self.version not in (base_version, version):
            raise CommandArgsError(
                GateCommandError.BASE_VERSION_MISMATCH,
                f"holds version {self.version}, the delta is from {base_version}",
            )

    def state_report(self) -> dict[str, object]:
        """Keys to add to the gate's ``state`` (devices.gate_commands.GateStateReport); both null when it holds
        no list, so the platform can tell an emptied controller from one that does not report."""
        if self.version is None or self.content_hash is None:
            return {"whitelist_version": None, "whitelist_hash": None}
        return {"whitelist_version": self.version, "whitelist_hash": self.content_hash}

    def snapshot(self) -> dict[str, Any] | None:
        """The list held, to keep across a restart (a bridge's state file) and give back to :meth:`restore`; None
        when none is held."""
        if self.version is None or self.content_hash is None:
            return None
        return {"version": self.version, "content_hash": self.content_hash, "content": self.content()}

    def restore(self, snapshot: dict[str, Any], now: datetime) -> CommandAck:
        """Take back a :meth:`snapshot`, checked as the platform's ``sync_whitelist`` is (its hash included)."""
        return self.apply(Command(cmd_id="restore", op="sync_whitelist", args={
            "version": snapshot["version"], "content_hash": snapshot["content_hash"],
            "whitelist": snapshot["content"]}), now)

    def content(self) -> dict[str, Any]:
        """The list as the platform's ``sync_whitelist`` payload would carry it (for checks and tests)."""
        return {
            "gate": self.gate_id,
            "entries": [self._raw_entries[key] for key in sorted(self._raw_entries)],
            "blacklist": sorted(self._blacklist),
        }

    # -- decisions --------------------------------------------------------------------------------------------

    def present(self, kind: CredentialKind, raw_value: str, door: int, at: datetime) -> Decision:
        """A card, PIN or face read at `door`: hashed with the site key, then decided."""
        return self.decide(presented_credential_hash(kind, raw_value, self._site_key), door, at)

    def decide(self, credential_hash: str, door: int, at: datetime) -> Decision:
        _require_aware(at)
        return decide_entry(credential_hash in self._blacklist, self._entries.get(credential_hash), door, at,
                            _group_open_at)

    def admit_pass(self, text: str, door: int, at: datetime) -> PassDecision:
        """A visitor's QR pass read at `door`: verified with the pass key, counted against its uses if admitted."""
        _require_aware(at)
        if self._pass_key is None:
            return PassRefused(PassRefusal.BAD_SIGNATURE, None)
        signed = _read_pass(text, self._pass_key)
        if isinstance(signed, PassRefusal):
            return PassRefused(signed, None)
        revoked = presented_credential_hash(CredentialKind.QR, signed.pass_id, self._site_key) in self._blacklist
        uses = self._pass_uses.get(signed.pass_id, (0, signed.valid_to))[0]
        refusal = (
            PassRefusal.REVOKED if revoked
            else PassRefusal.NOT_YET_VALID if at < signed.valid_from
            else PassRefusal.EXPIRED if at >= signed.valid_to
            else PassRefusal.WRONG_DOOR if (self.gate_id, door) not in signed.doors
            else PassRefusal.USED_UP if uses >= signed.max_uses
            else None
        )
        if refusal is not None:
            return PassRefused(refusal, signed.pass_id)
        self._count_use(signed, uses + 1, at)
        return PassAdmitted(signed.pass_id, uses + 1, signed.max_uses)

    def sign_pass(self, pass_id: str, resident_id: str, doors: Collection[tuple[str, int]], valid_from: datetime,
                  valid_to: datetime, max_uses: int) -> str | None:
        """A pass signed with this controller's pass key (:func:`sign_visitor_pass`); None when it holds none."""
        if self._pass_key is None:
            return None
        return sign_visitor_pass(self._pass_key, pass_id, resident_id, doors, valid_from, valid_to, max_uses)

    def _count_use(self, signed: _SignedPass, uses: int, at: datetime) -> None:
        self._pass_uses.pop(signed.pass_id, None)
        self._pass_uses[signed.pass_id] = (uses, signed.valid_to)
        if len(self._pass_uses) > self._max_pass_counters:
            for pass_id in [key for key, (_, ends) in self._pass_uses.items() if ends <= at]:
                del self._pass_uses[pass_id]
        while len(self._pass_uses) > self._max_pass_counters:
            self._pass_uses.popitem(last=False)


def sign_visitor_pass(
    pass_key: bytes,
    pass_id: str,
    resident_id: str,
    doors: Collection[tuple[str, int]],
    valid_from: datetime,
    valid_to: datetime,
    max_uses: int,
    visitor_name: str | None = None,
) -> str:
    """A visitor pass in the wire format gates read, signed with the pass key: what the platform puts in a QR code
    (community/access/visitor_pass.issue signs with this), and what a simulated gate plays a visitor with.

    The platform issues passes and controllers only verify them; but the key is symmetric, so whoever holds a
    controller's key can sign one (docs/community.md says why that is acceptable). Times are cut to whole seconds,
    as the pass carries them. ValueError for a pass a controller would refuse as malformed.
    """
    if len(pass_key) < 32:
        raise ValueError("the pass key must be at least 32 bytes")
    for moment in (valid_from, valid_to):
        _require_aware(moment)
    body: dict[str, object] = {
        "i": pass_id, "r": resident_id, "d": [[gate, number] for gate, number in sorted(set(doors))],
        "f": int(valid_from.timestamp()), "t": int(valid_to.timestamp()), "u": max_uses}
    if visitor_name is not None:
        body["n"] = visitor_name
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    signed = f"{PASS_VERSION}.{_b64(payload)}"
    text = f"{signed}.{_b64(hmac.new(pass_key, signed.encode('ascii'), hashlib.sha256).digest())}"
    if isinstance(_read_pass(text, pass_key), PassRefusal):
        raise ValueError("a controller would refuse this pass as malformed")
    return text


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def canonical_hash(whitelist_payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a whitelist payload, as the platform versions it."""
    canonical = json.dumps(whitelist_payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _refusal(command: Command, error: GateCommandError, message: str) -> CommandAck:
    return CommandAck(cmd_id=command.cmd_id, ok=False, error=f"{error.value}: {message}"[:128])


class GrantLike(Protocol):
    """A grant on a whitelist, as the gate holds it or as the platform computes it."""

    @property
    def doors(self) -> Collection[int]: ...

    @property
    def valid_from(self) -> datetime | None: ...

    @property
    def valid_to(self) -> datetime | None: ...


GrantT = TypeVar("GrantT", bound=GrantLike)
GrantT_co = TypeVar("GrantT_co", bound=GrantLike, covariant=True)


class EntryLike(Protocol[GrantT_co]):
    """A credential's entry on a whitelist: its own validity and its grants."""

    @property
    def valid_from(self) -> datetime | None: ...

    @property
    def valid_to(self) -> datetime | None: ...

    @property
    def grants(self) -> Sequence[GrantT_co]: ...


def decide_entry(
    blacklisted: bool,
    entry: EntryLike[GrantT] | None,
    door: int,
    at: datetime,
    group_open_at: Callable[[GrantT, datetime], str | None],
) -> Decision:
    """The controller's decision for a credential: blacklisted, unknown credential, the credential's validity
    (expired — also before it starts), no grant for this door (no permission), no such grant valid now (expired),
    none in its weekly window (outside schedule). The gate decides with it and the platform predicts with it, so
    the two cannot disagree; ``group_open_at`` names a grant's group when its weekly windows hold ``at``."""
    if blacklisted:
        return Denied(DenialReason.BLACKLISTED)
    if entry is None:
        return Denied(DenialReason.UNKNOWN_CREDENTIAL)
    if not _within(entry.valid_from, entry.valid_to, at):
        return Denied(DenialReason.EXPIRED)
    for_door = [grant for grant in entry.grants if door in grant.doors]
    if not for_door:
        return Denied(DenialReason.NO_PERMISSION)
    valid = [grant for grant in for_door if _within(grant.valid_from, grant.valid_to, at)]
    if not valid:
        return Denied(DenialReason.EXPIRED)
    open_now = tuple(group for grant in valid if (group := group_open_at(grant, at)) is not None)
    if not open_now:
        return Denied(DenialReason.OUTSIDE_SCHEDULE)
    return Granted(open_now)


def _group_open_at(grant: GrantArgs, at: datetime) -> str | None:
    return grant.group if _in_schedule(grant, at) else None


def _within(valid_from: datetime | None, valid_to: datetime | None, at: datetime) -> bool:
    return (valid_from is None or valid_from <= at) and (valid_to is None or at < valid_to)


def _in_schedule(grant: GrantArgs, at: datetime) -> bool:
    return any(_window_contains(window, at) for window in grant.windows)


def _window_contains(window: WeeklyWindowArgs, at: datetime) -> bool:
    local = at.astimezone(CHINA_STANDARD_TIME)
    clock = local.time().replace(tzinfo=None)
    weekday = local.weekday()
    days = set(window.days)
    if window.start < window.end:
        return weekday in days and window.start <= clock < window.end
    # crosses midnight (start == end: 24 hours from start)
    return (weekday in days and clock >= window.start) or ((weekday - 1) % 7 in days and clock < window.end)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the time of a decision must be timezone-aware")


def _read_pass(text: str, key: bytes) -> _SignedPass | PassRefusal:
    parts = text.split(".") if len(text) <= MAX_PASS_TEXT else []
    if len(parts) != 3 or parts[0] != PASS_VERSION or not all(_B64URL.fullmatch(part) for part in parts[1:]):
        return PassRefusal.MALFORMED
    signed_part = f"{parts[0]}.{parts[1]}"
    mac = hmac.new(key, signed_part.encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(parts[2], base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")):
        return PassRefusal.BAD_SIGNATURE
    return _decode_pass(parts[1]) or PassRefusal.MALFORMED


def _decode_pass(payload: str) -> _SignedPass | None:
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(body, dict) or not {"i", "r", "d", "f", "t", "u"} <= body.keys() <= {*"irdftun"}:
        return None
    doors = body["d"]
    if not isinstance(doors, list) or not all(
        isinstance(d, list) and len(d) == 2 and isinstance(d[0], str) and type(d[1]) is int for d in doors
    ):
        return None
    if not all(type(body[key]) is int for key in "ftu") or not all(isinstance(body[key], str) for key in "ir"):
        return None
    if body.get("n") is not None and not isinstance(body["n"], str):
        return None
    try:
        valid_from = datetime.fromtimestamp(body["f"], UTC)
        valid_to = datetime.fromtimestamp(body["t"], UTC)
    except (ValueError, OverflowError, OSError):
        return None
    opens = frozenset((gate, number) for gate, number in doors)
    name = body.get("n")
    # the same limits as the platform's VisitorPass, so both refuse the same texts
    if not body["i"] or not body["r"] or valid_to <= valid_from or not 1 <= body["u"] <= 100:
        return None
    if not 1 <= len(opens) <= MAX_PASS_DOORS or not all(gate and 1 <= number <= 1024 for gate, number in opens):
        return None
    if name is not None and not 1 <= len(name) <= MAX_VISITOR_NAME:
        return None
    return _SignedPass(body["i"], opens, valid_from, valid_to, body["u"])
