"""Exact 2-D hypervolume of the (test MSE down, test MRR up) front, and its history."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mtlstudy._checks import check_value
from mtlstudy._errors import ConfigError
from mtlstudy.analysis._frame import VALUES, complete_trials, objective_columns
from mtlstudy.analysis._pareto import pareto_mask, to_minimisation

__all__ = ["check_reference", "hypervolume_2d", "reference_point", "hypervolume_table", "hypervolume_history"]

_DIRECTIONS = ("min", "max")


def check_reference(reference: object) -> tuple[float, float]:
    """Return ``reference`` as two finite floats or raise :class:`ConfigError`."""
    try:
        pair = tuple(float(item) for item in reference)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"reference_point must be two numbers (MSE, MRR); got {reference!r}") from None
    if len(pair) != 2 or not np.all(np.isfinite(pair)):
        raise ConfigError(f"reference_point must be two finite numbers (MSE, MRR); got {reference!r}")
    return pair  # type: ignore[return-value]


def hypervolume_2d(
    points: np.ndarray, reference: Sequence[float], directions: Sequence[str] = _DIRECTIONS
) -> float:
    """Exact area dominated by ``points`` and bounded by ``reference``.

    Parameters
    ----------
    points : array_like, shape (n, 2)
        Objective vectors; non-finite rows are ignored.
    reference : pair of float
        The bounding point, worse than the points on both objectives. A point
        not strictly better than it on both objectives adds nothing.
    directions : pair of {"min", "max"}
        Which way each objective is better; default (MSE down, MRR up).

    Returns
    -------
    float
        The area of the union of the boxes spanned by each point and ``reference``.
    """
    ref = to_minimisation(np.asarray([check_reference(reference)]), directions)[0]
    minimised = to_minimisation(np.asarray(points, dtype=float).reshape(-1, 2), directions)
    minimised = minimised[np.isfinite(minimised).all(axis=1) & (minimised < ref).all(axis=1)]
    if len(minimised) == 0:
        return 0.0
    ordered = minimised[np.lexsort((minimised[:, 1], minimised[:, 0]))]
    # Sweep along the first objective: only points that lower the running best
    # second objective are on the front, and each owns the strip up to the next one.
    running_best = np.minimum.accumulate(ordered[:, 1])
    keep = np.r_[True, ordered[1:, 1] < running_best[:-1]]
    front = ordered[keep]
    widths = np.diff(np.r_[front[:, 0], ref[0]])
    return float(np.sum(widths * (ref[1] - front[:, 1])))


def reference_point(trials: pd.DataFrame, value: str = "final") -> tuple[float, float]:
    """The default reference point: the worst test MSE and worst test MRR of the
    complete trials (each over all trials, so it is usually no trial's own point)."""
    check_value(value)
    complete = complete_trials(trials)
    mse, mrr = (complete[column].to_numpy(dtype=float) for column in objective_columns(value))
    mse, mrr = mse[np.isfinite(mse)], mrr[np.isfinite(mrr)]
    if len(mse) == 0 or len(mrr) == 0:
        raise ConfigError(f"no finite {value} test MSE / MRR among the complete trials")
    return float(mse.max()), float(mrr.min())


def _points(frame: pd.DataFrame, value: str) -> np.ndarray:
    return frame[list(objective_columns(value))].to_numpy(dtype=float)


def hypervolume_table(
    trials: pd.DataFrame,
    values: Sequence[str] = VALUES,
    reference: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Hypervolume of the overall, shared-only and separate-only fronts.

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export.
    values : sequence of {"final", "best"}
        Readings of the metrics to evaluate.
    reference : pair of float, optional
        (test MSE, test MRR) bound, the same for every value; by default
        :func:`reference_point` of each value, so the scopes of one value compare.

    Returns
    -------
    pandas.DataFrame
        Columns ``value, scope, hypervolume, reference_mse, reference_mrr,
        reference_source, n_trials, front_size``.
    """
    complete = complete_trials(trials)
    rows = []
    for value in values:
        check_value(value)
        ref = check_reference(reference) if reference is not None else reference_point(complete, value)
        source = "given" if reference is not None else "worst complete trial values"
        scopes = {
            "overall": complete,
            "shared": complete[complete["shared"]],
            "separate": complete[~complete["shared"]],
        }
        for scope, subset in scopes.items():
            points = _points(subset, value)
            rows.append(
                {
                    "value": value,
                    "scope": scope,
                    "hypervolume": hypervolume_2d(points, ref),
                    "reference_mse": ref[0],
                    "reference_mrr": ref[1],
                    "reference_source": source,
                    "n_trials": len(subset),
                    "front_size": int(pareto_mask(points, _DIRECTIONS).sum()),
                }
            )
    return pd.DataFrame(rows)


def hypervolume_history(
    trials: pd.DataFrame, value: str = "final", reference: Sequence[float] | None = None
) -> pd.DataFrame:
    """Hypervolume of the overall front after each complete trial, in ``number`` order.

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export.
    value : {"final", "best"}
    reference : pair of float, optional
        Defaults to :func:`reference_point` over *all* complete trials, so the
        curve ends at the study's hypervolume and every step uses the same bound.

    Returns
    -------
    pandas.DataFrame
        Columns ``number, trial_id, hypervolume, front_size``, one row per complete
        trial; non-decreasing in ``hypervolume``.
    """
    complete = complete_trials(trials)
    check_value(value)
    ref = check_reference(reference) if reference is not None else reference_point(complete, value)
    points = _points(complete, value)
    front = np.empty((0, 2))
    volumes, sizes = [], []
    for point in points:
        # The front so far is all a new point can change, so keep only it.
        if np.isfinite(point).all():
            candidates = np.vstack([front, point])
            front = candidates[pareto_mask(candidates, _DIRECTIONS)]
        volumes.append(hypervolume_2d(front, ref))
        sizes.append(len(front))
    return pd.DataFrame(
        {
            "number": complete["number"].to_numpy(),
            "trial_id": complete["trial_id"].to_numpy(),
            "hypervolume": volumes,
            "front_size": sizes,
        }
    )
