"""Final and best-epoch values of a run's per-epoch metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mtlstudy._schema import BEST_DIRECTION, EPOCH_METRICS

__all__ = ["summarize_history"]


def summarize_history(
    history: Sequence[Mapping[str, float]], metrics: Sequence[str] = EPOCH_METRICS
) -> dict[str, float]:
    """``final_<m>``, ``best_<m>`` and ``best_<m>_epoch`` of every metric ``m`` in ``metrics``.

    ``history`` holds one mapping per epoch, in epoch order, with an ``epoch`` key
    (1-based) and the ``metrics``. The best epoch is the first one reaching the best
    value, in the metric's direction.
    """
    if not history:
        return {}
    summary: dict[str, float] = {}
    for metric in metrics:
        sign = 1.0 if BEST_DIRECTION[metric] == "min" else -1.0
        best = min(history, key=lambda row: sign * row[metric])
        summary[f"final_{metric}"] = history[-1][metric]
        summary[f"best_{metric}"] = best[metric]
        summary[f"best_{metric}_epoch"] = best["epoch"]
    return summary
