"""Validation and normalisation of the study export that every analysis reads.

A study export is one row per trial (see the package docstring for its columns).
Every analysis works on the *complete* trials only, with the boolean parameters
coerced to real booleans and the rows in creation (``number``) order. This module
is also the one place that reads a trial's ``role``: calibration trials are kept
out of every fit, front and table, and only :func:`calibration_trials` returns them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtlstudy._errors import StudyError
from mtlstudy._json import jsonable
from mtlstudy._schema import BEST_DIRECTION, METRIC_NAMES, OBJECTIVES, PARAM_COLUMNS, ROLES, VALUES

#: Trial parameters the analyses group and label by.
PARAMS: tuple[str, ...] = PARAM_COLUMNS

#: Label of a row that pools every model variant.
ALL_VARIANTS = "all variants"

#: The roles of a trial: sampled by the study (every trial of an export without a
#: ``role`` column), retrained from another one (its ``replicate_of``) with a new
#: seed, or trained only to check the trade-off bands (never fitted).
SEARCH, REPLICATE, CALIBRATION = ROLES


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


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


def trial_roles(trials: pd.DataFrame) -> pd.Series:
    """The role of each trial (one of :data:`mtlstudy._schema.ROLES`).

    Exports written before trials had roles lack the ``role`` column, and a
    missing value (an empty CSV cell) is a searched trial too.

    Raises
    ------
    StudyError
        If a role is not one of :data:`~mtlstudy._schema.ROLES`.
    """
    if "role" not in trials.columns:
        return pd.Series(SEARCH, index=trials.index, dtype=object)
    roles = trials["role"].astype(object).where(trials["role"].notna(), SEARCH).astype(str)
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise StudyError(f"column 'role' holds {unknown[0]!r}; expected one of {', '.join(ROLES)}")
    return roles


def _complete(trials: pd.DataFrame) -> pd.DataFrame:
    """Every ``COMPLETE`` row, validated and normalised, with its ``role``; may be empty."""
    if not isinstance(trials, pd.DataFrame):
        raise StudyError(f"trials must be a pandas DataFrame; got {type(trials).__name__}")
    required = ["trial_id", "number", "state", *PARAMS]
    required += [column for value in VALUES for column in objective_columns(value)]
    missing = [column for column in required if column not in trials.columns]
    if missing:
        raise StudyError(f"the trials table lacks the column(s) {', '.join(missing)}")
    roles = trial_roles(trials)
    states = trials["state"].astype(str).str.upper()
    complete = trials.assign(role=roles).loc[states == "COMPLETE"]
    complete["trial_id"] = complete["trial_id"].astype(str)
    for column in ("shared", "user_bias"):
        complete[column] = to_bool(complete[column], column)
    for column in ("lambda_f", "lambda_r"):
        complete[column] = pd.to_numeric(complete[column], errors="coerce").astype(float)
    return complete.sort_values("number", kind="stable").reset_index(drop=True)


def trial_counts(trials: pd.DataFrame) -> str:
    """``"among 40 trial(s) (states: {...}; roles: {...})"``, for error messages."""
    text = f"among {len(trials)} trial(s) (states: {state_counts(trials)}"
    return text + (f"; roles: {role_counts(trials)})" if "role" in trials.columns else ")")


def complete_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The analysed rows of a study export: ``COMPLETE`` and not calibration, in ``number`` order.

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export, one row per trial.

    Returns
    -------
    pandas.DataFrame
        A copy holding the complete search and replicate trials only, ``shared``/
        ``user_bias`` as bool, ``lambda_f``/``lambda_r`` as float, ``role`` filled
        in (``"search"`` for an export without roles), sorted by ``number``.

    Raises
    ------
    StudyError
        If ``trials`` is not a DataFrame, lacks a required column, holds an unknown
        role or no complete trial outside calibration.
    """
    complete = _complete(trials)
    analysed = complete[complete["role"] != CALIBRATION].reset_index(drop=True)
    if analysed.empty:
        excluded = " outside calibration" if len(complete) else ""
        raise StudyError(f"no complete trial{excluded} {trial_counts(trials)}")
    return analysed


def calibration_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The complete calibration trials of a study export (maybe none), normalised as by
    :func:`complete_trials`.

    Raises
    ------
    StudyError
        If ``trials`` is not a DataFrame, lacks a required column or holds an unknown role.
    """
    complete = _complete(trials)
    return complete[complete["role"] == CALIBRATION].reset_index(drop=True)


def calibration_ids(trials: pd.DataFrame) -> set[str]:
    """``trial_id`` of every calibration trial, whatever its state."""
    return set(trials.loc[trial_roles(trials) == CALIBRATION, "trial_id"].astype(str))


def state_counts(trials: pd.DataFrame) -> dict[str, int]:
    """Number of trials per state, e.g. ``{"COMPLETE": 40, "FAIL": 2}``."""
    counts = trials["state"].astype(str).str.upper().value_counts()
    return {str(state): int(count) for state, count in counts.items()}


def role_counts(trials: pd.DataFrame) -> dict[str, int]:
    """Number of trials per role, in :data:`~mtlstudy._schema.ROLES` order, e.g. ``{"search": 40}``."""
    counts = trial_roles(trials).value_counts()
    return {role: int(counts[role]) for role in ROLES if role in counts}


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


def json_records(frame: pd.DataFrame) -> list[dict]:
    """A table's rows as JSON-ready dicts (see :func:`mtlstudy._json.jsonable`): a missing value is None."""
    return [jsonable(record) for record in frame.to_dict(orient="records")]
