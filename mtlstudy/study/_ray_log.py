"""Ray's driver-side log messages go to a file in the study directory, not the terminal."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

__all__ = ["RAY_LOG_FILE", "ray_log_to"]

#: Ray's driver log inside the study directory.
RAY_LOG_FILE = "ray-driver.log"


@contextlib.contextmanager
def ray_log_to(path: str | os.PathLike) -> Iterator[None]:
    """Send records of the ``ray`` logger to ``path``; only errors still reach Ray's own handlers.

    Ray logs through Python's ``logging`` under ``ray.*`` (its token-authentication
    notice when it starts, Tune's warnings), with handlers that print to the terminal,
    where they would break up the study's progress. Errors are kept there, since a
    person has to see them.
    """
    logger = logging.getLogger("ray")
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR
