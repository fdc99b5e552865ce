"""Published results: when voting closed, the ballot log's head, and the result as published.

Revision ID: 0002_voting_results
Revises: 0001_voting
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_voting_results"
down_revision = "0001_voting"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voting_results",
        sa.Column("proposal_id", sa.String(64), sa.ForeignKey("voting_proposals.proposal_id"), primary_key=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chain_length", sa.Integer(), nullable=False),
        sa.Column("chain_head", sa.String(64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("voting_results")
