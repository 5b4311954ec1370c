"""Trade-off curves: test MSE and test MRR as smooth functions of the loss weights.

Per model variant (shared flag, and user bias where the study varies it), each
objective is fitted against the loss weights on the scale the search space samples
them: ``logit(λ_F)`` on the simplex ``λ_F + λ_R = 1`` (only the ratio matters under
Adam, so that line is the whole space), ``log10(λ_F / λ_R)`` otherwise. The model
is a Gaussian process with a Matérn kernel and a white-noise term, so its bands
widen where there are no trials. Every trial counts, replicates (the same weights,
other seeds) included, and where replicates give enough degrees of freedom their
pooled spread is the noise. The two fits, evaluated on a common grid, trace the
MRR-vs-MSE curve; its knee and the best λ_F under an MSE budget are read off that
curve, with intervals from joint draws of the two fitted curves.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from mtlstudy._checks import check_level, check_value
from mtlstudy._errors import ConfigError, StudyError
from mtlstudy._json import jsonable
from mtlstudy.analysis._frame import complete_trials, group_label, json_records
from mtlstudy.analysis._pareto import pareto_mask, to_minimisation

__all__ = [
    "SmoothCurve",
    "smooth_curve",
    "Knee",
    "KNEE_METHOD",
    "find_knee",
    "TradeOff",
    "TRADEOFF_COLUMNS",
    "fit_tradeoff",
    "BudgetAnswer",
    "best_under_budget",
]

#: Replicate degrees of freedom (runs beyond the first at each weight, pooled) from
#: which their spread is taken as the known noise instead of being fitted.
MIN_REPLICATE_DOF = 5

#: A trial is "near" a grid point when it lies within this fraction of the fitted
#: range of the weight variable; the curve is dashed where none is.
NEAR_FRACTION = 0.05

#: Coverage of the bands where no ``level`` is given.
BAND_LEVEL = 0.95

#: A knee must lie at least this far (normalised units) from the chord.
KNEE_MIN_DISTANCE = 0.01

#: How the knee is defined, for the report.
KNEE_METHOD = (
    "the point of the fitted front (the non-dominated part of the fitted MRR-vs-MSE "
    "curve) farthest from the chord joining its two ends, with both objectives scaled "
    f"to [0, 1]; no knee if that distance is below {KNEE_MIN_DISTANCE}"
)

#: Columns of :attr:`TradeOff.curves` as written to ``tradeoff.csv``.
TRADEOFF_COLUMNS: tuple[str, ...] = (
    "variant",
    "x",
    "lambda_f",
    "metric",
    "fitted",
    "conf_lower",
    "conf_upper",
    "pred_lower",
    "pred_upper",
    "n_trials_near",
)

_X_NAMES = ("auto", "logit_lambda_f", "log_ratio", "lambda_f")
_SIMPLEX_TOLERANCE = 1e-3
_OBJECTIVES = ("test_mse", "test_mrr")


@dataclass(frozen=True)
class SmoothCurve:
    """A curve fitted to noisy ``(x, y)`` samples, evaluated on a grid.

    Attributes
    ----------
    grid, fitted : numpy.ndarray
        Where the curve is evaluated and its mean there.
    conf_lower, conf_upper : numpy.ndarray or None
        Pointwise band of the mean curve; None when the noise cannot be estimated.
    pred_lower, pred_upper : numpy.ndarray or None
        Pointwise band of one new trial at that ``x`` (mean uncertainty plus noise).
    covariance : numpy.ndarray or None
        Posterior covariance of the mean curve on the grid, for joint draws.
    method : str
        ``"gaussian process"`` or ``"constant"`` (one distinct ``x``).
    note : str
        How the curve and its bands were obtained, or why there are none.
    n_points, n_distinct : int
        Samples used and distinct ``x`` among them.
    replicate_groups : int
        Distinct ``x`` with more than one sample (runs of other seeds at the same weight).
    noise_sd : float or None
        Standard deviation of one run about the curve.
    noise_source : str or None
        ``"replicates"`` (pooled spread of runs at the same ``x``) or
        ``"maximum likelihood"`` (fitted with the curve).
    length_scale : float or None
        The fitted Matérn length scale, in units of ``x``.
    """

    grid: np.ndarray
    fitted: np.ndarray
    conf_lower: np.ndarray | None
    conf_upper: np.ndarray | None
    pred_lower: np.ndarray | None
    pred_upper: np.ndarray | None
    covariance: np.ndarray | None
    method: str
    note: str
    n_points: int
    n_distinct: int
    replicate_groups: int
    noise_sd: float | None
    noise_source: str | None
    length_scale: float | None


def smooth_curve(x: np.ndarray, y: np.ndarray, grid: np.ndarray, *, level: float = BAND_LEVEL) -> SmoothCurve:
    """Fit a smooth curve to noisy samples, with a band for the mean and one for a new run.

    With two or more distinct ``x`` the fit is a Gaussian process on standardised
    ``y``: a scaled Matérn (ν = 5/2) kernel plus white noise, hyperparameters by
    maximum likelihood (seeded restarts, so the fit is reproducible). Repeated runs
    at the same ``x`` (other seeds) enter as separate observations; when they give
    at least :data:`MIN_REPLICATE_DOF` degrees of freedom, the white-noise level is
    fixed at their pooled variance instead of being fitted, and the bands use t
    quantiles with those degrees of freedom. Otherwise the fitted variances are
    rescaled by ``n / (n - df)``, ``df`` being the trace of the smoother matrix, with
    t quantiles on ``n - df`` degrees of freedom. Away from the samples the process
    returns to the mean of ``y`` and both bands widen. With one distinct ``x`` the
    curve is the mean, with t-based bands when there are repeats.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Samples; non-finite pairs are dropped. Needs at least one.
    grid : array_like
        Where to evaluate the curve.
    level : float
        Coverage of both bands, in (0, 1).

    Returns
    -------
    SmoothCurve
    """
    check_level(level)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    grid = np.asarray(grid, dtype=float)
    if len(x) == 0:
        raise ConfigError("smooth_curve needs at least one finite (x, y) pair")
    distinct, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y) / counts
    replicate_dof = len(y) - len(distinct)
    replicate_variance = float(np.sum((y - means[inverse]) ** 2) / replicate_dof) if replicate_dof else None
    sizes = {"n_points": len(x), "n_distinct": len(distinct), "replicate_groups": int(np.sum(counts > 1))}
    if len(distinct) == 1:
        return _constant(y, grid, level, replicate_variance, replicate_dof, sizes)
    return _gaussian_process(x, y, grid, level, replicate_variance, replicate_dof, sizes)


def _constant(y, grid, level, replicate_variance, replicate_dof, sizes) -> SmoothCurve:
    fitted = np.full(len(grid), y.mean())
    note = "one distinct value of the weight: the curve is the mean"
    if replicate_dof < 1:
        note += "; a single run gives no noise estimate: no band"
        return SmoothCurve(grid, fitted, None, None, None, None, None, "constant", note, **sizes,
                           noise_sd=None, noise_source=None, length_scale=None)
    quantile = stats.t.ppf((1 + level) / 2, replicate_dof)
    mean_half = quantile * np.sqrt(replicate_variance / len(y))
    pred_half = quantile * np.sqrt(replicate_variance * (1 + 1 / len(y)))
    note += f"; {level:.0%} bands from the spread of {len(y)} runs (t, {replicate_dof} df)"
    return SmoothCurve(
        grid, fitted, fitted - mean_half, fitted + mean_half, fitted - pred_half, fitted + pred_half,
        np.full((len(grid), len(grid)), replicate_variance / len(y)), "constant", note, **sizes,
        noise_sd=float(np.sqrt(replicate_variance)), noise_source="replicates", length_scale=None,
    )


def _gaussian_process(x, y, grid, level, replicate_variance, replicate_dof, sizes) -> SmoothCurve:
    center, scale = y.mean(), y.std()
    scale = scale if scale > 0 else 1.0
    span = float(np.ptp(x))
    n_distinct = sizes["n_distinct"]
    from_replicates = replicate_dof >= MIN_REPLICATE_DOF
    if from_replicates:
        # Measured, not fitted: the noise is what the seeds alone change.
        noise = WhiteKernel(max(replicate_variance / scale**2, 1e-10), noise_level_bounds="fixed")
    else:
        noise = WhiteKernel(0.1, noise_level_bounds=(1e-8, 1.0))
    # The length scale may not shrink below a twentieth of the range, nor below half
    # the mean spacing of the distinct weights: finer wiggles than that are noise on a
    # study's few dozen trials, or shapes its weights cannot resolve.
    shortest = max(span / 20, span / (n_distinct - 1) / 2)
    kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(max(span / 3, shortest), (shortest, span * 20), nu=2.5) + noise
    model = GaussianProcessRegressor(kernel, n_restarts_optimizer=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a bound reached is reported via the fitted values
        model.fit(x[:, None], (y - center) / scale)
    mean, covariance = model.predict(grid[:, None], return_cov=True)
    noise_variance = float(model.kernel_.k2.noise_level)
    # predict() includes the white noise on the diagonal: that is a new run, not the mean.
    covariance = covariance - noise_variance * np.eye(len(grid))
    if from_replicates:
        inflation, dof = 1.0, float(replicate_dof)
    else:
        # Maximum likelihood ignores the degrees of freedom the curve itself uses (the
        # trace of its smoother matrix), so it underestimates the noise, as a residual
        # variance divided by n would; rescale by n / (n - df) and use t quantiles.
        signal = model.kernel_.k1(x[:, None])
        fit_dof = float(np.trace(np.linalg.solve(signal + noise_variance * np.eye(len(x)), signal)))
        dof = max(len(x) - fit_dof, 1.0)
        inflation = len(x) / dof
    covariance *= inflation * scale**2
    noise_variance *= inflation * scale**2
    mean_sd = np.sqrt(np.clip(np.diag(covariance), 0, None))
    pred_sd = np.sqrt(mean_sd**2 + noise_variance)
    fitted = center + scale * mean
    quantile = stats.t.ppf((1 + level) / 2, dof)
    length_scale = float(model.kernel_.k1.k2.length_scale)
    source = "replicates" if from_replicates else "maximum likelihood"
    note = (
        f"Gaussian process (Matérn 5/2, length scale {length_scale:.3g}), noise sd {np.sqrt(noise_variance):.3g} "
        + (
            f"from the spread of repeated runs ({replicate_dof} df)"
            if from_replicates
            else f"fitted by maximum likelihood ({dof:.3g} residual df"
            + (f", {replicate_dof} repeated run(s))" if replicate_dof else ", no repeated runs)")
        )
        + f"; {level:.0%} bands (t) for the mean and for a new trial"
    )
    return SmoothCurve(
        grid, fitted, fitted - quantile * mean_sd, fitted + quantile * mean_sd,
        fitted - quantile * pred_sd, fitted + quantile * pred_sd, covariance, "gaussian process", note, **sizes,
        noise_sd=float(np.sqrt(noise_variance)), noise_source=source, length_scale=length_scale,
    )


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
    x_name : {"logit_lambda_f", "log_ratio", "lambda_f"}
        The fitted variable: ``logit(λ_F)`` or ``λ_F`` (trials on ``λ_F + λ_R = 1``),
        or ``log10(λ_F / λ_R)``.
    level : float
        Coverage of the bands, and the central share of the joint draws that the
        knee and budget intervals span.
    curves : pandas.DataFrame
        Long format, one row per variant, grid point and metric: ``shared,
        user_bias`` and :data:`TRADEOFF_COLUMNS` (``lambda_f`` is
        ``λ_F / (λ_F + λ_R)``; ``conf_*`` bound the mean curve, ``pred_*`` one new
        trial; ``n_trials_near`` counts the trials within :data:`NEAR_FRACTION` of
        the variant's range of ``x``).
    points : pandas.DataFrame
        The observed trials: ``trial_id, number, role, shared, user_bias, seed, x,
        lambda_f, test_mse, test_mrr`` (``role`` is ``"search"`` or ``"replicate"``;
        calibration trials are never fitted).
    fits : pandas.DataFrame
        One row per variant and objective: ``shared, user_bias, metric, method,
        note, n_points, n_distinct, replicate_groups, noise_sd, noise_source,
        length_scale``.
    knees : pandas.DataFrame
        One row per variant: ``shared, user_bias, variant, x, lambda_f, test_mse,
        test_mrr, distance, reason``, and the interval ``x_lower, x_upper,
        lambda_f_lower, lambda_f_upper`` with ``knee_share`` (the share of joint
        draws of the two curves that have a knee).
    draws : dict of (bool, bool) to numpy.ndarray
        Per variant ``(shared, user_bias)``, joint draws of the two mean curves on
        its grid, shape ``(n_draws, n_grid, 2)`` (test MSE, test MRR).
    notes : tuple of str
        What was left out and why.
    """

    value: str
    x_name: str
    level: float
    curves: pd.DataFrame
    points: pd.DataFrame
    fits: pd.DataFrame
    knees: pd.DataFrame
    draws: dict[tuple[bool, bool], np.ndarray]
    notes: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON-ready values of the fit: ``x, value, level`` and the ``fits`` as a list
        of rows (a missing value None). The curves, points and knees are tables."""
        return {"x": self.x_name, "value": self.value, "level": self.level, "fits": json_records(self.fits)}

    def wide(self) -> pd.DataFrame:
        """One row per variant and grid point: ``shared, user_bias, variant, x,
        lambda_f, n_trials_near`` and, per metric ``m``, ``m``, ``m_lower``,
        ``m_upper`` (the mean band), ``m_pred_lower``, ``m_pred_upper``."""
        keys = ["shared", "user_bias", "variant", "x", "lambda_f", "n_trials_near"]
        parts = []
        for metric in _OBJECTIVES:
            part = self.curves[self.curves["metric"] == metric].set_index(keys)
            parts.append(
                part[["fitted", "conf_lower", "conf_upper", "pred_lower", "pred_upper"]].rename(
                    columns={
                        "fitted": metric,
                        "conf_lower": f"{metric}_lower",
                        "conf_upper": f"{metric}_upper",
                        "pred_lower": f"{metric}_pred_lower",
                        "pred_upper": f"{metric}_pred_upper",
                    }
                )
            )
        return pd.concat(parts, axis=1).reset_index()


def resolve_x(complete: pd.DataFrame, x: str) -> str:
    """Turn ``x="auto"`` into ``"logit_lambda_f"`` (simplex) or ``"log_ratio"``."""
    if x not in _X_NAMES:
        raise ConfigError(f"x must be one of {', '.join(_X_NAMES)}; got {x!r}")
    if x != "auto":
        return x
    total = complete["lambda_f"] + complete["lambda_r"]
    return "logit_lambda_f" if np.allclose(total, 1.0, rtol=0, atol=_SIMPLEX_TOLERANCE) else "log_ratio"


def _weight_variable(frame: pd.DataFrame, x_name: str) -> np.ndarray:
    """The fitted variable of each trial; NaN where it is undefined (a weight of 0, or λ_F = 1)."""
    lambda_f, lambda_r = frame["lambda_f"].to_numpy(float), frame["lambda_r"].to_numpy(float)
    if x_name == "lambda_f":
        return lambda_f
    with np.errstate(divide="ignore", invalid="ignore"):
        if x_name == "logit_lambda_f":
            inside = (lambda_f > 0) & (lambda_f < 1)
            return np.where(inside, np.log(lambda_f / (1 - lambda_f)), np.nan)
        ratio = np.where((lambda_f > 0) & (lambda_r > 0), lambda_f / lambda_r, np.nan)
        return np.log10(ratio)


def weight_phrase(x_name: str, x: float) -> str:
    """The loss weight at ``x`` in words, e.g. ``"λ_F = 0.8"``."""
    if x_name == "log_ratio":
        return f"log10(λ_F/λ_R) = {x:.3g} (λ_F = {lambda_f_share(np.asarray(x), x_name):.3g} on λ_F + λ_R = 1)"
    return f"λ_F = {lambda_f_share(np.asarray(x), x_name):.3g}"


def lambda_f_share(x: np.ndarray, x_name: str) -> np.ndarray:
    """λ_F / (λ_F + λ_R), the equivalent λ_F on the line λ_F + λ_R = 1."""
    if x_name == "lambda_f":
        return x
    base = np.e if x_name == "logit_lambda_f" else 10.0
    return 1.0 / (1.0 + base ** (-x))


def fit_tradeoff(
    trials: pd.DataFrame,
    *,
    value: str = "final",
    x: str = "auto",
    n_grid: int = 201,
    level: float = BAND_LEVEL,
    n_draws: int = 400,
    seed: int = 0,
) -> TradeOff:
    """Fit test MSE and test MRR against the loss weights, per model variant.

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export. Its calibration trials are left out: they exist to check
        the fit (see :func:`~mtlstudy.analysis.calibration_coverage`).
    value : {"final", "best"}
        Which reading of the metrics to fit.
    x : {"auto", "logit_lambda_f", "log_ratio", "lambda_f"}
        The fitted variable: the scale the search space samples the weights on.
        ``"auto"`` takes ``logit_lambda_f`` (the ``simplex`` space) when every trial
        has ``λ_F + λ_R`` within 1e-3 of 1, ``log_ratio`` (the ``independent``
        space) otherwise; ``lambda_f`` suits a simplex sampled linearly.
    n_grid : int
        Grid points per variant, spanning its observed range (no extrapolation).
    level : float
        Coverage of the bands, see :func:`smooth_curve`, and the central share of
        the draws that the knee and budget intervals span.
    n_draws : int
        Joint draws of the two fitted curves behind the knee and budget intervals.
    seed : int
        Seed of those draws.

    Returns
    -------
    TradeOff
    """
    check_value(value)
    if int(n_grid) != n_grid or n_grid < 2:
        raise ConfigError(f"n_grid must be an integer of at least 2; got {n_grid!r}")
    if int(n_draws) != n_draws or n_draws < 10:
        raise ConfigError(f"n_draws must be an integer of at least 10; got {n_draws!r}")
    complete = complete_trials(trials)
    x_name = resolve_x(complete, x)
    points, notes = fit_points(complete, value, x_name)

    rng = np.random.default_rng(seed)
    curves, fits, knees, draws = [], [], [], {}
    for (shared, user_bias), group in points.groupby(["shared", "user_bias"], sort=True):
        key = (bool(shared), bool(user_bias))
        variant = group_label(*key)
        observed = group["x"].to_numpy()
        low, high = observed.min(), observed.max()
        grid = np.array([low]) if low == high else np.linspace(low, high, int(n_grid))
        near = (np.abs(observed[None, :] - grid[:, None]) <= NEAR_FRACTION * (high - low)).sum(axis=1)
        fitted = {}
        for metric in _OBJECTIVES:
            fit = smooth_curve(observed, group[metric], grid, level=level)
            fitted[metric] = fit
            curves.append(
                pd.DataFrame(
                    {
                        "shared": key[0],
                        "user_bias": key[1],
                        "variant": variant,
                        "x": grid,
                        "lambda_f": lambda_f_share(grid, x_name),
                        "metric": metric,
                        "fitted": fit.fitted,
                        "conf_lower": _or_nan(fit.conf_lower, grid),
                        "conf_upper": _or_nan(fit.conf_upper, grid),
                        "pred_lower": _or_nan(fit.pred_lower, grid),
                        "pred_upper": _or_nan(fit.pred_upper, grid),
                        "n_trials_near": near,
                    }
                )
            )
            fits.append(
                {
                    "shared": key[0],
                    "user_bias": key[1],
                    "metric": metric,
                    "method": fit.method,
                    "note": fit.note,
                    "n_points": fit.n_points,
                    "n_distinct": fit.n_distinct,
                    "replicate_groups": fit.replicate_groups,
                    "noise_sd": fit.noise_sd,
                    "noise_source": fit.noise_source,
                    "length_scale": fit.length_scale,
                }
            )
        draws[key] = np.stack([_draw(fitted[metric], n_draws, rng) for metric in _OBJECTIVES], axis=-1)
        knees.append({"shared": key[0], "user_bias": key[1], "variant": variant,
                      **_knee_with_interval(grid, fitted, draws[key], x_name, level)})
    return TradeOff(
        value=value,
        x_name=x_name,
        level=float(level),
        curves=pd.concat(curves, ignore_index=True),
        points=points,
        fits=pd.DataFrame(fits),
        knees=pd.DataFrame(knees),
        draws=draws,
        notes=notes,
    )


def fit_points(
    complete: pd.DataFrame, value: str, x_name: str, use: str = "fit"
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The trials a fit (or its check) can use, as :attr:`TradeOff.points`, and notes on those it cannot.

    Parameters
    ----------
    complete : pandas.DataFrame
        Complete trials, as :func:`~mtlstudy.analysis._frame.complete_trials` returns them.
    value : {"final", "best"}
        Which reading of the metrics (already checked).
    x_name : str
        The fitted variable, as :func:`resolve_x` returns it.
    use : str
        What the trials are for, in the notes and the error: ``"fit"`` or ``"calibration check"``.

    Returns
    -------
    (points, notes) : (pandas.DataFrame, tuple of str)
        ``notes`` count the trials left out and say why.

    Raises
    ------
    StudyError
        If no trial is usable.
    """
    frame = complete.assign(x=_weight_variable(complete, x_name))
    notes = []
    invalid = ~np.isfinite(frame["x"])
    if invalid.any():
        notes.append(f"{int(invalid.sum())} trial(s) with a loss weight of 0 or λ_F = 1 left out of the {use}")
    unusable = ~np.isfinite(frame[[f"{value}_{metric}" for metric in _OBJECTIVES]]).all(axis=1) & ~invalid
    if unusable.any():
        notes.append(f"{int(unusable.sum())} trial(s) with a non-finite {value} test MSE or MRR left out of the {use}")
    frame = frame[~invalid & ~unusable]
    if frame.empty:
        raise StudyError(
            f"no complete trial for the {use} has a usable loss weight and finite {value} test MSE and MRR"
        )
    points = pd.DataFrame(
        {
            "trial_id": frame["trial_id"],
            "number": frame["number"],
            "role": frame["role"],
            "shared": frame["shared"],
            "user_bias": frame["user_bias"],
            "seed": frame["seed"],
            "x": frame["x"],
            "lambda_f": lambda_f_share(frame["x"].to_numpy(), x_name),
            **{metric: frame[f"{value}_{metric}"].astype(float) for metric in _OBJECTIVES},
        }
    ).reset_index(drop=True)
    return points, tuple(notes)


def _or_nan(band: np.ndarray | None, grid: np.ndarray) -> np.ndarray:
    return np.full(len(grid), np.nan) if band is None else band


def _draw(fit: SmoothCurve, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of the mean curve from its posterior; the fitted curve itself where there is none."""
    if fit.covariance is None:
        return np.broadcast_to(fit.fitted, (n_draws, len(fit.grid))).copy()
    # eigh tolerates the tiny negative eigenvalues of a covariance computed by subtraction.
    values, vectors = np.linalg.eigh(fit.covariance)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    return fit.fitted + rng.standard_normal((n_draws, len(fit.grid))) @ root.T


def _interval(x: np.ndarray, x_name: str, level: float) -> dict[str, float | None]:
    """The central ``level`` of ``x`` (the draws' answers), on the fitted scale and as λ_F."""
    if len(x) == 0:
        return {"x_lower": None, "x_upper": None, "lambda_f_lower": None, "lambda_f_upper": None}
    # Rounded: 1 - level carries the float error of level (0.05000000000000004 for 0.95).
    tail = round((1 - level) / 2, 12)
    low, high = np.quantile(x, [tail, 1 - tail])
    return {
        "x_lower": float(low),
        "x_upper": float(high),
        "lambda_f_lower": float(lambda_f_share(np.asarray(low), x_name)),
        "lambda_f_upper": float(lambda_f_share(np.asarray(high), x_name)),
    }


def _knee_with_interval(grid, fitted, draws, x_name, level) -> dict:
    knee = find_knee(fitted["test_mse"].fitted, fitted["test_mrr"].fitted)
    found = knee.index is not None
    drawn = [find_knee(draw[:, 0], draw[:, 1]).index for draw in draws]
    at = np.array([grid[index] for index in drawn if index is not None])
    return {
        "x": float(grid[knee.index]) if found else None,
        "lambda_f": float(lambda_f_share(grid[knee.index], x_name)) if found else None,
        **{metric: float(fitted[metric].fitted[knee.index]) if found else None for metric in _OBJECTIVES},
        "distance": knee.distance,
        "reason": knee.reason,
        **_interval(at, x_name, level),
        "knee_share": len(at) / len(draws),
    }


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
    ``x_lower, x_upper, lambda_f_lower, lambda_f_upper`` hold the central
    :attr:`TradeOff.level` of the answers of the joint draws of the two curves that
    meet the budget (``feasible_share`` of them); None when none does.
    """

    shared: bool
    user_bias: bool
    mse_budget: float
    x: float | None
    lambda_f: float | None
    test_mse: float | None
    test_mrr: float | None
    reason: str | None
    x_lower: float | None
    x_upper: float | None
    lambda_f_lower: float | None
    lambda_f_upper: float | None
    feasible_share: float

    def to_dict(self) -> dict:
        """Every attribute, JSON-ready (a missing value None)."""
        return jsonable(asdict(self))


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
    for (shared, user_bias), curve in tradeoff.wide().groupby(["shared", "user_bias"], sort=True):
        key = (bool(shared), bool(user_bias))
        grid = curve["x"].to_numpy()
        drawn = tradeoff.draws[key]
        meets = drawn[:, :, 0] <= budget
        feasible = meets.any(axis=1)
        best = np.argmax(np.where(meets, drawn[:, :, 1], -np.inf), axis=1)
        interval = {
            **_interval(grid[best[feasible]], tradeoff.x_name, tradeoff.level),
            "feasible_share": float(feasible.mean()),
        }
        mse, mrr = curve["test_mse"].to_numpy(), curve["test_mrr"].to_numpy()
        if not (mse <= budget).any():
            lowest = curve.iloc[int(np.argmin(mse))]
            reason = (
                f"the fitted {tradeoff.value} test MSE of {group_label(*key)} never reaches {budget:.4g}; "
                f"its lowest value is {lowest['test_mse']:.4g} at {weight_phrase(tradeoff.x_name, lowest['x'])}"
            )
            answers.append(BudgetAnswer(*key, budget, None, None, None, None, reason, **interval))
            continue
        row = curve.iloc[int(np.argmax(np.where(mse <= budget, mrr, -np.inf)))]
        answers.append(
            BudgetAnswer(
                *key, budget, float(row["x"]), float(row["lambda_f"]), float(row["test_mse"]),
                float(row["test_mrr"]), None, **interval,
            )
        )
    return tuple(answers)
