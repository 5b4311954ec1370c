"""Calibration of the trade-off fit: do its 95% bands hold 95% of fresh trials?

Which model fits the λ response of a study is chosen by this check. Two candidates
fit the same synthetic studies, whose true curve and noise are known:

``gp``
    the fit that mtlstudy uses (:func:`mtlstudy.analysis.smooth_curve`): a Gaussian
    process, Matérn 5/2 kernel plus white noise, the noise fixed at the replicates'
    pooled spread when they give enough degrees of freedom;
``spline``
    the fit mtlstudy used before: a cubic smoothing spline of the per-weight means,
    penalty by generalised cross-validation (Mallows' Cp when replicates give the
    noise), noise from replicates or else from the residuals, band
    ``fit ± t · sqrt(noise + var(fit))``.

A study is drawn the way TPE samples the simplex space on the logit scale: most
weights near the two ends, a few between. Fresh trials are then drawn at weights
spread uniformly over the fitted range (mostly *between* the study's trials, where
a fit has to interpolate), and the script prints, per scenario and model, the share
of fresh trials inside the 95% prediction band and the share of grid points whose
true mean lies inside the 95% mean band, with a binomial standard error.

    python benchmarks/bench_tradeoff_calibration.py              # 200 studies per scenario
    python benchmarks/bench_tradeoff_calibration.py --studies 50
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats
from scipy.interpolate import make_smoothing_spline

from mtlstudy.analysis import smooth_curve

NOISE_SD = 0.005
SCENARIOS = {  # name: (distinct weights, seeds per weight)
    "24 trials, one seed each": (24, 1),
    "12 weights x 2 seeds": (12, 2),
    "8 weights x 3 seeds": (8, 3),
}


def truth(x: np.ndarray) -> np.ndarray:
    """A test MSE response shaped like ML-100K's shared model: flat, then rising near λ_F = 1."""
    lambda_f = 1 / (1 + np.exp(-x))
    return 0.905 + 0.115 * lambda_f**6 + 0.01 * np.sin(x)


def sample_weights(n: int, rng: np.random.Generator) -> np.ndarray:
    """logit(λ_F) as TPE tends to leave it: 40% near each end, 20% anywhere."""
    side = rng.choice(3, size=n, p=[0.4, 0.4, 0.2])
    x = np.where(side == 0, rng.normal(-4, 1, n), np.where(side == 1, rng.normal(4, 1, n), rng.uniform(-5, 5, n)))
    return np.clip(x, -6.9, 6.9)


def spline_bands(x, y, grid, level=0.95):
    """The previous fit: (mean band, prediction band) of a smoothing spline of the means."""
    distinct, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y) / counts
    dof_rep = len(y) - len(distinct)
    replicate = np.sum((y - means[inverse]) ** 2) / dof_rep if dof_rep >= 2 else None
    span = distinct[-1] - distinct[0]
    unit = (distinct - distinct[0]) / span
    best = None
    for log_lam in np.arange(-12.0, 2.01, 0.25):
        lam = counts.sum() * 10.0**log_lam
        try:
            basis = make_smoothing_spline(unit, np.eye(len(unit)), w=counts.astype(float), lam=lam)
        except (ValueError, np.linalg.LinAlgError):
            continue
        hat = basis(unit)
        dof = np.trace(hat)
        rss = np.sum(counts * (means - hat @ means) ** 2)
        if replicate is not None:
            score = rss + 2 * replicate * dof
        elif len(unit) - dof > 1e-6:
            score = len(unit) * rss / (len(unit) - dof) ** 2
        else:
            continue
        if best is None or score < best[0]:
            best = (score, basis, hat, dof, rss)
    _, basis, hat, dof, rss = best
    if replicate is not None:
        variance, df = replicate, dof_rep
    else:
        variance, df = rss / max(len(unit) - dof, 1e-9), max(len(unit) - dof, 1e-9)
    at_grid = basis((grid - distinct[0]) / span)
    fitted = at_grid @ means
    fit_variance = variance * (at_grid**2 / counts).sum(axis=1)
    quantile = stats.t.ppf((1 + level) / 2, df)
    mean_half, pred_half = quantile * np.sqrt(fit_variance), quantile * np.sqrt(variance + fit_variance)
    return (fitted - mean_half, fitted + mean_half), (fitted - pred_half, fitted + pred_half)


def gp_bands(x, y, grid, level=0.95):
    curve = smooth_curve(x, y, grid, level=level)
    return (curve.conf_lower, curve.conf_upper), (curve.pred_lower, curve.pred_upper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=200, help="synthetic studies per scenario")
    parser.add_argument("--fresh", type=int, default=20, help="fresh trials per study")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    models = {"gp": gp_bands, "spline": spline_bands}
    print(f"noise sd {NOISE_SD}; {args.studies} studies per scenario, {args.fresh} fresh trials each\n")
    print(f"{'scenario':<28}{'model':<8}{'new trials in 95% prediction band':>36}{'true mean in 95% mean band':>30}")
    for name, (n_weights, n_seeds) in SCENARIOS.items():
        rng = np.random.default_rng(args.seed)
        hits = {model: [0, 0] for model in models}
        for _ in range(args.studies):
            x = np.repeat(sample_weights(n_weights, rng), n_seeds)
            y = truth(x) + rng.normal(0, NOISE_SD, len(x))
            fresh_x = np.sort(rng.uniform(x.min(), x.max(), args.fresh))
            fresh_y = truth(fresh_x) + rng.normal(0, NOISE_SD, args.fresh)
            for model, bands in models.items():
                (mean_low, mean_high), (pred_low, pred_high) = bands(x, y, fresh_x)
                hits[model][0] += int(np.sum((pred_low <= fresh_y) & (fresh_y <= pred_high)))
                true = truth(fresh_x)
                hits[model][1] += int(np.sum((mean_low <= true) & (true <= mean_high)))
        total = args.studies * args.fresh
        for model, (pred, mean) in hits.items():
            se_pred = np.sqrt(pred / total * (1 - pred / total) / total)
            se_mean = np.sqrt(mean / total * (1 - mean / total) / total)
            print(f"{name:<28}{model:<8}{pred / total:>29.1%} ± {se_pred:.1%}{mean / total:>23.1%} ± {se_mean:.1%}")


if __name__ == "__main__":
    main()
