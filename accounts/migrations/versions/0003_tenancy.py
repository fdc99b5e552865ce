"""organisations, the communities and markets they hold and their accounts are assigned; integration tokens

Revision ID: 0003_tenancy
Revises: 0002_revocation
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_tenancy"
down_revision = "0002_revocation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("organisation_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("accounts") as batch:
        # existing staff accounts belong to no organisation and are assigned nothing: until an administrator
        # assigns them (smartcity account assign), they see nothing but their own account
        batch.add_column(sa.Column("organisation_id", sa.String(64), nullable=True))
        batch.create_foreign_key("fk_accounts_organisation", "organisations", ["organisation_id"],
                                 ["organisation_id"])
        batch.create_index("ix_accounts_organisation_id", ["organisation_id"])
    op.create_table(
        "organisation_scopes",
        sa.Column("organisation_id", sa.String(64), sa.ForeignKey("organisations.organisation_id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("organisation_id", "kind", "target_id"),
    )
    op.create_table(
        "account_scopes",
        sa.Column("account_id", sa.String(64), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "kind", "target_id"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_api_tokens_account_id", "api_tokens", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_account_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("account_scopes")
    op.drop_table("organisation_scopes")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_index("ix_accounts_organisation_id")
        batch.drop_constraint("fk_accounts_organisation", type_="foreignkey")
        batch.drop_column("organisation_id")
    op.drop_table("organisations")
