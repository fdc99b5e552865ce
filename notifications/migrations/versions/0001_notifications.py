"""notifications: the outbox, coalescing windows, deliveries, the notification centre, preferences, endpoints

Revision ID: 0001_notifications
Revises:
Create Date: 2027-01-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_notifications"
down_revision = None
branch_labels = None
depends_on = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification_outbox",
        sa.Column("event_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("community_id", sa.String(64), nullable=True, index=True),
        sa.Column("market_id", sa.String(64), nullable=True, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=True),
        sa.Column("occurred_at", _time(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
    )
    op.create_table(
        "notification_windows",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("opened_at", _time(), nullable=False),
        sa.Column("folded", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=True),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("delivery_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer(), nullable=False, index=True),
        sa.Column("recipient", sa.String(80), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
        sa.Column("community_id", sa.String(64), nullable=True),
        sa.Column("market_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("next_attempt_at", _time(), nullable=False),
        sa.Column("held_until", _time(), nullable=True),
        sa.Column("sent_at", _time(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
    )
    op.create_index("ix_notification_deliveries_lane", "notification_deliveries",
                    ["state", "recipient", "channel", "delivery_id"])
    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("occurred_at", _time(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("read_at", _time(), nullable=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_notifications_account", "notifications", ["account_id", "read_at"])
    op.create_table(
        "notification_contacts",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("quiet_start", sa.String(5), nullable=True),
        sa.Column("quiet_end", sa.String(5), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
    )
    op.create_table(
        "notification_endpoints",
        sa.Column("endpoint_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(64), nullable=False, index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
    )


def downgrade() -> None:
    for table in ("notification_endpoints", "notification_contacts", "notifications", "notification_deliveries",
                  "notification_windows", "notification_outbox"):
        op.drop_table(table)
