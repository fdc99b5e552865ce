"""Withdrawn proxy appointments (撤回委托): ``voting_meeting_proxy_withdrawals``, one row per appointment withdrawn —
the unit, the proxy, who appointed them and when, who withdrew it and when.

A withdrawn appointment leaves ``voting_meeting_proxies``, whose key stays one proxy per unit and meeting (so the
owner may appoint again and attendance, which reads only that table, never counts it), and is kept here for the
record. Additive: a meeting without rows has had nothing withdrawn, as every meeting before this revision.

Revision ID: 0014_voting_proxy_withdrawals
Revises: 0013_voting_meeting_proxies
Create Date: 2026-12-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_voting_proxy_withdrawals"
down_revision = "0013_voting_meeting_proxies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voting_meeting_proxy_withdrawals",
        sa.Column("withdrawal_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("meeting_id", sa.String(64), sa.ForeignKey("voting_meetings.meeting_id"), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("proxy_id", sa.String(64), nullable=False),
        sa.Column("granted_by", sa.String(64), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_by", sa.String(64), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("voting_meeting_proxy_withdrawals_by_meeting", "voting_meeting_proxy_withdrawals",
                    ["meeting_id"])


def downgrade() -> None:
    op.drop_index("voting_meeting_proxy_withdrawals_by_meeting", table_name="voting_meeting_proxy_withdrawals")
    op.drop_table("voting_meeting_proxy_withdrawals")
