"""Proxy attendance at meetings (委托出席): ``voting_meeting_proxies``, one row per unit whose owner (or the
co-owners' representative) appointed another account of the community to attend a meeting and sign in for it.

One proxy per unit and meeting (the primary key), so a unit is never counted twice through two proxies. Additive: a
meeting without rows counts its owners' own sign-ins, as every meeting did before this revision.

Revision ID: 0013_voting_meeting_proxies
Revises: 0012_voting_community_notice
Create Date: 2026-12-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_voting_meeting_proxies"
down_revision = "0012_voting_community_notice"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voting_meeting_proxies",
        sa.Column("meeting_id", sa.String(64), sa.ForeignKey("voting_meetings.meeting_id"), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("proxy_id", sa.String(64), nullable=False),
        sa.Column("granted_by", sa.String(64), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("voting_meeting_proxies")
