"""Final and best-epoch values of a run's per-epoch metrics, and whether an epoch diverged.

Plain Python over epoch rows: training reports with these, and the analysis reads a
study's epochs with them, without loading torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mtlstudy._schema import BEST_DIRECTION, VALIDATION_METRICS, epoch_metrics

__all__ = ["summarize_history", "divergence"]

# What each epoch metric being non-finite says about the model, in the order checked.
_DIVERGED_WHEN = {
    "train_joint_loss": "non-finite training loss",
    "train_factorization_loss": "non-finite training loss",
    "train_mse": "non-finite training loss",
    "test_mse": "non-finite rating predictions",
    "test_mrr": "non-finite ranking scores",
}


def summarize_history(
    history: Sequence[Mapping[str, float]], metrics: Sequence[str] | None = None
) -> dict[str, float]:
    """``final_<m>``, ``best_<m>`` and ``best_<m>_epoch`` of every metric ``m`` in ``metrics``.

    ``history`` holds one mapping per epoch, in epoch order, with an ``epoch`` key
    (1-based) and the ``metrics`` (default: every epoch metric the run reports,
    :func:`~mtlstudy._schema.epoch_metrics`). The best epoch is the first one reaching
    the best value, in the metric's direction.

    Where a history holds a test metric's validation counterpart (a run with
    validation rows), the validation metric chooses its test metric's best epoch
    (:data:`~mtlstudy._schema.VALIDATION_METRICS`): ``best_test_mse`` is then the
    *test* MSE at the epoch of the best validation MSE, and ``best_test_mse_epoch``
    that epoch, so the test rows never choose an epoch.
    """
    if not history:
        return {}
    validation = all(metric in history[0] for metric in VALIDATION_METRICS.values())
    summary: dict[str, float] = {}
    for metric in epoch_metrics(validation) if metrics is None else metrics:
        chooser = VALIDATION_METRICS.get(metric, metric)
        chooser = chooser if chooser in history[0] else metric
        sign = 1.0 if BEST_DIRECTION[chooser] == "min" else -1.0
        best = min(history, key=lambda row: sign * row[chooser])
        summary[f"final_{metric}"] = history[-1][metric]
        summary[f"best_{metric}"] = best[metric]
        summary[f"best_{metric}_epoch"] = best["epoch"]
    return summary


def divergence(row: Mapping[str, float]) -> str | None:
    """Why the epoch ``row`` shows a diverged model, e.g. ``"diverged at epoch 3: non-finite
    training loss"``; None while every loss and test metric is finite."""
    for metric, reason in _DIVERGED_WHEN.items():
        if not math.isfinite(row[metric]):
            return f"diverged at epoch {int(row['epoch'])}: {reason}"
    return None
