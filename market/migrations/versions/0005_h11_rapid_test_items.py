"""Rapid tests as data: a standard item's reading (item, method, value, unit, the cutoff it was judged by), the
outcome (negative, suspected positive, positive) and a suspected positive's laboratory result; batches of farm
produce admitted on the market's own rapid tests.

* ``market_rapid_tests``: ``item_code``, ``method_code``, ``measured``, ``unit``, ``cutoff`` (empty for tests
  recorded before: their item, method and value stay the words typed), ``outcome``, backfilled from ``result``
  (pass → negative, fail → positive: a failed test recalled its batch, as a positive does), and the laboratory's
  ``lab_verdict``, ``lab_name``, ``lab_report``, ``lab_reported_at``, ``lab_recorded_by`` (empty). ``result`` stays,
  written as before (pass while the test stands against nothing), for readers of the older schema. ``outcome``
  stays nullable (the code always writes it; a row without reads from ``result``): NOT NULL would rebuild the table
  on SQLite.
* ``market_batches``: ``admitted_by_test``, false for existing batches (each came with its certificate).

Revision ID: 0005_h11_rapid_test_items
Revises: 0004_h4_licence_rules
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_h11_rapid_test_items"
down_revision = "0004_h4_licence_rules"
branch_labels = None
depends_on = None

COLUMNS = (
    ("item_code", sa.String(32)), ("method_code", sa.String(32)), ("measured", sa.String(24)),
    ("unit", sa.String(8)), ("cutoff", sa.String(24)), ("outcome", sa.String(24)), ("lab_verdict", sa.String(8)),
    ("lab_name", sa.String(100)), ("lab_report", sa.String(64)),
    ("lab_reported_at", sa.DateTime(timezone=True)), ("lab_recorded_by", sa.String(64)),
)


def upgrade() -> None:
    # plain ADD COLUMNs: a batch operation would rebuild the tables, which others refer to
    for name, kind in COLUMNS:
        op.add_column("market_rapid_tests", sa.Column(name, kind, nullable=True))
    op.add_column("market_batches", sa.Column("admitted_by_test", sa.Boolean(), nullable=False,
                                              server_default=sa.false()))
    tests = sa.table("market_rapid_tests", sa.column("result", sa.String()), sa.column("outcome", sa.String()))
    op.execute(tests.update().values(outcome=sa.case((tests.c.result == "pass", "negative"), else_="positive")))


def downgrade() -> None:
    op.drop_column("market_batches", "admitted_by_test")
    for name, _kind in reversed(COLUMNS):
        op.drop_column("market_rapid_tests", name)
