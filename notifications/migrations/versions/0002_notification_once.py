"""notifications: the keys of events a periodic check records once (a licence's threshold, a vote's phase)

Revision ID: 0002_notification_once
Revises: 0001_notifications
Create Date: 2027-01-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_notification_once"
down_revision = "0001_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_once",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_once")
