"""Licence rules by what a stall sells, staff rosters, a market's own policy; batches with several certificates of
typed kinds and a product category.

* ``market_markets``: ``policy_health_every_stall``, ``policy_licence_for_farmers`` (the market's rules beyond the
  law), false for existing markets: the law alone, as before.
* ``market_vendors``: ``self_producing`` (a farmer selling their own produce), false for existing vendors.
* ``market_stalls``: ``offerings``, what the stall sells, backfilled from its type as the earlier rules read it:
  soy products and prepared food bulk food, cooked food ready-to-eat food, the produce trades farm produce. It
  stays nullable (the code always writes it; a row without reads as its type's): making it NOT NULL would rebuild
  the table on SQLite, which the stalls' tenures, scales, prices and batches refer to.
* ``market_stall_staff``: each stall's roster. Backfilled, for each stall with a vendor, with the holders of the
  vendor's health certificates (not voided): the earlier rules counted those certificates as the stall's staff;
  handling ready-to-eat food at a cooked-food stall (the one type that sold it), added at the first such
  certificate's recording.
* ``market_batch_certificates``: a batch's certificates. Backfilled with each batch's one certificate (position 0).
  ``market_batches`` keeps ``certificate_type``/``certificate_number``: the first certificate, as before.
* ``market_batches``: ``category``, backfilled from the stall's type where the type says it (a vegetables stall's
  batch is vegetables); left empty for meat stalls, whose batches never said which meat (pork needs a meat quality
  certificate, beef and poultry do not), and for batches of stalls unknown.

Revision ID: 0004_h4_licence_rules
Revises: 0003_h8_document_scans
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_h4_licence_rules"
down_revision = "0003_h8_document_scans"
branch_labels = None
depends_on = None

# stall type → what it sells, and the category of its batches, as they are at this revision (not imported from the
# code: a migration stays what it was when the code changes)
OFFERINGS = {"soy_products": "bulk_food", "prepared_food": "bulk_food", "cooked_food": "ready_to_eat",
             "prepackaged_food": "prepackaged_food"}
PRODUCE = "farm_produce"
CATEGORY = {"vegetables": "vegetables", "fruit": "fruit", "aquatic": "aquatic", "eggs": "eggs",
            "soy_products": "soy_products", "cooked_food": "cooked_food", "prepared_food": "prepared_food",
            "prepackaged_food": "prepackaged_food"}


def upgrade() -> None:
    # plain ADD COLUMNs (SQLite takes a NOT NULL one with its default): a batch operation would rebuild these tables,
    # which others refer to, and SQLite refuses to drop a table referred to while foreign keys are checked
    op.add_column("market_markets", sa.Column("policy_health_every_stall", sa.Boolean(), nullable=False,
                                              server_default=sa.false()))
    op.add_column("market_markets", sa.Column("policy_licence_for_farmers", sa.Boolean(), nullable=False,
                                              server_default=sa.false()))
    op.add_column("market_vendors", sa.Column("self_producing", sa.Boolean(), nullable=False,
                                              server_default=sa.false()))
    op.add_column("market_stalls", sa.Column("offerings", sa.String(100), nullable=True))
    op.add_column("market_batches", sa.Column("category", sa.String(32), nullable=True))
    staff = op.create_table(
        "market_stall_staff",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("stall", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("handles_ready_to_eat", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["site", "stall"], ["market_stalls.site", "market_stalls.stall"]),
    )
    certificates = op.create_table(
        "market_batch_certificates",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["site", "batch_id"], ["market_batches.site", "market_batches.batch_id"]),
    )
    _backfill(staff, certificates)


def _backfill(staff: sa.Table, certificates: sa.Table) -> None:
    stalls = sa.table("market_stalls", sa.column("site"), sa.column("stall"), sa.column("stall_type"),
                      sa.column("vendor_id"), sa.column("offerings"))
    documents = sa.table("market_documents", sa.column("site"), sa.column("vendor_id"), sa.column("kind"),
                         sa.column("holder"), sa.column("voided_at"), sa.column("recorded_at"))
    batches = sa.table("market_batches", sa.column("site"), sa.column("batch_id"), sa.column("stall"),
                       sa.column("certificate_type"), sa.column("certificate_number"), sa.column("category"))
    op.execute(sa.update(stalls).values(offerings=sa.case(OFFERINGS, value=stalls.c.stall_type, else_=PRODUCE)))
    op.execute(sa.insert(staff).from_select(
        ["site", "stall", "name", "handles_ready_to_eat", "added_at", "added_by"],
        sa.select(stalls.c.site, stalls.c.stall, documents.c.holder,
                  sa.case((stalls.c.stall_type == "cooked_food", sa.true()), else_=sa.false()),
                  sa.func.min(documents.c.recorded_at), sa.literal("migration 0004"))
        .select_from(stalls.join(documents, sa.and_(documents.c.site == stalls.c.site,
                                                    documents.c.vendor_id == stalls.c.vendor_id)))
        .where(documents.c.kind == "health_certificate", documents.c.voided_at.is_(None),
               documents.c.holder.is_not(None))
        .group_by(stalls.c.site, stalls.c.stall, stalls.c.stall_type, documents.c.holder)))
    op.execute(sa.insert(certificates).from_select(
        ["site", "batch_id", "position", "kind", "number"],
        sa.select(batches.c.site, batches.c.batch_id, sa.literal(0), batches.c.certificate_type,
                  batches.c.certificate_number)))
    of_stall = (sa.select(sa.case(CATEGORY, value=stalls.c.stall_type, else_=sa.null()))
                .where(stalls.c.site == batches.c.site, stalls.c.stall == batches.c.stall).scalar_subquery())
    op.execute(sa.update(batches).values(category=of_stall))


def downgrade() -> None:
    # DROP COLUMN in place (SQLite 3.35 and later, PostgreSQL): no table rebuilt under its foreign keys
    op.drop_table("market_batch_certificates")
    op.drop_table("market_stall_staff")
    op.drop_column("market_batches", "category")
    op.drop_column("market_stalls", "offerings")
    op.drop_column("market_vendors", "self_producing")
    op.drop_column("market_markets", "policy_licence_for_farmers")
    op.drop_column("market_markets", "policy_health_every_stall")
