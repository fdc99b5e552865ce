"""Who held a stall when (stall tenures) and who a sale was made by; voided documents; the audit
trail of operators' corrections.

* ``market_stall_tenures``: a stall's name and vendor from a time on. Existing stalls get one tenure
  from the epoch: as far back as anything is known, the stall was what it is now.
* ``market_sales``: ``stall_name``, ``vendor_id``, ``vendor_name`` of the tenure in force at the sale.
  Existing sales are backfilled from the stall as it is now, the best that is known.
* ``market_documents``: ``voided_at``, ``voided_by``, ``void_reason`` (a mistyped document voided).
* ``market_corrections``: what an operator corrected (a block lifted, a document voided, a batch's
  quantity), when, by whom, why, with the values before and after.

Revision ID: 0002_market_corrections
Revises: 0001_market
Create Date: 2026-12-01
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from relational.database import UtcDateTime

revision = "0002_market_corrections"
down_revision = "0001_market"
branch_labels = None
depends_on = None

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    tenures = op.create_table(
        "market_stall_tenures",
        sa.Column("tenure_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("stall", sa.String(32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    )
    op.create_index("market_stall_tenures_by_stall", "market_stall_tenures", ["site", "stall", "since"])
    with op.batch_alter_table("market_sales") as sales_table:
        sales_table.add_column(sa.Column("stall_name", sa.String(100), nullable=True))
        sales_table.add_column(sa.Column("vendor_id", sa.String(64), nullable=True))
        sales_table.add_column(sa.Column("vendor_name", sa.String(100), nullable=True))
    with op.batch_alter_table("market_documents") as documents_table:
        documents_table.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
        documents_table.add_column(sa.Column("voided_by", sa.String(64), nullable=True))
        documents_table.add_column(sa.Column("void_reason", sa.String(200), nullable=True))
    op.create_table(
        "market_corrections",
        sa.Column("correction_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("corrected_by", sa.String(64), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("market_corrections_by_subject", "market_corrections", ["site", "kind", "subject"])
    op.create_index("market_corrections_by_time", "market_corrections", ["site", "corrected_at"])
    _backfill(tenures)


def _backfill(tenures: sa.Table) -> None:
    stalls = sa.table("market_stalls", sa.column("site"), sa.column("stall"), sa.column("name"),
                      sa.column("vendor_id"))
    vendors = sa.table("market_vendors", sa.column("site"), sa.column("vendor_id"), sa.column("name"))
    sales = sa.table("market_sales", sa.column("site"), sa.column("stall"), sa.column("stall_name"),
                     sa.column("vendor_id"), sa.column("vendor_name"))
    op.execute(sa.insert(tenures).from_select(
        ["site", "stall", "since", "name", "vendor_id"],
        sa.select(stalls.c.site, stalls.c.stall, sa.literal(EPOCH, UtcDateTime()), stalls.c.name, stalls.c.vendor_id)))
    same_stall = sa.and_(stalls.c.site == sales.c.site, stalls.c.stall == sales.c.stall)
    holder = (sa.select(vendors.c.name).select_from(stalls.join(
        vendors, sa.and_(vendors.c.site == stalls.c.site, vendors.c.vendor_id == stalls.c.vendor_id)))
        .where(same_stall).scalar_subquery())
    op.execute(sa.update(sales).values(
        stall_name=sa.select(stalls.c.name).where(same_stall).scalar_subquery(),
        vendor_id=sa.select(stalls.c.vendor_id).where(same_stall).scalar_subquery(),
        vendor_name=holder))


def downgrade() -> None:
    op.drop_index("market_corrections_by_time", table_name="market_corrections")
    op.drop_index("market_corrections_by_subject", table_name="market_corrections")
    op.drop_table("market_corrections")
    with op.batch_alter_table("market_documents") as documents_table:
        documents_table.drop_column("void_reason")
        documents_table.drop_column("voided_by")
        documents_table.drop_column("voided_at")
    with op.batch_alter_table("market_sales") as sales_table:
        sales_table.drop_column("vendor_name")
        sales_table.drop_column("vendor_id")
        sales_table.drop_column("stall_name")
    op.drop_index("market_stall_tenures_by_stall", table_name="market_stall_tenures")
    op.drop_table("market_stall_tenures")
