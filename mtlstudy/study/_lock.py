"""One process per study: a lock file holding the owner's PID, stale when that PID is dead."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mtlstudy._errors import StudyError

__all__ = ["LOCK_FILE", "study_lock", "lock_owner"]

LOCK_FILE = ".lock"


def lock_owner(study_dir: Path) -> int | None:
    """PID of the live process holding ``study_dir``'s lock, or None (no lock or a stale one)."""
    try:
        pid = int((study_dir / LOCK_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


@contextlib.contextmanager
def study_lock(study_dir: Path) -> Iterator[None]:
    """Hold ``study_dir``'s lock; a stale lock is taken over, a live one raises StudyError."""
    path = study_dir / LOCK_FILE
    while True:
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            owner = lock_owner(study_dir)
            if owner is not None:
                raise StudyError(
                    f"study {study_dir.name!r} is in use by process {owner} (lock file {path})"
                ) from None
            path.unlink(missing_ok=True)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
