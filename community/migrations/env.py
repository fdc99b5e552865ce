"""Alembic environment of the community context; run through relational.database.migrate()."""

from alembic import context

from community.access.storage.tables import metadata as access_metadata
from community.ownership.storage import metadata as ownership_metadata
from community.voting.storage import metadata as voting_metadata

config = context.config
context.configure(
    connection=config.attributes["connection"],
    target_metadata=[voting_metadata, access_metadata, ownership_metadata],
    version_table=config.attributes.get("version_table", "alembic_version_community"),
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
