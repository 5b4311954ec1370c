"""Vectorised ranking metrics, exactly equal to their per-user definitions.

For every user with at least one test pair, all items are scored, the user's training
items are excluded, and the remaining items are ranked by score (rank 1 = highest;
tied items share their average rank). Other test items of the same user compete in
the ranking. Per test pair, the average rank of an item scoring ``s`` is

    #{candidates scoring > s} + (#{candidates scoring == s} + 1) / 2,

which is what ``scipy.stats.rankdata(-scores, method="average")`` gives, so one
comparison of each test score against its user's row replaces a sort per user.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from mtlstudy.data._interactions import Interactions

__all__ = ["RankingEvaluator", "mrr_score", "hit_rate_score", "ndcg_score", "ranking_scores"]

# Comparisons per chunk: small enough that a chunk's rows and comparison results stay
# in cache, which makes ranking ~5x faster than one pass over all test pairs.
_CHUNK_ELEMENTS = 1 << 19


class _UserGroup(NamedTuple):
    """Test users with the same number ``m`` of test pairs, ranked together."""

    users: torch.Tensor  # (n,) user ids
    items: torch.Tensor  # (n, m) their test items
    pairs: torch.Tensor  # (n, m) positions of those pairs in ``test``


class RankingEvaluator:
    """Ranks each test pair of ``test`` among the items ``train`` leaves to its user.

    Holds the index tensors on ``device`` so that evaluating a model every epoch costs
    a few masked comparisons, with no Python loop over users. Users are grouped by
    their number of test pairs so each user's row of scores is read once per group
    rather than once per test pair.

    Parameters
    ----------
    train, test : Interactions
        Training pairs (excluded from ranking) and test pairs (ranked).
    device : torch.device or str
        Where the scores will live.
    """

    def __init__(self, train: Interactions, test: Interactions, device: torch.device | str = "cpu") -> None:
        device = torch.device(device)
        self.num_items = train.num_items
        self.num_test_pairs = len(test)
        self.train_flat = torch.as_tensor(train.user_ids * train.num_items + train.item_ids, device=device)
        users, user_index, counts = np.unique(test.user_ids, return_inverse=True, return_counts=True)
        user_index = user_index.reshape(-1)
        self.user_index = torch.as_tensor(user_index, device=device)
        self.num_test_users = len(users)
        self.test_counts = torch.as_tensor(counts, device=device)
        pairs_by_user = np.argsort(user_index, kind="stable")
        first_pair = np.cumsum(counts) - counts
        self._max_count = int(counts.max(initial=1))
        self._buffer_key: tuple | None = None
        self._groups = []
        for count in np.unique(counts):
            members = np.flatnonzero(counts == count)
            pairs = pairs_by_user[first_pair[members, None] + np.arange(count)]
            arrays = (users[members], test.item_ids[pairs], pairs)
            self._groups.append(_UserGroup(*(torch.as_tensor(array, device=device) for array in arrays)))

    def ranks(self, scores: torch.Tensor) -> torch.Tensor:
        """Average rank (float64, 1-based) of every test pair, in ``test`` order."""
        dtype = torch.float64 if scores.dtype == torch.float64 else torch.float32
        masked, rows_buffer, indicator = self._buffers(scores.shape, dtype, scores.device)
        masked.copy_(scores.detach())
        masked.view(-1)[self.train_flat] = -torch.inf
        ranks = torch.empty(self.num_test_pairs, dtype=torch.float64, device=masked.device)
        for group in self._groups:
            per_user = group.items.shape[1] * self.num_items
            step = max(1, _CHUNK_ELEMENTS // per_user)
            for start in range(0, len(group.users), step):
                chunk = slice(start, start + step)
                users = group.users[chunk]
                rows = rows_buffer[: len(users) * self.num_items].view(len(users), -1)
                torch.index_select(masked, 0, users, out=rows)
                own = rows.gather(1, group.items[chunk])
                out = indicator[: len(users) * per_user].view(len(users), -1, self.num_items)
                greater = torch.gt(rows[:, None, :], own[:, :, None], out=out).sum(dim=2)
                equal = torch.eq(rows[:, None, :], own[:, :, None], out=out).sum(dim=2)
                ranks[group.pairs[chunk].reshape(-1)] = (greater + (equal + 1) / 2.0).reshape(-1).double()
        return ranks

    def _buffers(
        self, shape: torch.Size, dtype: torch.dtype, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # Reused across calls: fresh multi-megabyte tensors every epoch would cost more
        # in page faults than the ranking itself. Comparisons go straight into a float
        # buffer, whose sums are ~8x faster than bool masks' (counts exact below 2**24).
        key = (tuple(shape), dtype, device)
        if self._buffer_key != key:
            self._buffer_cache = (
                torch.empty(shape, dtype=dtype, device=device),
                torch.empty(max(_CHUNK_ELEMENTS, self.num_items), dtype=dtype, device=device),
                torch.empty(
                    max(_CHUNK_ELEMENTS, self.num_items * self._max_count), dtype=torch.float32, device=device
                ),
            )
            self._buffer_key = key
        return self._buffer_cache

    def _mean_per_user(self, values: torch.Tensor) -> float:
        if self.num_test_users == 0:
            return float("nan")
        sums = torch.zeros(self.num_test_users, dtype=torch.float64, device=values.device)
        sums.index_add_(0, self.user_index, values)
        return float((sums / self.test_counts).mean())

    def scores(self, scores: torch.Tensor, k: int = 10) -> dict[str, float]:
        """MRR, hit rate at ``k`` and NDCG at ``k`` from one ranking pass.

        All three are NaN if any score is NaN or infinite: a NaN compares neither
        greater nor equal, so its rank, and the metrics, would come out meaningless
        (an MRR of 2.0) rather than visibly broken.
        """
        # One sum is the fast test (NaN and inf propagate through it, ~20x cheaper than
        # isfinite); every score is looked at only when it fails, since huge finite
        # scores can overflow it too.
        if not math.isfinite(float(scores.sum())) and not bool(torch.isfinite(scores).all()):
            return {"mrr": math.nan, "hit_rate": math.nan, "ndcg": math.nan}
        ranks = self.ranks(scores)
        in_top_k = ranks <= k
        gains = torch.where(in_top_k, 1.0 / torch.log2(ranks + 1.0), torch.zeros_like(ranks))
        dcg = torch.zeros(self.num_test_users, dtype=torch.float64, device=ranks.device)
        dcg.index_add_(0, self.user_index, gains)
        ideal_positions = torch.arange(1, k + 1, dtype=torch.float64, device=ranks.device)
        ideal_cumulative = torch.cumsum(1.0 / torch.log2(ideal_positions + 1.0), dim=0)
        idcg = ideal_cumulative[self.test_counts.clamp(max=k) - 1]
        ndcg = float((dcg / idcg).mean()) if self.num_test_users else float("nan")
        return {
            "mrr": self._mean_per_user(1.0 / ranks),
            "hit_rate": self._mean_per_user(in_top_k.to(torch.float64)),
            "ndcg": ndcg,
        }


def _as_tensor(scores: np.ndarray | torch.Tensor) -> torch.Tensor:
    return scores if isinstance(scores, torch.Tensor) else torch.as_tensor(np.asarray(scores))


def ranking_scores(
    scores: np.ndarray | torch.Tensor, train: Interactions, test: Interactions, k: int = 10
) -> dict[str, float]:
    """MRR, hit rate at ``k`` and NDCG at ``k`` of a users x items score matrix.

    Returns
    -------
    dict
        ``{"mrr": ..., "hit_rate": ..., "ndcg": ...}``; see the metric functions. All
        NaN if a score is not finite.
    """
    scores = _as_tensor(scores)
    return RankingEvaluator(train, test, scores.device).scores(scores, k)


def mrr_score(scores: np.ndarray | torch.Tensor, train: Interactions, test: Interactions) -> float:
    """Mean over test users of the mean reciprocal rank of their test items (SPEC.md)."""
    return ranking_scores(scores, train, test)["mrr"]


def hit_rate_score(
    scores: np.ndarray | torch.Tensor, train: Interactions, test: Interactions, k: int = 10
) -> float:
    """Mean over test users of the fraction of their test items ranked ``<= k``."""
    return ranking_scores(scores, train, test, k)["hit_rate"]


def ndcg_score(
    scores: np.ndarray | torch.Tensor, train: Interactions, test: Interactions, k: int = 10
) -> float:
    """Mean over test users of NDCG at ``k`` with binary relevance of their test items.

    ``DCG = sum of 1 / log2(rank + 1)`` over test items with ``rank <= k`` (average
    ranks under ties); the ideal DCG places ``min(n_test, k)`` items at ranks 1, 2, ...
    """
    return ranking_scores(scores, train, test, k)["ndcg"]
