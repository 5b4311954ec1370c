"""Trade-off curves: test MSE and test MRR as smooth functions of the loss weights.

Per model variant (shared flag, and user bias where the study varies it), each
objective is fitted against one variable of the loss weights: ``λ_F`` itself when
every trial has ``λ_F + λ_R ≈ 1`` (only the ratio matters under Adam, so that line
is the whole space), otherwise ``log10(λ_F / λ_R)``. The two fits, evaluated on a
common grid, trace the MRR-vs-MSE curve; its knee and the best λ_F under an MSE
budget are read off that curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from scipy.interpolate import make_smoothing_spline

from mtlstudy._errors import ConfigError, StudyError
from mtlstudy.analysis._frame import check_value, complete_trials, group_label
from mtlstudy.analysis._pareto import pareto_mask, to_minimisation

__all__ = [
    "SmoothCurve",
    "smooth_curve",
    "Knee",
    "KNEE_METHOD",
    "find_knee",
    "TradeOff",
    "fit_tradeoff",
    "BudgetAnswer",
    "best_under_budget",
]

#: scipy's ``make_smoothing_spline`` needs at least five distinct abscissas.
MIN_SPLINE_POINTS = 5

#: Candidate smoothing strengths, as log10 of λ per unit of total weight on x in [0, 1].
_LOG_SMOOTHING = np.arange(-12.0, 2.01, 0.25)

#: A knee must lie at least this far (normalised units) from the chord.
KNEE_MIN_DISTANCE = 0.01

#: How the knee is defined, for the report.
KNEE_METHOD = (
    "the point of the fitted front (the non-dominated part of the fitted MRR-vs-MSE "
    "curve) farthest from the chord joining its two ends, with both objectives scaled "
    f"to [0, 1]; no knee if that distance is below {KNEE_MIN_DISTANCE}"
)

_X_NAMES = ("auto", "lambda_f", "log_ratio")
_SIMPLEX_TOLERANCE = 1e-3
_OBJECTIVES = ("test_mse", "test_mrr")


@dataclass(frozen=True)
class SmoothCurve:
    """A curve fitted to noisy ``(x, y)`` samples, evaluated on a grid.

    Attributes
    ----------
    grid, fitted : numpy.ndarray
        Where the curve is evaluated and its values there.
    lower, upper : numpy.ndarray or None
        Pointwise confidence band, None when no noise estimate exists.
    method : str
        ``"smoothing spline"``, ``"linear interpolation"`` or ``"constant"``.
    note : str
        How the curve and its band were obtained, or why there is no band.
    n_points, n_distinct : int
        Samples used and distinct ``x`` among them.
    smoothing : float or None
        The spline's penalty λ, for ``x`` rescaled to [0, 1].
    """

    grid: np.ndarray
    fitted: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    method: str
    note: str
    n_points: int
    n_distinct: int
    smoothing: float | None


def smooth_curve(x: np.ndarray, y: np.ndarray, grid: np.ndarray, *, level: float = 0.95) -> SmoothCurve:
    """Fit a smooth curve to noisy samples, with a pointwise confidence band.

    Repeated ``x`` (seeds) are averaged and weighted by their count. With at least
    five distinct ``x`` the fit is a cubic smoothing spline whose penalty is chosen
    by Mallows' Cp when repeated runs give the noise variance, else by generalised
    cross-validation; with two to four the means are interpolated
    linearly; with one the curve is that mean. Each is a linear map of the means,
    so the band is ``fitted ± t · standard error`` through that map, with the
    noise variance taken from the spread of repeated runs at the same ``x`` when
    there are any, else from the spline's residuals; without either there is no
    band, and ``note`` says so.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Samples; non-finite pairs are dropped. Needs at least one.
    grid : array_like
        Where to evaluate the curve, inside ``[min x, max x]``.
    level : float
        Coverage of the band, in (0, 1).

    Returns
    -------
    SmoothCurve
    """
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1); got {level!r}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    grid = np.asarray(grid, dtype=float)
    if len(x) == 0:
        raise ConfigError("smooth_curve needs at least one finite (x, y) pair")
    distinct, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y) / counts
    replicate = _replicate_variance(y, inverse, means)
    smoothing = None
    # Every method is a linear map of the means: at_data gives the fit at the
    # distinct x (its trace is the fit's degrees of freedom), at_grid on the grid.
    if len(distinct) == 1:
        method, note = "constant", "one distinct value of the weight: the curve is the mean"
        at_data, at_grid = np.ones((1, 1)), np.ones((len(grid), 1))
    elif len(distinct) < MIN_SPLINE_POINTS:
        method = "linear interpolation"
        note = f"only {len(distinct)} distinct values of the weight: linear interpolation of the means"
        at_data = np.eye(len(distinct))
        at_grid = np.column_stack([np.interp(grid, distinct, unit) for unit in at_data])
    else:
        method = "smoothing spline"
        span = distinct[-1] - distinct[0]
        smoothing, basis, criterion = _select_spline(
            (distinct - distinct[0]) / span, means, counts.astype(float), replicate
        )
        note = f"cubic smoothing spline, penalty chosen by {criterion}"
        at_data, at_grid = basis((distinct - distinct[0]) / span), basis((grid - distinct[0]) / span)
    if counts.max() > 1:
        note += f"; repeated runs (up to {counts.max()} per value) averaged"
    fitted = at_grid @ means
    sizes = {"n_points": len(x), "n_distinct": len(distinct), "smoothing": smoothing}
    noise = replicate or _residual_variance(means, counts, at_data)
    if noise is None:
        note += "; no repeated runs and no residual degrees of freedom to estimate the noise: no band"
        return SmoothCurve(grid, fitted, None, None, method, note, **sizes)
    variance, dof, source = noise
    half = stats.t.ppf((1 + level) / 2, dof) * np.sqrt(variance * (at_grid**2 / counts).sum(axis=1))
    note += f"; {level:.0%} band: fit ± t({dof:.3g} df) standard errors, noise variance from {source}"
    return SmoothCurve(grid, fitted, fitted - half, fitted + half, method, note, **sizes)


def _replicate_variance(y, inverse, means) -> tuple[float, float, str] | None:
    """Variance of one run from the spread of repeated runs at the same x (pooled).

    It needs no model, so it is preferred wherever there are at least 2 degrees
    of freedom (repeats beyond the first).
    """
    dof = len(y) - len(means)
    if dof < 2:
        return None
    return float(np.sum((y - means[inverse]) ** 2) / dof), float(dof), "the spread of repeated runs"


def _residual_variance(means, counts, at_data) -> tuple[float, float, str] | None:
    """Variance of one run from the weighted residuals of a fit that does not interpolate."""
    dof = len(means) - np.trace(at_data)
    if dof < 2:
        return None
    residuals = means - at_data @ means
    return float(np.sum(counts * residuals**2) / dof), float(dof), "the spline residuals"


def _select_spline(x: np.ndarray, y: np.ndarray, weights: np.ndarray, replicate):
    """Pick the spline penalty; return it, the fitted smoother and the criterion's name.

    With a noise variance from repeated runs the penalty minimises Mallows' Cp
    (unbiased risk), otherwise generalised cross-validation, which estimates
    the noise itself. The smoother is linear in ``y``: fitting the identity matrix
    (a batch of unit vectors) gives a spline whose values at ``x`` are the hat
    matrix, whose trace is the fit's degrees of freedom both criteria need.
    """
    n = len(x)
    identity = np.eye(n)
    best_score, best = np.inf, None
    for log_smoothing in _LOG_SMOOTHING:
        smoothing = weights.sum() * 10.0**log_smoothing
        try:
            basis = make_smoothing_spline(x, identity, w=weights, lam=smoothing)
        except (ValueError, np.linalg.LinAlgError):
            continue  # numerically ill-posed at this strength
        hat = basis(x)
        dof = np.trace(hat)
        weighted_rss = np.sum(weights * (y - hat @ y) ** 2)
        if replicate is not None:
            score = weighted_rss + 2.0 * replicate[0] * dof
        elif n - dof > 1e-6:
            score = n * weighted_rss / (n - dof) ** 2
        else:
            continue
        if score < best_score:
            best_score, best = score, (float(smoothing), basis)
    if best is None:
        raise ConfigError("no smoothing strength gave a well-posed spline fit")
    criterion = (
        "Mallows' Cp with the noise variance of the repeated runs"
        if replicate is not None
        else "generalised cross-validation"
    )
    return (*best, criterion)


class Knee(NamedTuple):
    """Where a 2-D front bends most (see :data:`KNEE_METHOD`).

    ``index`` is the knee's position in the arrays given to :func:`find_knee`,
    None when there is no knee, and then ``reason`` says why.
    """

    index: int | None
    distance: float
    reason: str | None


def find_knee(first: np.ndarray, second: np.ndarray, directions: tuple[str, str] = ("min", "max")) -> Knee:
    """Knee of the front of the points ``(first[i], second[i])``.

    Parameters
    ----------
    first, second : array_like, shape (n,)
        Two objectives, e.g. a fitted MSE and MRR along a grid.
    directions : pair of {"min", "max"}

    Returns
    -------
    Knee
    """
    points = to_minimisation(np.column_stack([first, second]), directions)
    front = np.flatnonzero(pareto_mask(points, ("min", "min")))
    if len(front) < 3:
        return Knee(None, float("nan"), f"the front has {len(front)} point(s); a knee needs at least 3")
    values = points[front]
    low, span = values.min(axis=0), np.ptp(values, axis=0)
    if (span <= 0).any():
        return Knee(None, float("nan"), "the front does not vary in both objectives")
    # Scaled, the front runs from (0, 1) to (1, 0): its chord is a + b = 1 and the
    # ideal point is (0, 0), so the knee is the point farthest on the ideal side.
    distance = (1.0 - ((values - low) / span).sum(axis=1)) / np.sqrt(2.0)
    best = int(np.argmax(distance))
    if distance[best] < KNEE_MIN_DISTANCE:
        return Knee(
            None,
            float(distance[best]),
            f"the front is almost straight (largest distance to the chord {distance[best]:.3g})",
        )
    return Knee(int(front[best]), float(distance[best]), None)


@dataclass(frozen=True)
class TradeOff:
    """Fitted objective curves per model variant and what they imply.

    Attributes
    ----------
    value : {"final", "best"}
        Which reading of the metrics was fitted.
    x_name : {"lambda_f", "log_ratio"}
        The fitted variable: ``λ_F`` (trials on ``λ_F + λ_R = 1``) or
        ``log10(λ_F / λ_R)``.
    curves : pandas.DataFrame
        The grid: ``shared, user_bias, variant, x, lambda_f`` (``λ_F / (λ_F + λ_R)``),
        ``test_mse``, ``test_mse_lower``, ``test_mse_upper``, the same for ``test_mrr``,
        and ``on_front`` (non-dominated within its variant).
    points : pandas.DataFrame
        The observed trials: ``trial_id, number, shared, user_bias, seed, x,
        lambda_f, test_mse, test_mrr``.
    fits : pandas.DataFrame
        One row per variant and objective: ``method, note, n_points, n_distinct,
        smoothing``.
    knees : pandas.DataFrame
        One row per variant: ``x, lambda_f, test_mse, test_mrr, distance, reason``.
    notes : tuple of str
        What was left out and why.
    """

    value: str
    x_name: str
    curves: pd.DataFrame
    points: pd.DataFrame
    fits: pd.DataFrame
    knees: pd.DataFrame
    notes: tuple[str, ...]


def resolve_x(complete: pd.DataFrame, x: str) -> str:
    """Turn ``x="auto"`` into ``"lambda_f"`` or ``"log_ratio"``."""
    if x not in _X_NAMES:
        raise ConfigError(f"x must be one of {', '.join(_X_NAMES)}; got {x!r}")
    if x != "auto":
        return x
    total = complete["lambda_f"] + complete["lambda_r"]
    return "lambda_f" if np.allclose(total, 1.0, rtol=0, atol=_SIMPLEX_TOLERANCE) else "log_ratio"


def _weight_variable(frame: pd.DataFrame, x_name: str) -> np.ndarray:
    lambda_f, lambda_r = frame["lambda_f"].to_numpy(float), frame["lambda_r"].to_numpy(float)
    if x_name == "lambda_f":
        return lambda_f
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((lambda_f > 0) & (lambda_r > 0), lambda_f / lambda_r, np.nan)
        return np.log10(ratio)


def weight_phrase(x_name: str, x: float) -> str:
    """The loss weight at ``x`` in words, e.g. ``"λ_F = 0.8"``."""
    if x_name == "lambda_f":
        return f"λ_F = {x:.3g}"
    return f"log10(λ_F/λ_R) = {x:.3g} (λ_F = {_lambda_f_share(np.asarray(x), x_name):.3g} on λ_F + λ_R = 1)"


def _lambda_f_share(x: np.ndarray, x_name: str) -> np.ndarray:
    """λ_F / (λ_F + λ_R), the equivalent λ_F on the line λ_F + λ_R = 1."""
    return x if x_name == "lambda_f" else 1.0 / (1.0 + 10.0 ** (-x))


def fit_tradeoff(
    trials: pd.DataFrame,
    *,
    value: str = "final",
    x: str = "auto",
    n_grid: int = 201,
    level: float = 0.95,
) -> TradeOff:
    """Fit test MSE and test MRR against the loss weights, per model variant.

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export.
    value : {"final", "best"}
        Which reading of the metrics to fit.
    x : {"auto", "lambda_f", "log_ratio"}
        The fitted variable; ``"auto"`` takes ``lambda_f`` when all trials have
        ``λ_F + λ_R`` within 1e-3 of 1, ``log_ratio`` otherwise.
    n_grid : int
        Grid points per variant, spanning its observed range (no extrapolation).
    level : float
        Coverage of the confidence bands, see :func:`smooth_curve`.

    Returns
    -------
    TradeOff
    """
    check_value(value)
    if int(n_grid) != n_grid or n_grid < 2:
        raise ConfigError(f"n_grid must be an integer of at least 2; got {n_grid!r}")
    complete = complete_trials(trials)
    x_name = resolve_x(complete, x)
    frame = complete.assign(x=_weight_variable(complete, x_name))
    notes = []
    invalid = ~np.isfinite(frame["x"])
    if invalid.any():
        notes.append(f"{int(invalid.sum())} trial(s) with a non-positive λ left out of the log-ratio fit")
    unusable = ~np.isfinite(frame[[f"{value}_{metric}" for metric in _OBJECTIVES]]).all(axis=1) & ~invalid
    if unusable.any():
        notes.append(f"{int(unusable.sum())} trial(s) with a non-finite {value} test MSE or MRR left out of the fit")
    frame = frame[~invalid & ~unusable]
    if frame.empty:
        raise StudyError(f"no complete trial has a usable loss weight and finite {value} test MSE and MRR")
    frame = frame.assign(lambda_f_share=_lambda_f_share(frame["x"].to_numpy(), x_name))
    points = pd.DataFrame(
        {
            "trial_id": frame["trial_id"],
            "number": frame["number"],
            "shared": frame["shared"],
            "user_bias": frame["user_bias"],
            "seed": frame["seed"],
            "x": frame["x"],
            "lambda_f": frame["lambda_f_share"],
            **{metric: frame[f"{value}_{metric}"].astype(float) for metric in _OBJECTIVES},
        }
    ).reset_index(drop=True)

    curves, fits, knees = [], [], []
    for (shared, user_bias), group in points.groupby(["shared", "user_bias"], sort=True):
        finite_x = group["x"].to_numpy()
        distinct = np.unique(finite_x)
        grid = distinct if len(distinct) == 1 else np.linspace(distinct[0], distinct[-1], int(n_grid))
        curve = pd.DataFrame(
            {
                "shared": bool(shared),
                "user_bias": bool(user_bias),
                "variant": group_label(bool(shared), bool(user_bias)),
                "x": grid,
                "lambda_f": _lambda_f_share(grid, x_name),
            }
        )
        for metric in _OBJECTIVES:
            fit = smooth_curve(finite_x, group[metric], grid, level=level)
            curve[metric] = fit.fitted
            curve[f"{metric}_lower"] = fit.lower if fit.lower is not None else np.nan
            curve[f"{metric}_upper"] = fit.upper if fit.upper is not None else np.nan
            fits.append(
                {
                    "shared": bool(shared),
                    "user_bias": bool(user_bias),
                    "metric": metric,
                    "method": fit.method,
                    "note": fit.note,
                    "n_points": fit.n_points,
                    "n_distinct": fit.n_distinct,
                    "smoothing": fit.smoothing,
                }
            )
        objectives = curve[list(_OBJECTIVES)].to_numpy()
        curve["on_front"] = pareto_mask(objectives, ("min", "max"))
        knee = find_knee(objectives[:, 0], objectives[:, 1])
        found = curve.iloc[knee.index] if knee.index is not None else None
        knees.append(
            {
                "shared": bool(shared),
                "user_bias": bool(user_bias),
                "variant": group_label(bool(shared), bool(user_bias)),
                **{
                    column: (float(found[column]) if found is not None else None)
                    for column in ("x", "lambda_f", *_OBJECTIVES)
                },
                "distance": knee.distance,
                "reason": knee.reason,
            }
        )
        curves.append(curve)
    return TradeOff(
        value=value,
        x_name=x_name,
        curves=pd.concat(curves, ignore_index=True),
        points=points,
        fits=pd.DataFrame(fits),
        knees=pd.DataFrame(knees),
        notes=tuple(notes),
    )


def check_budget(mse_budget: object) -> float:
    """Return the budget as a finite non-negative float or raise :class:`ConfigError`."""
    try:
        budget = float(mse_budget)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"mse_budget must be a number; got {mse_budget!r}") from None
    if not np.isfinite(budget) or budget < 0:
        raise ConfigError(f"mse_budget must be a finite number >= 0; got {mse_budget!r}")
    return budget


@dataclass(frozen=True)
class BudgetAnswer:
    """The weight that maximises fitted MRR subject to fitted MSE <= budget.

    ``x``, ``lambda_f``, ``test_mse`` and ``test_mrr`` are None when no fitted
    point meets the budget; ``reason`` then says so, with the lowest fitted MSE.
    """

    shared: bool
    user_bias: bool
    mse_budget: float
    x: float | None
    lambda_f: float | None
    test_mse: float | None
    test_mrr: float | None
    reason: str | None


def best_under_budget(tradeoff: TradeOff, mse_budget: float) -> tuple[BudgetAnswer, ...]:
    """For each model variant, the fitted optimum of MRR with MSE within budget.

    Parameters
    ----------
    tradeoff : TradeOff
        From :func:`fit_tradeoff`; its grid is searched (no extrapolation).
    mse_budget : float
        Largest acceptable fitted test MSE.

    Returns
    -------
    tuple of BudgetAnswer
        One per variant, in the order of ``tradeoff.curves``.
    """
    budget = check_budget(mse_budget)
    answers = []
    for (shared, user_bias), curve in tradeoff.curves.groupby(["shared", "user_bias"], sort=True):
        mse, mrr = curve["test_mse"].to_numpy(), curve["test_mrr"].to_numpy()
        feasible = mse <= budget
        if not feasible.any():
            lowest = curve.iloc[int(np.argmin(mse))]
            reason = (
                f"the fitted {tradeoff.value} test MSE of {group_label(bool(shared), bool(user_bias))} "
                f"never reaches {budget:.4g}; its lowest value is {lowest['test_mse']:.4g} "
                f"at {weight_phrase(tradeoff.x_name, lowest['x'])}"
            )
            answers.append(BudgetAnswer(bool(shared), bool(user_bias), budget, None, None, None, None, reason))
            continue
        best = int(np.argmax(np.where(feasible, mrr, -np.inf)))
        row = curve.iloc[best]
        answers.append(
            BudgetAnswer(
                bool(shared),
                bool(user_bias),
                budget,
                float(row["x"]),
                float(row["lambda_f"]),
                float(row["test_mse"]),
                float(row["test_mrr"]),
                None,
            )
        )
    return tuple(answers)
