"""A licence document's scan or photo, kept on disk under the data directory (market-scans/<site>/<name>):
``market_documents`` gains the file's random name, its type (JPEG, PNG or PDF, as its content says) and size.
Documents recorded before have none (NULL).

Revision ID: 0003_h8_document_scans
Revises: 0002_market_corrections
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_h8_document_scans"
down_revision = "0002_market_corrections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("market_documents") as documents_table:
        documents_table.add_column(sa.Column("scan_name", sa.String(40), nullable=True))
        documents_table.add_column(sa.Column("scan_type", sa.String(32), nullable=True))
        documents_table.add_column(sa.Column("scan_bytes", sa.Integer(), nullable=True))


def downgrade() -> None:
    # the files themselves stay in market-scans/: removing what an operator uploaded is not a schema change
    with op.batch_alter_table("market_documents") as documents_table:
        documents_table.drop_column("scan_bytes")
        documents_table.drop_column("scan_type")
        documents_table.drop_column("scan_name")
