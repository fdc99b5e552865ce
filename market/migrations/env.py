"""Alembic environment of the market context; run through relational.database.migrate(engine, "market")."""

from alembic import context

from market.storage.tables import metadata

config = context.config
context.configure(
    connection=config.attributes["connection"],
    target_metadata=metadata,
    version_table=config.attributes.get("version_table", "alembic_version_market"),
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
