"""One process per study: an OS lock (``flock``) on the study's lock file.

The kernel holds the lock for the open file, so it is released when its holder
exits, however it dies: there is no stale lock to detect or take over, and a
reused PID means nothing. The file itself is never deleted (deleting it would let
a second process lock a new file while the first still holds the old one); the
holder writes its PID and host name into it, for messages only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from mtlstudy._errors import StudyError
from mtlstudy.study._layout import LOCK_FILE

__all__ = ["study_lock", "lock_owner"]

#: How long a refused lock is retried: a probe by :func:`lock_owner` holds it for a moment.
_PROBE_WAIT_S = 0.5


def _try_lock(descriptor: int, operation: int) -> bool:
    try:
        fcntl.flock(descriptor, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    """``process PID on HOST`` as the holder wrote it, or a plain description if unreadable."""
    try:
        pid, host = path.read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return "another process"
    return f"process {pid} on {host}"


def lock_owner(study_dir: Path) -> int | None:
    """PID of the process holding ``study_dir``'s lock, or None if nobody holds it."""
    path = study_dir / LOCK_FILE
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if _try_lock(descriptor, fcntl.LOCK_SH):
            return None
        # The holder writes its PID just after locking; wait for it rather than guess.
        deadline = time.monotonic() + _PROBE_WAIT_S
        while True:
            with contextlib.suppress(OSError, ValueError, IndexError):
                return int(path.read_text(encoding="utf-8").split()[0])
            if time.monotonic() > deadline or _try_lock(descriptor, fcntl.LOCK_SH):
                return None
            time.sleep(0.05)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def study_lock(study_dir: Path) -> Iterator[None]:
    """Hold ``study_dir``'s lock for the block; raises StudyError if another process holds it."""
    path = study_dir / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + _PROBE_WAIT_S
        while not _try_lock(descriptor, fcntl.LOCK_EX):
            if time.monotonic() > deadline:
                raise StudyError(f"study {study_dir.name!r} is in use by {_holder(path)} (lock file {path})")
            time.sleep(0.05)
    except BaseException:
        os.close(descriptor)
        raise
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode())
        yield
    finally:
        # Emptied, the file tells readers that nobody holds it; closing releases the lock.
        os.ftruncate(descriptor, 0)
        os.close(descriptor)
