"""Opening a study that exists: its saved spec, its shared files and its database, each loaded once."""

from __future__ import annotations

import functools
import os
from typing import Any

import optuna

from mtlstudy._errors import StudyError
from mtlstudy.study._database import StudyDatabase
from mtlstudy.study._layout import DEFAULT_DIR, SPEC_FILE, StudyFiles
from mtlstudy.study._spec import StudySpec, check_name, load_spec, resolve_spec

__all__ = ["OpenStudy", "open_study"]


class OpenStudy:
    """A study that exists, as :func:`open_study` opened it: hand it on instead of opening it again.

    Attributes
    ----------
    spec : StudySpec
        The spec the study saved (its ``dir`` where it was opened).
    files : StudyFiles
        Its shared files.
    """

    def __init__(self, spec: StudySpec, files: StudyFiles) -> None:
        self.spec = spec
        self.files = files

    @functools.cached_property
    def database(self) -> StudyDatabase:
        """Its Optuna database, opened on first use (StudyError if it is missing)."""
        return StudyDatabase(self.spec, existing=True)

    @property
    def study(self) -> optuna.Study:
        """Its Optuna study."""
        return self.database.study


def open_study(
    name: str,
    dir: str | os.PathLike = DEFAULT_DIR,
    *,
    storage: str | None = None,
    check: bool = False,
    **changes: Any,
) -> OpenStudy:
    """Study ``name`` in ``dir`` as it was saved, with ``storage`` in place of its own if given.

    The saved spec is read as it is (see :meth:`StudySpec.from_saved`). With ``check``, or
    ``changes`` to other values, it is resolved in full instead, as when the study was
    created: commands that train again check it as a whole (budget, early stopping,
    dataset options and one trial sampled from its space).

    Raises
    ------
    ConfigError
        For a name that cannot name a study, or an invalid saved or changed value.
    StudyError
        If ``dir`` holds no study ``name``.
    """
    changes = {key: value for key, value in changes.items() if value is not None}
    files = StudyFiles(dir, check_name(name))
    with files.local_file(files.path(SPEC_FILE)) as path:
        if not path.exists():
            raise StudyError(f"no study {name!r} in {files.dir!r} (missing {SPEC_FILE})")
        saved = load_spec(path)
    where = {"dir": str(dir), **({"storage": storage} if storage is not None else {})}
    if check or changes:
        spec = resolve_spec(**{**saved, **where, **changes})
    else:
        spec = StudySpec.from_saved(saved, **where)
    return OpenStudy(spec, files)
