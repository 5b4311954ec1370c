"""The data behind the report's figures: each figure is a plain data object, built
here from the analyses and drawn by :mod:`._draw`, so what a figure shows is tested
without drawing it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from mtlstudy.analysis._calibration import CalibrationCoverage
from mtlstudy.analysis._epochs import epoch_view
from mtlstudy.analysis._frame import ALL_VARIANTS, METRIC_NAMES, complete_trials, group_label, objective_columns
from mtlstudy.analysis._stopping import EarlyStopping
from mtlstudy.analysis._tradeoff import BudgetAnswer, TradeOff

#: File of each figure under ``figures/``, without its suffix.
FIGURE_FILES: dict[str, str] = {
    "pareto": "pareto",
    "response": "lambda_response",
    "tradeoff": "tradeoff",
    "hypervolume": "hypervolume",
    "stopping": "early_stopping",
    "calibration": "calibration",
    "epochs": "epochs_pareto",
}


@dataclass(frozen=True)
class ParetoPanel:
    """One Pareto scatter: every complete trial and the fronts of one value.

    ``points`` has ``trial_id, number, shared, user_bias, lambda_f, lambda_r, seed,
    test_mse, test_mrr, on_front`` (on the overall front); ``front`` holds the overall front's rows and
    ``scope_fronts`` the shared-only and separate-only fronts (keyed by the
    ``shared`` flag), each sorted by increasing MSE (staircase order).
    """

    value: str
    points: pd.DataFrame
    front: pd.DataFrame
    scope_fronts: dict[bool, pd.DataFrame]


def pareto_panels(trials: pd.DataFrame, pareto: pd.DataFrame) -> tuple[ParetoPanel, ...]:
    """One panel per value in ``pareto`` (from :func:`pareto_table`)."""
    complete = complete_trials(trials)
    panels = []
    for value in pareto["value"].unique():
        mse, mrr = objective_columns(value)
        columns = ["trial_id", "number", "shared", "user_bias", "lambda_f", "lambda_r", "seed", mse, mrr]
        points = complete[columns].rename(columns={mse: "test_mse", mrr: "test_mrr"})
        points = points[np.isfinite(points[["test_mse", "test_mrr"]]).all(axis=1)]
        fronts = {}
        for scope in ("overall", "shared", "separate"):
            ids = pareto.loc[(pareto["value"] == value) & (pareto["scope"] == scope), "trial_id"]
            fronts[scope] = points[points["trial_id"].isin(ids)].sort_values(["test_mse", "test_mrr"])
        points = points.assign(on_front=points["trial_id"].isin(fronts["overall"]["trial_id"])).reset_index(drop=True)
        scope_fronts = {True: fronts["shared"], False: fronts["separate"]}
        panels.append(ParetoPanel(str(value), points, fronts["overall"].reset_index(drop=True), scope_fronts))
    return tuple(panels)


@dataclass(frozen=True)
class TradeoffPlot:
    """The MRR-vs-MSE curves traced by the fits, with what to mark on them.

    ``curves`` is :meth:`TradeOff.wide`; ``intervals`` holds a few of its rows per
    variant at which the mean bands of both fits are drawn as error bars.
    """

    tradeoff: TradeOff
    curves: pd.DataFrame
    intervals: pd.DataFrame
    budget: tuple[BudgetAnswer, ...]
    mse_budget: float | None


def tradeoff_plot_data(
    tradeoff: TradeOff, budget: Sequence[BudgetAnswer] = (), mse_budget: float | None = None, n_intervals: int = 7
) -> TradeoffPlot:
    """Pick up to ``n_intervals`` grid rows per variant, evenly spaced along the
    traced curve (arc length with both axes scaled to the plotted range)."""
    curves = tradeoff.wide()
    span = np.ptp(curves[["test_mse", "test_mrr"]].to_numpy(), axis=0)
    span[span == 0] = 1.0
    rows = []
    for _, curve in curves.groupby(["shared", "user_bias"], sort=True):
        banded = curve[curve[["test_mse_lower", "test_mrr_lower"]].notna().all(axis=1)]
        if banded.empty:
            continue
        steps = np.linalg.norm(np.diff(banded[["test_mse", "test_mrr"]].to_numpy(), axis=0) / span, axis=1)
        along = np.r_[0.0, np.cumsum(steps)]
        targets = np.linspace(0.0, along[-1], n_intervals)
        picks = np.unique(np.abs(along[None, :] - targets[:, None]).argmin(axis=1))
        rows.append(banded.iloc[picks])
    intervals = pd.concat(rows) if rows else curves.iloc[0:0]
    return TradeoffPlot(tradeoff, curves, intervals.reset_index(drop=True), tuple(budget), mse_budget)


@dataclass(frozen=True)
class CalibrationPlot:
    """Fresh (calibration) trials against the prediction bands of the fit that never saw them.

    ``curves`` is :meth:`TradeOff.wide` and ``fitted`` :attr:`TradeOff.points`, both
    for the variants that have fresh trials; ``points`` is
    :attr:`CalibrationCoverage.points`; ``titles`` holds, per metric, the panel title
    with the coverage over every variant and its interval.
    """

    x_name: str
    value: str
    level: float
    curves: pd.DataFrame
    fitted: pd.DataFrame
    points: pd.DataFrame
    titles: dict[str, str]


def calibration_plot_data(tradeoff: TradeOff, coverage: CalibrationCoverage) -> CalibrationPlot:
    """The bands of ``tradeoff`` and the fresh trials of ``coverage`` (the same value and scale)."""
    checked = coverage.points[["shared", "user_bias"]].drop_duplicates()
    curves = tradeoff.wide().merge(checked, on=["shared", "user_bias"])
    fitted = tradeoff.points.merge(checked, on=["shared", "user_bias"])
    table = coverage.table
    pooled = table[table["variant"] == ALL_VARIANTS]
    overall = pooled if len(pooled) else table
    titles = {
        row.metric: (
            f"{METRIC_NAMES[row.metric]}: {row.n_inside} of {row.n_fresh} inside ({row.coverage:.0%}; "
            f"{coverage.confidence:.0%} CI {row.ci_lower:.0%} to {row.ci_upper:.0%})"
        )
        for row in overall.itertuples()
    }
    return CalibrationPlot(tradeoff.x_name, tradeoff.value, coverage.level, curves, fitted, coverage.points, titles)


@dataclass(frozen=True)
class HypervolumePlot:
    """Hypervolume after each trial per value, and the reference point of each."""

    histories: dict[str, pd.DataFrame]
    references: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class EpochPlot:
    """Test MSE and MRR per epoch of (up to a limit) Pareto trials.

    ``curves`` is :func:`epoch_view` restricted to the shown trials and the two
    objectives; ``labels`` maps a trial id to its legend entry, in front order.
    ``y_limits`` holds, per metric, axis limits that leave the first epochs of a
    minimised metric off the top when they would squash the rest, else None.
    """

    value: str
    curves: pd.DataFrame
    labels: dict[str, str]
    n_front: int
    y_limits: dict[str, tuple[float, float] | None]


def epoch_plot_data(epochs: pd.DataFrame, front: pd.DataFrame, value: str, max_trials: int = 8) -> EpochPlot:
    """Spread up to ``max_trials`` picks evenly along ``front`` (sorted by MSE)."""
    front = front.sort_values("test_mse").reset_index(drop=True)
    picks = np.unique(np.linspace(0, len(front) - 1, min(max_trials, len(front))).round().astype(int))
    shown = front.iloc[picks] if len(front) else front
    simplex = np.allclose(shown["lambda_f"] + shown["lambda_r"], 1.0, atol=1e-3)
    labels = {}
    for row in shown.itertuples():
        weights = rf"$\lambda_F$={row.lambda_f:.3g}" + ("" if simplex else rf", $\lambda_R$={row.lambda_r:.3g}")
        variant = group_label(bool(row.shared), bool(row.user_bias)).replace(" embeddings", "")
        labels[str(row.trial_id)] = f"#{row.number} {variant}, {weights}"
    view = epoch_view(epochs, labels) if labels else pd.DataFrame(columns=["trial_id", "metric"])
    curves = view[view["metric"].isin(["test_mse", "test_mrr"])].reset_index(drop=True)
    y_limits = {metric: _y_limits(curves[curves["metric"] == metric]) for metric in ("test_mse", "test_mrr")}
    shown_labels = {key: text for key, text in labels.items() if key in set(curves["trial_id"])}
    return EpochPlot(value, curves, shown_labels, len(front), y_limits)


def _y_limits(curves: pd.DataFrame) -> tuple[float, float] | None:
    """Limits fitting each curve from its best epoch on, if the epochs before span
    over three times that range (a minimised loss falling from its initial value)."""
    if curves.empty or (curves["direction"] != "min").any():
        return None
    later = curves.loc[curves["epoch"] >= curves["best_epoch"], "value"]
    low, high = later.min(), later.max()
    span = high - low
    if span <= 0 or curves["value"].max() - low <= 3 * span:
        return None
    return low - 0.1 * span, high + 0.3 * span


@dataclass(frozen=True)
class ReportFigures:
    """The data of every figure of a report, in page order; None for one it does not have.

    Attributes
    ----------
    pareto : tuple of ParetoPanel
    response : TradeOff
        Drawn as is: the fitted curves against the loss weight.
    tradeoff : TradeoffPlot
    hypervolume : HypervolumePlot
    stopping : EarlyStopping or None
        Drawn as is, for a study that stopped trials early.
    calibration : CalibrationPlot or None
        For a study with calibration trials.
    epochs : EpochPlot or None
        None without epoch rows of the Pareto trials.
    """

    pareto: tuple[ParetoPanel, ...]
    response: TradeOff
    tradeoff: TradeoffPlot
    hypervolume: HypervolumePlot
    stopping: EarlyStopping | None
    calibration: CalibrationPlot | None
    epochs: EpochPlot | None

    def present(self) -> dict[str, object]:
        """Name (a key of :data:`FIGURE_FILES`) to data of each figure the report has, in page order."""
        return {item.name: getattr(self, item.name) for item in fields(self) if getattr(self, item.name) is not None}

    def images(self) -> dict[str, str]:
        """Name to the path of its PNG, relative to the report folder, of each figure the report has."""
        return {name: f"figures/{FIGURE_FILES[name]}.png" for name in self.present()}
