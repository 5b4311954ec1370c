"""calibration_coverage: fresh trials checked against the trade-off's prediction bands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from _analysis_fixtures import make_export, make_trials, with_roles
from mtlstudy import ConfigError, StudyError
from mtlstudy.analysis import COVERAGE_CONFIDENCE, calibration_coverage, fit_tradeoff, write_report
from mtlstudy.analysis.report._plots import calibration_plot_data

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
    with pytest.raises(StudyError, match="no calibration trial can be checked against a prediction band: 12 calibration"):
        calibration_coverage(trials)


def test_a_variant_fitted_without_a_band_is_left_out_with_a_note():
    # One weight run once per variant: the fit is a constant without any band to check against.
    trials, _ = with_roles(*make_export(lambdas=(0.5,), seeds=(0,), user_bias_lambdas=(), n_failed=0),
                           calibration_lambdas=(0.5,))
    with pytest.raises(StudyError, match="can be checked against a prediction band: .*single run gives no noise estimate"):
        calibration_coverage(trials)
    replicate = trials[trials["shared"] & (trials["role"] == "search")].assign(role="replicate", seed=7)
    replicate["final_test_mse"] += 0.01
    replicate["final_test_mrr"] += 0.001
    coverage = calibration_coverage(pd.concat([trials, replicate], ignore_index=True))
    assert set(coverage.points["variant"]) == {"shared embeddings"}
    assert [note.split(":")[0] for note in coverage.notes] == [
        f"1 calibration trial(s) of separate embeddings left out for test_{metric}" for metric in ("mse", "mrr")
    ]


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
        ({"level": 1.0}, ConfigError, r"level must be a number in \(0, 1\), got 1.0"),
        ({"level": "high"}, ConfigError, "got 'high'"),
        ({"x": "lambda"}, ConfigError, "x must be one of"),
    ],
)
def test_bad_arguments_are_refused(options, error, match):
    trials, _ = with_roles(*make_export())
    with pytest.raises(error, match=match):
        calibration_coverage(trials, **options)


@pytest.fixture(scope="module")
def small_roled(tmp_path_factory):
    """A small export with replicates and calibration trials, read back from CSV as a study export travels."""
    trials, epochs = with_roles(
        *make_export(lambdas=(0.1, 0.3, 0.5, 0.7, 0.9, 0.99), seeds=(0, 1), n_epochs=12),
        calibration_lambdas=(0.2, 0.6, 0.95),
    )
    folder = tmp_path_factory.mktemp("export")
    trials.to_csv(folder / "trials.csv", index=False)
    epochs.to_csv(folder / "epochs.csv", index=False)
    return pd.read_csv(folder / "trials.csv"), pd.read_csv(folder / "epochs.csv")


def test_the_report_has_a_calibration_section(tmp_path, small_roled):
    trials, epochs = small_roled
    out = write_report(trials, epochs, tmp_path / "r", title="roles")
    fresh = trials[trials["role"] == "calibration"]
    coverage = calibration_coverage(trials)

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["calibration"] == coverage.to_dict()  # as `mtlstudy calibrate --format json` prints it
    assert summary["calibration"]["table"] == coverage.table.to_dict(orient="records")
    assert (summary["calibration"]["level"], summary["calibration"]["confidence"]) == (0.95, COVERAGE_CONFIDENCE)
    assert summary["counts"]["trials_by_role"] == trials["role"].value_counts().to_dict()
    assert summary["counts"]["complete"] == int(((trials["state"] == "COMPLETE") & (trials["role"] != "calibration")).sum())
    assert "figures/calibration.png" in summary["figures"] and (out / "figures" / "calibration.png").is_file()
    pd.testing.assert_frame_equal(pd.read_csv(out / "calibration.csv"), coverage.table, check_dtype=False)
    assert len(pd.read_csv(out / "calibration_points.csv")) == 2 * len(fresh)

    # Calibration trials are on no front and in no epoch table.
    fresh_ids = set(fresh["trial_id"])
    assert not fresh_ids & set(pd.read_csv(out / "pareto.csv")["trial_id"])
    assert not fresh_ids & set(pd.read_csv(out / "epochs_best_vs_final.csv")["trial_id"])

    page = (out / "index.html").read_text(encoding="utf-8")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "<h2>Calibration</h2>" in page and "## Calibration" in markdown
    assert f"{len(fresh)} fresh trial(s)" in markdown
    assert "(figures/calibration.png)" in markdown
    replicates = int((trials["role"] == "replicate").sum())
    assert f"{replicates} of the trials are replicates" in markdown
    assert f"{len(fresh)} calibration trial(s) enter no fit" in markdown
    # 6 weights x 2 seeds per embedding variant: 6 replicate degrees of freedom, enough to measure the noise.
    assert "the noise is set by the 6 weights run with more than one seed" in markdown
    assert "2 of them run with more than one seed" in markdown  # the user-bias variant: 2 weights x 2 seeds


def test_calibrate_prints_as_json_what_the_report_holds(tmp_path, small_roled, monkeypatch):
    from click.testing import CliRunner

    from mtlstudy.cli import main

    trials, epochs = small_roled
    coverage = calibration_coverage(trials)
    monkeypatch.setattr("mtlstudy.study.calibrate_study", lambda *args, **kwargs: coverage)
    printed = CliRunner().invoke(main, ["calibrate", "s", "--format", "json"])
    assert printed.exit_code == 0, printed.output
    out = write_report(trials, epochs, tmp_path / "r", title="roles")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert json.loads(printed.stdout) == summary["calibration"] == coverage.to_dict()


def test_a_report_without_calibration_trials_has_no_calibration_section(tmp_path, small_roled):
    trials, epochs = small_roled
    out = write_report(trials[trials["role"] != "calibration"], epochs, tmp_path / "r", title="replicates only")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert "calibration" not in summary and not (out / "figures" / "calibration.png").exists()
    assert "Calibration" not in (out / "report.md").read_text(encoding="utf-8")


def test_calibration_plot_data_keeps_the_checked_variants(small_roled):
    trials, _ = small_roled
    coverage = calibration_coverage(trials)
    plot = calibration_plot_data(fit_tradeoff(trials), coverage)
    checked = {(False, False), (True, False)}  # the user-bias variant has no fresh trial
    for frame in (plot.curves, plot.fitted):
        assert set(zip(frame["shared"], frame["user_bias"])) == checked
    assert len(plot.fitted) == int(((trials["role"] != "calibration") & (trials["state"] == "COMPLETE")
                                    & ~trials["user_bias"]).sum())
    for row in coverage.table[coverage.table["variant"] == "all variants"].itertuples():
        assert plot.titles[row.metric].endswith(
            f"{row.n_inside} of {row.n_fresh} inside ({row.coverage:.0%}; 95% CI {row.ci_lower:.0%} to "
            f"{row.ci_upper:.0%})"
        )
