"""Each proposal belongs to a community: ``voting_proposals.community_id``.

Who may see a proposal and act on it follows the accounts' scope (issue 12: one installation serves many
communities), so every proposal names its community. Proposals created from now on get it when they are opened: a
roll frozen from the register belongs to that register's community, a given roll to the community the proposal was
opened for.

Existing proposals get, in this order:

1. the community of the register their roll is frozen from (``roll_community_id``), where it is set;
2. else the community of their roll's units, when every unit of the roll is a unit of the access register and all
   of them are in one community (a roll given by hand may name units the access register does not know: then
   nothing is guessed);
3. else NULL: a proposal of no community, which only administrators see. An administrator can set it by hand
   (``UPDATE voting_proposals SET community_id = ... WHERE proposal_id = ...``).

Only a column and its index are added, in place.

Revision ID: 0008_voting_communities
Revises: 0007_access_face_hints
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_voting_communities"
down_revision = "0007_access_face_hints"
branch_labels = None
depends_on = None

# the tables as this revision knows them, so the migration does not change when the code does
proposals = sa.table("voting_proposals", sa.column("proposal_id", sa.String), sa.column("community_id", sa.String),
                     sa.column("roll_community_id", sa.String))
roll_units = sa.table("voting_roll_units", sa.column("proposal_id", sa.String), sa.column("unit_id", sa.String))
units = sa.table("access_units", sa.column("unit_id", sa.String), sa.column("building_id", sa.String))
buildings = sa.table("access_buildings", sa.column("building_id", sa.String), sa.column("community_id", sa.String))


def upgrade() -> None:
    # plain ADD COLUMN, not a batch: SQLite adds a nullable column in place, where a batch would copy the table, which
    # fails once the roll, the log, delegations, comments or results refer to a proposal
    op.add_column("voting_proposals", sa.Column("community_id", sa.String(64), nullable=True))
    op.create_index("voting_proposals_by_community", "voting_proposals", ["community_id"])
    connection = op.get_bind()
    connection.execute(sa.update(proposals).where(proposals.c.roll_community_id.is_not(None))
                       .values(community_id=proposals.c.roll_community_id))
    for proposal_id, community_id in _communities_of_given_rolls(connection):
        connection.execute(sa.update(proposals).where(proposals.c.proposal_id == proposal_id)
                           .values(community_id=community_id))


def _communities_of_given_rolls(connection: sa.Connection) -> list[tuple[str, str]]:
    """(proposal, community) for each proposal still without one whose roll's units are all units of the access
    register in one community."""
    found = (sa.select(roll_units.c.proposal_id, buildings.c.community_id)
             .select_from(roll_units.outerjoin(units, units.c.unit_id == roll_units.c.unit_id)
                          .outerjoin(buildings, buildings.c.building_id == units.c.building_id))
             .join(proposals, proposals.c.proposal_id == roll_units.c.proposal_id)
             .where(proposals.c.community_id.is_(None)))
    seen: dict[str, set[str | None]] = {}
    for proposal_id, community_id in connection.execute(found):
        seen.setdefault(proposal_id, set()).add(community_id)
    # a unit the access register does not know shows as None: then the roll names no one community
    return [(proposal_id, community_id) for proposal_id, ids in sorted(seen.items()) if len(ids) == 1
            for community_id in ids if community_id is not None]


def downgrade() -> None:
    op.drop_index("voting_proposals_by_community", "voting_proposals")
    op.execute("ALTER TABLE voting_proposals DROP COLUMN community_id")  # SQLite ≥ 3.35: in place, no copy
