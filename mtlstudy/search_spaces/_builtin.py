"""The built-in search spaces over the loss weights and the shared flag (see SPEC.md)."""

from __future__ import annotations

import math
from typing import Any

from mtlstudy._checks import check_seed
from mtlstudy._errors import ConfigError
from mtlstudy.search_spaces._registry import register_space

__all__ = ["SEED_GRID_POINTS", "USER_BIAS_POINT", "SEPARATE_LAMBDA", "seed_grid_points"]

#: The original write-up's four points: (shared, lambda_f, lambda_r, user_bias).
SEED_GRID_POINTS: tuple[tuple[bool, float, float, bool], ...] = (
    (True, 0.99, 0.01, False),
    (True, 0.5, 0.5, False),
    (False, 0.99, 0.01, False),
    (False, 0.5, 0.5, False),
)

#: The extra reproduce point: shared embeddings at 0.99/0.01 with a user bias.
USER_BIAS_POINT: tuple[bool, float, float, bool] = (True, 0.99, 0.01, True)

#: (lambda_f, lambda_r) of the ``conditional`` space's separate-embedding trials.
SEPARATE_LAMBDA: tuple[float, float] = (0.5, 0.5)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _sample_simplex(trial: Any, spec: Any) -> dict[str, float]:
    low, high = spec.lambda_f_range
    if not 0.0 < low < high < 1.0:
        # λ_R = 1 − λ_F must stay positive, and the logit scale is finite only inside (0, 1).
        raise ConfigError(f"on the simplex lambda_f_range must satisfy 0 < low < high < 1, got [{low}, {high}]")
    if spec.lambda_log:
        logit = trial.suggest_float("lambda_f_logit", _logit(low), _logit(high))
        lambda_f = 1.0 / (1.0 + math.exp(-logit))
    else:
        lambda_f = trial.suggest_float("lambda_f", low, high)
    return {"lambda_f": lambda_f, "lambda_r": 1.0 - lambda_f}


@register_space("simplex")
def simplex(trial: Any, spec: Any) -> dict[str, Any]:
    """λ_F in ``lambda_f_range`` ⊂ (0, 1), λ_R = 1 − λ_F, and the shared flag.

    Under Adam only the ratio λ_F : λ_R matters (SPEC.md), so the simplex is the
    whole space in one dimension. With ``lambda_log`` (default) the logit of λ_F is
    uniform, which spends as many trials near 0 and 1 (ratios of 1:100 and beyond)
    as in the middle.
    """
    shared = trial.suggest_categorical("shared", [True, False])
    return {"shared": shared, **_sample_simplex(trial, spec)}


@register_space("independent")
def independent(trial: Any, spec: Any) -> dict[str, Any]:
    """λ_F and λ_R each on its own range (log-uniform with ``lambda_log``), and shared.

    The 2-D space is redundant under Adam (only the ratio matters) but it is the
    honest check of that claim and the space for optimizers without that invariance.
    """
    shared = trial.suggest_categorical("shared", [True, False])
    trial.suggest_float("lambda_f", *spec.lambda_f_range, log=spec.lambda_log)
    trial.suggest_float("lambda_r", *spec.lambda_r_range, log=spec.lambda_log)
    return {"shared": shared}


@register_space("conditional")
def conditional(trial: Any, spec: Any) -> dict[str, Any]:
    """Like ``simplex``, but λ is only sampled with shared embeddings.

    With separate embeddings the tasks share no parameter and Adam makes the weights
    irrelevant (SPEC.md), so those trials use the fixed :data:`SEPARATE_LAMBDA` and
    the sampler spends its budget where λ matters.
    """
    if trial.suggest_categorical("shared", [True, False]):
        return {"shared": True, **_sample_simplex(trial, spec)}
    lambda_f, lambda_r = SEPARATE_LAMBDA
    return {"shared": False, "lambda_f": lambda_f, "lambda_r": lambda_r}


def seed_grid_points(spec: Any) -> tuple[tuple[bool, float, float, bool], ...]:
    """The points of ``seed-grid`` under ``spec``: the original four, plus the user-bias one."""
    return SEED_GRID_POINTS + ((USER_BIAS_POINT,) if spec.user_bias_point else ())


def _seed_grid(spec: Any) -> dict[str, list]:
    check_seed(spec.seed + spec.seeds - 1, "seed + seeds - 1")  # the last seed a trial trains with
    return {
        "point": list(range(len(seed_grid_points(spec)))),
        "seed": list(range(spec.seed, spec.seed + spec.seeds)),
    }


@register_space("seed-grid", grid=_seed_grid)
def seed_grid(trial: Any, spec: Any) -> dict[str, Any]:
    """The original write-up's four points (shared × {0.99/0.01, 0.5/0.5}), ``seeds`` seeds each.

    It reproduces the published table; with ``user_bias_point`` it adds shared
    0.99/0.01 with a user bias. Every (point, seed) pair runs exactly once.
    """
    point = trial.suggest_categorical("point", _seed_grid(spec)["point"])
    trial.suggest_categorical("seed", _seed_grid(spec)["seed"])
    shared, lambda_f, lambda_r, user_bias = seed_grid_points(spec)[point]
    return {"shared": shared, "lambda_f": lambda_f, "lambda_r": lambda_r, "user_bias": user_bias}
