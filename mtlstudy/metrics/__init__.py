"""Evaluation metrics over plain arrays or tensors, vectorised over all users."""

from __future__ import annotations

from mtlstudy.metrics._ranking import (
    RankingEvaluator,
    hit_rate_score,
    mrr_score,
    ndcg_score,
    ranking_scores,
)
from mtlstudy.metrics._regression import mse_score

__all__ = [
    "RankingEvaluator",
    "hit_rate_score",
    "mrr_score",
    "mse_score",
    "ndcg_score",
    "ranking_scores",
]
