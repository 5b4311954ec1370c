"""The one exception hierarchy of mtlstudy.

Every error a user can cause (a bad option, a bad file, a bad spec) is an
:class:`MtlStudyError`. It subclasses :class:`ValueError` so library callers can
catch it as such; the CLI catches it at its boundary and turns it into a
one-line message with its ``exit_code`` (2: a user's error; 130: an interrupted study).
"""

from __future__ import annotations

import errno
import os

__all__ = ["MtlStudyError", "DataError", "ConfigError", "StudyError", "StudyInterrupted", "DivergenceError",
           "CheckpointError", "DependencyError", "UnsafePathError", "NoSpaceError", "no_space_error",
           "DataSizeWarning"]


class MtlStudyError(ValueError):
    """Base class of every user-facing error raised by mtlstudy."""

    #: The CLI's exit status for it.
    exit_code = 2


class DataError(MtlStudyError):
    """A data file or data source is missing, malformed or fails its checksum."""


class ConfigError(MtlStudyError):
    """A training option, search space or study spec holds an invalid value."""


class StudyError(MtlStudyError):
    """A study cannot be created, resumed or read as asked."""


class StudyInterrupted(StudyError):
    """A study stopped before its budget was met (Ctrl-C, SIGTERM, a lost trial); resuming it continues it."""

    exit_code = 130  # as a shell reports a command that SIGINT ended


class DivergenceError(MtlStudyError):
    """Training diverged: a loss, a prediction or a score became NaN or infinite."""


class CheckpointError(MtlStudyError):
    """A checkpoint file is unreadable, truncated, or holds more than tensors and plain data."""


class DependencyError(MtlStudyError):
    """An optional package that a command needs is not installed."""


class UnsafePathError(MtlStudyError):
    """A file to write is a symbolic link, or a device or fifo where a file or folder would be replaced."""


class DataSizeWarning(UserWarning):
    """A data set is so large that each evaluation will take far more memory and time than MovieLens-100K's.

    A warning, not an error: the run goes on. The CLI shows it as one ``Warning:`` line on stderr.
    """


class NoSpaceError(MtlStudyError):
    """A write failed because its device is full (ENOSPC) or its owner's disk quota is spent (EDQUOT)."""


def no_space_error(error: BaseException, path: str | os.PathLike | None = None) -> NoSpaceError | None:
    """The NoSpaceError for ``error`` if it is an OSError of a full device or a spent quota, naming
    ``path`` (by default the file the error names, if any); None for any other error."""
    if not isinstance(error, OSError) or error.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    path = error.filename if path is None else path
    # os.strerror: a library's own text (pyarrow's "Error writing bytes to file. Detail: ...") says it less plainly.
    where = "" if path is None else f" writing {str(path)!r}"
    return NoSpaceError(
        f"{os.strerror(error.errno).lower()}{where}; free some space, then run the command again "
        "(a study continues where it stopped with `mtlstudy study resume`)"
    )
