"""Writing files so that readers never see a partial one."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write; renamed over ``path`` on success.

    On any failure, KeyboardInterrupt included, the temporary file is removed and
    ``path`` is left as it was. The name is unique per process and call, so
    concurrent writers never share a temporary file.
    """
    path = Path(path)
    # Not mkstemp: its 0600 mode would make a shared cache unreadable to other users.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
