"""A study's Optuna storage, opened by URL: a SQLAlchemy database or a journal file."""

from __future__ import annotations

from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from mtlstudy._errors import StudyError
from mtlstudy._files import atomic_path

__all__ = ["JOURNAL_SCHEME", "open_storage", "load_study", "storage_file"]

#: URL scheme of a journal file: ``journal:///abs/path/study.log`` or ``journal://relative/study.log``.
JOURNAL_SCHEME = "journal://"


def storage_file(url: str) -> Path | None:
    """The file a SQLite or journal URL names; None for a database server (or in-memory SQLite)."""
    if url.startswith(JOURNAL_SCHEME):
        return Path(url[len(JOURNAL_SCHEME) :])
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise StudyError(
            f"storage must be a SQLAlchemy URL (sqlite:///path, postgresql://...) or {JOURNAL_SCHEME}path, got {url!r}"
        ) from None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_storage(url: str, existing: bool = False) -> optuna.storages.BaseStorage:
    """Open the Optuna storage at ``url``, creating its tables or file unless ``existing``.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL (``sqlite:///path``, ``postgresql://user@host/db``) or a journal
        file, ``journal:///path``; a journal suits a shared file system, where SQLite's
        locks are unreliable.
    existing : bool
        The storage must exist already: a missing SQLite or journal file is an error
        instead of a new, empty study database.

    Raises
    ------
    StudyError
        If the URL is malformed, its driver is missing, or the storage cannot be opened.
    """
    path = storage_file(url)
    if existing and path is not None and not path.is_file():
        raise StudyError(f"the study database {str(path)!r} does not exist (storage {url!r})")
    try:
        if url.startswith(JOURNAL_SCHEME):
            return JournalStorage(JournalFileBackend(str(path)))
        if path is not None and not path.exists():
            # Built beside and renamed into place, a new SQLite file is never seen without its
            # tables: a reader (`study status`) would create them too, and one of the two would fail.
            with atomic_path(path) as temporary:
                RDBStorage(f"sqlite:///{temporary}").engine.dispose()
        return RDBStorage(url)
    except (ImportError, OSError, ValueError, sqlalchemy.exc.SQLAlchemyError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise StudyError(f"cannot open storage {url!r}: {reason}") from None


def load_study(name: str, url: str) -> optuna.Study:
    """Study ``name`` from the existing storage at ``url``; StudyError if either is missing."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url, existing=True)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise StudyError(f"storage {url!r} holds no study {name!r}") from None
