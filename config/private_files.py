"""Folders and files only the installation's own user may open: what it keeps under SC_DATA_DIR holds full
phone numbers, password hashes and keys. Folders are made 0700 and files 0600 whatever the process's umask
(the CLI sets :data:`PRIVATE_UMASK` too, which also covers files others create for us, such as SQLite's)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

PRIVATE_UMASK = 0o077
"""Nothing the process creates is readable by group or others."""
PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """``path`` as a folder; each folder created on the way (it and missing parents) gets mode 0700. A folder
    that exists is left as it is: the operator may have made it on purpose."""
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_FOLDER_MODE)
        except FileExistsError:  # made meanwhile by another process or thread: theirs to set
            continue
        folder.chmod(PRIVATE_FOLDER_MODE)  # mkdir's mode passes through the umask
    return path


def private_file(path: Path) -> Path:
    """``path``, created empty with mode 0600 when missing (an existing file is left as it is), so what
    opens it next (SQLite) writes into a file nobody else can read."""
    with contextlib.suppress(FileExistsError):  # an existing file is left as it is
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    return path


def open_private(path: Path) -> BinaryIO:
    """``path`` opened for writing from the start, created with mode 0600 when missing."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE), "wb")
