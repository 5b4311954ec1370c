"""Pareto sets: non-domination of two objectives in either direction, and the study's fronts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mtlstudy._checks import check_value
from mtlstudy._errors import ConfigError
from mtlstudy.analysis._frame import PARAMS, VALUES, complete_trials
from mtlstudy._dominance import nondominated_ranks

__all__ = ["pareto_mask", "pareto_front", "pareto_table"]

def to_minimisation(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Flip the sign of maximised columns so that smaller is better everywhere."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(directions):
        raise ConfigError(
            f"need one direction per objective column: {values.shape[-1]} column(s), "
            f"directions {list(directions)!r}"
        )
    bad = [direction for direction in directions if direction not in ("min", "max")]
    if bad:
        raise ConfigError(f"directions must be 'min' or 'max'; got {bad[0]!r}")
    signs = np.array([1.0 if direction == "min" else -1.0 for direction in directions])
    return values * signs


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Mark the non-dominated rows of a two-objective matrix.

    Row *i* is dominated when another row is at least as good on both objectives
    and strictly better on one. Identical rows do not dominate each other, so all
    copies of a non-dominated point are on the front. Rows with a non-finite value
    cannot be compared and are never on the front. This is the first front of
    :func:`mtlstudy.schedulers.nondominated_ranks`, a sort-and-sweep in O(n log n).

    Parameters
    ----------
    values : array_like, shape (n, 2)
        One row per candidate, one column per objective.
    directions : pair of {"min", "max"}
        Which way each objective is better.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    if len(directions) != 2:
        raise ConfigError(f"Pareto fronts are computed for two objectives; got directions {list(directions)!r}")
    minimised = to_minimisation(values, directions)
    finite = np.isfinite(minimised).all(axis=1)
    return (nondominated_ranks(minimised, ("min", "min")) == 0) & finite


def pareto_front(frame: pd.DataFrame, objectives: Mapping[str, str]) -> pd.DataFrame:
    """The non-dominated rows of ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Candidates, one per row.
    objectives : mapping of column name to {"min", "max"}
        The objective columns and their directions, e.g.
        ``{"final_test_mse": "min", "final_test_mrr": "max"}``.

    Returns
    -------
    pandas.DataFrame
        The front rows (original index kept), sorted best-first on the first
        objective, then on the others.
    """
    missing = [column for column in objectives if column not in frame.columns]
    if missing:
        raise ConfigError(f"objective column(s) not in the table: {', '.join(missing)}")
    columns = list(objectives)
    mask = pareto_mask(frame[columns].to_numpy(dtype=float), list(objectives.values()))
    ascending = [objectives[column] == "min" for column in columns]
    return frame.loc[mask].sort_values(columns, ascending=ascending, kind="stable")


def pareto_table(trials: pd.DataFrame, values: Sequence[str] = VALUES) -> pd.DataFrame:
    """The study's Pareto fronts on (test MSE down, test MRR up).

    One front per value (``"final"``/``"best"``) and scope: all complete trials
    (``"overall"``), the shared-embedding trials (``"shared"``) and the separate
    ones (``"separate"``).

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export.
    values : sequence of {"final", "best"}
        Which readings of the metrics to build fronts for.

    Returns
    -------
    pandas.DataFrame
        Columns ``value, scope, trial_id, number, shared, lambda_f, lambda_r,
        user_bias, seed, test_mse, test_mrr, test_mse_epoch, test_mrr_epoch``.
        The epoch columns say where a ``best`` value was reached (MSE and MRR may
        peak at different epochs, so a "best" point is not one model state); for
        ``final`` they hold the trial's ``epochs`` when the export has it.
    """
    complete = complete_trials(trials)
    parts = []
    for value in values:
        check_value(value)
        objectives = {f"{value}_test_mse": "min", f"{value}_test_mrr": "max"}
        scopes = {
            "overall": complete,
            "shared": complete[complete["shared"]],
            "separate": complete[~complete["shared"]],
        }
        for scope, subset in scopes.items():
            if subset.empty:
                continue
            front = pareto_front(subset, objectives)
            part = pd.DataFrame({"value": value, "scope": scope}, index=front.index)
            part[["trial_id", "number", *PARAMS]] = front[["trial_id", "number", *PARAMS]]
            for metric in ("test_mse", "test_mrr"):
                part[metric] = front[f"{value}_{metric}"]
                part[f"{metric}_epoch"] = _epoch_of(front, value, metric)
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _epoch_of(front: pd.DataFrame, value: str, metric: str) -> pd.Series:
    column = f"best_{metric}_epoch" if value == "best" else "epochs"
    if column in front.columns:
        return pd.to_numeric(front[column], errors="coerce")
    return pd.Series(np.nan, index=front.index)
