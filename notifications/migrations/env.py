"""Alembic environment of the notifications; run through relational.database.migrate(engine, "notifications")."""

from alembic import context

from notifications.storage import metadata

config = context.config
context.configure(
    connection=config.attributes["connection"],
    target_metadata=metadata,
    version_table=config.attributes.get("version_table", "alembic_version_notifications"),
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
