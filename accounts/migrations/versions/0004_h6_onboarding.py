"""one-time codes (setup link, invitations, password resets, activation letters); tokens refused when issued
before an account's last password reset

Revision ID: 0004_h6_onboarding
Revises: 0003_tenancy
Create Date: 2027-01-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_h6_onboarding"
down_revision = "0003_tenancy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", recreate="never") as batch:  # in place: see downgrade
        # null: no reset yet, every unexpired, unrevoked token of the account is taken as before
        batch.add_column(sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "one_time_codes",
        sa.Column("code_id", sa.String(32), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("display_name", sa.String(100), nullable=True),
        sa.Column("role", sa.String(32), nullable=True),
        sa.Column("organisation_id", sa.String(64), nullable=True),
        sa.Column("communities", sa.JSON(), nullable=False),
        sa.Column("markets", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("digest", name="uq_one_time_codes_digest"),
    )
    op.create_index("ix_one_time_codes_kind_account", "one_time_codes", ["kind", "account_id"])


def downgrade() -> None:
    op.drop_index("ix_one_time_codes_kind_account", table_name="one_time_codes")
    op.drop_table("one_time_codes")
    # in place (SQLite 3.35+ drops a column itself): copying the table would drop the old one, which the
    # assignments and integration tokens refer to, under the foreign keys the engine enforces
    with op.batch_alter_table("accounts", recreate="never") as batch:
        batch.drop_column("tokens_valid_after")
