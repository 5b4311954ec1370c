"""A study storage's faults: an outage is waited out, a full disk is one line.

An outage is a database server restarting or failing over, a connection it dropped, or a SQLite
file that another process holds locked: each call of the storage is made again, with waits that
double from 0.5 s to 8 s, until it has failed for :data:`OUTAGE_S` seconds, and then fails with
one line, leaving the study as its last answered call left it, to be resumed.
"""

from __future__ import annotations

import abc
import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from optuna.storages import BaseStorage

from mtlstudy._errors import NoSpaceError, StudyError, no_space_error
from mtlstudy.study._storage_url import hide_password

__all__ = ["OUTAGE_S", "call", "GuardedStorage"]

#: Seconds a storage call waits out an outage before it fails. Read at each call, so tests can lower it.
OUTAGE_S = 60.0

#: SQLite's result codes (the low byte of an extended code) worth another try: a file that another
#: process holds locked, or an I/O error (a network file system's hiccup).
_SQLITE_TRANSIENT = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR})

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


def call(url: str, file: Path | None, wait_out: bool, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``function(*args, **kwargs)`` on the storage at ``url``, whose file, if it has one, is ``file``;
    with ``wait_out``, called again while it fails with an outage (see :func:`_outage`), for up to
    :data:`OUTAGE_S` seconds.

    Raises
    ------
    StudyError
        The storage did not answer for :data:`OUTAGE_S` seconds.
    NoSpaceError
        The disk under a SQLite or journal file is full.
    """
    first_failure, wait = None, 0.5
    while True:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            full = _no_space(error, file or hide_password(url))
            if full is not None:
                raise full from None
            if not (wait_out and _outage(error)):
                raise
            now, outage_s = time.monotonic(), OUTAGE_S
            if first_failure is None:
                first_failure = now
                _log.warning(f"storage {hide_password(url)!r} did not answer ({_reason(error)}); "
                             f"trying again for up to {outage_s:g} s")
            left = first_failure + outage_s - now
            if left <= 0:
                raise StudyError(
                    f"storage {hide_password(url)!r} did not answer for {outage_s:g} s: {_reason(error)}"
                ) from None
            time.sleep(min(wait, left))
            wait = min(2 * wait, 8.0)


def _database_error(error: BaseException | None) -> sqlalchemy.exc.DBAPIError | None:
    """The driver's error behind ``error``, raised from it or while handling it: Optuna raises
    StorageInternalError from SQLAlchemy's, and where Optuna's fallback query meets a connection that
    the first query lost, from a PendingRollbackError raised while handling the driver's error."""
    while error is not None and not isinstance(error, sqlalchemy.exc.DBAPIError):
        error = error.__cause__ or error.__context__
    return error


def _outage(error: BaseException) -> bool:
    """Whether ``error`` says that the storage did not answer, as it may again: a connection to a
    database server lost, refused or timed out (the driver's OperationalError, or one that SQLAlchemy
    found broken), or a SQLite file locked or hit by an I/O error."""
    database = _database_error(error)
    if database is None:
        return False
    sqlite_code = getattr(database.orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return sqlite_code & 0xFF in _SQLITE_TRANSIENT
    return database.connection_invalidated or isinstance(
        database, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)
    )


def _no_space(error: BaseException, where: str | Path) -> NoSpaceError | None:
    """The NoSpaceError naming ``where`` if ``error`` says that the storage's disk is full."""
    database = _database_error(error)
    if database is not None and getattr(database.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return no_space_error(error, where)


def _reason(error: BaseException) -> str:
    """The first line of what the driver said, else of ``error``."""
    database = _database_error(error)
    text = str(error if database is None else database.orig).strip()
    return (text.splitlines() or [type(error).__name__])[0]


class GuardedStorage(BaseStorage):
    """``storage``, the Optuna storage at ``url`` (in ``file``, if it has one), each of its calls made
    through :func:`call`."""

    def __init__(self, storage: BaseStorage, url: str, file: Path | None) -> None:
        self._storage = storage
        self._url = url
        self._file = file


def _guarded(name: str) -> Callable[..., Any]:
    def method(self: GuardedStorage, *args: Any, **kwargs: Any) -> Any:
        return call(self._url, self._file, True, getattr(self._storage, name), *args, **kwargs)

    method.__name__, method.__qualname__ = name, f"GuardedStorage.{name}"
    method.__doc__ = getattr(BaseStorage, name).__doc__
    return method


# Every public method of Optuna's storage interface, so none is called unguarded.
for _name, _member in vars(BaseStorage).items():
    if callable(_member) and not _name.startswith("_"):
        setattr(GuardedStorage, _name, _guarded(_name))
abc.update_abstractmethods(GuardedStorage)
