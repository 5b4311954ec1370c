"""Trade-off curves: smooth fits, knee and the MSE-budget answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.interpolate import make_smoothing_spline

from _analysis_fixtures import make_trials
from mtlstudy import ConfigError
from mtlstudy.analysis import best_under_budget, find_knee, fit_tradeoff, smooth_curve


def truth(x):
    return np.sin(2 * np.pi * x) + 0.5 * x


def noisy_repeats(seed):
    rng = np.random.default_rng(seed)
    x = np.repeat(np.linspace(0, 1, 25), 3)
    return x, truth(x) + rng.normal(0, 0.05, x.size)


def test_spline_recovers_a_known_function_with_a_band_from_repeats():
    grid = np.linspace(0, 1, 101)
    coverage = []
    for seed in range(10):
        curve = smooth_curve(*noisy_repeats(seed), grid)
        assert np.max(np.abs(curve.fitted - truth(grid))) < 0.08
        assert (curve.upper - curve.lower).max() < 0.15
        coverage.append(np.mean((curve.lower <= truth(grid)) & (truth(grid) <= curve.upper)))
    # A pointwise 95% band; smoothing bias at the extrema costs a little coverage.
    assert np.mean(coverage) > 0.85
    assert curve.method == "smoothing spline"
    assert "Cp" in curve.note and "repeated runs" in curve.note
    assert (curve.n_points, curve.n_distinct) == (75, 25)


def test_spline_without_repeats_uses_gcv_and_matches_scipy():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(0, 1, 60))
    y = truth(x) + rng.normal(0, 0.05, x.size)
    grid = np.linspace(x[0], x[-1], 101)
    curve = smooth_curve(x, y, grid)
    assert "generalised cross-validation" in curve.note and "spline residuals" in curve.note
    assert np.max(np.abs(curve.fitted - truth(grid))) < 0.08
    scipy_fit = make_smoothing_spline(x, y)(grid)  # scipy's own GCV choice
    assert np.max(np.abs(curve.fitted - scipy_fit)) < 0.03
    assert curve.lower is not None and np.all(curve.lower < curve.fitted)


def test_one_distinct_value_gives_a_constant():
    curve = smooth_curve([0.5, 0.5, 0.5], [1.0, 2.0, 3.0], np.array([0.5]))
    assert curve.method == "constant"
    assert curve.fitted.tolist() == [2.0]
    assert curve.lower is not None  # two degrees of freedom from the repeats
    single = smooth_curve([0.5], [1.0], np.array([0.5]))
    assert single.lower is None and "no band" in single.note


@pytest.mark.parametrize("n_distinct", [2, 3, 4])
def test_few_values_fall_back_to_linear_interpolation(n_distinct):
    x = np.linspace(0.1, 0.9, n_distinct)
    y = 2 * x + 1
    grid = np.linspace(0.1, 0.9, 9)
    curve = smooth_curve(x, y, grid)
    assert curve.method == "linear interpolation"
    assert f"only {n_distinct} distinct values" in curve.note and "no band" in curve.note
    np.testing.assert_allclose(curve.fitted, 2 * grid + 1)
    assert curve.lower is None


def test_few_values_with_repeats_get_a_band():
    x = np.repeat([0.2, 0.8], 3)
    y = np.array([1.0, 1.1, 0.9, 2.0, 2.1, 1.9])
    curve = smooth_curve(x, y, np.array([0.2, 0.5, 0.8]))
    np.testing.assert_allclose(curve.fitted, [1.0, 1.5, 2.0])
    assert np.all(curve.upper > curve.fitted) and "t(4 df)" in curve.note


def test_smooth_curve_argument_errors():
    with pytest.raises(ConfigError, match="at least one"):
        smooth_curve([np.nan], [1.0], np.array([0.0]))
    with pytest.raises(ConfigError, match="1.5"):
        smooth_curve([0.0], [1.0], np.array([0.0]), level=1.5)


def test_knee_of_a_quarter_circle_is_at_45_degrees():
    theta = np.linspace(0, np.pi / 2, 2001)
    mse, mrr = 1 - np.cos(theta), np.sin(theta)  # bulges toward (low MSE, high MRR)
    knee = find_knee(mse, mrr)
    assert knee.reason is None
    assert theta[knee.index] == pytest.approx(np.pi / 4, abs=2e-3)
    # Distance of (1 - √½, √½) from the chord a + b = 1 in scaled units:
    assert knee.distance == pytest.approx((np.sqrt(2) - 1) / np.sqrt(2), rel=1e-3)


def test_knee_is_none_for_straight_or_tiny_fronts():
    line = np.linspace(0, 1, 50)
    straight = find_knee(line, line)
    assert straight.index is None and "almost straight" in straight.reason
    two = find_knee(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    assert two.index is None and "2 point(s)" in two.reason
    flat = find_knee(line, np.zeros(50))  # every point but the first is dominated
    assert flat.index is None


def linear_study(lambdas, mse_of, mrr_of, **extra):
    return make_trials(
        [{"lambda_f": lf, "lambda_r": 1 - lf, "mse": mse_of(lf), "mrr": mrr_of(lf), **extra} for lf in lambdas]
    )


def test_fit_tradeoff_recovers_curves_and_answers_the_budget():
    lambdas = np.linspace(0.05, 0.95, 19)
    trials = linear_study(lambdas, lambda lf: 0.9 + 0.1 * lf, lambda lf: 0.02 + 0.04 * lf)
    tradeoff = fit_tradeoff(trials)
    assert tradeoff.x_name == "lambda_f"
    curves = tradeoff.curves
    np.testing.assert_allclose(curves["test_mse"], 0.9 + 0.1 * curves["x"], atol=1e-6)
    np.testing.assert_allclose(curves["test_mrr"], 0.02 + 0.04 * curves["x"], atol=1e-6)
    assert tradeoff.knees["reason"].iloc[0].startswith("the front is almost straight")

    (answer,) = best_under_budget(tradeoff, 0.95)
    assert answer.lambda_f == pytest.approx(0.5, abs=0.01)
    assert answer.test_mrr == pytest.approx(0.04, abs=5e-4)
    assert answer.test_mse <= 0.95

    (infeasible,) = best_under_budget(tradeoff, 0.85)
    assert infeasible.x is None and "never reaches 0.85" in infeasible.reason and "0.905" in infeasible.reason


def test_knee_and_budget_on_a_curved_trade_off():
    # MSE = λ, MRR = sqrt(1 - (1 - λ)²): a quarter circle traced by λ.
    lambdas = np.linspace(0.01, 0.99, 99)
    trials = linear_study(lambdas, lambda lf: lf, lambda lf: np.sqrt(1 - (1 - lf) ** 2))
    tradeoff = fit_tradeoff(trials, n_grid=1001)
    fine = np.linspace(0.01, 0.99, 1001)
    expected = fine[find_knee(fine, np.sqrt(1 - (1 - fine) ** 2)).index]
    assert tradeoff.knees["lambda_f"].iloc[0] == pytest.approx(expected, abs=0.005)
    (answer,) = best_under_budget(tradeoff, 0.5)
    assert answer.lambda_f == pytest.approx(0.5, abs=1e-3)
    assert answer.test_mrr == pytest.approx(np.sqrt(0.75), abs=1e-3)


def test_log_ratio_is_detected_in_the_independent_space():
    rng = np.random.default_rng(2)
    lambda_f = 10 ** rng.uniform(-2, 0, 30)
    lambda_r = 10 ** rng.uniform(-2, 0, 30)
    ratio = np.log10(lambda_f / lambda_r)
    trials = make_trials(
        [
            {"lambda_f": a, "lambda_r": b, "mse": 0.9 + 0.01 * r**2, "mrr": 0.03 + 0.005 * r}
            for a, b, r in zip(lambda_f, lambda_r, ratio)
        ]
    )
    tradeoff = fit_tradeoff(trials)
    assert tradeoff.x_name == "log_ratio"
    curves = tradeoff.curves
    np.testing.assert_allclose(curves["test_mse"], 0.9 + 0.01 * curves["x"] ** 2, atol=2e-3)
    np.testing.assert_allclose(curves["lambda_f"], 1 / (1 + 10 ** -curves["x"]))
    assert fit_tradeoff(trials, x="lambda_f").x_name == "lambda_f"


def test_variants_are_fitted_separately_and_few_points_are_reported():
    trials = pd.concat(
        [
            linear_study(np.linspace(0.1, 0.9, 9), lambda lf: 0.9 + lf / 10, lambda lf: 0.02 + lf / 20, shared=True),
            linear_study([0.3, 0.7], lambda lf: 0.91, lambda lf: 0.06, shared=False),
        ],
        ignore_index=True,
    ).assign(number=lambda f: range(len(f)), trial_id=lambda f: [f"t{i}" for i in range(len(f))])
    tradeoff = fit_tradeoff(trials)
    methods = tradeoff.fits.set_index(["shared", "metric"])["method"]
    assert methods[(True, "test_mse")] == "smoothing spline"
    assert methods[(False, "test_mrr")] == "linear interpolation"
    assert set(tradeoff.curves["variant"]) == {"shared embeddings", "separate embeddings"}
    assert len(best_under_budget(tradeoff, 1.0)) == 2


def test_fit_tradeoff_argument_errors():
    trials = make_trials([{}])
    with pytest.raises(ConfigError, match="'sideways'"):
        fit_tradeoff(trials, x="sideways")
    with pytest.raises(ConfigError, match="'middle'"):
        fit_tradeoff(trials, value="middle")
    tradeoff = fit_tradeoff(trials)
    for bad in (-0.1, float("nan"), "cheap"):
        with pytest.raises(ConfigError, match="mse_budget"):
            best_under_budget(tradeoff, bad)
