"""A complaint's conclusion (核实结论), said when closing it: ``upheld`` (查实) or ``not_upheld`` (不属实). A complaint
resolved (已办结) may be either, so the state alone cannot tell the vendor's credit whether it counts.

Back-fill: a rejected complaint (不予支持) was not upheld by definition; a resolved one is left without a conclusion
(nobody said which it was): the credit reads it as the rules read a resolved complaint before, upheld.

Revision ID: 0007_h7_complaint_conclusion
Revises: 0006_h11_complaints
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_h7_complaint_conclusion"
down_revision = "0006_h11_complaints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("market_complaints", sa.Column("conclusion", sa.String(16), nullable=True))  # plain ADD COLUMN
    complaints = sa.table("market_complaints", sa.column("state", sa.String()), sa.column("conclusion", sa.String()))
    op.execute(complaints.update().where(complaints.c.state == "rejected").values(conclusion="not_upheld"))


def downgrade() -> None:
    op.drop_column("market_complaints", "conclusion")
