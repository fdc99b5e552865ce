"""Keys the operator may configure, else generated once and kept (mode 0600) under the data
directory, so a demo runs with none set and a restart keeps the same key."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from config.private_files import private_directory, private_file

log = logging.getLogger(__name__)


def configured_or_generated(configured: str | None, path: Path, variable: str) -> bytes:
    """``configured`` when set; else the key in ``path``, written there on first use."""
    if configured:
        return configured.encode()
    if not path.exists():
        private_directory(path.parent)
        private_file(path).write_text(secrets.token_hex(32))
        log.warning(f"generated a key; set {variable} to the same value on every instance in production",
                    extra={"path": str(path)})
    return path.read_text().strip().encode()
