"""Checks of the values that enter mtlstudy in many places: one check and one message each.

Every public function validates its parameters with these where they enter; the helpers
it calls trust them.
"""

from __future__ import annotations

import math
import os
import re
import reprlib
import stat
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from mtlstudy._errors import ConfigError, MtlStudyError
from mtlstudy._schema import VALUES

__all__ = [
    "check_count",
    "check_file",
    "check_fraction",
    "check_level",
    "check_number",
    "check_seed",
    "check_text",
    "check_value",
    "short_repr",
    "MAX_SEED",
    "MAX_EPOCHS",
    "MAX_COUNT",
    "MAX_PACK",
    "MAX_EMBEDDING_DIM",
    "MAX_BATCH_SIZE",
    "MAX_THREADS",
]

#: The largest seed: numpy's ``RandomState`` and Optuna's samplers take 32-bit seeds.
MAX_SEED = 2**32 - 1
# The largest sizes and counts an option takes: far beyond any study this project runs (200 ML-100K
# epochs take a minute), and far below what would overflow a 64-bit integer or exhaust memory first.
#: Epochs of a run (and the epochs of early stopping's first rung): 100,000 is days per trial.
MAX_EPOCHS = 100_000
#: Trials, seeds, replicates, trials at once, replayed arrival orders and the ranking cut-off ``k``.
MAX_COUNT = 100_000
#: Trials fused into one model: its memory grows with each one.
MAX_PACK = 1024
#: Embedding size: the tables hold 16 bytes per dimension and row with Adam's moments and gradients.
MAX_EMBEDDING_DIM = 4096
#: Ratings per training step.
MAX_BATCH_SIZE = 10_000_000
#: Torch threads of a run, and so CPUs of a trial.
MAX_THREADS = 1024


# Integers of up to about 1,000 digits are written (and cut short); longer ones are described.
_LONGEST_INT_BITS = 3_000


class _ShortRepr(reprlib.Repr):
    """reprlib's repr, bounded whatever the value: a few items of two levels of containers, the
    first characters of a long string with its length, and a huge integer by its digits."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother = 2, 60, 60

    def repr_str(self, value: str, level: int) -> str:
        shown = super().repr_str(value, level)
        return shown if len(value) <= self.maxstring else f"{shown} ({len(value)} characters)"

    def repr_int(self, value: int, level: int) -> str:
        if value.bit_length() <= _LONGEST_INT_BITS:
            return super().repr_int(value, level)
        # Python refuses to write an integer of over 4,300 digits, and reprlib does not guard against that.
        return f"an integer of {math.floor(value.bit_length() * math.log10(2)) + 1} digits"


def short_repr(value: Any) -> str:
    """``repr(value)`` cut short: how a message quotes a value, so a 1 MB value (or a YAML alias
    bomb, nested lists that share themselves) still gives one short line.

    Examples
    --------
    >>> short_repr("x" * 10**6).endswith("xxx' (1000000 characters)")
    True
    >>> short_repr(10**5000)
    'an integer of 5001 digits'
    """
    return _ShortRepr().repr(value)


def check_value(value: Any, name: str = "value") -> str:
    """``value`` if it is ``"final"`` (last epoch) or ``"best"`` (best epoch), else ConfigError.

    Examples
    --------
    >>> check_value("best")
    'best'
    """
    if value not in VALUES:
        raise ConfigError(f"{name} must be 'final' (last epoch) or 'best' (best epoch), got {short_repr(value)}")
    return str(value)


def check_count(value: Any, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int if it is an integer (not a bool) from ``minimum`` to ``maximum``
    (None: no upper bound), else ConfigError.

    Examples
    --------
    >>> check_count(3, "trials")
    3
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(f"{name} must be an integer, got {short_repr(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        expected = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ConfigError(f"{name} must be an integer {expected}, got {short_repr(value)}")
    return int(value)


def check_seed(value: Any, name: str = "seed") -> int:
    """``value`` if it is an integer (not a bool) in ``[0, MAX_SEED]``, else ConfigError.

    Examples
    --------
    >>> check_seed(7)
    7
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer from 0 to {MAX_SEED} (a 32-bit seed), got {short_repr(value)}")
    return int(value)


def check_number(value: Any, name: str) -> float:
    """``value`` if it is a finite real number (not a bool, nor an integer beyond a float's range), else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, Real) or not _finite(value):
        raise ConfigError(f"{name} must be a number, got {short_repr(value)}")
    return value


def _finite(value: Real) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond 1.8e308
        return False


def check_level(value: Any, name: str = "level") -> float:
    """``value`` if it is a probability strictly between 0 and 1 (a band's coverage), else ConfigError.

    Examples
    --------
    >>> check_level(0.95)
    0.95
    """
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value < 1:
        raise ConfigError(f"{name} must be a number in (0, 1), got {short_repr(value)}")
    return float(value)


def check_fraction(value: Any, name: str) -> float:
    """``value`` if it is a share in [0, 1) (0: none), else ConfigError.

    Examples
    --------
    >>> check_fraction(0.1, "validation_fraction")
    0.1
    """
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
        raise ConfigError(f"{name} must be a number in [0, 1), got {short_repr(value)}")
    return float(value)


# C0 and C1 control characters: a newline, a tab, NUL, escape, ...
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_text(value: Any, name: str) -> str:
    """``value`` if it is a string without control characters, else ConfigError.

    A newline, tab, NUL or escape in a name, a URL or a path would break the one-line
    messages and logs that quote it, or name a file that few tools can handle.

    Examples
    --------
    >>> check_text("ml-100k", "dataset")
    'ml-100k'
    """
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {short_repr(value)}")
    control = _CONTROL.search(value)
    if control:
        raise ConfigError(
            f"{name} must be text without control characters (newline, tab, NUL, escape), got "
            f"{control.group()!r} at character {control.start() + 1} of {short_repr(value)}"
        )
    return value


# What a path is when it is not a regular file, by the stat test that tells.
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a fifo"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_file(path: str | os.PathLike, name: str, error: type[MtlStudyError] = ConfigError) -> Path:
    """``path`` if it names a regular file that this process can open for reading, else ``error``.

    Its type is looked at before anything opens it: reading a fifo waits for a writer, and
    reading a device such as ``/dev/zero`` never ends.
    """
    shown = short_repr(check_text(os.fspath(path), name))
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISREG(mode):
            os.close(os.open(path, os.O_RDONLY))
            return Path(path)
    except OSError as reason:
        raise error(f"{name} {shown} cannot be read: {reason.strerror or reason}") from None
    kind = next((kind for test, kind in _FILE_KINDS if test(mode)), "not a regular file")
    raise error(f"{name} {shown} must be a regular file, got {kind}")
