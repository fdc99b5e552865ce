"""The ownership register (产权登记), and voter rolls frozen from it when voting opens.

* ``ownership_records``: append-only; a unit's ownership is its last record (by ``record_id``), and the register as
  it stood at a moment is the last record per unit recorded by then.
* ``voting_proposals`` gains where its roll comes from and whether it is frozen yet: ``roll_community_id`` (the
  register's community; NULL: the roll was given with the proposal), ``roll_built_at`` (when the roll was written;
  NULL: not frozen yet), ``roll_left_off`` (units of the community left off the roll, with the reason) and
  ``roll_problem`` (why the register gave no roll). Existing proposals were given their roll when they were
  created: their ``roll_built_at`` is their ``roll_frozen_at``.

``roll_frozen_at`` stays NOT NULL: for a roll from the register it is the opening time — the moment the roll stands
for — known when the proposal is created; only the writing of the roll waits. Keeping it avoids rebuilding
``voting_proposals`` on SQLite, which cannot drop a NOT NULL in place and, with foreign keys enforced inside the
migration's transaction, cannot drop a table that the roll, ballot log, delegations, comments and results refer to.
Only columns are added (SQLite does that in place, so the batch does not copy the table).

Revision ID: 0005_ownership
Revises: 0004_access
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_ownership"
down_revision = "0004_access"
branch_labels = None
depends_on = None

_NEW_PROPOSAL_COLUMNS = ("roll_community_id", "roll_built_at", "roll_left_off", "roll_problem")


def upgrade() -> None:
    op.create_table(
        "ownership_records",
        sa.Column("record_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("owners", sa.JSON(), nullable=False),
        sa.Column("representative_id", sa.String(64), nullable=True),
        sa.Column("held_by_developer", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
    )
    op.create_index("ownership_records_by_unit", "ownership_records", ["unit_id", "record_id"])
    with op.batch_alter_table("voting_proposals") as batch:
        batch.add_column(sa.Column("roll_community_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("roll_built_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("roll_left_off", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("roll_problem", sa.String(500), nullable=True))
    op.execute("UPDATE voting_proposals SET roll_built_at = roll_frozen_at")


def downgrade() -> None:
    # Proposals still waiting for their roll have none: the schema before this revision cannot hold them.
    op.execute("DELETE FROM voting_comments WHERE proposal_id IN "
               "(SELECT proposal_id FROM voting_proposals WHERE roll_built_at IS NULL)")
    op.execute("DELETE FROM voting_proposals WHERE roll_built_at IS NULL")
    for column in _NEW_PROPOSAL_COLUMNS:  # plain DROP COLUMN (SQLite ≥ 3.35): no copy of the referenced table
        op.execute(f"ALTER TABLE voting_proposals DROP COLUMN {column}")
    op.drop_index("ownership_records_by_unit", table_name="ownership_records")
    op.drop_table("ownership_records")
