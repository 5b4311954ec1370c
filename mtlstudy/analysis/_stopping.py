"""Early stopping in a study: the compute it saved, its rung decisions, and how the
trials on the final Pareto front fared at each rung."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtlstudy._checks import check_value
from mtlstudy._errors import StudyError
from mtlstudy._json import jsonable
from mtlstudy._schema import OBJECTIVES, RUNG_COLUMNS
from mtlstudy.analysis._frame import (
    ALL_VARIANTS,
    complete_trials,
    group_label,
    json_records,
    objective_columns,
    to_bool,
)
from mtlstudy.analysis._pareto import pareto_front, pareto_mask

__all__ = ["EarlyStopping", "early_stopping_summary", "ALL_VARIANTS"]

# Trials that finished training: every epoch (COMPLETE) or stopped at a rung (PRUNED).
_FINISHED = ("COMPLETE", "PRUNED")
_RUNG_DTYPES = {"trial_id": str, "number": int, "rung": int, **dict.fromkeys(OBJECTIVES, float), "order": int,
                "promoted": bool, "ladder": str}
_FRONT_COLUMNS = ["trial_id", "number", "variant", "rung", "ladder", "order", "reached", "layer", "promoted"]


@dataclass(frozen=True)
class EarlyStopping:
    """What early stopping did in a study.

    Attributes
    ----------
    value : {"final", "best"}
        Which reading of the metrics defines the final Pareto front.
    compute : pandas.DataFrame
        One row per model variant, then a total row labelled :data:`ALL_VARIANTS`:
        ``variant``, ``trials`` (finished ones: COMPLETE or PRUNED), ``stopped``
        (PRUNED), ``trial_epochs`` (epochs trained), ``full_epochs`` (the
        epochs they would have trained without early stopping) and ``saving`` (``1 - trial_epochs /
        full_epochs``).
    rungs : pandas.DataFrame
        One row per rung, by epoch: ``rung``, ``reached`` (trials that reached
        it), ``stopped`` (trials stopped there) and ``fraction_stopped``; empty
        without rung records.
    front : pandas.DataFrame
        One row per trial on the final Pareto front and rung it reached, in front
        order then rung order: ``trial_id, number, variant, rung``, ``ladder`` (the
        trials it was ranked against there, see :class:`~mtlstudy._runs.RungRecord`),
        ``order`` (0-based arrival order among its ladder at the rung), ``reached`` (trials of its ladder
        at the rung), ``layer`` (its non-dominated layer among them, 1 = on that
        ladder's own front; <NA> for a non-finite value) and ``promoted``.
    """

    value: str
    compute: pd.DataFrame
    rungs: pd.DataFrame
    front: pd.DataFrame

    @property
    def totals(self) -> dict[str, int | float]:
        """The total row of :attr:`compute` without its label: ``trials``, ``stopped``,
        ``trial_epochs``, ``full_epochs``, ``saving``."""
        return self.compute.drop(columns="variant").tail(1).to_dict(orient="records")[0]

    @property
    def behind(self) -> tuple[str, ...]:
        """Trials on the final front that were off their rung's front (layer > 1) at some rung."""
        layers = self.front.groupby("trial_id", sort=False)["layer"].max()
        return tuple(str(trial_id) for trial_id in layers.index[layers.fillna(0) > 1])

    def to_dict(self) -> dict:
        """JSON-ready values: the :attr:`totals`, ``by_variant`` (the other rows of
        :attr:`compute`), ``rungs``, ``front_value`` and
        ``front_trials_behind_at_a_rung`` (:attr:`behind`); the per-trial
        :attr:`front` is a table of its own."""
        return {
            **jsonable(self.totals),
            "by_variant": json_records(self.compute.iloc[:-1]),
            "rungs": json_records(self.rungs),
            "front_value": self.value,
            "front_trials_behind_at_a_rung": list(self.behind),
        }


def early_stopping_summary(
    trials: pd.DataFrame, rungs: pd.DataFrame | None = None, value: str = "final"
) -> EarlyStopping | None:
    """Summarise the early stopping of a study.

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export; with early stopping it carries ``epochs_trained`` (and
        ``stopped_epoch``), and stopped trials are in state ``PRUNED``.
    rungs : pandas.DataFrame, optional
        The rung records, columns :data:`RUNG_COLUMNS`: one row per trial and
        rung it reached, with its objective values there, its arrival ``order``
        and whether it was ``promoted`` past the rung.
    value : {"final", "best"}
        Which reading of the metrics defines the final Pareto front.

    Returns
    -------
    EarlyStopping or None
        None when no trial was stopped and there are no rung records.

    Raises
    ------
    ConfigError
        For an unknown ``value``.
    StudyError
        For a table that is not a DataFrame, lacks a column, holds a finished
        trial without ``epochs_trained`` or a trial twice at one rung, or for a
        study without complete trials.
    """
    check_value(value)
    if rungs is not None and not isinstance(rungs, pd.DataFrame):
        raise StudyError(f"rungs must be a pandas DataFrame or None; got {type(rungs).__name__}")
    complete = complete_trials(trials)
    states = trials["state"].astype(str).str.upper()
    if not (states == "PRUNED").any() and (rungs is None or rungs.empty):
        return None
    records = _before_the_last_epoch(_rung_records(rungs), trials)
    front = pareto_front(complete, objective_columns(value))
    return EarlyStopping(
        value=value,
        compute=_compute_table(trials.loc[states.isin(_FINISHED)]),
        rungs=_rung_table(records),
        front=_front_table(records, front),
    )


def _compute_table(finished: pd.DataFrame) -> pd.DataFrame:
    missing = [column for column in ("epochs", "epochs_trained") if column not in finished.columns]
    if missing:
        raise StudyError(f"the trials table lacks the column(s) {', '.join(missing)}")
    finished = finished.assign(
        shared=to_bool(finished["shared"], "shared"),
        user_bias=to_bool(finished["user_bias"], "user_bias"),
        stopped=finished["state"].astype(str).str.upper() == "PRUNED",
        epochs=pd.to_numeric(finished["epochs"], errors="coerce"),
        epochs_trained=pd.to_numeric(finished["epochs_trained"], errors="coerce"),
    )
    unknown = finished[finished[["epochs", "epochs_trained"]].isna().any(axis=1)]
    if len(unknown):
        raise StudyError(f"trial {unknown['trial_id'].iloc[0]!r} finished without epochs or epochs_trained")
    rows = [
        _compute_row(group_label(bool(shared), bool(user_bias)), group)
        for (shared, user_bias), group in finished.groupby(["shared", "user_bias"], sort=True)
    ]
    rows.append(_compute_row(ALL_VARIANTS, finished))
    return pd.DataFrame(rows)


def _compute_row(variant: str, group: pd.DataFrame) -> dict[str, object]:
    trained, full = int(group["epochs_trained"].sum()), int(group["epochs"].sum())
    return {
        "variant": variant,
        "trials": len(group),
        "stopped": int(group["stopped"].sum()),
        "trial_epochs": trained,
        "full_epochs": full,
        "saving": 1 - trained / full if full else float("nan"),
    }


def _rung_records(rungs: pd.DataFrame | None) -> pd.DataFrame:
    """The rungs table validated: typed columns, one row per trial and rung."""
    if rungs is None or rungs.empty:
        return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in _RUNG_DTYPES.items()})
    if "ladder" not in rungs.columns:  # a table from before ladders: one ladder per rung
        rungs = rungs.assign(ladder="")
    missing = [column for column in RUNG_COLUMNS if column not in rungs.columns]
    if missing:
        raise StudyError(f"the rungs table lacks the column(s) {', '.join(missing)}")
    records = rungs[list(RUNG_COLUMNS)].assign(
        trial_id=rungs["trial_id"].astype(str), promoted=to_bool(rungs["promoted"], "promoted")
    )
    twice = records[records.duplicated(["trial_id", "rung"])]
    if len(twice):
        raise StudyError(
            f"the rungs table holds trial {twice['trial_id'].iloc[0]!r} at rung {twice['rung'].iloc[0]} more than once"
        )
    try:
        return records.astype(_RUNG_DTYPES)
    except (TypeError, ValueError) as error:
        raise StudyError(f"the rungs table holds a value of the wrong type: {error}") from error


def _before_the_last_epoch(records: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """``records`` without those at a trial's last epoch: ``+stable`` records the last epoch to
    check the last rung against it, but decides nothing there, so it is no rung."""
    if records.empty or "epochs" not in trials.columns:
        return records
    budget = pd.to_numeric(trials["epochs"], errors="coerce").set_axis(trials["trial_id"].astype(str))
    last = records["trial_id"].map(budget[~budget.index.duplicated()]).astype(float)
    return records[~(records["rung"].astype(float) >= last)].reset_index(drop=True)


def _rung_table(records: pd.DataFrame) -> pd.DataFrame:
    table = (
        records.assign(stopped=~records["promoted"])
        .groupby("rung", sort=True)
        .agg(reached=("trial_id", "size"), stopped=("stopped", "sum"))
        .reset_index()
        .astype({"rung": int, "reached": int, "stopped": int})
    )
    return table.assign(fraction_stopped=table["stopped"] / table["reached"])


def _front_table(records: pd.DataFrame, front: pd.DataFrame) -> pd.DataFrame:
    position = {str(trial_id): place for place, trial_id in enumerate(front["trial_id"])}
    variant = {
        str(row.trial_id): group_label(bool(row.shared), bool(row.user_bias)) for row in front.itertuples()
    }
    parts = []
    # A trial is ranked against those of its own ladder at the rung, as the rule ranked it.
    for _, reached in records.groupby(["rung", "ladder"], sort=True):
        # Arrival order counts every trial at the rung; a trial's place is among those of its ladder.
        reached = reached.assign(order=reached["order"].rank(method="first").astype(int) - 1)
        targets = reached["trial_id"].isin(position).to_numpy()
        if targets.any():
            layers = _layers(reached[list(OBJECTIVES)].to_numpy(dtype=float), targets)
            parts.append(reached[targets].assign(reached=len(reached), layer=layers[targets]))
    if not parts:
        return pd.DataFrame({column: [] for column in _FRONT_COLUMNS})
    table = pd.concat(parts)
    table = table.assign(
        variant=table["trial_id"].map(variant),
        layer=table["layer"].astype("Int64"),
        position=table["trial_id"].map(position),
    )
    return table.sort_values(["position", "rung"])[_FRONT_COLUMNS].reset_index(drop=True)


def _layers(values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Non-dominated layer of each row (1: the Pareto front; NaN if not finite or not needed).

    Peeling stops once every ``targets`` row has its layer: the front trials sit
    in the first layers, and the rest would cost a pass per layer.
    """
    layers = np.full(len(values), np.nan)
    left = np.isfinite(values).all(axis=1)
    layer = 0
    while (left & targets).any():
        layer += 1
        index = np.flatnonzero(left)
        peeled = index[pareto_mask(values[index], list(OBJECTIVES.values()))]
        layers[peeled] = layer
        left[peeled] = False
    return layers
