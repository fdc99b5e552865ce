"""Mask the hints of face credentials stored whole.

A face template's reference is what the face terminal reports when it recognises someone: the credential itself.
Until now its hint was the whole reference; from now on a hint shows only the last four characters (``…1a2b``), as
for a card number (``community.access.directory.credential_hint``). This rewrites the hints stored before, so the
whole reference is no longer in the database at all (the keyed hash, which the gates match, is unchanged). The
reading side masks too, so a row this migration has not reached is never shown whole either.

Not reversible: the whole references are gone, as intended; the downgrade leaves the masked hints.

Revision ID: 0007_access_face_hints
Revises: 0006_voting_anchors
Create Date: 2026-12-11
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_access_face_hints"
down_revision = "0006_voting_anchors"
branch_labels = None
depends_on = None

_SHOWN = 4
_MASK = "…"

credentials = sa.table(
    "access_credentials",
    sa.column("credential_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("hint", sa.String),
)


def _masked(reference: str) -> str | None:
    # the same rule as credential_hint, written out so the migration does not change when the code does
    if reference.startswith(_MASK) and len(reference) == _SHOWN + 1:
        return reference
    return _MASK + reference[-_SHOWN:] if len(reference) > _SHOWN else None


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(credentials.c.credential_id, credentials.c.hint).where(
        credentials.c.kind == "face", credentials.c.hint.is_not(None))).all()
    for credential_id, hint in rows:
        masked = _masked(hint)
        if masked != hint:
            connection.execute(sa.update(credentials).where(credentials.c.credential_id == credential_id)
                               .values(hint=masked))


def downgrade() -> None:
    pass  # the whole references are not kept anywhere: nothing to restore
