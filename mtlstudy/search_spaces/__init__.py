"""Optuna define-by-run search spaces over the loss weights and the shared flag.

A space is a function ``space(trial, spec) -> dict`` selected by name (``simplex``,
``independent``, ``conditional``, ``seed-grid``), registered with
:func:`register_space`, or given as a dotted path ``package.module:function``.
Ranges and fixed values come from the study spec.
"""

from __future__ import annotations

from mtlstudy.search_spaces._builtin import (
    SEED_GRID_POINTS,
    SEPARATE_LAMBDA,
    USER_BIAS_POINT,
    conditional,
    independent,
    seed_grid,
    seed_grid_points,
    simplex,
)
from mtlstudy.search_spaces._registry import SearchSpace, available_spaces, get_space, register_space

__all__ = [
    "SEED_GRID_POINTS",
    "SEPARATE_LAMBDA",
    "USER_BIAS_POINT",
    "SearchSpace",
    "available_spaces",
    "conditional",
    "get_space",
    "independent",
    "register_space",
    "seed_grid",
    "seed_grid_points",
    "simplex",
]
