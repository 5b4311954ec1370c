"""Pareto sets: generic non-domination and the study's fronts."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from _analysis_fixtures import make_trials
from mtlstudy import ConfigError, StudyError
from mtlstudy.analysis import pareto_front, pareto_mask, pareto_table

MSE_MRR = ("min", "max")


def brute_force_mask(values: np.ndarray, directions) -> np.ndarray:
    signs = np.array([1 if d == "min" else -1 for d in directions])
    v = values * signs
    mask = []
    for i, a in enumerate(v):
        dominated = any(
            np.all(b <= a) and np.any(b < a) for j, b in enumerate(v) if j != i
        )
        mask.append(not dominated)
    return np.array(mask)


def test_known_front_with_mixed_directions():
    points = np.array([[1.0, 0.1], [2.0, 0.2], [2.0, 0.1], [3.0, 0.3], [1.5, 0.05]])
    assert pareto_mask(points, MSE_MRR).tolist() == [True, True, False, True, False]


def test_identical_points_are_all_on_the_front_or_all_off():
    points = np.array([[1.0, 0.1], [1.0, 0.1], [2.0, 0.05], [2.0, 0.05]])
    assert pareto_mask(points, MSE_MRR).tolist() == [True, True, False, False]


def test_a_tie_on_one_objective_is_decided_by_the_other():
    points = np.array([[1.0, 0.1], [1.0, 0.2], [0.5, 0.2]])
    assert pareto_mask(points, MSE_MRR).tolist() == [False, False, True]


def test_single_point_and_all_identical():
    assert pareto_mask(np.array([[3.0, 0.2]]), MSE_MRR).tolist() == [True]
    assert pareto_mask(np.full((5, 2), 0.7), MSE_MRR).all()
    assert pareto_mask(np.empty((0, 2)), MSE_MRR).tolist() == []


def test_non_finite_rows_are_never_on_the_front():
    points = np.array([[np.nan, 0.9], [1.0, 0.1], [0.5, np.inf]])
    assert pareto_mask(points, MSE_MRR).tolist() == [False, True, False]


@pytest.mark.parametrize("directions", list(itertools.product(("min", "max"), repeat=2)))
def test_matches_brute_force_on_tied_integer_data(directions):
    rng = np.random.default_rng(7)
    values = rng.integers(0, 4, size=(60, 2)).astype(float)
    np.testing.assert_array_equal(pareto_mask(values, directions), brute_force_mask(values, directions))


def test_matches_brute_force_on_a_larger_continuous_set():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(300, 2))
    np.testing.assert_array_equal(pareto_mask(values, MSE_MRR), brute_force_mask(values, MSE_MRR))


def test_bad_directions_raise_config_error():
    with pytest.raises(ConfigError, match="'up'"):
        pareto_mask(np.zeros((2, 2)), ("min", "up"))
    with pytest.raises(ConfigError, match="one direction per objective"):
        pareto_mask(np.zeros((2, 3)), ("min", "max"))
    with pytest.raises(ConfigError, match="two objectives"):
        pareto_mask(np.zeros((2, 3)), ("min", "max", "min"))


def test_pareto_front_returns_sorted_rows_of_any_frame():
    frame = pd.DataFrame({"name": list("abcde"), "cost": [3, 1, 2, 2, 1], "gain": [9, 1, 5, 4, 1]})
    front = pareto_front(frame, {"cost": "min", "gain": "max"})
    assert front["name"].tolist() == ["b", "e", "c", "a"]
    with pytest.raises(ConfigError, match="speed"):
        pareto_front(frame, {"speed": "max"})


def test_pareto_table_per_value_and_scope():
    trials = make_trials(
        [
            {"mse": 0.90, "mrr": 0.02, "shared": True, "best_mse": 0.80},
            {"mse": 1.00, "mrr": 0.05, "shared": True},
            {"mse": 0.95, "mrr": 0.06, "shared": False, "best_mse": 0.85},
            {"mse": 0.99, "mrr": 0.01, "shared": False},
            {"mse": 0.10, "mrr": 0.90, "shared": True, "state": "FAIL"},
        ]
    )
    table = pareto_table(trials)

    def ids(value, scope):
        rows = table[(table["value"] == value) & (table["scope"] == scope)]
        return rows["trial_id"].tolist()

    assert ids("final", "overall") == ["t0", "t2"]
    assert ids("final", "shared") == ["t0", "t1"]
    assert ids("final", "separate") == ["t2"]
    assert ids("best", "overall") == ["t0", "t2"]
    assert "t4" not in set(table["trial_id"])  # FAIL rows are ignored
    assert {"test_mse", "test_mrr", "test_mse_epoch", "lambda_f", "seed"} <= set(table.columns)


def test_pareto_table_reads_booleans_that_went_through_csv():
    trials = make_trials([{"mse": 0.9, "mrr": 0.02, "shared": "False"}, {"mse": 0.8, "mrr": 0.01, "shared": "True"}])
    table = pareto_table(trials, values=("final",))
    assert set(table.loc[table["scope"] == "separate", "trial_id"]) == {"t0"}


def test_pareto_table_errors():
    with pytest.raises(StudyError, match="no complete trial"):
        pareto_table(make_trials([{"state": "RUNNING"}]))
    with pytest.raises(StudyError, match="final_test_mrr"):
        pareto_table(make_trials([{}]).drop(columns=["final_test_mrr"]))
    with pytest.raises(ConfigError, match="'middle'"):
        pareto_table(make_trials([{}]), values=("middle",))
    with pytest.raises(StudyError, match="'maybe'"):
        pareto_table(make_trials([{"shared": "maybe"}]))


def test_the_analysis_package_imports_without_ray():
    import subprocess
    import sys

    code = "import sys, mtlstudy.analysis; print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
