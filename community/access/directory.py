"""Who lives where and which doors exist: communities (小区), buildings, units (房屋), residents, gates and doors,
credentials and access groups as the platform records them. Plain values; the permissions follow from them in
`permissions.effective_whitelist`.

Personal data is minimised: a phone number is shown only masked (:func:`mask_phone`); a card number, PIN or face
template reference is kept only as its keyed hash, with a short hint (the last four characters of a card number or face
reference) so a manager can tell two apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from community.access.permissions import AccessGroup, Credential, CredentialKind, Door, Resident


class ResidentRole(StrEnum):
    OWNER = "owner"  # 业主
    FAMILY = "family"  # 家庭成员
    TENANT = "tenant"  # 租户


class ResidentStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # every credential blacklisted on every gate the resident could open
    MOVED_OUT = "moved_out"  # off every list, not blacklisted


class DoorKind(StrEnum):
    ENTRANCE = "entrance"  # 小区大门
    BUILDING = "building"  # 单元门
    GARAGE = "garage"  # 地库


@dataclass(frozen=True)
class Community:
    community_id: str
    site: str  # the MQTT site id of the installation: sc/v1/{site}/gate/...
    name: str


@dataclass(frozen=True)
class Building:
    building_id: str
    community_id: str
    name: str


@dataclass(frozen=True)
class Unit:
    """A home: building, 单元 and room, with its registered exclusive area in m² (exact decimal)."""

    unit_id: str
    building_id: str
    entrance: str
    room: str
    area_m2: Decimal

    def __post_init__(self) -> None:
        if not self.area_m2.is_finite() or self.area_m2 <= 0:
            raise ValueError(f"unit {self.unit_id!r} needs a positive area, not {self.area_m2}")


@dataclass(frozen=True)
class ResidentRecord:
    resident_id: str
    unit_id: str
    role: ResidentRole
    name: str
    phone: str | None
    group_ids: frozenset[str]
    status: ResidentStatus = ResidentStatus.ACTIVE

    @property
    def masked_phone(self) -> str | None:
        return None if self.phone is None else mask_phone(self.phone)

    def for_permissions(self) -> Resident | None:
        """The resident as the whitelist sees them; None once moved out (their credentials leave every list)."""
        if self.status is ResidentStatus.MOVED_OUT:
            return None
        return Resident(self.resident_id, self.group_ids)


PHONE_TAIL = re.compile(r"^[0-9]{4}$")
"""A search for four digits also finds the phones ending in them: the last four are what a masked phone shows."""


@dataclass(frozen=True)
class ResidentSearch:
    """Which residents of a community a manager looks for, a page at a time: ``text`` found in a name, a resident
    or unit id, or equal to a room; four digits (:data:`PHONE_TAIL`) also find the phones ending in them, and no
    other part of a phone is searched (the rest stays as hidden as the mask hides it). One status, or any."""

    community_id: str
    text: str = ""
    status: ResidentStatus | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class ResidentMatches:
    """A page of the residents a search found (by unit, then id), and how many it found in all."""

    residents: tuple[ResidentRecord, ...]
    total: int


@dataclass(frozen=True)
class GateDoor:
    gate_id: str
    number: int
    name: str
    kind: DoorKind
    building_id: str | None = None


@dataclass(frozen=True)
class Gate:
    gate_id: str  # the controller's device id on MQTT
    community_id: str
    name: str
    doors: tuple[GateDoor, ...]


def door_label(gate: Gate | None, door: Door) -> str:
    """A door as residents know it: its name, with its gate's when they differ (东门; 1栋（楼栋门）); the gate id and
    number when the door has no name here."""
    named = next((d for d in gate.doors if d.number == door.number), None) if gate else None
    if gate is None or named is None:
        return f"{door.gate_id} {door.number}号门"
    return named.name if named.name == gate.name else f"{named.name}（{gate.name}）"


@dataclass(frozen=True)
class CredentialRecord:
    """A credential as stored: its keyed hash, never its value; `hint` helps a person recognise it."""

    credential_id: str
    resident_id: str
    kind: CredentialKind
    value_hash: str
    hint: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def for_permissions(self) -> Credential:
        return Credential(self.credential_id, self.kind, self.value_hash, self.resident_id, self.valid_from,
                          self.valid_to, revoked=self.revoked_at is not None)


@dataclass(frozen=True)
class GroupRecord:
    community_id: str
    name: str
    group: AccessGroup


_DIGITS = re.compile(r"\d")


def mask_phone(phone: str) -> str:
    """The number with all but its first three and last four digits hidden: 138****5678."""
    digits = _DIGITS.findall(phone)
    if len(digits) <= 7:
        return "*" * len(digits)
    return "".join(digits[:3]) + "*" * (len(digits) - 7) + "".join(digits[-4:])


HINT_SHOWN = 4
"""How many trailing characters of a card number or face-template reference a hint shows."""


def credential_hint(kind: CredentialKind, raw_value: str) -> str | None:
    """What may be shown of a credential: the last four characters of a card number or of a face template's
    reference, nothing of a PIN or static QR, and nothing of a value too short to hide the rest.

    The face reference is what the face terminal reports when it recognises someone — the credential itself — so it
    is masked like a card number, never shown whole. A hint is at most five characters, whatever the value's length.
    """
    if kind in (CredentialKind.CARD, CredentialKind.FACE) and len(raw_value) > HINT_SHOWN:
        return "…" + raw_value[-HINT_SHOWN:]
    return None
