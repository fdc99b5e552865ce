"""The market's tables (SQLAlchemy Core): markets (with their own licence policy), vendors and their documents,
stalls (what each sells) with their staff rosters and who held them when, scales, published prices, command
deliveries, batches with their certificates, rapid tests, sales, findings, operators' corrections and shoppers'
complaints.

They mirror market/migrations (a test compares them). Money is integer fen (BIGINT where an amount may
pass 2^31), weight integer grams, times aware UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
)

from relational.database import UtcDateTime

metadata = MetaData()

markets = Table(
    "market_markets", metadata,
    Column("site", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("address", String(200), nullable=False),
    Column("complaint_hotline", String(20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("policy_health_every_stall", Boolean(), nullable=False, server_default=false()),
    Column("policy_licence_for_farmers", Boolean(), nullable=False, server_default=false()),
)

vendors = Table(
    "market_vendors", metadata,
    Column("site", String(64), primary_key=True),
    Column("vendor_id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("photo_ref", String(500), nullable=True),
    Column("contact_phone", String(32), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("self_producing", Boolean(), nullable=False, server_default=false()),
    ForeignKeyConstraint(["site"], ["market_markets.site"]),
)

documents = Table(
    "market_documents", metadata,
    Column("document_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("vendor_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("number", String(64), nullable=False),
    Column("valid_from", Date(), nullable=False),
    Column("valid_to", Date(), nullable=True),
    Column("holder", String(64), nullable=True),
    Column("scope", String(200), nullable=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("voided_at", UtcDateTime(), nullable=True),
    Column("voided_by", String(64), nullable=True),
    Column("void_reason", String(200), nullable=True),
    Column("scan_name", String(40), nullable=True),
    Column("scan_type", String(32), nullable=True),
    Column("scan_bytes", Integer(), nullable=True),
    ForeignKeyConstraint(["site", "vendor_id"], ["market_vendors.site", "market_vendors.vendor_id"]),
    Index("market_documents_by_vendor", "site", "vendor_id"),
)

stalls = Table(
    "market_stalls", metadata,
    Column("site", String(64), primary_key=True),
    Column("stall", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("stall_type", String(32), nullable=False),
    Column("vendor_id", String(64), nullable=True),
    Column("offerings", String(100), nullable=True),  # what it sells; NULL (never written): its type's
    ForeignKeyConstraint(["site"], ["market_markets.site"]),
    ForeignKeyConstraint(["site", "vendor_id"], ["market_vendors.site", "market_vendors.vendor_id"]),
)

stall_staff = Table(
    "market_stall_staff", metadata,
    Column("site", String(64), primary_key=True),
    Column("stall", String(32), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("handles_ready_to_eat", Boolean(), nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
    Column("added_by", String(64), nullable=False),
    ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
)

stall_tenures = Table(
    "market_stall_tenures", metadata,
    Column("tenure_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("stall", String(32), nullable=False),
    Column("since", UtcDateTime(), nullable=False),
    Column("name", String(100), nullable=False),
    Column("vendor_id", String(64), nullable=True),
    ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    Index("market_stall_tenures_by_stall", "site", "stall", "since"),
)

scales = Table(
    "market_scales", metadata,
    Column("site", String(64), primary_key=True),
    Column("scale_id", String(64), primary_key=True),
    Column("stall", String(32), nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("online", Boolean(), nullable=True),
    Column("state_changed_at", UtcDateTime(), nullable=True),
    ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    Index("market_scales_by_stall", "site", "stall"),
)

prices = Table(
    "market_prices", metadata,
    Column("price_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("stall", String(32), nullable=False),
    Column("plu", String(32), nullable=False),
    Column("product", String(128), nullable=False),
    Column("unit_price_fen", BigInteger(), nullable=False),
    Column("effective_from", UtcDateTime(), nullable=False),
    Column("published_at", UtcDateTime(), nullable=False),
    Column("published_by", String(64), nullable=False),
    ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    Index("market_prices_by_stall_plu", "site", "stall", "plu", "effective_from"),
)

deliveries = Table(
    "market_deliveries", metadata,
    Column("delivery_id", Integer(), primary_key=True, autoincrement=True),  # creation order
    Column("cmd_id", String(64), nullable=False, unique=True),
    Column("site", String(64), nullable=False),
    Column("scale_id", String(64), nullable=False),
    Column("stall", String(32), nullable=False),
    Column("op", String(32), nullable=False),
    Column("args", JSON(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("last_sent_at", UtcDateTime(), nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("error", String(200), nullable=True),
    Column("result", JSON(), nullable=True),
    Index("market_deliveries_due", "status", "next_attempt_at"),
    Index("market_deliveries_by_scale", "site", "scale_id", "delivery_id"),
)

batches = Table(
    "market_batches", metadata,
    Column("site", String(64), primary_key=True),
    Column("batch_id", String(64), primary_key=True),
    Column("stall", String(32), nullable=False),
    Column("plu", String(32), nullable=False),
    Column("product", String(128), nullable=False),
    Column("supplier", String(100), nullable=False),
    Column("supplier_contact", String(64), nullable=True),
    Column("origin_code", String(6), nullable=False),
    Column("origin_name", String(100), nullable=False),
    Column("quantity_g", BigInteger(), nullable=False),
    # the first of the batch's certificates (market_batch_certificates has them all), as the first schema kept it
    Column("certificate_type", String(16), nullable=False),
    Column("certificate_number", String(64), nullable=False),
    Column("arrived_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("blocked_at", UtcDateTime(), nullable=True),
    Column("block_reason", String(200), nullable=True),
    Column("blocked_by", String(64), nullable=True),
    Column("block_cause", String(16), nullable=True),
    Column("category", String(32), nullable=True),
    Column("admitted_by_test", Boolean(), nullable=False, server_default=false()),
    ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    Index("market_batches_by_stall_plu", "site", "stall", "plu", "arrived_at"),
)

batch_certificates = Table(
    "market_batch_certificates", metadata,
    Column("site", String(64), primary_key=True),
    Column("batch_id", String(64), primary_key=True),
    Column("position", Integer(), primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("number", String(64), nullable=False),
    ForeignKeyConstraint(["site", "batch_id"], ["market_batches.site", "market_batches.batch_id"]),
)

rapid_tests = Table(
    "market_rapid_tests", metadata,
    Column("test_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("item", String(64), nullable=False),
    Column("method", String(64), nullable=False),
    Column("result", String(8), nullable=False),  # pass/fail as before; ``outcome`` says what the test found
    Column("value", String(64), nullable=True),
    Column("tester", String(64), nullable=False),
    Column("tested_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    # a standard item's reading (empty for tests recorded before items were data)
    Column("item_code", String(32), nullable=True),
    Column("method_code", String(32), nullable=True),
    Column("measured", String(24), nullable=True),  # a Decimal as text: exact on both databases
    Column("unit", String(8), nullable=True),
    Column("cutoff", String(24), nullable=True),
    Column("outcome", String(24), nullable=True),  # NULL (never written): from ``result``
    Column("lab_verdict", String(8), nullable=True),
    Column("lab_name", String(100), nullable=True),
    Column("lab_report", String(64), nullable=True),
    Column("lab_reported_at", UtcDateTime(), nullable=True),
    Column("lab_recorded_by", String(64), nullable=True),
    ForeignKeyConstraint(["site", "batch_id"], ["market_batches.site", "market_batches.batch_id"]),
    Index("market_rapid_tests_by_batch", "site", "batch_id"),
)

sales = Table(
    "market_sales", metadata,
    Column("site", String(64), primary_key=True),
    Column("scale_id", String(64), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("ts", UtcDateTime(), nullable=False),
    Column("stall", String(32), nullable=False),
    Column("plu", String(32), nullable=False),
    Column("product", String(128), nullable=True),
    Column("net_g", Integer(), nullable=False),
    Column("unit_price_fen", BigInteger(), nullable=False),
    Column("amount_fen", BigInteger(), nullable=False),
    Column("trace_code", String(64), nullable=False),
    Column("claimed_batch", String(64), nullable=True),
    Column("batch_id", String(64), nullable=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("stall_name", String(100), nullable=True),
    Column("vendor_id", String(64), nullable=True),
    Column("vendor_name", String(100), nullable=True),
    Index("market_sales_by_trace_code", "site", "trace_code"),
    Index("market_sales_by_batch", "site", "batch_id", "ts"),
)

findings = Table(
    "market_findings", metadata,
    Column("finding_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("finding_key", String(255), nullable=False),
    Column("stall", String(32), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("detail", JSON(), nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("resolved_by", String(64), nullable=True),
    Column("resolution", String(500), nullable=True),
    UniqueConstraint("site", "finding_key", name="market_findings_once"),
    Index("market_findings_by_time", "site", "at"),
)

corrections = Table(
    "market_corrections", metadata,
    Column("correction_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("corrected_by", String(64), nullable=False),
    Column("corrected_at", UtcDateTime(), nullable=False),
    Column("detail", JSON(), nullable=False),
    Index("market_corrections_by_subject", "site", "kind", "subject"),
    Index("market_corrections_by_time", "site", "corrected_at"),
)

complaints = Table(
    "market_complaints", metadata,
    Column("complaint_id", Integer(), primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("reference", String(16), nullable=False),
    Column("stall", String(32), nullable=False),
    Column("trace_code", String(64), nullable=True),
    Column("category", String(16), nullable=False),
    Column("text", String(1000), nullable=False),
    Column("photo_name", String(40), nullable=True),
    Column("photo_type", String(32), nullable=True),
    Column("photo_bytes", Integer(), nullable=True),
    Column("filed_at", UtcDateTime(), nullable=False),
    Column("deadline", UtcDateTime(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("handled_by", String(64), nullable=True),
    Column("outcome", String(500), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=True),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("conclusion", String(16), nullable=True),
    ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    UniqueConstraint("site", "reference", name="market_complaints_reference"),
    Index("market_complaints_by_state", "site", "state", "filed_at"),
    Index("market_complaints_by_stall", "site", "stall", "closed_at"),
)
