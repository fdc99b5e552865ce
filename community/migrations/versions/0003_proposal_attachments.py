"""Attachments of a proposal, by reference (title, where to fetch it, its SHA-256).

Revision ID: 0003_proposal_attachments
Revises: 0002_voting_results
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_proposal_attachments"
down_revision = "0002_voting_results"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voting_proposals") as batch:
        batch.add_column(sa.Column("attachments", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("voting_proposals") as batch:
        batch.drop_column("attachments")
