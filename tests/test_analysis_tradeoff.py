"""Trade-off curves: Gaussian-process fits with honest bands, knee and the MSE-budget answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _analysis_fixtures import make_trials
from mtlstudy import ConfigError
from mtlstudy.analysis import TRADEOFF_COLUMNS, best_under_budget, find_knee, fit_tradeoff, smooth_curve

NOISE_SD = 0.1


def truth(x):
    return np.sin(x) + 0.3 * x


@pytest.mark.parametrize(("n_weights", "n_seeds"), [(30, 1), (10, 3)])
def test_prediction_bands_hold_95_percent_of_fresh_draws(n_weights, n_seeds):
    """Known noise, fresh trials at new weights: the share inside the 95% prediction band
    is 0.95 within three binomial standard deviations of the number of fresh draws."""
    studies, fresh = 20, 50
    inside = 0
    for seed in range(studies):
        rng = np.random.default_rng(seed)
        x = np.repeat(rng.uniform(-3, 3, n_weights), n_seeds)
        y = truth(x) + rng.normal(0, NOISE_SD, x.size)
        new = rng.uniform(x.min(), x.max(), fresh)
        curve = smooth_curve(x, y, new)
        draws = truth(new) + rng.normal(0, NOISE_SD, fresh)
        inside += int(np.sum((curve.pred_lower <= draws) & (draws <= curve.pred_upper)))
    total = studies * fresh
    assert abs(inside / total - 0.95) <= 3 * np.sqrt(0.95 * 0.05 / total)


def test_replicates_give_the_noise_and_the_mean_band_lies_inside_the_prediction_band():
    rng = np.random.default_rng(0)
    x = np.repeat(np.linspace(-3, 3, 12), 3)  # 24 replicate degrees of freedom
    grid = np.linspace(-3, 3, 101)
    y = truth(x) + rng.normal(0, NOISE_SD, x.size)
    curve = smooth_curve(x, y, grid)
    assert curve.method == "gaussian process" and curve.noise_source == "replicates"
    pooled = np.sqrt(np.sum(y.reshape(12, 3).var(axis=1, ddof=1) * 2) / 24)
    assert curve.noise_sd == pytest.approx(pooled)
    assert "repeated runs (24 df)" in curve.note
    assert np.all(curve.pred_lower < curve.conf_lower) and np.all(curve.conf_upper < curve.pred_upper)
    assert np.max(np.abs(curve.fitted - truth(grid))) < 3 * NOISE_SD / np.sqrt(3)
    assert (curve.n_points, curve.n_distinct) == (36, 12)


def test_without_replicates_the_noise_is_fitted():
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, 40)
    curve = smooth_curve(x, truth(x) + rng.normal(0, NOISE_SD, x.size), np.linspace(-3, 3, 11))
    assert curve.noise_source == "maximum likelihood" and "no repeated runs" in curve.note
    assert curve.noise_sd == pytest.approx(NOISE_SD, rel=0.4)


def test_the_band_widens_where_there_are_no_trials():
    rng = np.random.default_rng(2)
    x = np.r_[rng.uniform(-3, -1.5, 15), rng.uniform(1.5, 3, 15)]  # a gap in the middle
    grid = np.linspace(-3, 3, 61)
    curve = smooth_curve(x, truth(x) + rng.normal(0, NOISE_SD, x.size), grid)
    width = curve.conf_upper - curve.conf_lower
    in_gap, on_data = np.abs(grid) < 0.5, np.abs(grid) > 2
    assert width[in_gap].min() > 3 * width[on_data].max()


def test_the_same_data_gives_the_same_fit():
    x = np.linspace(-3, 3, 15)
    y = truth(x) + np.random.default_rng(3).normal(0, NOISE_SD, x.size)
    first, second = (smooth_curve(x, y, np.linspace(-3, 3, 7)) for _ in range(2))
    np.testing.assert_array_equal(first.fitted, second.fitted)
    np.testing.assert_array_equal(first.pred_upper, second.pred_upper)


def test_one_distinct_value_gives_a_constant():
    curve = smooth_curve([0.5, 0.5, 0.5], [1.0, 2.0, 3.0], np.array([0.5]))
    assert curve.method == "constant"
    assert curve.fitted.tolist() == [2.0]
    assert curve.conf_lower is not None and curve.pred_lower[0] < curve.conf_lower[0]  # two df from the repeats
    single = smooth_curve([0.5], [1.0], np.array([0.5]))
    assert single.conf_lower is None and "no band" in single.note


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


def test_fit_tradeoff_on_the_logit_scale_recovers_curves_and_answers_the_budget():
    lambdas = np.linspace(0.05, 0.95, 19)
    trials = linear_study(lambdas, lambda lf: 0.9 + 0.1 * lf, lambda lf: 0.02 + 0.04 * lf)
    tradeoff = fit_tradeoff(trials)
    assert tradeoff.x_name == "logit_lambda_f"
    assert list(tradeoff.curves[list(TRADEOFF_COLUMNS)].columns) == list(TRADEOFF_COLUMNS)
    curves = tradeoff.wide()
    np.testing.assert_allclose(curves["lambda_f"], 1 / (1 + np.exp(-curves["x"])))
    np.testing.assert_allclose(curves["test_mse"], 0.9 + 0.1 * curves["lambda_f"], atol=1e-3)
    np.testing.assert_allclose(curves["test_mrr"], 0.02 + 0.04 * curves["lambda_f"], atol=1e-3)

    (answer,) = best_under_budget(tradeoff, 0.95)
    assert answer.lambda_f == pytest.approx(0.5, abs=0.01)
    assert answer.lambda_f_lower <= answer.lambda_f <= answer.lambda_f_upper
    assert answer.lambda_f_upper - answer.lambda_f_lower < 0.05
    assert answer.test_mrr == pytest.approx(0.04, abs=5e-4)
    assert answer.test_mse <= 0.95 and answer.feasible_share == 1.0

    (infeasible,) = best_under_budget(tradeoff, 0.85)
    assert infeasible.x is None and "never reaches 0.85" in infeasible.reason and "0.905" in infeasible.reason
    assert infeasible.lambda_f_lower is None and infeasible.feasible_share == 0.0


def test_knee_and_budget_on_a_curved_trade_off_carry_intervals():
    # MSE = λ, MRR = sqrt(1 - (1 - λ)²): a quarter circle traced by λ.
    lambdas = np.linspace(0.01, 0.99, 99)
    trials = linear_study(lambdas, lambda lf: lf, lambda lf: np.sqrt(1 - (1 - lf) ** 2))
    tradeoff = fit_tradeoff(trials, n_grid=1001)
    fine = np.linspace(0.01, 0.99, 1001)
    expected = fine[find_knee(fine, np.sqrt(1 - (1 - fine) ** 2)).index]
    knee = tradeoff.knees.iloc[0]
    assert knee["lambda_f"] == pytest.approx(expected, abs=0.005)
    assert knee["lambda_f_lower"] <= knee["lambda_f"] <= knee["lambda_f_upper"] and knee["knee_share"] == 1.0
    (answer,) = best_under_budget(tradeoff, 0.5)
    assert answer.lambda_f == pytest.approx(0.5, abs=3e-3)  # one step of the logit grid
    assert answer.test_mrr == pytest.approx(np.sqrt(0.75), abs=3e-3)
    assert answer.lambda_f_lower <= answer.lambda_f <= answer.lambda_f_upper


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
    curves = tradeoff.wide()
    np.testing.assert_allclose(curves["test_mse"], 0.9 + 0.01 * curves["x"] ** 2, atol=2e-3)
    np.testing.assert_allclose(curves["lambda_f"], 1 / (1 + 10 ** -curves["x"]))
    assert fit_tradeoff(trials, x="lambda_f").x_name == "lambda_f"


def test_replicates_in_a_study_give_the_noise_and_gaps_are_marked():
    rng = np.random.default_rng(4)
    lambdas = np.repeat([0.02, 0.05, 0.1, 0.9, 0.95, 0.98], 2)  # nothing between 0.1 and 0.9
    trials = make_trials(
        [
            {"lambda_f": lf, "lambda_r": 1 - lf, "seed": k % 2, "mse": 0.9 + 0.1 * lf + rng.normal(0, 0.01),
             "mrr": 0.02 + 0.04 * lf + rng.normal(0, 0.002)}
            for k, lf in enumerate(lambdas)
        ]
    )
    tradeoff = fit_tradeoff(trials)
    assert set(tradeoff.fits["noise_source"]) == {"replicates"}
    mse = tradeoff.curves[tradeoff.curves["metric"] == "test_mse"]
    gap = mse[(mse["lambda_f"] > 0.3) & (mse["lambda_f"] < 0.7)]
    assert (gap["n_trials_near"] == 0).all() and (mse["n_trials_near"].iloc[[0, -1]] > 0).all()
    width = mse["conf_upper"] - mse["conf_lower"]
    assert width[gap.index].min() > width.iloc[[0, -1]].max()


def test_variants_are_fitted_separately():
    trials = pd.concat(
        [
            linear_study(np.linspace(0.1, 0.9, 9), lambda lf: 0.9 + lf / 10, lambda lf: 0.02 + lf / 20, shared=True),
            linear_study([0.3, 0.3], lambda lf: 0.91, lambda lf: 0.06, shared=False),
        ],
        ignore_index=True,
    ).assign(number=lambda f: range(len(f)), trial_id=lambda f: [f"t{i}" for i in range(len(f))])
    tradeoff = fit_tradeoff(trials)
    methods = tradeoff.fits.set_index(["shared", "metric"])["method"]
    assert methods[(True, "test_mse")] == "gaussian process"
    assert methods[(False, "test_mrr")] == "constant"
    assert set(tradeoff.curves["variant"]) == {"shared embeddings", "separate embeddings"}
    assert len(best_under_budget(tradeoff, 1.0)) == 2


def test_fit_tradeoff_argument_errors():
    trials = make_trials([{}])
    with pytest.raises(ConfigError, match="'sideways'"):
        fit_tradeoff(trials, x="sideways")
    with pytest.raises(ConfigError, match="'middle'"):
        fit_tradeoff(trials, value="middle")
    with pytest.raises(ConfigError, match="n_draws"):
        fit_tradeoff(trials, n_draws=3)
    tradeoff = fit_tradeoff(trials)
    for bad in (-0.1, float("nan"), "cheap"):
        with pytest.raises(ConfigError, match="mse_budget"):
            best_under_budget(tradeoff, bad)
