"""calibration_coverage: fresh trials checked against the trade-off's prediction bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from _analysis_fixtures import make_export, make_trials, with_roles
from mtlstudy import ConfigError, StudyError
from mtlstudy.analysis import COVERAGE_CONFIDENCE, calibration_coverage, fit_tradeoff

MSE_SD, MRR_SD = 0.01, 0.002


def truth(x):
    """Noise-free (test MSE, test MRR) at logit(λ_F) = x: both rise with λ_F, MRR later."""
    return 0.95 + 0.05 * np.tanh(x), 0.04 + 0.02 / (1 + np.exp(-1.5 * (x - 1)))


def synthetic_study(seed: int, n_weights: int = 16, n_seeds: int = 2, n_fresh: int = 100, shift: float = 0.0):
    """A simplex study with known noise: ``n_weights`` logit-uniform weights, each run with
    ``n_seeds`` seeds (the first searched, the others replicates), and ``n_fresh`` calibration
    trials at weights uniform over the searched range, their values moved by ``shift`` noise sds."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(-4, 4, n_weights)
    runs = [(x, run, "search" if run == 0 else "replicate") for x in weights for run in range(n_seeds)]
    fresh = rng.uniform(weights.min(), weights.max(), n_fresh)
    runs += [(x, 100 + run, "calibration") for run, x in enumerate(fresh)]
    rows = []
    for x, run_seed, role in runs:
        mse, mrr = truth(x)
        moved = shift if role == "calibration" else 0.0
        lambda_f = 1 / (1 + np.exp(-x))
        rows.append(
            {
                "lambda_f": lambda_f,
                "lambda_r": 1 - lambda_f,
                "seed": run_seed,
                "role": role,
                "mse": mse + (rng.normal() + moved) * MSE_SD,
                "mrr": mrr + (rng.normal() + moved) * MRR_SD,
            }
        )
    return make_trials(rows)


def test_fresh_draws_fall_inside_the_prediction_bands_about_95_percent_of_the_time():
    """Ten studies of 16 weights x 2 seeds, 100 fresh trials each, both metrics.

    A study's coverage varies with its fitted noise: over 30 such studies (200 fresh
    trials each) its standard deviation was 0.034, binomial spread included. The mean
    of ten studies then has a standard deviation of about 0.011; the test allows three.
    """
    shares = [calibration_coverage(synthetic_study(seed)).points["inside"].mean() for seed in range(10)]
    assert abs(np.mean(shares) - 0.95) <= 0.035


def test_a_wrong_band_gets_low_coverage():
    """Fresh trials four noise sds off the curve the study measured: almost none is inside."""
    coverage = calibration_coverage(synthetic_study(0, n_fresh=40, shift=4.0))
    assert (coverage.table["ci_upper"] < 0.5).all()
    assert coverage.points["inside"].mean() < 0.2


def test_the_table_counts_the_points_with_clopper_pearson_intervals():
    trials, _ = with_roles(*make_export())
    coverage = calibration_coverage(trials)
    points = coverage.points
    assert list(points.columns) == [
        "trial_id", "number", "shared", "user_bias", "variant", "metric", "x", "lambda_f", "observed", "fitted",
        "pred_lower", "pred_upper", "inside",
    ]
    fresh = trials[trials["role"] == "calibration"]
    assert sorted(points["number"].unique()) == sorted(fresh["number"])
    assert len(points) == 2 * len(fresh)
    inside = (points["pred_lower"] <= points["observed"]) & (points["observed"] <= points["pred_upper"])
    assert points["inside"].equals(inside)
    by_number = fresh.set_index("number")
    for metric in ("test_mse", "test_mrr"):
        rows = points[points["metric"] == metric]
        np.testing.assert_array_equal(rows["observed"], by_number.loc[rows["number"], f"final_{metric}"])

    table = coverage.table
    assert list(table.columns) == ["variant", "metric", "n_fresh", "n_inside", "coverage", "ci_lower", "ci_upper"]
    expected = (
        points.groupby(["variant", "metric"])["inside"].agg(["size", "sum"]).rename(columns={"size": "n", "sum": "k"})
    )
    pooled = points.groupby("metric")["inside"].agg(["size", "sum"]).rename(columns={"size": "n", "sum": "k"})
    expected = pd.concat([expected, pd.concat({"all variants": pooled})])
    alpha = 1 - COVERAGE_CONFIDENCE
    for row in table.itertuples():
        n, k = expected.loc[(row.variant, row.metric)]
        assert (row.n_fresh, row.n_inside) == (n, k)
        assert row.coverage == pytest.approx(k / n)
        # Clopper-Pearson from its beta-quantile definition.
        lower = stats.beta.ppf(alpha / 2, k, n - k + 1) if k else 0.0
        upper = stats.beta.ppf(1 - alpha / 2, k + 1, n - k) if k < n else 1.0
        assert (row.ci_lower, row.ci_upper) == pytest.approx((lower, upper))
    assert len(table) == len(expected)


def test_the_band_is_the_one_the_report_fits():
    """At a fresh trial's weight the band is the trade-off fit's, which never saw the fresh trials."""
    trials, _ = with_roles(*make_export())
    coverage = calibration_coverage(trials)
    tradeoff = fit_tradeoff(trials)
    assert coverage.x_name == tradeoff.x_name == "logit_lambda_f"
    for (variant, metric), points in coverage.points.groupby(["variant", "metric"]):
        curve = tradeoff.curves[(tradeoff.curves["variant"] == variant) & (tradeoff.curves["metric"] == metric)]
        for column in ("fitted", "pred_lower", "pred_upper"):
            at_points = np.interp(points["x"], curve["x"], curve[column])
            np.testing.assert_allclose(points[column], at_points, rtol=1e-3)


def test_best_values_and_another_level():
    trials, _ = with_roles(*make_export())
    wide = calibration_coverage(trials, value="best", level=0.99)
    narrow = calibration_coverage(trials, value="best", level=0.5)
    assert (wide.value, wide.level) == ("best", 0.99)
    assert ((wide.points["pred_upper"] - wide.points["pred_lower"])
            > (narrow.points["pred_upper"] - narrow.points["pred_lower"])).all()
    fresh = trials[trials["role"] == "calibration"].set_index("number")
    mse = wide.points[wide.points["metric"] == "test_mse"]
    np.testing.assert_array_equal(mse["observed"], fresh.loc[mse["number"], "best_test_mse"])


def test_without_calibration_trials_it_says_what_the_study_holds():
    trials, _ = make_export()
    with pytest.raises(StudyError, match=r"no complete calibration trial among 86 trial\(s\) \(states: .*COMPLETE.: 84"):
        calibration_coverage(trials)
    roled, _ = with_roles(trials, _)
    with pytest.raises(StudyError, match=r"roles: \{'search': 30, 'replicate': 56\}\); run mtlstudy calibrate"):
        calibration_coverage(roled[roled["role"] != "calibration"])


def test_failed_calibration_trials_do_not_count():
    trials, _ = with_roles(*make_export())
    fresh = trials.index[trials["role"] == "calibration"]
    trials.loc[fresh[:2], "state"] = "FAIL"
    coverage = calibration_coverage(trials)
    assert coverage.table.loc[coverage.table["variant"] == "all variants", "n_fresh"].tolist() == [10, 10]


def test_a_calibration_trial_of_an_unfitted_variant_is_left_out_with_a_note():
    trials, _ = with_roles(*make_export())
    fresh = trials.index[trials["role"] == "calibration"]
    trials.loc[fresh[0], ["shared", "user_bias"]] = [False, True]  # the study never ran that variant
    coverage = calibration_coverage(trials)
    assert trials.loc[fresh[0], "number"] not in set(coverage.points["number"])
    assert coverage.notes == (
        "1 calibration trial(s) of separate embeddings + user bias, which no fitted trial has, left out",
    )
    trials.loc[fresh, ["shared", "user_bias"]] = [False, True]
    with pytest.raises(StudyError, match="no calibration trial belongs to a model variant the study fitted"):
        calibration_coverage(trials)


def test_a_fresh_trial_outside_the_fitted_weights_is_checked_with_a_note():
    trials = synthetic_study(0, n_fresh=5)
    fresh = trials.index[trials["role"] == "calibration"]
    trials.loc[fresh[0], ["lambda_f", "lambda_r"]] = [0.9999, 0.0001]  # logit 9.2, beyond every trial
    coverage = calibration_coverage(trials)
    assert len(coverage.points) == 10
    assert any("1 calibration trial(s) of shared embeddings lie outside" in note for note in coverage.notes)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"value": "objective"}, ConfigError, "'final' .* or 'best'"),
        ({"level": 1.0}, ConfigError, r"level must be a number in \(0, 1\); got 1.0"),
        ({"level": "high"}, ConfigError, "got 'high'"),
        ({"x": "lambda"}, ConfigError, "x must be one of"),
    ],
)
def test_bad_arguments_are_refused(options, error, match):
    trials, _ = with_roles(*make_export())
    with pytest.raises(error, match=match):
        calibration_coverage(trials, **options)
