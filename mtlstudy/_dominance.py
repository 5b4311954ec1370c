"""Non-dominated sorting and crowding distance of points on two objectives (numpy only).

The early-stopping scheduler ranks trials at a rung with these, and the analysis
finds Pareto fronts with them; neither needs Ray for it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["nondominated_ranks", "crowding_distances"]


def _minimised(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    signs = np.array([1.0 if direction == "min" else -1.0 for direction in directions])
    return np.asarray(values, dtype=float).reshape(-1, 2) * signs


def nondominated_ranks(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Front index of each row of an (n, 2) objective matrix: 0 is the Pareto front.

    A sort-and-sweep in O(n log n): in order of the first objective, each point joins
    the first front whose last point does not dominate it. Equal points share a
    front; rows with a non-finite value come after every finite front.
    """
    points = _minimised(values, directions)
    finite = np.isfinite(points).all(axis=1)
    ranks = np.empty(len(points), dtype=int)
    # Each front's newest point and its second objective, which increases with the front index.
    last: list[tuple[float, float]] = []
    last_y: list[float] = []
    for index in np.lexsort((points[:, 1], points[:, 0])):
        if not finite[index]:
            continue
        point = (points[index, 0], points[index, 1])
        front = bisect.bisect_right(last_y, point[1])
        # An equal point does not dominate: join its front.
        if front > 0 and last[front - 1] == point:
            front -= 1
        if front == len(last):
            last.append(point)
            last_y.append(point[1])
        else:
            last[front], last_y[front] = point, point[1]
        ranks[index] = front
    ranks[~finite] = len(last)
    return ranks


def crowding_distances(values: np.ndarray, directions: Sequence[str], ranks: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row within its front (boundaries: infinity)."""
    points = _minimised(values, directions)
    distances = np.zeros(len(points))
    for front in np.unique(ranks):
        on_front = np.flatnonzero(ranks == front)
        if not np.isfinite(points[on_front]).all():
            continue  # the non-finite rows: no distance to measure
        if len(on_front) <= 2:
            distances[on_front] = math.inf
            continue
        for column in range(2):
            column_values = points[on_front, column]
            span = column_values.max() - column_values.min()
            if span == 0:
                continue  # one value for all: nothing to tell apart
            order = on_front[np.argsort(column_values, kind="stable")]
            # Of equal extremes, the earliest row is the boundary.
            distances[order[0]] = distances[on_front[np.argmax(column_values)]] = math.inf
            distances[order[1:-1]] += (points[order[2:], column] - points[order[:-2], column]) / span
    return distances
