"""A community's own notice period: ``voting_community_notice`` (one row per community that set one).

The installation's minimum (SC_VOTING_NOTICE_DAYS, 15 days by the Property Management Regulations Art. 14) stays the
floor; a community's rules of procedure (业主大会议事规则) may require more for its own votes and meetings. Additive:
a community without a row keeps the installation's minimum, as every community had before this revision.

Revision ID: 0012_voting_community_notice
Revises: 0011_voting_meetings
Create Date: 2026-12-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_voting_community_notice"
down_revision = "0011_voting_meetings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voting_community_notice",
        sa.Column("community_id", sa.String(64), primary_key=True),
        sa.Column("notice_days", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("voting_community_notice")
