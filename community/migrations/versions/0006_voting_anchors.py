"""Anchor each proposal's log to its frozen roll, and put delegations in the log.

* ``voting_ballot_log.kind``: ``ballot`` or ``delegation``. A proposal's log holds its delegations between its
  ballots, so a delegation inserted into (or removed from) ``voting_delegations`` beside the log shows on
  verification. Existing rows are ballots.
* ``voting_proposals.log_anchored``: whether the proposal's log begins at the digest of its roll and terms
  (``community.voting.audit.roll_digest``) and holds its delegations. Proposals created from now on are anchored.
  A proposal that already has ballots, delegations or a published result keeps the log it has — it begins at 64
  zeros (the head an empty log was published with) and its delegations are only in ``voting_delegations`` — so it
  is marked ``false`` and verified as before, saying that its roll is not anchored. The others are anchored from
  their first entry on.

Only columns are added, in place.

Revision ID: 0006_voting_anchors
Revises: 0005_ownership
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_voting_anchors"
down_revision = "0005_ownership"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN, not a batch: SQLite adds a column with a default in place, where a batch would copy the
    # tables, which fails once the roll, the log, delegations, comments or results refer to a proposal
    op.add_column("voting_ballot_log", sa.Column("kind", sa.String(16), nullable=False, server_default="ballot"))
    op.add_column("voting_proposals", sa.Column("log_anchored", sa.Boolean(), nullable=False,
                                                server_default=sa.true()))
    # a published result fixes its head too: a proposal closed with an empty log published 64 zeros, not a digest
    op.execute("UPDATE voting_proposals SET log_anchored = false WHERE proposal_id IN "
               "(SELECT proposal_id FROM voting_ballot_log UNION SELECT proposal_id FROM voting_delegations "
               "UNION SELECT proposal_id FROM voting_results)")


def downgrade() -> None:
    # The code before this revision reads every log entry as a ballot: delegation entries must go (the delegations
    # stay on record in voting_delegations). A log that held some then has gaps, which that code reports as broken.
    op.execute("DELETE FROM voting_ballot_log WHERE kind = 'delegation'")
    for table, column in (("voting_ballot_log", "kind"), ("voting_proposals", "log_anchored")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # SQLite ≥ 3.35: in place, no copy
