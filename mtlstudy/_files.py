"""Writing files so that readers never see a partial one, and never through a link or over a device."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from mtlstudy._errors import UnsafePathError, no_space_error

__all__ = ["atomic_path", "output_path", "open_to_write"]

#: This machine, in the names of temporary files: on a shared file system, a writer leaves alone
#: the temporaries of another machine, whose processes it cannot see.
_HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def _refuse_link_or_device(path: Path) -> None:
    """UnsafePathError if ``path`` is a symbolic link, or exists as neither a regular file nor a folder."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise _link_error(path)
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise UnsafePathError(f"refusing to replace {str(path)!r}: it is not a regular file or folder")


def _link_error(path: str | os.PathLike) -> UnsafePathError:
    return UnsafePathError(f"refusing to write {str(path)!r}: it is a symbolic link, not a file of its own")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write; renamed over ``path`` on success.

    On any failure, KeyboardInterrupt included, the temporary file is removed and
    ``path`` is left as it was. The name is unique per machine, process and call, so
    concurrent writers never share a temporary file. The block may write a folder
    there instead: it replaces a folder at ``path``, which is moved aside first and
    removed once the new one is in place. Temporaries of ``path`` that a killed
    process of this machine left are removed first.

    Raises
    ------
    UnsafePathError
        If ``path`` is a symbolic link (never written through), or a device, fifo or
        socket (never replaced).
    NoSpaceError
        If the device is full or the disk quota spent, naming ``path`` (not the temporary).
    """
    path = Path(path)
    _refuse_link_or_device(path)
    _remove_stale_temporaries(path)
    # Not mkstemp: its 0600 mode would make a shared cache unreadable to other users.
    temporary = path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        yield temporary
        _replace(temporary, path)
    except BaseException as error:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)
        full = no_space_error(error, path)
        if full is not None:
            raise full from None
        raise


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the ``.part`` and ``.old`` siblings of ``path`` that :func:`atomic_path` named for a process
    of this machine that has died; an ``.old`` folder whose ``path`` is gone is put back instead."""
    pattern = re.compile(re.escape(f".{path.name}.{_HOST}.") + r"(\d+)\.[0-9a-f]{8}\.(part|old)")
    try:
        entries = list(os.scandir(path.parent))
    except OSError:  # a missing folder has no temporaries; one that cannot be read, the write itself names
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or _alive(int(match[1])):
            continue
        stale = Path(entry.path)
        if match[2] == "old" and not os.path.lexists(path):  # killed between its two renames
            os.replace(stale, path)
        elif entry.is_dir(follow_symlinks=False):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


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


@contextlib.contextmanager
def output_path(path: str | os.PathLike) -> Iterator[Path]:
    """The path for the block to write a file that a user named, ``path``: a regular file (or a new
    one) through :func:`atomic_path`; anything else (a device, a fifo, a link such as
    ``/dev/stdout``) is ``path`` itself, written into as a stream, as the shell's ``>`` would, and
    never replaced."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    if not stat.S_ISREG(mode):
        yield path
        return
    with atomic_path(path) as temporary:
        yield temporary


def open_to_write(path: str | os.PathLike, mode: str = "w", **options) -> IO:
    """``open(path, mode, **options)``, written from its start: never through a symbolic link at ``path``
    (``O_NOFOLLOW``), and never into a device or fifo there.

    Raises
    ------
    UnsafePathError
        If ``path`` is a symbolic link, a device, a fifo or a socket; what it points to is left untouched.
    NoSpaceError
        If the device has no room for a new file (its inodes are spent, for one) or the quota is.
    """
    _refuse_link_or_device(path)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
    except OSError as error:
        if error.errno == errno.ELOOP:  # a link made since it was checked
            raise _link_error(path) from None
        raise no_space_error(error, path) or error
    return os.fdopen(descriptor, mode, **options)
