"""The access context's tables (SQLAlchemy Core) and the one `metadata` they belong to: the directory
(communities, buildings, units, residents, credentials, gates and doors, access groups), each gate's whitelist sync
state and the versions it refers to, visitor passes, the remote-open audit, the access log, presence and alarms.
They mirror community/migrations/versions/0004_access.py (and the migrations after it), which create them; the
metadata is what the migrations' environment and the schema test compare the database against.

No raw credential has a column: credentials and log entries carry the keyed hash only (and the last four characters
of a card number or face-template reference as a hint). Phone numbers are stored (the property office must be able
to call) and masked wherever they are shown.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from relational.database import UtcDateTime

metadata = MetaData()

communities = Table(
    "access_communities", metadata,
    Column("community_id", String(64), primary_key=True),
    Column("site", String(64), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
)

buildings = Table(
    "access_buildings", metadata,
    Column("building_id", String(64), primary_key=True),
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), nullable=False),
    Column("name", String(100), nullable=False),
)

units = Table(
    "access_units", metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("building_id", String(64), ForeignKey("access_buildings.building_id"), nullable=False),
    Column("entrance", String(32), nullable=False),
    Column("room", String(32), nullable=False),
    Column("area_m2", String(24), nullable=False),  # exact decimal text: SQLite has no decimal type
)

residents = Table(
    "access_residents", metadata,
    Column("resident_id", String(64), primary_key=True),
    Column("unit_id", String(64), ForeignKey("access_units.unit_id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("phone", String(32), nullable=True),
    Column("status", String(16), nullable=False),
)

gates = Table(
    "access_gates", metadata,
    Column("gate_id", String(64), primary_key=True),
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), nullable=False),
    Column("name", String(100), nullable=False),
)

doors = Table(
    "access_doors", metadata,
    Column("gate_id", String(64), ForeignKey("access_gates.gate_id"), primary_key=True),
    Column("number", Integer(), primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("building_id", String(64), ForeignKey("access_buildings.building_id"), nullable=True),
)

groups = Table(
    "access_groups", metadata,
    Column("group_id", String(64), primary_key=True),
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("windows", JSON(), nullable=False),
    Column("valid_from", UtcDateTime(), nullable=True),
    Column("valid_to", UtcDateTime(), nullable=True),
)

group_doors = Table(
    "access_group_doors", metadata,
    Column("group_id", String(64), ForeignKey("access_groups.group_id"), primary_key=True),
    Column("gate_id", String(64), primary_key=True),
    Column("door", Integer(), primary_key=True, autoincrement=False),
    ForeignKeyConstraint(["gate_id", "door"], ["access_doors.gate_id", "access_doors.number"]),
)

group_members = Table(
    "access_group_members", metadata,
    Column("group_id", String(64), ForeignKey("access_groups.group_id"), primary_key=True),
    Column("resident_id", String(64), ForeignKey("access_residents.resident_id"), primary_key=True),
)

credentials = Table(
    "access_credentials", metadata,
    Column("credential_id", String(64), primary_key=True),
    Column("resident_id", String(64), ForeignKey("access_residents.resident_id"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("value_hash", String(64), nullable=False, index=True),
    Column("hint", String(64), nullable=True),
    Column("valid_from", UtcDateTime(), nullable=True),
    Column("valid_to", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("revoked_by", String(64), nullable=True),
)

gate_sync = Table(
    "access_gate_sync", metadata,
    Column("gate_id", String(64), ForeignKey("access_gates.gate_id"), primary_key=True),
    Column("online", Boolean(), nullable=False),
    Column("state_at", UtcDateTime(), nullable=True),  # when availability last changed
    Column("desired_version", Integer(), nullable=True),
    Column("acked_version", Integer(), nullable=True),
    Column("uncertain", Boolean(), nullable=False),
    Column("pending", JSON(), nullable=True),
    Column("retry_at", UtcDateTime(), nullable=True),  # when the plan in flight is due again, if any
)

whitelist_versions = Table(
    "access_whitelist_versions", metadata,
    Column("gate_id", String(64), ForeignKey("access_gates.gate_id"), primary_key=True),
    Column("version", Integer(), primary_key=True, autoincrement=False),
    Column("content_hash", String(64), nullable=False),
    Column("payload", JSON(), nullable=False),
)

visitor_passes = Table(
    "access_visitor_passes", metadata,
    Column("pass_id", String(64), primary_key=True),
    Column("resident_id", String(64), ForeignKey("access_residents.resident_id"), nullable=False),
    Column("value_hash", String(64), nullable=False, unique=True),
    Column("visitor_name", String(32), nullable=True),
    Column("visitor_phone", String(32), nullable=True),
    Column("doors", JSON(), nullable=False),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_to", UtcDateTime(), nullable=False),
    Column("max_uses", Integer(), nullable=False),
    Column("uses", Integer(), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("revoked_by", String(64), nullable=True),
)

remote_opens = Table(
    "access_remote_opens", metadata,
    Column("cmd_id", String(64), primary_key=True),
    Column("gate_id", String(64), ForeignKey("access_gates.gate_id"), nullable=False),
    Column("door", Integer(), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("deadline", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("error", String(200), nullable=True),
)

events = Table(
    "access_events", metadata,
    Column("gate_id", String(64), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), nullable=False),
    Column("ts", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("door", Integer(), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("method", String(16), nullable=True),
    Column("credential_hash", String(64), nullable=True),
    Column("resident_id", String(64), nullable=True),
    Column("pass_id", String(64), nullable=True),
    Column("direction", String(4), nullable=True),
    Column("reason", String(24), nullable=True),
    Column("offline", Boolean(), nullable=False),
    Index("access_events_by_community", "community_id", "ts"),
    Index("access_events_by_gate", "gate_id", "ts"),
    Index("access_events_by_resident", "resident_id", "ts"),
    Index("access_events_by_pass", "pass_id"),
)

presence = Table(
    "access_presence", metadata,
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), primary_key=True),
    Column("person_kind", String(8), primary_key=True),  # resident | visitor
    Column("person_id", String(64), primary_key=True),
    Column("inside", Boolean(), nullable=False),
    Column("since", UtcDateTime(), nullable=False),
)

alarms = Table(
    "access_alarms", metadata,
    Column("number", Integer(), primary_key=True, autoincrement=True),
    Column("alarm_id", String(200), nullable=False, unique=True),
    Column("community_id", String(64), ForeignKey("access_communities.community_id"), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("gate_id", String(64), nullable=False),
    Column("door", Integer(), nullable=True),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("occurrences", Integer(), nullable=False),
    Column("acknowledged_by", String(64), nullable=True),
    Column("acknowledged_at", UtcDateTime(), nullable=True),
    Column("acknowledge_note", Text(), nullable=False),
    Column("resolved_by", String(64), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("resolve_note", Text(), nullable=False),
    Index("access_alarms_by_status", "status", "raised_at"),
)
