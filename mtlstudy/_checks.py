"""Checks of the values that enter mtlstudy in many places: one check and one message each.

Every public function validates its parameters with these where they enter; the helpers
it calls trust them.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from mtlstudy._errors import ConfigError
from mtlstudy._schema import VALUES

__all__ = ["check_count", "check_fraction", "check_level", "check_number", "check_seed", "check_value", "MAX_SEED"]

#: The largest seed: numpy's ``RandomState`` and Optuna's samplers take 32-bit seeds.
MAX_SEED = 2**32 - 1


def check_value(value: Any, name: str = "value") -> str:
    """``value`` if it is ``"final"`` (last epoch) or ``"best"`` (best epoch), else ConfigError.

    Examples
    --------
    >>> check_value("best")
    'best'
    """
    if value not in VALUES:
        raise ConfigError(f"{name} must be 'final' (last epoch) or 'best' (best epoch), got {value!r}")
    return str(value)


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` if it is an integer (not a bool) of at least ``minimum``, else ConfigError.

    Examples
    --------
    >>> check_count(3, "trials")
    3
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_seed(value: Any, name: str = "seed") -> int:
    """``value`` if it is an integer (not a bool) in ``[0, MAX_SEED]``, else ConfigError.

    Examples
    --------
    >>> check_seed(7)
    7
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer from 0 to {MAX_SEED} (a 32-bit seed), got {value!r}")
    return value


def check_number(value: Any, name: str) -> float:
    """``value`` if it is a finite real number (not a bool), else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    return value


def check_level(value: Any, name: str = "level") -> float:
    """``value`` if it is a probability strictly between 0 and 1 (a band's coverage), else ConfigError.

    Examples
    --------
    >>> check_level(0.95)
    0.95
    """
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value < 1:
        raise ConfigError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def check_fraction(value: Any, name: str) -> float:
    """``value`` if it is a share in [0, 1) (0: none), else ConfigError.

    Examples
    --------
    >>> check_fraction(0.1, "validation_fraction")
    0.1
    """
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)
