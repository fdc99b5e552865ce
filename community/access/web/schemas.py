"""The access API's request and response bodies (pydantic), as /openapi.json describes them.

Every id fits every id column (64 characters); text limits are the columns'. Schema names start with
``Access`` so the combined /openapi.json of all contexts has no clashes. A request body forbids fields it does
not name.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from community.access.alarms import AlarmKind, AlarmStatus
from community.access.directory import DoorKind, ResidentRole, ResidentStatus
from community.access.permissions import CredentialKind
from devices.contract import AccessMethod, DenialReason, Direction, GateEventKind

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
"""Every id of this API, in bodies, paths and queries alike: it fits every id column (64 characters)."""
DEVICE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
# Text limits are the columns' (in characters, as PostgreSQL counts them); one-line texts refuse control characters
# and notes refuse NUL, which PostgreSQL cannot store, so bad text is a 400 on every database.
Name = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,100}$")]
ShortLine = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,32}$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 -]{5,30}$")]
Note = Annotated[str, StringConstraints(pattern=r"^[^\x00]{0,2000}$")]
DoorNumber = Annotated[int, Field(ge=1, le=1024)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessCommunityIn(_In):
    community_id: Id
    site: DeviceId = Field(description="The MQTT site id of the installation (sc/v1/{site}/gate/...)")
    name: Name


class AccessCommunityOut(BaseModel):
    community_id: str
    site: str
    name: str


class AccessCommunitiesOut(BaseModel):
    communities: list[AccessCommunityOut]


class AccessBuildingIn(_In):
    building_id: Id
    name: Name


class AccessBuildingOut(BaseModel):
    building_id: str
    community_id: str
    name: str


class AccessBuildingsOut(BaseModel):
    buildings: list[AccessBuildingOut]


class AccessUnitIn(_In):
    unit_id: Id
    building_id: Id
    entrance: ShortLine = Field(description="单元, e.g. 2单元")
    room: ShortLine
    area_m2: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)] = Field(
        description="Registered exclusive area, exact decimal")


class AccessResidentIn(_In):
    resident_id: Id = Field(description="Also the subject of the resident's bearer token")
    unit_id: Id
    role: ResidentRole
    name: Name
    phone: Phone | None = None
    group_ids: Annotated[list[Id], Field(max_length=64)] = []


class AccessResidentOut(BaseModel):
    resident_id: str
    unit_id: str
    role: ResidentRole
    name: str
    phone: str | None = Field(description="Masked: 138****5678")
    group_ids: list[str]
    status: ResidentStatus


class AccessResidentsOut(BaseModel):
    residents: list[AccessResidentOut]


class AccessUnitOut(BaseModel):
    unit_id: str
    building_id: str
    entrance: str
    room: str
    area_m2: str
    residents: list[AccessResidentOut]


class AccessGroupsIn(_In):
    group_ids: Annotated[list[Id], Field(max_length=64)]


class AccessCredentialIn(_In):
    kind: CredentialKind
    value: Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,128}$")] = Field(
        description="Card number, PIN, face template reference or static QR text; hashed at once, never stored")
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None


class AccessCredentialOut(BaseModel):
    credential_id: str
    resident_id: str
    kind: CredentialKind
    hint: str | None = Field(description="The last four characters of a card number or face template reference "
                                         "(…5678); nothing of a PIN")
    valid_from: datetime | None
    valid_to: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None


class AccessCredentialsOut(BaseModel):
    credentials: list[AccessCredentialOut]


class AccessDoorIn(_In):
    number: DoorNumber
    name: Name
    kind: DoorKind
    building_id: Id | None = None


class AccessGateIn(_In):
    gate_id: DeviceId = Field(description="The controller's device id on MQTT")
    name: Name
    doors: Annotated[list[AccessDoorIn], Field(min_length=1, max_length=64)]


class AccessDoorOut(BaseModel):
    number: int
    name: str
    kind: DoorKind
    building_id: str | None


class AccessGateOut(BaseModel):
    gate_id: str
    community_id: str
    name: str
    doors: list[AccessDoorOut]
    online: bool
    desired_version: int | None
    acked_version: int | None
    in_sync: bool
    pending_commands: int
    whitelist_entries: int
    blacklist_entries: int


class AccessGatesOut(BaseModel):
    gates: list[AccessGateOut]


class AccessWhitelistOut(BaseModel):
    gate_id: str
    version: int | None
    content_hash: str | None
    whitelist: dict[str, Any] | None = Field(description="As sent to the gate: credential hashes, never values")


class AccessDoorRef(_In):
    gate_id: DeviceId
    door: DoorNumber


class AccessWindowIn(_In):
    days: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1, max_length=7)] = Field(
        description="Weekdays the window starts on, 0 = Monday")
    start: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}(:\d{2})?$")] = Field(
        description="Asia/Shanghai wall clock; an end not after the start crosses midnight")
    end: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}(:\d{2})?$")]


class AccessGroupIn(_In):
    name: Name
    doors: Annotated[list[AccessDoorRef], Field(min_length=1, max_length=1024)]
    windows: Annotated[list[AccessWindowIn], Field(min_length=1, max_length=32)]
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None


class AccessGroupOut(BaseModel):
    group_id: str
    community_id: str
    name: str
    doors: list[dict[str, Any]]
    windows: list[dict[str, Any]]
    valid_from: datetime | None
    valid_to: datetime | None


class AccessGroupsOut(BaseModel):
    groups: list[AccessGroupOut]


class AccessPassIn(_In):
    doors: Annotated[list[AccessDoorRef], Field(min_length=1, max_length=16)]
    valid_from: AwareDatetime | None = Field(None, description="Default: now")
    valid_to: AwareDatetime | None = Field(None, description="Default: 4 hours after the start; at most 24 hours")
    max_uses: Annotated[int, Field(ge=1, le=100)] | None = None
    visitor_name: ShortLine | None = None
    visitor_phone: Phone | None = None


class AccessPassOut(BaseModel):
    pass_id: str
    resident_id: str
    doors: list[dict[str, Any]]
    valid_from: datetime
    valid_to: datetime
    max_uses: int
    uses: int
    status: str
    visitor_name: str | None
    visitor_phone: str | None = Field(description="Masked")
    issued_at: datetime
    revoked_at: datetime | None
    text: str | None = Field(description="The signed QR text; shown to the inviting resident only")


class AccessPassesOut(BaseModel):
    passes: list[AccessPassOut]


class AccessOpenIn(_In):
    reason: Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,200}$")] = Field(
        description="Why the door is opened remotely (kept in the audit)")


class AccessRemoteOpenOut(BaseModel):
    cmd_id: str
    gate_id: str
    door: int
    requested_by: str
    reason: str
    requested_at: datetime
    deadline: datetime
    status: str
    finished_at: datetime | None
    error: str | None


class AccessRemoteOpensOut(BaseModel):
    remote_opens: list[AccessRemoteOpenOut]


class AccessEventOut(BaseModel):
    gate_id: str
    event_id: str
    ts: datetime
    door: int
    kind: GateEventKind
    method: AccessMethod | None
    direction: Direction | None
    reason: DenialReason | None = Field(description="Why it was denied")
    offline: bool
    resident_id: str | None
    pass_id: str | None


class AccessEventsOut(BaseModel):
    events: list[AccessEventOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page")


class AccessPresenceOut(BaseModel):
    community_id: str
    residents_inside: int
    visitors_inside: int


class AccessNoteIn(_In):
    note: Note = ""


class AccessAlarmOut(BaseModel):
    number: int
    alarm_id: str
    kind: AlarmKind
    gate_id: str
    door: int | None
    raised_at: datetime
    status: AlarmStatus
    occurrences: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledge_note: str
    resolved_by: str | None
    resolved_at: datetime | None
    resolve_note: str


class AccessAlarmsOut(BaseModel):
    alarms: list[AccessAlarmOut]


class AccessMeOut(BaseModel):
    resident: AccessResidentOut
    unit: AccessUnitOut
    credentials: list[AccessCredentialOut]
