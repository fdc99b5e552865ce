"""Meetings of the owners' assembly and of the owners' committee: ``voting_meetings`` (terms, notice, minutes),
``voting_meeting_items`` (the agenda, each item a proposal of the meeting's community), ``voting_meeting_materials``
(the files kept under the data directory, with their SHA-256), ``voting_meeting_signins`` (online sign-in with the
units and area signed in for) and ``voting_meeting_log`` (the meeting's hash chain: notice, minutes).

Revision ID: 0011_voting_meetings
Revises: 0010_voting_paper_ballots
Create Date: 2026-12-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_voting_meetings"
down_revision = "0010_voting_paper_ballots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "voting_meetings",
        sa.Column("meeting_id", sa.String(64), primary_key=True),
        sa.Column("community_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("form", sa.String(32), nullable=False),
        sa.Column("starts_at", moment, nullable=False),
        sa.Column("ends_at", moment, nullable=False),
        sa.Column("place", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("notice_published_at", moment, nullable=True),
        sa.Column("minutes_text", sa.Text(), nullable=True),
        sa.Column("minutes_drafted_by", sa.String(64), nullable=True),
        sa.Column("minutes_drafted_at", moment, nullable=True),
        sa.Column("minutes_approved_by", sa.String(64), nullable=True),
        sa.Column("minutes_approved_at", moment, nullable=True),
        sa.Column("minutes_published_at", moment, nullable=True),
    )
    op.create_index("voting_meetings_by_community", "voting_meetings", ["community_id"])
    op.create_table(
        "voting_meeting_items",
        sa.Column("meeting_id", sa.String(64), sa.ForeignKey("voting_meetings.meeting_id"), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("proposal_id", sa.String(64), sa.ForeignKey("voting_proposals.proposal_id"), nullable=False),
        sa.UniqueConstraint("meeting_id", "proposal_id", name="voting_meeting_items_once"),
    )
    op.create_table(
        "voting_meeting_materials",
        sa.Column("material_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("meeting_id", sa.String(64), sa.ForeignKey("voting_meetings.meeting_id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("file_name", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", moment, nullable=False),
    )
    op.create_table(
        "voting_meeting_signins",
        sa.Column("meeting_id", sa.String(64), sa.ForeignKey("voting_meetings.meeting_id"), primary_key=True),
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("signed_at", moment, nullable=False),
        sa.Column("unit_ids", sa.JSON(), nullable=False),
    )
    op.create_table(
        "voting_meeting_log",
        sa.Column("meeting_id", sa.String(64), sa.ForeignKey("voting_meetings.meeting_id"), primary_key=True),
        sa.Column("sequence", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    )


def downgrade() -> None:
    for table in ("voting_meeting_log", "voting_meeting_signins", "voting_meeting_materials", "voting_meeting_items"):
        op.drop_table(table)
    op.drop_index("voting_meetings_by_community", "voting_meetings")
    op.drop_table("voting_meetings")
