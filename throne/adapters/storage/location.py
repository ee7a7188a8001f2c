"""Where a SQLite log may be written: the checks made before SQLite is asked to open it.

SQLite says only "unable to open database file" for a directory, a missing parent or a read-only
place; these checks name which one it is and what to do instead. They look and never write, so
`throne check` asks them too.
"""

from __future__ import annotations

import os
from pathlib import Path


def sqlite_location_problem(path: Path, *, create_parent: bool) -> str | None:
    """Why a log at ``path`` could not be opened for writing, in one line; None if it can.

    With ``create_parent`` a missing directory is not a problem (the caller creates it, as for
    the default log in the user's data directory); without it, a path whose directory is missing
    is more likely a typo than a wish for a new, empty contest.
    """
    if path.is_dir():
        return (
            f"{path} is a directory, not a log file: give a file path such as {path / 'throne.db'}"
        )
    parent = path.parent
    if not parent.exists():
        if create_parent:
            return _creatable(parent)
        return f"{parent} does not exist: create it (mkdir -p {parent}) or correct the log's path"
    if not parent.is_dir():
        return f"{parent} is not a directory: correct the log's path"
    # SQLite writes a journal beside the file, so the directory must be writable as well.
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"cannot write the log {path}: it is read-only; choose a writable location"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write the log {path}: {parent} is read-only; choose a writable location"
    return None


def _creatable(directory: Path) -> str | None:
    nearest = directory
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        return f"cannot create {directory}: {nearest} is not a directory"
    if not os.access(nearest, os.W_OK | os.X_OK):
        return f"cannot create {directory}: {nearest} is read-only; choose a writable location"
    return None
