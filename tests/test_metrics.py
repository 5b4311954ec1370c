"""The vectorised metrics equal their per-user definitions exactly, ties included."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from mtlstudy.data import Interactions
from mtlstudy.metrics import (
    RankingEvaluator,
    hit_rate_score,
    mrr_score,
    mse_score,
    ndcg_score,
    ranking_scores,
)


def _per_user_ranks(scores, train, test):
    """SPEC.md literally: per user, push train items to the bottom, rank with average ties."""
    ranks = {}
    for user in np.unique(test.user_ids):
        row = np.array(scores[user], dtype=np.float64)
        row[train.item_ids[train.user_ids == user]] = -np.inf
        user_ranks = scipy.stats.rankdata(-row, method="average")
        ranks[user] = user_ranks[test.item_ids[test.user_ids == user]]
    return ranks


def reference_mrr(scores, train, test):
    return np.mean([np.mean(1.0 / r) for r in _per_user_ranks(scores, train, test).values()])


def reference_hit_rate(scores, train, test, k):
    return np.mean([np.mean(r <= k) for r in _per_user_ranks(scores, train, test).values()])


def reference_ndcg(scores, train, test, k):
    values = []
    for ranks in _per_user_ranks(scores, train, test).values():
        dcg = sum(1.0 / np.log2(r + 1.0) for r in ranks if r <= k)
        idcg = sum(1.0 / np.log2(position + 1.0) for position in range(1, min(len(ranks), k) + 1))
        values.append(dcg / idcg)
    return np.mean(values)


def _random_split(seed: int, num_users: int = 40, num_items: int = 60, tie_levels: int | None = 5):
    """Random disjoint train/test pairs; integer-valued scores force many ties."""
    rng = np.random.default_rng(seed)
    pairs = rng.permutation(num_users * num_items)[: num_users * num_items // 3]
    users, items = np.divmod(pairs, num_items)
    is_test = rng.random(len(pairs)) < 0.25
    # Users 0 and 1 get no test pair: they must not count in any mean.
    is_test &= users > 1

    def make(mask):
        return Interactions.from_arrays(
            users[mask], items[mask], rng.integers(1, 6, mask.sum()),
            num_users=num_users, num_items=num_items,
        )

    scores = rng.normal(size=(num_users, num_items))
    if tie_levels:
        scores = np.round(scores * tie_levels / 3.0)
    return scores, make(~is_test), make(is_test)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tie_levels", [None, 2, 5])
def test_ranking_metrics_equal_per_user_definition(seed, tie_levels):
    scores, train, test = _random_split(seed, tie_levels=tie_levels)
    assert np.bincount(test.user_ids).max() > 1  # several test items per user occur
    for k in (1, 3, 10):
        got = ranking_scores(scores, train, test, k=k)
        assert got["mrr"] == pytest.approx(reference_mrr(scores, train, test), rel=1e-12)
        assert got["hit_rate"] == pytest.approx(reference_hit_rate(scores, train, test, k), rel=1e-12)
        assert got["ndcg"] == pytest.approx(reference_ndcg(scores, train, test, k), rel=1e-12)


def test_metric_functions_accept_float32_tensors_and_match_numpy():
    scores, train, test = _random_split(11)
    tensor = torch.as_tensor(scores, dtype=torch.float32)
    assert mrr_score(tensor, train, test) == pytest.approx(reference_mrr(scores.astype(np.float32), train, test))
    assert hit_rate_score(tensor, train, test, k=5) == pytest.approx(
        reference_hit_rate(scores.astype(np.float32), train, test, 5)
    )
    assert ndcg_score(scores, train, test, k=5) == pytest.approx(reference_ndcg(scores, train, test, 5))


def test_train_items_never_compete_and_other_test_items_do():
    # One user, items 0..4; train item 0 scores highest and must be ignored.
    train = Interactions.from_arrays([0], [0], [5], num_users=1, num_items=5)
    test = Interactions.from_arrays([0, 0], [1, 2], [4, 3], num_users=1, num_items=5)
    scores = np.array([[9.0, 5.0, 4.0, 1.0, 0.0]])
    # Item 1 ranks 1st, item 2 ranks 2nd (behind the other test item).
    assert mrr_score(scores, train, test) == pytest.approx((1.0 + 0.5) / 2)


def test_ties_share_the_average_rank():
    train = Interactions.from_arrays([0], [4], [5], num_users=1, num_items=5)
    test = Interactions.from_arrays([0], [1], [3], num_users=1, num_items=5)
    scores = np.array([[2.0, 2.0, 2.0, 0.0, 7.0]])  # items 0-2 tie for ranks 1-3
    assert mrr_score(scores, train, test) == pytest.approx(1.0 / 2.0)
    assert hit_rate_score(scores, train, test, k=1) == 0.0
    assert hit_rate_score(scores, train, test, k=2) == 1.0


def test_mse_score_on_arrays_and_tensors():
    assert mse_score([1.0, 2.0, 4.0], [1, 3, 2]) == pytest.approx(5.0 / 3.0)
    assert mse_score(torch.tensor([1.0, 2.0, 4.0]), np.array([1, 3, 2])) == pytest.approx(5.0 / 3.0)


@pytest.mark.parametrize("chunk", [7, 150, 1 << 19])
def test_chunking_does_not_change_ranks(monkeypatch, chunk):
    monkeypatch.setattr("mtlstudy.metrics._ranking._CHUNK_ELEMENTS", chunk)
    scores, train, test = _random_split(5, tie_levels=3)
    assert mrr_score(scores, train, test) == pytest.approx(reference_mrr(scores, train, test), rel=1e-12)


def test_evaluator_reuses_its_buffers_without_touching_the_scores():
    scores, train, test = _random_split(8)
    evaluator = RankingEvaluator(train, test)
    tensor = torch.as_tensor(scores)
    first = evaluator.scores(tensor)
    assert torch.equal(tensor, torch.as_tensor(scores))  # input not masked in place
    assert evaluator.scores(tensor * 2.0) == first  # scaling keeps every rank


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_give_nan_metrics_never_a_perfect_rank(bad):
    scores, train, test = _random_split(3)
    assert all(0 < value <= 1 for value in ranking_scores(scores, train, test).values())
    scores[test.user_ids[0], 0] = bad
    got = ranking_scores(scores, train, test)
    assert set(got) == {"mrr", "hit_rate", "ndcg"} and all(np.isnan(value) for value in got.values())


@pytest.mark.parametrize("chunk", [7, 1 << 19])
def test_stacked_scores_equal_each_matrix_scored_alone(monkeypatch, chunk):
    monkeypatch.setattr("mtlstudy.metrics._ranking._CHUNK_ELEMENTS", chunk)
    _, train, test = _random_split(9, tie_levels=3)
    stack = torch.stack([torch.as_tensor(_random_split(seed, tie_levels=3)[0]) for seed in (1, 2, 3)])
    evaluator = RankingEvaluator(train, test)
    stacked = evaluator.stacked_scores(stack, k=3)
    assert len(stacked) == 3
    for matrix, got in zip(stack, stacked):
        assert got == {
            "mrr": pytest.approx(reference_mrr(matrix.numpy(), train, test), rel=1e-12),
            "hit_rate": pytest.approx(reference_hit_rate(matrix.numpy(), train, test, 3), rel=1e-12),
            "ndcg": pytest.approx(reference_ndcg(matrix.numpy(), train, test, 3), rel=1e-12),
        }


def test_a_non_finite_matrix_in_a_stack_gets_nan_metrics_and_the_others_do_not():
    _, train, test = _random_split(9)
    stack = torch.stack([torch.as_tensor(_random_split(seed)[0]) for seed in (1, 2)])
    stack[0, test.user_ids[0], 0] = float("nan")
    first, second = RankingEvaluator(train, test).stacked_scores(stack)
    assert all(math.isnan(value) for value in first.values()) and all(0 < value <= 1 for value in second.values())


def test_huge_finite_scores_still_rank():
    scores, train, test = _random_split(4)
    huge = torch.as_tensor(scores * 1e37, dtype=torch.float32)  # finite, but their sum overflows float32
    assert torch.isfinite(huge).all() and not torch.isfinite(huge.sum())
    assert ranking_scores(huge, train, test) == pytest.approx(ranking_scores(scores, train, test))
