"""How the database's refusals are told apart: a value it cannot store (bad input, refused
with a reason) or a key that exists (a conflict), as opposed to the database failing.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError


def is_data_error(error: DBAPIError) -> bool:
    """Whether the database refused a value itself (too long for its column, a NUL character, a number out of
    range) — bad input that slipped past validation — rather than failing (connection lost, disk full).

    PostgreSQL says so with SQLSTATE class 22 (data exception); asyncpg refuses some values before sending them
    (its own ``DataError``). SQLite stores such values without complaint.
    """
    original = error.orig
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if isinstance(state, str) and state.startswith("22"):
        return True
    cause = getattr(original, "__cause__", None)
    return any(type(link).__name__ == "DataError" for link in (original, cause) if link is not None)


def is_conflict(error: IntegrityError) -> bool:
    """Whether an insert failed on a key that exists (rather than on a missing reference)."""
    text = str(error.orig).lower()
    return "unique" in text or "duplicate" in text
