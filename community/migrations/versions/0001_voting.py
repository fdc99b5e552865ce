"""Owners' e-voting: proposals, frozen voter rolls, delegations, the hash-chained ballot log, comments.

Revision ID: 0001_voting
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_voting"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voting_proposals",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("matter", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False, server_default=""),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("election_candidates", sa.JSON(), nullable=True),
        sa.Column("election_seats", sa.Integer(), nullable=True),
        sa.Column("roll_frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "voting_roll_units",
        sa.Column("proposal_id", sa.String(64), sa.ForeignKey("voting_proposals.proposal_id"), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("area_m2", sa.String(24), nullable=False),  # exact decimal text: SQLite has no decimal type
        sa.Column("owner_ids", sa.JSON(), nullable=False),
        sa.Column("held_by_developer", sa.Boolean(), nullable=False),
        sa.Column("representative_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "voting_delegations",
        sa.Column("proposal_id", sa.String(64), sa.ForeignKey("voting_proposals.proposal_id"), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("delegate_id", sa.String(64), primary_key=True),
        sa.Column("granted_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "voting_ballot_log",
        sa.Column("proposal_id", sa.String(64), sa.ForeignKey("voting_proposals.proposal_id"), primary_key=True),
        sa.Column("sequence", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("voter_id", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("record", sa.JSON(), nullable=False),
    )
    op.create_index("voting_ballot_log_by_voter", "voting_ballot_log", ["proposal_id", "voter_id"])
    op.create_table(
        "voting_comments",
        sa.Column("comment_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("proposal_id", sa.String(64), sa.ForeignKey("voting_proposals.proposal_id"), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hidden_by", sa.String(64), nullable=True),
        sa.Column("hidden_reason", sa.String(200), nullable=True),
    )
    op.create_index("voting_comments_by_proposal", "voting_comments", ["proposal_id", "posted_at"])


def downgrade() -> None:
    op.drop_index("voting_comments_by_proposal", table_name="voting_comments")
    op.drop_table("voting_comments")
    op.drop_index("voting_ballot_log_by_voter", table_name="voting_ballot_log")
    op.drop_table("voting_ballot_log")
    op.drop_table("voting_delegations")
    op.drop_table("voting_roll_units")
    op.drop_table("voting_proposals")
