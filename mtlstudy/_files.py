"""Writing files so that readers never see a partial one."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write; renamed over ``path`` on success.

    On any failure, KeyboardInterrupt included, the temporary file is removed and
    ``path`` is left as it was. The name is unique per process and call, so
    concurrent writers never share a temporary file. The block may write a folder
    there instead: it replaces a folder at ``path``, which is moved aside first and
    removed once the new one is in place.
    """
    path = Path(path)
    # Not mkstemp: its 0600 mode would make a shared cache unreadable to other users.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        yield temporary
        _replace(temporary, path)
    except BaseException:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)
        raise


def _replace(temporary: Path, path: Path) -> None:
    """``os.replace``, which for folders needs ``path`` out of the way (it renames only over an empty one)."""
    if not (temporary.is_dir() and path.is_dir()):
        os.replace(temporary, path)
        return
    previous = temporary.with_suffix(".old")
    os.replace(path, previous)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.replace(previous, path)
        raise
    shutil.rmtree(previous, ignore_errors=True)
