"""The epoch view: every metric's curve per trial, and its best epoch against its last."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from mtlstudy._errors import StudyError
from mtlstudy._history import summarize_history
from mtlstudy._schema import BEST_DIRECTION, VALIDATION_METRICS, epoch_metrics
from mtlstudy.analysis._frame import PARAMS

__all__ = ["epoch_view", "best_vs_final"]

_SUMMARY = ["direction", "best_epoch", "best_value", "final_epoch", "final_value"]


def epoch_view(epochs: pd.DataFrame, trial_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Per trial, the curve of every metric over epochs, with its best and final epoch.

    Parameters
    ----------
    epochs : pandas.DataFrame
        The per-epoch export: ``trial_id, epoch`` and one column per metric of
        :data:`mtlstudy._schema.EPOCH_METRICS` and of validation metrics (those present
        are used), plus the trial parameters when present.
    trial_ids : iterable of str, optional
        Restrict to these trials.

    Returns
    -------
    pandas.DataFrame
        Long format, one row per trial, metric and epoch: ``trial_id``, the
        parameters present, ``metric, epoch, value, direction, best_epoch,
        best_value, final_epoch, final_value, is_best``. The best epoch is the
        first one reaching the best value in the metric's direction (for a test
        metric whose validation counterpart is present, the counterpart's: the
        epoch training chose); the final epoch is the last one logged.
    """
    if not isinstance(epochs, pd.DataFrame):
        raise StudyError(f"epochs must be a pandas DataFrame; got {type(epochs).__name__}")
    missing = [column for column in ("trial_id", "epoch") if column not in epochs.columns]
    metrics = [metric for metric in epoch_metrics(validation=True) if metric in epochs.columns]
    if missing or not metrics:
        raise StudyError(
            "the epochs table needs trial_id, epoch and at least one metric column; "
            f"it has {', '.join(map(str, epochs.columns)) or 'no columns'}"
        )
    frame = epochs.assign(trial_id=epochs["trial_id"].astype(str))
    if trial_ids is not None:
        frame = frame[frame["trial_id"].isin([str(trial_id) for trial_id in trial_ids])]
    keys = ["trial_id", *[column for column in ("number", *PARAMS) if column in frame.columns]]
    long = frame.melt(id_vars=[*keys, "epoch"], value_vars=metrics, var_name="metric", value_name="value")
    long = long.dropna(subset=["value"])
    long["metric"] = pd.Categorical(long["metric"], categories=metrics)
    long = long.sort_values(["trial_id", "metric", "epoch"], kind="stable")
    long["metric"] = long["metric"].astype(str)
    long["direction"] = long["metric"].map(BEST_DIRECTION)
    by_trial = dict(tuple(frame.groupby("trial_id", sort=False)))
    summary = pd.DataFrame(
        [
            _best_and_final(trial_id, metric, by_trial[trial_id])
            for (trial_id, metric), _ in long.groupby(["trial_id", "metric"], sort=False)
        ],
        columns=["trial_id", "metric", "best_epoch", "best_value", "final_epoch", "final_value"],
    )
    view = long.merge(summary, on=["trial_id", "metric"], how="left")
    view["is_best"] = view["epoch"] == view["best_epoch"]
    return view.reset_index(drop=True)


def _best_and_final(trial_id: str, metric: str, rows: pd.DataFrame) -> dict:
    """One trial's best and final epoch of one metric, as training reports them: the best
    epoch chosen by the metric's validation counterpart when ``rows`` hold it."""
    chooser = VALIDATION_METRICS.get(metric)
    columns = ["epoch", metric, *([chooser] if chooser in rows.columns else [])]
    history = rows[columns].dropna().sort_values("epoch", kind="stable").to_dict(orient="records")
    summary = summarize_history(history, (metric,))
    return {
        "trial_id": trial_id,
        "metric": metric,
        "best_epoch": summary[f"best_{metric}_epoch"],
        "best_value": summary[f"best_{metric}"],
        "final_epoch": history[-1]["epoch"],
        "final_value": summary[f"final_{metric}"],
    }


def best_vs_final(epochs: pd.DataFrame, trial_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per trial and metric: its best epoch and value against its final ones.

    Parameters
    ----------
    epochs : pandas.DataFrame
        As for :func:`epoch_view`.
    trial_ids : iterable of str, optional
        Restrict to these trials.

    Returns
    -------
    pandas.DataFrame
        ``trial_id``, the parameters present, ``metric, direction, best_epoch,
        best_value, final_epoch, final_value, final_minus_best``. The last is
        positive when the final value is worse than the best for a minimised
        metric, negative for a maximised one.
    """
    view = epoch_view(epochs, trial_ids)
    keys = [column for column in view.columns if column not in ("epoch", "value", "is_best", *_SUMMARY)]
    summary = view.drop_duplicates(["trial_id", "metric"])[[*keys, *_SUMMARY]].reset_index(drop=True)
    summary["final_minus_best"] = summary["final_value"] - summary["best_value"]
    return summary
