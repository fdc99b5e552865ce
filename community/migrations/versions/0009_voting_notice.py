"""When a proposal's notice was published: ``voting_proposals.notice_published_at``.

Voting may open only the notice period (SC_VOTING_NOTICE_DAYS, 15 days by the Property Management Regulations
Art. 14) after the notice; the moment is kept so the pages and the API show the notice period each vote had.
Proposals created before this revision keep NULL: their notice was not recorded, and nothing is guessed.

Revision ID: 0009_voting_notice
Revises: 0008_voting_communities
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_voting_notice"
down_revision = "0008_voting_communities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (see 0008): SQLite adds a nullable column in place
    op.add_column("voting_proposals", sa.Column("notice_published_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE voting_proposals DROP COLUMN notice_published_at")
