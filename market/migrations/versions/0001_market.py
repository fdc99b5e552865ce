"""Smart market: markets, vendors and documents, stalls, scales, prices, command deliveries, batches,
rapid tests, sales and findings.

Revision ID: 0001_market
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_market"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_markets",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("complaint_hotline", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "market_vendors",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("vendor_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("photo_ref", sa.String(500), nullable=True),
        sa.Column("contact_phone", sa.String(32), nullable=True),  # private: operators only
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site"], ["market_markets.site"]),
    )
    op.create_table(
        "market_documents",
        sa.Column("document_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),  # none: long-term
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("scope", sa.String(200), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["site", "vendor_id"], ["market_vendors.site", "market_vendors.vendor_id"]),
    )
    op.create_index("market_documents_by_vendor", "market_documents", ["site", "vendor_id"])
    op.create_table(
        "market_stalls",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("stall", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("stall_type", sa.String(32), nullable=False),
        sa.Column("vendor_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["site"], ["market_markets.site"]),
        sa.ForeignKeyConstraint(["site", "vendor_id"], ["market_vendors.site", "market_vendors.vendor_id"]),
    )
    op.create_table(
        "market_scales",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("scale_id", sa.String(64), primary_key=True),
        sa.Column("stall", sa.String(32), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=True),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    )
    op.create_index("market_scales_by_stall", "market_scales", ["site", "stall"])
    op.create_table(
        "market_prices",
        sa.Column("price_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("stall", sa.String(32), nullable=False),
        sa.Column("plu", sa.String(32), nullable=False),
        sa.Column("product", sa.String(128), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    )
    op.create_index("market_prices_by_stall_plu", "market_prices", ["site", "stall", "plu", "effective_from"])
    op.create_table(
        "market_deliveries",
        sa.Column("delivery_id", sa.Integer(), primary_key=True, autoincrement=True),  # creation order
        sa.Column("cmd_id", sa.String(64), nullable=False, unique=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("scale_id", sa.String(64), nullable=False),
        sa.Column("stall", sa.String(32), nullable=False),
        sa.Column("op", sa.String(32), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(200), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
    )
    op.create_index("market_deliveries_due", "market_deliveries", ["status", "next_attempt_at"])
    op.create_index("market_deliveries_by_scale", "market_deliveries", ["site", "scale_id", "delivery_id"])
    op.create_table(
        "market_batches",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("stall", sa.String(32), nullable=False),
        sa.Column("plu", sa.String(32), nullable=False),
        sa.Column("product", sa.String(128), nullable=False),
        sa.Column("supplier", sa.String(100), nullable=False),
        sa.Column("supplier_contact", sa.String(64), nullable=True),  # private: operators only
        sa.Column("origin_code", sa.String(6), nullable=False),
        sa.Column("origin_name", sa.String(100), nullable=False),
        sa.Column("quantity_g", sa.BigInteger(), nullable=False),
        sa.Column("certificate_type", sa.String(16), nullable=False),
        sa.Column("certificate_number", sa.String(64), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("block_reason", sa.String(200), nullable=True),
        sa.Column("blocked_by", sa.String(64), nullable=True),
        sa.Column("block_cause", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    )
    op.create_index("market_batches_by_stall_plu", "market_batches", ["site", "stall", "plu", "arrived_at"])
    op.create_table(
        "market_rapid_tests",
        sa.Column("test_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("value", sa.String(64), nullable=True),
        sa.Column("tester", sa.String(64), nullable=False),
        sa.Column("tested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site", "batch_id"], ["market_batches.site", "market_batches.batch_id"]),
    )
    op.create_index("market_rapid_tests_by_batch", "market_rapid_tests", ["site", "batch_id"])
    # No foreign keys on sales and findings: what the scales report is kept whatever the registry says.
    op.create_table(
        "market_sales",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("scale_id", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stall", sa.String(32), nullable=False),
        sa.Column("plu", sa.String(32), nullable=False),
        sa.Column("product", sa.String(128), nullable=True),
        sa.Column("net_g", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("trace_code", sa.String(64), nullable=False),
        sa.Column("claimed_batch", sa.String(64), nullable=True),
        sa.Column("batch_id", sa.String(64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("market_sales_by_trace_code", "market_sales", ["site", "trace_code"])
    op.create_index("market_sales_by_batch", "market_sales", ["site", "batch_id", "ts"])
    op.create_table(
        "market_findings",
        sa.Column("finding_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("finding_key", sa.String(255), nullable=False),
        sa.Column("stall", sa.String(32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("resolution", sa.String(500), nullable=True),
        sa.UniqueConstraint("site", "finding_key", name="market_findings_once"),
    )
    op.create_index("market_findings_by_time", "market_findings", ["site", "at"])


def downgrade() -> None:
    op.drop_index("market_findings_by_time", table_name="market_findings")
    op.drop_table("market_findings")
    op.drop_index("market_sales_by_batch", table_name="market_sales")
    op.drop_index("market_sales_by_trace_code", table_name="market_sales")
    op.drop_table("market_sales")
    op.drop_index("market_rapid_tests_by_batch", table_name="market_rapid_tests")
    op.drop_table("market_rapid_tests")
    op.drop_index("market_batches_by_stall_plu", table_name="market_batches")
    op.drop_table("market_batches")
    op.drop_index("market_deliveries_by_scale", table_name="market_deliveries")
    op.drop_index("market_deliveries_due", table_name="market_deliveries")
    op.drop_table("market_deliveries")
    op.drop_index("market_prices_by_stall_plu", table_name="market_prices")
    op.drop_table("market_prices")
    op.drop_index("market_scales_by_stall", table_name="market_scales")
    op.drop_table("market_scales")
    op.drop_table("market_stalls")
    op.drop_index("market_documents_by_vendor", table_name="market_documents")
    op.drop_table("market_documents")
    op.drop_table("market_vendors")
    op.drop_table("market_markets")
