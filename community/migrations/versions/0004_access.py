"""Residents' access control: directory, credentials (hashed), gates and doors, access groups, whitelist sync,
visitor passes, remote-open audit, access log, presence, alarms.

Revision ID: 0004_access
Revises: 0003_proposal_attachments
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_access"
down_revision = "0003_proposal_attachments"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_communities",
        sa.Column("community_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
    op.create_table(
        "access_buildings",
        sa.Column("building_id", sa.String(64), primary_key=True),
        sa.Column("community_id", sa.String(64), sa.ForeignKey("access_communities.community_id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
    )
    op.create_table(
        "access_units",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("building_id", sa.String(64), sa.ForeignKey("access_buildings.building_id"), nullable=False),
        sa.Column("entrance", sa.String(32), nullable=False),
        sa.Column("room", sa.String(32), nullable=False),
        sa.Column("area_m2", sa.String(24), nullable=False),  # exact decimal text: SQLite has no decimal type
    )
    op.create_table(
        "access_residents",
        sa.Column("resident_id", sa.String(64), primary_key=True),
        sa.Column("unit_id", sa.String(64), sa.ForeignKey("access_units.unit_id"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "access_gates",
        sa.Column("gate_id", sa.String(64), primary_key=True),
        sa.Column("community_id", sa.String(64), sa.ForeignKey("access_communities.community_id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
    )
    op.create_table(
        "access_doors",
        sa.Column("gate_id", sa.String(64), sa.ForeignKey("access_gates.gate_id"), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("building_id", sa.String(64), sa.ForeignKey("access_buildings.building_id"), nullable=True),
    )
    op.create_table(
        "access_groups",
        sa.Column("group_id", sa.String(64), primary_key=True),
        sa.Column("community_id", sa.String(64), sa.ForeignKey("access_communities.community_id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("valid_from", _TIME, nullable=True),
        sa.Column("valid_to", _TIME, nullable=True),
    )
    op.create_table(
        "access_group_doors",
        sa.Column("group_id", sa.String(64), sa.ForeignKey("access_groups.group_id"), primary_key=True),
        sa.Column("gate_id", sa.String(64), primary_key=True),
        sa.Column("door", sa.Integer(), primary_key=True, autoincrement=False),
        sa.ForeignKeyConstraint(["gate_id", "door"], ["access_doors.gate_id", "access_doors.number"]),
    )
    op.create_table(
        "access_group_members",
        sa.Column("group_id", sa.String(64), sa.ForeignKey("access_groups.group_id"), primary_key=True),
        sa.Column("resident_id", sa.String(64), sa.ForeignKey("access_residents.resident_id"), primary_key=True),
    )
    op.create_table(
        "access_credentials",
        sa.Column("credential_id", sa.String(64), primary_key=True),
        sa.Column("resident_id", sa.String(64), sa.ForeignKey("access_residents.resident_id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value_hash", sa.String(64), nullable=False),  # keyed hash; the raw value is never stored
        sa.Column("hint", sa.String(64), nullable=True),
        sa.Column("valid_from", _TIME, nullable=True),
        sa.Column("valid_to", _TIME, nullable=True),
        sa.Column("revoked_at", _TIME, nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_access_credentials_value_hash", "access_credentials", ["value_hash"])
    op.create_table(
        "access_gate_sync",
        sa.Column("gate_id", sa.String(64), sa.ForeignKey("access_gates.gate_id"), primary_key=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("state_at", _TIME, nullable=True),
        sa.Column("desired_version", sa.Integer(), nullable=True),
        sa.Column("acked_version", sa.Integer(), nullable=True),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=True),
        sa.Column("retry_at", _TIME, nullable=True),
    )
    op.create_table(
        "access_whitelist_versions",
        sa.Column("gate_id", sa.String(64), sa.ForeignKey("access_gates.gate_id"), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
    )
    op.create_table(
        "access_visitor_passes",
        sa.Column("pass_id", sa.String(64), primary_key=True),
        sa.Column("resident_id", sa.String(64), sa.ForeignKey("access_residents.resident_id"), nullable=False),
        sa.Column("value_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("visitor_name", sa.String(32), nullable=True),
        sa.Column("visitor_phone", sa.String(32), nullable=True),
        sa.Column("doors", sa.JSON(), nullable=False),
        sa.Column("valid_from", _TIME, nullable=False),
        sa.Column("valid_to", _TIME, nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("issued_at", _TIME, nullable=False),
        sa.Column("revoked_at", _TIME, nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
    )
    op.create_table(
        "access_remote_opens",
        sa.Column("cmd_id", sa.String(64), primary_key=True),
        sa.Column("gate_id", sa.String(64), sa.ForeignKey("access_gates.gate_id"), nullable=False),
        sa.Column("door", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.Column("deadline", _TIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.Column("error", sa.String(200), nullable=True),
    )
    op.create_table(
        "access_events",
        sa.Column("gate_id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("community_id", sa.String(64), sa.ForeignKey("access_communities.community_id"), nullable=False),
        sa.Column("ts", _TIME, nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("door", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("credential_hash", sa.String(64), nullable=True),
        sa.Column("resident_id", sa.String(64), nullable=True),
        sa.Column("pass_id", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(4), nullable=True),
        sa.Column("reason", sa.String(24), nullable=True),
        sa.Column("offline", sa.Boolean(), nullable=False),
    )
    op.create_index("access_events_by_community", "access_events", ["community_id", "ts"])
    op.create_index("access_events_by_gate", "access_events", ["gate_id", "ts"])
    op.create_index("access_events_by_resident", "access_events", ["resident_id", "ts"])
    op.create_index("access_events_by_pass", "access_events", ["pass_id"])
    op.create_table(
        "access_presence",
        sa.Column("community_id", sa.String(64), sa.ForeignKey("access_communities.community_id"),
                  primary_key=True),
        sa.Column("person_kind", sa.String(8), primary_key=True),
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("inside", sa.Boolean(), nullable=False),
        sa.Column("since", _TIME, nullable=False),
    )
    op.create_table(
        "access_alarms",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alarm_id", sa.String(200), nullable=False, unique=True),
        sa.Column("community_id", sa.String(64), sa.ForeignKey("access_communities.community_id"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("gate_id", sa.String(64), nullable=False),
        sa.Column("door", sa.Integer(), nullable=True),
        sa.Column("raised_at", _TIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", _TIME, nullable=True),
        sa.Column("acknowledge_note", sa.Text(), nullable=False),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("resolved_at", _TIME, nullable=True),
        sa.Column("resolve_note", sa.Text(), nullable=False),
    )
    op.create_index("access_alarms_by_status", "access_alarms", ["status", "raised_at"])


def downgrade() -> None:
    op.drop_index("access_alarms_by_status", table_name="access_alarms")
    op.drop_table("access_alarms")
    op.drop_table("access_presence")
    for index in ("access_events_by_pass", "access_events_by_resident", "access_events_by_gate",
                  "access_events_by_community"):
        op.drop_index(index, table_name="access_events")
    op.drop_table("access_events")
    op.drop_table("access_remote_opens")
    op.drop_table("access_visitor_passes")
    op.drop_table("access_whitelist_versions")
    op.drop_table("access_gate_sync")
    op.drop_index("ix_access_credentials_value_hash", table_name="access_credentials")
    for table in ("access_credentials", "access_group_members", "access_group_doors", "access_groups",
                  "access_doors", "access_gates", "access_residents", "access_units", "access_buildings",
                  "access_communities"):
        op.drop_table(table)
