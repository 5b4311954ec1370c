"""Calibration: do the trade-off fit's prediction bands hold trials the fit never saw?

``mtlstudy calibrate`` trains fresh trials (role ``"calibration"``) at loss weights
between the study's trials, with seeds the study never used. The trade-off is fitted
on the other complete trials exactly as :func:`~mtlstudy.analysis.fit_tradeoff` fits
it, and each fresh trial's test MSE and test MRR is checked against its variant's
prediction band at its own weight. If the bands are honest, about ``level`` of the
fresh trials fall inside; the share comes with a Clopper-Pearson interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from mtlstudy._checks import check_level, check_value
from mtlstudy._errors import StudyError
from mtlstudy.analysis._frame import (
    ALL_VARIANTS,
    calibration_trials,
    complete_trials,
    group_label,
    json_records,
    trial_counts,
)
from mtlstudy.analysis._tradeoff import BAND_LEVEL, fit_points, resolve_x, smooth_curve

__all__ = ["CalibrationCoverage", "calibration_coverage", "COVERAGE_CONFIDENCE"]

#: Confidence of the binomial (Clopper-Pearson) interval around each coverage.
COVERAGE_CONFIDENCE = 0.95

_OBJECTIVES = ("test_mse", "test_mrr")


@dataclass(frozen=True)
class CalibrationCoverage:
    """How many fresh trials fall inside the prediction bands of the trade-off fit.

    Attributes
    ----------
    value : {"final", "best"}
        Which reading of the metrics was fitted and checked.
    x_name : {"logit_lambda_f", "log_ratio", "lambda_f"}
        The fitted variable (see :class:`~mtlstudy.analysis.TradeOff`).
    level : float
        Nominal coverage of the prediction bands.
    confidence : float
        Confidence of the Clopper-Pearson interval around each coverage
        (:data:`COVERAGE_CONFIDENCE`).
    table : pandas.DataFrame
        One row per variant and metric, then, with more than one variant, one row
        per metric pooling them (variant ``"all variants"``): ``variant, metric,
        n_fresh, n_inside, coverage, ci_lower, ci_upper``, the interval being
        Clopper-Pearson at ``confidence``.
    points : pandas.DataFrame
        One row per fresh trial and metric: ``trial_id, number, shared, user_bias,
        variant, metric, x, lambda_f, observed, fitted, pred_lower, pred_upper,
        inside`` (``fitted`` and the band are the fit's values at the trial's ``x``).
    notes : tuple of str
        Fresh trials left out and why, and those checked outside the fitted range.
    """

    value: str
    x_name: str
    level: float
    confidence: float
    table: pd.DataFrame
    points: pd.DataFrame
    notes: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON-ready values, as ``mtlstudy calibrate --format json`` prints them and the
        report's ``summary.json`` holds them: ``value, x, level, confidence``, the ``table``
        and ``points`` as lists of rows (a missing value None), and ``notes``."""
        return {
            "value": self.value,
            "x": self.x_name,
            "level": self.level,
            "confidence": self.confidence,
            "table": json_records(self.table),
            "points": json_records(self.points),
            "notes": list(self.notes),
        }


def calibration_coverage(
    trials: pd.DataFrame, *, value: str = "final", x: str | None = None, level: float = BAND_LEVEL
) -> CalibrationCoverage:
    """Share of the calibration trials inside the fit's prediction band, per variant and metric.

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export, with a ``role`` column marking the calibration trials.
    value : {"final", "best"}
        Which reading of the metrics to fit and check.
    x : {"logit_lambda_f", "log_ratio", "lambda_f"}, optional
        The fitted variable; by default the one :func:`~mtlstudy.analysis.fit_tradeoff`
        picks (``x="auto"``) for the same trials, so the bands are the report's.
    level : float
        Nominal coverage of the prediction band, in (0, 1).

    Returns
    -------
    CalibrationCoverage

    Raises
    ------
    StudyError
        If there is no complete calibration trial (the message gives the study's
        trials by state and role), none to fit, or none of a fitted variant.
    ConfigError
        For an invalid ``value``, ``x`` or ``level``.
    """
    check_value(value)
    check_level(level)
    fresh_trials = calibration_trials(trials)
    if fresh_trials.empty:
        raise StudyError(f"no complete calibration trial {trial_counts(trials)}; run mtlstudy calibrate first")
    fitted_trials = complete_trials(trials)
    x_name = resolve_x(fitted_trials, "auto" if x is None else x)
    known, _ = fit_points(fitted_trials, value, x_name)
    fresh, left_out = fit_points(fresh_trials, value, x_name, use="calibration check")
    notes = list(left_out)
    parts = []
    for (shared, user_bias), group in fresh.groupby(["shared", "user_bias"], sort=True):
        variant = group_label(bool(shared), bool(user_bias))
        basis = known[(known["shared"] == shared) & (known["user_bias"] == user_bias)]
        if basis.empty:
            notes.append(f"{len(group)} calibration trial(s) of {variant}, which no fitted trial has, left out")
            continue
        outside = (group["x"] < basis["x"].min()) | (group["x"] > basis["x"].max())
        if outside.any():
            notes.append(
                f"{int(outside.sum())} calibration trial(s) of {variant} lie outside the weights it was fitted on; "
                "their band is the fit's extrapolation"
            )
        for metric in _OBJECTIVES:
            curve = smooth_curve(basis["x"], basis[metric], group["x"].to_numpy(), level=level)
            if curve.pred_lower is None:
                notes.append(f"{len(group)} calibration trial(s) of {variant} left out for {metric}: {curve.note}")
                continue
            observed = group[metric].to_numpy()
            parts.append(
                group[["trial_id", "number", "shared", "user_bias"]].assign(
                    variant=variant,
                    metric=metric,
                    x=group["x"],
                    lambda_f=group["lambda_f"],
                    observed=observed,
                    fitted=curve.fitted,
                    pred_lower=curve.pred_lower,
                    pred_upper=curve.pred_upper,
                    inside=(curve.pred_lower <= observed) & (observed <= curve.pred_upper),
                )
            )
    if not parts:
        raise StudyError("no calibration trial can be checked against a prediction band: " + "; ".join(notes))
    points = pd.concat(parts, ignore_index=True)
    table = _coverage_table(points, COVERAGE_CONFIDENCE)
    return CalibrationCoverage(value, x_name, float(level), COVERAGE_CONFIDENCE, table, points, tuple(notes))


def _coverage_table(points: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Coverage per variant and metric, and pooled over the variants when there are several."""
    groups = [points.groupby(["variant", "metric"], sort=False)]
    if points["variant"].nunique() > 1:
        groups.append(points.assign(variant=ALL_VARIANTS).groupby(["variant", "metric"], sort=False))
    table = pd.concat(
        [group["inside"].agg(n_fresh="size", n_inside="sum").reset_index() for group in groups], ignore_index=True
    ).astype({"n_fresh": int, "n_inside": int})
    intervals = [
        stats.binomtest(row.n_inside, row.n_fresh).proportion_ci(confidence, method="exact")
        for row in table.itertuples()
    ]
    return table.assign(
        coverage=table["n_inside"] / table["n_fresh"],
        ci_lower=[interval.low for interval in intervals],
        ci_upper=[interval.high for interval in intervals],
    )
