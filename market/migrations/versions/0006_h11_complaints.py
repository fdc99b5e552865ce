"""Complaints (投诉): ``market_complaints``, a shopper's complaint about a stall or a purchase (its trace code), its
category, text and photo (a file under the data directory, named by the store), the deadline, the operator's
handling and the outcome published. A new table: nothing to back-fill.

Revision ID: 0006_h11_complaints
Revises: 0005_h11_rapid_test_items
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_h11_complaints"
down_revision = "0005_h11_rapid_test_items"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_complaints",
        sa.Column("complaint_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("stall", sa.String(32), nullable=False),
        sa.Column("trace_code", sa.String(64), nullable=True),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("text", sa.String(1000), nullable=False),
        sa.Column("photo_name", sa.String(40), nullable=True),
        sa.Column("photo_type", sa.String(32), nullable=True),
        sa.Column("photo_bytes", sa.Integer(), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("handled_by", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
        sa.UniqueConstraint("site", "reference", name="market_complaints_reference"),
    )
    op.create_index("market_complaints_by_state", "market_complaints", ["site", "state", "filed_at"])
    op.create_index("market_complaints_by_stall", "market_complaints", ["site", "stall", "closed_at"])


def downgrade() -> None:
    op.drop_index("market_complaints_by_stall", "market_complaints")
    op.drop_index("market_complaints_by_state", "market_complaints")
    op.drop_table("market_complaints")
