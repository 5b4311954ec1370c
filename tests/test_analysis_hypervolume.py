"""Exact 2-D hypervolume against a brute-force union of rectangles."""

from __future__ import annotations

import numpy as np
import pytest

from _analysis_fixtures import make_export, make_trials
from mtlstudy import ConfigError
from mtlstudy.analysis import hypervolume_2d, hypervolume_history, hypervolume_table, reference_point


def brute_force_hypervolume(points: np.ndarray, reference, directions) -> float:
    """Union of the boxes [point, reference], summed exactly over the grid of cells
    cut by every distinct coordinate (a cell is covered iff its centre is)."""
    signs = np.array([1 if d == "min" else -1 for d in directions])
    p, r = points * signs, np.asarray(reference) * signs
    xs = np.unique(np.r_[p[:, 0], r[0]])
    ys = np.unique(np.r_[p[:, 1], r[1]])
    area = 0.0
    for x0, x1 in zip(xs[:-1], xs[1:]):
        for y0, y1 in zip(ys[:-1], ys[1:]):
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            inside = cx < r[0] and cy < r[1]
            if inside and np.any((p[:, 0] <= cx) & (p[:, 1] <= cy)):
                area += (x1 - x0) * (y1 - y0)
    return area


def test_single_box():
    assert hypervolume_2d(np.array([[1.0, 0.5]]), (3.0, 0.0)) == pytest.approx(2.0 * 0.5)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("directions", [("min", "max"), ("min", "min"), ("max", "max"), ("max", "min")])
def test_matches_brute_force(seed, directions):
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 8, size=(25, 2)).astype(float) + rng.choice([0.0, 0.5], size=(25, 2))
    reference = [8.0 if d == "min" else -0.5 for d in directions]
    expected = brute_force_hypervolume(points, reference, directions)
    assert hypervolume_2d(points, reference, directions) == pytest.approx(expected)


def test_points_not_better_than_the_reference_add_nothing():
    points = np.array([[1.0, 0.5], [4.0, 0.9], [0.5, -0.1], [np.nan, 1.0]])
    assert hypervolume_2d(points, (3.0, 0.0)) == pytest.approx(1.0)
    assert hypervolume_2d(np.empty((0, 2)), (1.0, 0.0)) == 0.0


def test_dominated_and_duplicate_points_do_not_change_it():
    front = np.array([[1.0, 0.2], [2.0, 0.5]])
    extra = np.vstack([front, front, [[2.5, 0.3], [1.5, 0.1]]])
    assert hypervolume_2d(extra, (3.0, 0.0)) == pytest.approx(hypervolume_2d(front, (3.0, 0.0)))


def test_bad_reference_raises():
    with pytest.raises(ConfigError, match="reference_point"):
        hypervolume_2d(np.ones((1, 2)), (1.0, np.nan))
    with pytest.raises(ConfigError, match="'abc'"):
        hypervolume_2d(np.ones((1, 2)), "abc")


def test_default_reference_is_the_worst_of_each_objective():
    trials = make_trials([{"mse": 0.9, "mrr": 0.02}, {"mse": 1.1, "mrr": 0.05}, {"mse": 1.0, "mrr": 0.01}])
    assert reference_point(trials) == (1.1, 0.01)


def test_table_and_history_agree_and_history_follows_number_order():
    trials, _ = make_export(lambdas=(0.1, 0.5, 0.9, 0.99), seeds=(0, 1), n_epochs=5)
    table = hypervolume_table(trials)
    overall = table[(table["value"] == "final") & (table["scope"] == "overall")].iloc[0]
    history = hypervolume_history(trials, "final")
    assert history["number"].is_monotonic_increasing
    assert np.all(np.diff(history["hypervolume"]) >= -1e-15)
    assert history["hypervolume"].iloc[-1] == pytest.approx(overall["hypervolume"])
    shuffled = trials.sample(frac=1.0, random_state=1)
    np.testing.assert_allclose(hypervolume_history(shuffled, "final")["hypervolume"], history["hypervolume"])
    assert set(table["scope"]) == {"overall", "shared", "separate"}


def test_history_matches_recomputation_from_scratch():
    trials = make_trials([{"mse": m, "mrr": r} for m, r in [(1.0, 0.1), (0.9, 0.05), (0.95, 0.2), (0.8, 0.01)]])
    reference = (1.2, 0.0)
    history = hypervolume_history(trials, "final", reference)
    points = trials[["final_test_mse", "final_test_mrr"]].to_numpy()
    expected = [hypervolume_2d(points[: k + 1], reference) for k in range(len(points))]
    np.testing.assert_allclose(history["hypervolume"], expected)


def test_given_reference_is_used_for_every_value():
    trials = make_trials([{"mse": 0.9, "mrr": 0.02}])
    table = hypervolume_table(trials, reference=(1.0, 0.0))
    assert (table["reference_source"] == "given").all()
    assert table.loc[table["scope"] == "overall", "hypervolume"].tolist() == pytest.approx([0.1 * 0.02] * 2)
