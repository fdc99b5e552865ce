"""Relational database plumbing: engines from SC_DATABASE_URL, each context's Alembic migrations, UtcDateTime."""
