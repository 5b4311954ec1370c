"""Validation and normalisation of the study export that every analysis reads.

A study export is one row per trial (see the package docstring for its columns).
Every analysis works on the *complete* trials only, with the boolean parameters
coerced to real booleans and the rows in creation (``number``) order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtlstudy._errors import ConfigError, StudyError
from mtlstudy._schema import BEST_DIRECTION, OBJECTIVES, PARAM_COLUMNS

#: The two ways of reading a trial's metric: its last epoch or its best epoch.
VALUES: tuple[str, ...] = ("final", "best")

#: Trial parameters the analyses group and label by.
PARAMS: tuple[str, ...] = PARAM_COLUMNS

#: Display names of the metrics.
METRIC_NAMES: dict[str, str] = {
    "train_factorization_loss": "train factorization loss",
    "train_mse": "train MSE",
    "train_joint_loss": "train joint loss",
    "test_mse": "test MSE",
    "test_mrr": "test MRR",
    "test_hit_rate": "test hit rate",
    "test_ndcg": "test NDCG",
}

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def check_value(value: object) -> str:
    """Return ``value`` if it is ``"final"`` or ``"best"``, else raise :class:`ConfigError`.

    Public functions call it where the choice enters; the helpers they call trust it.
    """
    if value not in VALUES:
        raise ConfigError(f"the value read must be 'final' (last epoch) or 'best' (best epoch); got {value!r}")
    return str(value)


def objective_columns(value: str) -> dict[str, str]:
    """``{column: direction}`` of the two study objectives read as ``value`` (already checked)."""
    return {f"{value}_{metric}": direction for metric, direction in OBJECTIVES.items()}


def axis_label(metric: str, value: str | None = None) -> str:
    """A plot label naming the metric, which value counts, and which way is better."""
    better = "lower" if BEST_DIRECTION[metric] == "min" else "higher"
    prefix = f"{value} " if value else ""
    return f"{prefix}{METRIC_NAMES[metric]} ({better} is better)"


def group_label(shared: bool, user_bias: bool = False) -> str:
    """Human name of a model variant, e.g. ``"shared embeddings"``."""
    label = "shared embeddings" if shared else "separate embeddings"
    return f"{label} + user bias" if user_bias else label


def to_bool(series: pd.Series, name: str) -> pd.Series:
    """Coerce a column of booleans that may have travelled through CSV or JSON.

    ``astype(bool)`` would turn the string ``"False"`` into ``True``, hence the mapping.
    """
    if pd.api.types.is_bool_dtype(series):
        return series.astype(bool)

    def convert(item: object) -> bool:
        if isinstance(item, (bool, np.bool_)):
            return bool(item)
        if isinstance(item, (int, np.integer, float, np.floating)) and item in (0, 1):
            return bool(item)
        text = str(item).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise StudyError(f"column {name!r} holds {item!r}, which is not a boolean")

    return series.map(convert).astype(bool)


def complete_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The ``COMPLETE`` rows of a study export, validated and in ``number`` order.

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export, one row per trial.

    Returns
    -------
    pandas.DataFrame
        A copy holding the complete trials only, ``shared``/``user_bias`` as bool,
        ``lambda_f``/``lambda_r`` as float, sorted by ``number``.

    Raises
    ------
    StudyError
        If ``trials`` is not a DataFrame, lacks a required column or holds no
        complete trial.
    """
    if not isinstance(trials, pd.DataFrame):
        raise StudyError(f"trials must be a pandas DataFrame; got {type(trials).__name__}")
    required = ["trial_id", "number", "state", *PARAMS]
    required += [column for value in VALUES for column in objective_columns(value)]
    missing = [column for column in required if column not in trials.columns]
    if missing:
        raise StudyError(f"the trials table lacks the column(s) {', '.join(missing)}")
    states = trials["state"].astype(str).str.upper()
    complete = trials.loc[states == "COMPLETE"].copy()
    if complete.empty:
        counts = states.value_counts().to_dict()
        raise StudyError(f"no complete trial among {len(trials)} trial(s) (states: {counts})")
    complete["trial_id"] = complete["trial_id"].astype(str)
    for column in ("shared", "user_bias"):
        complete[column] = to_bool(complete[column], column)
    for column in ("lambda_f", "lambda_r"):
        complete[column] = pd.to_numeric(complete[column], errors="coerce").astype(float)
    return complete.sort_values("number", kind="stable").reset_index(drop=True)


def state_counts(trials: pd.DataFrame) -> dict[str, int]:
    """Number of trials per state, e.g. ``{"COMPLETE": 40, "FAIL": 2}``."""
    counts = trials["state"].astype(str).str.upper().value_counts()
    return {str(state): int(count) for state, count in counts.items()}


def diverged_count(trials: pd.DataFrame) -> int:
    """Number of trials that failed because training diverged (their ``failure`` says so).

    Exports written before the ``failure`` column existed count none.
    """
    if "failure" not in trials.columns:
        return 0
    return int(trials["failure"].astype("str").str.startswith("diverged").sum())


def setting_mask(frame: pd.DataFrame, lambda_f: float, lambda_r: float) -> pd.Series:
    """Rows trained at the loss weights ``(lambda_f, lambda_r)`` (float tolerance)."""
    return pd.Series(
        np.isclose(frame["lambda_f"], lambda_f, rtol=0, atol=1e-6)
        & np.isclose(frame["lambda_r"], lambda_r, rtol=0, atol=1e-6),
        index=frame.index,
    )
