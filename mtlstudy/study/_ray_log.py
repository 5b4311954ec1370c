"""Ray's driver-side log messages go to a file in the study directory, not the terminal."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from mtlstudy._errors import no_space_error

__all__ = ["ray_log_to"]


@contextlib.contextmanager
def ray_log_to(path: str | os.PathLike) -> Iterator[None]:
    """Send records of the ``ray`` logger to ``path``; only errors still reach Ray's own handlers.

    Ray logs through Python's ``logging`` under ``ray.*`` (its token-authentication
    notice when it starts, Tune's warnings), with handlers that print to the terminal,
    where they would break up the study's progress. Errors are kept there, since a
    person has to see them, except a failed trial's traceback: the study names the
    trial and why it failed in one line, and the traceback is in the file and the
    trial's folder. ``path``'s folder may not exist yet (a new study starts
    Ray before it creates its folder); records wait in memory until it does, and are
    dropped if it never does, so a refused study leaves nothing behind. On a full disk
    records are dropped quietly: the study's next write of its own stops it, in one line.
    """
    logger = logging.getLogger("ray")
    file_handler = _FileOnceItsFolderExists(Path(path))
    terminal = list(logger.handlers)
    for handler in terminal:
        handler.addFilter(_errors_only)
    logger.addHandler(file_handler)
    try:
        yield
    finally:
        logger.removeHandler(file_handler)
        file_handler.close()
        for handler in terminal:
            handler.removeFilter(_errors_only)


class _FileOnceItsFolderExists(logging.Handler):
    """Appends records to a file, holding them in memory until the file's folder exists."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.waiting: list[logging.LogRecord] = []
        self.file: logging.FileHandler | None = None
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.waiting.append(record)
        self._write_waiting()

    def _write_waiting(self) -> None:
        if self.file is None and self.path.parent.is_dir():
            self.file = _FileHandler(self.path, encoding="utf-8")
            self.file.setFormatter(self.formatter)
        if self.file is not None:
            for record in self.waiting:
                self.file.emit(record)
            self.waiting.clear()

    def close(self) -> None:
        self._write_waiting()
        if self.file is not None:
            self.file.close()
        super().close()


class _FileHandler(logging.FileHandler):
    """A FileHandler that drops what it cannot write for want of space, instead of printing a traceback."""

    def handleError(self, record: logging.LogRecord) -> None:
        if no_space_error(sys.exc_info()[1]) is None:
            super().handleError(record)

    def close(self) -> None:
        try:
            super().close()  # closed even when its last flush fails
        except OSError as error:
            if no_space_error(error) is None:
                raise


#: Ray's errors about a failed trial, which the study reports itself, in one line per trial.
_SAID_BY_THE_STUDY = ("Trial task failed for trial", "Trials did not complete")


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR and not record.getMessage().startswith(_SAID_BY_THE_STUDY)
