"""Paper ballots: ``voting_paper_entries``, every entry of a paper ballot as a committee member typed it.

A paper ballot is entered twice, by two different members; when the entries agree it is confirmed and appended to
the proposal's log (kind ``paper``), when they disagree both are held for review. Nothing typed is deleted.

Revision ID: 0010_voting_paper_ballots
Revises: 0009_voting_notice
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_voting_paper_ballots"
down_revision = "0009_voting_notice"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voting_paper_entries",
        sa.Column("entry_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("proposal_id", sa.String(64), sa.ForeignKey("voting_proposals.proposal_id"), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("choice", sa.JSON(), nullable=False),
        sa.Column("scan_ref", sa.String(1000), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entered_by", sa.String(64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("log_sequence", sa.Integer(), nullable=True),
    )
    op.create_index("voting_paper_entries_by_unit", "voting_paper_entries", ["proposal_id", "unit_id"])


def downgrade() -> None:
    op.drop_index("voting_paper_entries_by_unit", "voting_paper_entries")
    op.drop_table("voting_paper_entries")
