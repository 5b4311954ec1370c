"""Multi-objective ranking at a rung: non-dominated sorting with a crowding tie-break."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mtlstudy._dominance import crowding_distances, nondominated_ranks

__all__ = ["rung_epochs", "nondominated_ranks", "crowding_distances", "promotion_order", "is_promoted"]


def rung_epochs(grace_epochs: int, reduction_factor: float, epochs: int) -> tuple[int, ...]:
    """The rungs ``r, rη, rη², …`` strictly below ``epochs`` (rounded to whole epochs).

    Examples
    --------
    >>> rung_epochs(5, 3, 200)
    (5, 15, 45, 135)
    """
    rungs: list[int] = []
    k = 0
    while (epoch := round(grace_epochs * reduction_factor**k)) < epochs:
        if not rungs or epoch > rungs[-1]:
            rungs.append(epoch)
        k += 1
    return tuple(rungs)


def promotion_order(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Row indices from best to worst: by front, then crowding distance, then arrival (row) order."""
    ranks = nondominated_ranks(values, directions)
    crowding = crowding_distances(values, directions, ranks)
    return np.lexsort((np.arange(len(ranks)), -crowding, ranks))


def is_promoted(
    value: Sequence[float], earlier: Sequence[Sequence[float]], directions: Sequence[str], reduction_factor: float
) -> bool:
    """Whether a trial arriving at a rung with ``value`` is in the top ``1/η`` there.

    It is ranked with every trial that reached the rung before it (``earlier``, in
    arrival order) and continues if its place is within ``ceil(n / η)`` of the ``n``
    trials, so the first arrival always continues, as in ASHA.
    """
    values = np.array([*earlier, value], dtype=float).reshape(-1, 2)
    keep = math.ceil(len(values) / reduction_factor)
    return int(np.flatnonzero(promotion_order(values, directions) == len(values) - 1)[0]) < keep
