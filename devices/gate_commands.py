"""The wire contract of a gate's downlinks: the ``args`` of each command op and what its ack's ``result`` carries.

A gate controller decides offline from a whitelist the platform keeps in sync (docs/community.md):

* ``sync_whitelist`` replaces the gate's whole list (entries and blacklist);
* ``upsert_credentials`` adds or replaces entries by credential hash, and takes those hashes off the blacklist;
* ``revoke_credentials`` removes the listed hashes and blacklists those in ``blacklist``;
* ``open`` opens one door for a few seconds (a property manager's remote open).

Every whitelist command carries the ``version`` and ``content_hash`` the gate holds once the whole plan it belongs to
is applied; deltas also carry the ``base_version`` they apply to. The gate acks with :class:`WhitelistAckResult`
(the version it now holds) or refuses with one of :class:`GateCommandError`.

A credential is known on the wire only by its keyed hash, :func:`presented_credential_hash`: the controller holds the
site key and hashes what its reader sees. A visitor's QR pass is verified by the controller itself (the pass is
signed); its gate event then carries the pass id as ``credential``, never the pass text.

The envelope is :class:`devices.contract.Command`; these models validate its ``args`` (:func:`parse_args`).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import time
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from devices.contract import Command, Identifier, Timestamp

SYNC_WHITELIST = "sync_whitelist"
UPSERT_CREDENTIALS = "upsert_credentials"
REVOKE_CREDENTIALS = "revoke_credentials"
OPEN = "open"

MAX_OPEN_SECONDS = 60

CredentialHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
DoorNumber = Annotated[int, Field(ge=1, le=1024, strict=True)]
Version = Annotated[int, Field(ge=1, strict=True)]


class CredentialKind(StrEnum):
    """What the reader saw: the prefix of the keyed hash, so a card number and an equal PIN never collide."""

    CARD = "card"
    PIN = "pin"
    FACE = "face"
    QR = "qr"


def presented_credential_hash(kind: CredentialKind | str, raw_value: str, site_key: bytes) -> str:
    """HMAC-SHA256 (hex) of ``"<kind>:<raw value>"`` under the site key: what a controller looks up in its list.

    Keyed because card numbers and PINs are small spaces: a bare hash is reversed by trying every value.
    """
    if len(site_key) < 16:
        raise ValueError("the site key must be at least 16 bytes")
    return hmac.new(site_key, f"{CredentialKind(kind).value}:{raw_value}".encode(), hashlib.sha256).hexdigest()


class _Wire(BaseModel):
    # lax on purpose for times ("06:00:00" arrives as text), but nothing unknown is accepted
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeeklyWindowArgs(_Wire):
    """Local Asia/Shanghai wall-clock hours on the weekdays a window starts (0 = Monday); end ≤ start wraps."""

    days: Annotated[list[Annotated[int, Field(ge=0, le=6, strict=True)]], Field(min_length=1, max_length=7)]
    start: time
    end: time

    @model_validator(mode="after")
    def _naive_times(self) -> WeeklyWindowArgs:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local wall-clock times without an offset")
        return self


class GrantArgs(_Wire):
    """What one access group lets the credential do on this gate."""

    group: Identifier
    doors: Annotated[list[DoorNumber], Field(min_length=1, max_length=1024)]
    windows: Annotated[list[WeeklyWindowArgs], Field(min_length=1, max_length=64)]
    valid_from: Timestamp | None = None
    valid_to: Timestamp | None = None


class WhitelistEntryArgs(_Wire):
    hash: CredentialHash
    kind: CredentialKind
    valid_from: Timestamp | None = None
    valid_to: Timestamp | None = None
    grants: Annotated[list[GrantArgs], Field(min_length=1, max_length=256)]


class WhitelistArgs(_Wire):
    gate: Identifier
    entries: list[WhitelistEntryArgs]
    blacklist: list[CredentialHash]


class _Versioned(_Wire):
    version: Version
    content_hash: CredentialHash


class SyncWhitelistArgs(_Versioned):
    whitelist: WhitelistArgs


class UpsertCredentialsArgs(_Versioned):
    base_version: Version
    entries: list[WhitelistEntryArgs]


class RevokeCredentialsArgs(_Versioned):
    base_version: Version
    credential_hashes: Annotated[list[CredentialHash], Field(min_length=1)]
    blacklist: list[CredentialHash]


class OpenDoorArgs(_Wire):
    door: DoorNumber
    seconds: Annotated[int, Field(ge=1, le=MAX_OPEN_SECONDS, strict=True)] = 5


GateCommandArgs = SyncWhitelistArgs | UpsertCredentialsArgs | RevokeCredentialsArgs | OpenDoorArgs

_ARGS: dict[str, type[GateCommandArgs]] = {
    SYNC_WHITELIST: SyncWhitelistArgs,
    UPSERT_CREDENTIALS: UpsertCredentialsArgs,
    REVOKE_CREDENTIALS: RevokeCredentialsArgs,
    OPEN: OpenDoorArgs,
}


class GateCommandError(StrEnum):
    """Why a gate refuses a command (the ack's ``error``)."""

    UNKNOWN_OP = "unknown_op"
    BAD_ARGS = "bad_args"
    EXPIRED = "expired"
    WRONG_GATE = "wrong_gate"
    BASE_VERSION_MISMATCH = "base_version_mismatch"
    CONTENT_HASH_MISMATCH = "content_hash_mismatch"
    NO_SUCH_DOOR = "no_such_door"
    DOOR_JAMMED = "door_jammed"


class WhitelistAckResult(_Wire):
    """The ack ``result`` of a whitelist command: the version the gate holds after applying it."""

    version: Version
    content_hash: CredentialHash


class OpenAckResult(_Wire):
    """The ack ``result`` of ``open``: the door and when it was released."""

    door: DoorNumber
    opened_at: Timestamp


class GateStateReport(BaseModel):
    """Keys a gate adds to every ``state`` it publishes online: the whitelist version it holds and its content hash.

    A gate that holds no list (reset, replaced, never synced) sends both keys as ``null``; a gate that leaves the keys
    out reports nothing (older firmware), and the platform then learns of a lost list only when it sees the gate go
    offline and come back. The platform compares the report with what the gate acknowledged on every state, so a
    controller that rebooted with an empty or other list gets the full list even if its broker session survived.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    whitelist_version: Version | None = None
    whitelist_hash: CredentialHash | None = None


class CommandArgsError(ValueError):
    """A command's op or args break this contract; ``error`` is what the gate acks with."""

    def __init__(self, error: GateCommandError, message: str) -> None:
        super().__init__(message)
        self.error = error


def parse_args(command: Command) -> GateCommandArgs:
    """The validated ``args`` of a gate command, or :class:`CommandArgsError` saying why not."""
    model = _ARGS.get(command.op)
    if model is None:
        raise CommandArgsError(GateCommandError.UNKNOWN_OP, f"a gate has no op {command.op!r}")
    try:
        return model.model_validate(command.args)
    except ValidationError as invalid:
        first = invalid.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CommandArgsError(GateCommandError.BAD_ARGS, f"{command.op}: {where}: {first['msg']}") from None


def whitelist_result(result: dict[str, Any] | None) -> WhitelistAckResult | None:
    """The version an ack reports, or None when the ack carries none (or a malformed one)."""
    if result is None:
        return None
    try:
        return WhitelistAckResult.model_validate(result)
    except ValidationError:
        return None
