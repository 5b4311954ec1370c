"""Drawing the report's figures from their data objects (:mod:`._plots`).

Drawing uses :class:`matplotlib.figure.Figure` directly (the Agg canvas, no
pyplot state), so it works headless and in threads.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from mtlstudy._errors import ConfigError
from mtlstudy._files import output_path

from mtlstudy.analysis._frame import METRIC_NAMES, REPLICATE, axis_label, group_label
from mtlstudy.analysis._replay import StoppingReplay
from mtlstudy.analysis._stopping import EarlyStopping
from mtlstudy.analysis._tradeoff import TradeOff, lambda_f_share
from mtlstudy.analysis.report._plots import (
    CalibrationPlot,
    EpochPlot,
    HypervolumePlot,
    ParetoPanel,
    TradeoffPlot,
)

DPI = 150
_STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "figure.titlesize": 12,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
# Colour-blind-safe (Okabe-Ito) colours and distinct markers per model variant.
_VARIANT_STYLE = {
    (True, False): ("#0072B2", "o"),
    (False, False): ("#E69F00", "s"),
    (True, True): ("#009E73", "^"),
    (False, True): ("#CC79A7", "D"),
}
_VALUE_TITLE = {"final": "final values (last epoch)", "best": "best values (best epoch of each metric)"}
_X_LABEL = {
    "logit_lambda_f": r"$\lambda_F$  ($\lambda_R = 1 - \lambda_F$; logit scale, as sampled)",
    "lambda_f": r"$\lambda_F$  ($\lambda_R = 1 - \lambda_F$)",
    "log_ratio": r"$\log_{10}(\lambda_F / \lambda_R)$",
}


def _figure(ncols: int, width: float = 5.6, height: float = 4.6) -> tuple[Figure, np.ndarray]:
    figure = Figure(figsize=(width * ncols, height), dpi=DPI, layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, ncols, squeeze=False)[0])
    return figure, axes


#: Formats a figure can be saved in; PNG is always written, since the HTML page embeds it.
FIGURE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")


def save_figure(figure: Figure, path: Path, formats: Sequence[str] = ("png",)) -> None:
    """Write ``figure`` as ``path`` (PNG) and, beside it, in each other format of
    :data:`FIGURE_FORMATS` in ``formats`` (same name, that suffix)."""
    for suffix in dict.fromkeys(("png", *formats)):
        _save(figure, path.with_suffix(f".{suffix}"), suffix)


_NO_DATE = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}


def _save(figure: Figure, target: Path, suffix: str) -> None:
    """Write ``figure`` to ``target`` in format ``suffix``."""
    # No creation date and no random element ids in the vector files: the same study
    # gives the same bytes.
    with matplotlib.rc_context({"svg.hashsalt": "mtlstudy"}):
        figure.savefig(target, dpi=DPI, format=suffix, metadata=_NO_DATE.get(suffix))


def _of_variant(frame: pd.DataFrame, shared: bool, user_bias: bool) -> pd.DataFrame:
    return frame[(frame["shared"] == shared) & (frame["user_bias"] == user_bias)]


def _variants(frame: pd.DataFrame):
    """Groups of a frame with ``shared``/``user_bias`` columns, with label, colour, marker."""
    for (shared, user_bias), group in frame.groupby(["shared", "user_bias"], sort=True):
        colour, marker = _VARIANT_STYLE[(bool(shared), bool(user_bias))]
        yield group_label(bool(shared), bool(user_bias)), colour, marker, group


# --- Pareto scatter -------------------------------------------------------------------


def draw_pareto(panels: Sequence[ParetoPanel]) -> Figure:
    """Scatter of MRR against MSE per panel, coloured by variant, front as a staircase."""
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(len(panels))
        for axis, panel in zip(axes, panels):
            for label, colour, marker, group in _variants(panel.points):
                axis.scatter(group["test_mse"], group["test_mrr"], s=30, c=colour, marker=marker,
                             alpha=0.85, label=label, edgecolors="black", linewidths=0.4, zorder=2)
            for shared, scope_front in panel.scope_fronts.items():
                if len(scope_front) and not scope_front["trial_id"].isin(panel.front["trial_id"]).all():
                    axis.step(scope_front["test_mse"], scope_front["test_mrr"], where="post", linestyle="--",
                              linewidth=1.1, color=_VARIANT_STYLE[(shared, False)][0],
                              label=f"front of the {group_label(shared).split()[0]} trials only")
            front = panel.front
            axis.step(front["test_mse"], front["test_mrr"], where="post", color="black", linewidth=1.3,
                      label="overall Pareto front", zorder=3)
            axis.scatter(front["test_mse"], front["test_mrr"], s=90, facecolors="none", edgecolors="black",
                         linewidths=1.3, zorder=4, label="trial on the overall front")
            axis.set_xlabel(axis_label("test_mse", panel.value))
            axis.set_ylabel(axis_label("test_mrr", panel.value))
            axis.set_title(f"{_VALUE_TITLE[panel.value]}: {len(front)} trials on the front")
        # One legend for all panels, of what any panel draws, below them: it covers no point.
        entries = {}
        for axis in axes[: len(panels)]:
            for handle, label in zip(*axis.get_legend_handles_labels()):
                entries.setdefault(label, handle)
        figure.legend(list(entries.values()), list(entries), loc="outside lower center",
                      ncol=min(len(entries), 3), frameon=False)
        figure.suptitle("Pareto front of test MSE against test MRR")
        return figure


# --- λ response and trade-off curves ---------------------------------------------------

#: λ_F values labelled on a logit axis, and the ratios λ_F : λ_R on a log-ratio axis.
_LAMBDA_TICKS = (0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999)


def _weight_axis(axis, x_name: str, low: float, high: float) -> None:
    """Label the weight axis in λ_F where the fit ran on logit(λ_F): ticks spaced as sampled."""
    axis.set_xlabel(_X_LABEL[x_name])
    if x_name != "logit_lambda_f":
        return
    ticks = [value for value in _LAMBDA_TICKS if low - 0.5 <= np.log(value / (1 - value)) <= high + 0.5]
    axis.set_xticks([np.log(value / (1 - value)) for value in ticks], [f"{value:g}" for value in ticks])


def _split_by_support(curve: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``column`` where trials are near (solid) and where none is (dashed), NaN elsewhere;
    each part keeps one neighbour so that the two join."""
    near = curve["n_trials_near"].to_numpy() > 0
    values = curve[column].to_numpy(dtype=float)
    far = ~near
    joined_far = far | np.r_[far[1:], False] | np.r_[False, far[:-1]]
    return np.where(near, values, np.nan), np.where(joined_far, values, np.nan)


def _around(*values: pd.Series, margin: float = 0.4) -> tuple[float, float]:
    """Axis limits spanning ``values`` plus ``margin`` of their range on each side.

    The trade-off figures take their limits from the trials and fitted curves, not
    from the bands: where a variant has few trials its bands are wide enough to
    squash every other curve, and running off the axes shows that as well.
    """
    finite = np.concatenate([np.asarray(v, dtype=float) for v in values])
    finite = finite[np.isfinite(finite)]
    low, high = finite.min(), finite.max()
    pad = margin * (high - low) if high > low else 0.05 * max(abs(high), 1e-9)
    return low - pad, high + pad


def draw_response(tradeoff: TradeOff) -> Figure:
    """Fitted test MSE and test MRR against the weight on its sampling scale: mean and
    prediction bands, the line dashed where no trial is near, and every trial as a dot."""
    wide = tradeoff.wide()
    dashed = False
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(2)
        for axis, metric in zip(axes, ("test_mse", "test_mrr")):
            for label, colour, marker, curve in _variants(wide):
                points = _of_variant(tradeoff.points, curve["shared"].iloc[0], curve["user_bias"].iloc[0])
                if len(curve) > 1:
                    axis.fill_between(curve["x"], curve[f"{metric}_pred_lower"], curve[f"{metric}_pred_upper"],
                                      color=colour, alpha=0.12, linewidth=0)
                    axis.fill_between(curve["x"], curve[f"{metric}_lower"], curve[f"{metric}_upper"],
                                      color=colour, alpha=0.3, linewidth=0)
                    supported, unsupported = _split_by_support(curve, metric)
                    axis.plot(curve["x"], supported, color=colour, linewidth=2, label=label)
                    axis.plot(curve["x"], unsupported, color=colour, linewidth=1.6, linestyle=(0, (3, 2)))
                    dashed = dashed or bool(np.isfinite(unsupported).any())
                else:
                    axis.errorbar(curve["x"], curve[metric], color=colour, marker="o", label=label,
                                  yerr=np.abs(curve[[f"{metric}_lower", f"{metric}_upper"]].to_numpy().T
                                              - curve[metric].to_numpy()))
                searched = points[points["role"] != REPLICATE]
                axis.scatter(searched["x"], searched[metric], s=22, c=colour, marker=marker, edgecolors="black",
                             linewidths=0.4, alpha=0.9, zorder=4)
                # Hollow: a retrain with a new seed; its distance from its parent is the noise.
                replicates = points[points["role"] == REPLICATE]
                axis.scatter(replicates["x"], replicates[metric], s=26, facecolors="white", edgecolors=colour,
                             marker=marker, linewidths=1.1, zorder=4)
            _weight_axis(axis, tradeoff.x_name, wide["x"].min(), wide["x"].max())
            axis.set_ylim(*_around(tradeoff.points[metric], wide[metric]))
            axis.set_ylabel(axis_label(metric, tradeoff.value))
            axis.set_title(f"{METRIC_NAMES[metric]} against the loss weight")
        handles, labels = axes[0].get_legend_handles_labels()
        if wide[["test_mse_lower", "test_mrr_lower"]].notna().any().any():
            handles += [Line2D([], [], color="grey", linewidth=8, alpha=0.45),
                        Line2D([], [], color="grey", linewidth=8, alpha=0.15)]
            labels += [f"{tradeoff.level:.0%} band of the fitted mean", f"{tradeoff.level:.0%} band of a new trial"]
        if dashed:
            handles.append(Line2D([], [], color="grey", linewidth=1.6, linestyle=(0, (3, 2))))
            labels.append("no trial nearby")
        handles.append(Line2D([], [], color="grey", marker="o", markeredgecolor="black", linestyle=""))
        labels.append("one trial")
        if (tradeoff.points["role"] == REPLICATE).any():
            handles.append(Line2D([], [], color="grey", marker="o", markerfacecolor="white", linestyle=""))
            labels.append("replicate (a trial retrained with a new seed)")
        # Below the axes, so that it never covers a curve or a trial.
        figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), frameon=False)
        figure.suptitle(f"Response to the loss weight ({tradeoff.value} values; lines: fitted, dots: trials)")
        return figure



def _weight_text(x_name: str, x: float, low: float | None = None, high: float | None = None) -> str:
    """The weight at ``x`` for a legend, with its interval ``[low, high]`` when known."""
    if x_name == "log_ratio":
        name, shown = r"$\log_{10}(\lambda_F/\lambda_R)$", [x, low, high]
    else:
        name = r"$\lambda_F$"
        shown = [None if pd.isna(v) else float(lambda_f_share(np.asarray(v), x_name)) for v in (x, low, high)]
    text = f"{name} = {shown[0]:.3g}"
    if pd.notna(shown[1]) and pd.notna(shown[2]):
        text += f" [{shown[1]:.3g}, {shown[2]:.3g}]"
    return text


def draw_tradeoff(plot: TradeoffPlot) -> Figure:
    """Fitted MRR against fitted MSE per variant, knee and budget answer marked with their intervals."""
    tradeoff = plot.tradeoff
    with matplotlib.rc_context(_STYLE):
        figure, (axis,) = _figure(1, width=9.0, height=7.0)
        for label, colour, marker, curve in _variants(plot.curves):
            shared, user_bias = curve["shared"].iloc[0], curve["user_bias"].iloc[0]
            points = _of_variant(tradeoff.points, shared, user_bias)
            axis.scatter(points["test_mse"], points["test_mrr"], s=22, c=colour, marker=marker, alpha=0.8,
                         edgecolors="black", linewidths=0.4, zorder=4)
            supported, unsupported = _split_by_support(curve, "test_mrr")
            axis.plot(curve["test_mse"], supported, color=colour, linewidth=2, label=label,
                      marker="o" if len(curve) == 1 else None)
            axis.plot(curve["test_mse"], unsupported, color=colour, linewidth=1.6, linestyle=(0, (3, 2)))
            bars = _of_variant(plot.intervals, shared, user_bias)
            axis.errorbar(
                bars["test_mse"], bars["test_mrr"],
                xerr=[bars["test_mse"] - bars["test_mse_lower"], bars["test_mse_upper"] - bars["test_mse"]],
                yerr=[bars["test_mrr"] - bars["test_mrr_lower"], bars["test_mrr_upper"] - bars["test_mrr"]],
                fmt="none", ecolor=colour, elinewidth=1, capsize=2, alpha=0.8,
            )
            knee = _of_variant(tradeoff.knees, shared, user_bias)
            if len(knee) and pd.notna(knee["x"].iloc[0]):
                row = knee.iloc[0]
                weight = _weight_text(tradeoff.x_name, row["x"], row["x_lower"], row["x_upper"])
                axis.scatter([row["test_mse"]], [row["test_mrr"]], marker="*", s=280, c=colour, edgecolors="black",
                             linewidths=0.8, zorder=5, label=f"knee, {label}: {weight}")
        for answer in plot.budget:
            if answer.test_mse is None:
                continue
            label = group_label(answer.shared, answer.user_bias)
            weight = _weight_text(tradeoff.x_name, answer.x, answer.x_lower, answer.x_upper)
            axis.scatter([answer.test_mse], [answer.test_mrr], marker="D", s=75, edgecolors="black", zorder=5,
                         c=_VARIANT_STYLE[(answer.shared, answer.user_bias)][0],
                         label=f"best MRR within budget, {label}: {weight}")
        if plot.mse_budget is not None:
            axis.axvline(plot.mse_budget, color="grey", linestyle="--", linewidth=1.2,
                         label=f"MSE budget {plot.mse_budget:.4g}")
        handles, labels = axis.get_legend_handles_labels()
        handles.append(Line2D([], [], color="grey", marker="o", markeredgecolor="black", linestyle=""))
        labels.append("one trial")
        if len(plot.intervals):
            handles.append(Line2D([], [], color="grey", marker="+", markersize=10, linestyle=""))
            labels.append(f"{tradeoff.level:.0%} bands of both fitted means")
        # Below the axes, so that no number of variants makes it cover a curve; one
        # column, because the entries with intervals are long.
        figure.legend(handles, labels, loc="outside lower center", ncol=1, frameon=False)
        axis.set_xlim(*_around(tradeoff.points["test_mse"], plot.curves["test_mse"]))
        axis.set_ylim(*_around(tradeoff.points["test_mrr"], plot.curves["test_mrr"]))
        axis.set_xlabel(f"fitted {axis_label('test_mse', tradeoff.value)}")
        axis.set_ylabel(f"fitted {axis_label('test_mrr', tradeoff.value)}")
        axis.set_title(f"Fitted trade-off as the loss weight varies ({tradeoff.value} values; dots: trials; "
                       f"dashed: no trial nearby; [{tradeoff.level:.0%} interval])", fontsize=10)
        return figure


# --- calibration -------------------------------------------------------------------------


def draw_calibration(plot: CalibrationPlot) -> Figure:
    """Per metric, each variant's prediction band and fitted line, the fitted trials faintly,
    and the fresh trials with their own band: filled when inside it, crossed out in red when not."""
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(2)
        for axis, metric in zip(axes, ("test_mse", "test_mrr")):
            fresh = plot.points[plot.points["metric"] == metric]
            for label, colour, marker, curve in _variants(plot.curves):
                key = (curve["shared"].iloc[0], curve["user_bias"].iloc[0])
                axis.fill_between(curve["x"], curve[f"{metric}_pred_lower"], curve[f"{metric}_pred_upper"],
                                  color=colour, alpha=0.15, linewidth=0)
                axis.plot(curve["x"], curve[metric], color=colour, linewidth=1.6, label=label)
                fitted = _of_variant(plot.fitted, *key)
                axis.scatter(fitted["x"], fitted[metric], s=16, c=colour, marker=marker, alpha=0.55, linewidths=0,
                             zorder=3)
                mine = _of_variant(fresh, *key)
                # Each fresh trial's own band, the one it is checked against; it also shows
                # the band of a trial beyond the fitted range, where no curve is drawn.
                axis.vlines(mine["x"], mine["pred_lower"], mine["pred_upper"], color=colour, linewidth=1.3,
                            alpha=0.9, zorder=4)
                inside, outside = mine[mine["inside"]], mine[~mine["inside"]]
                axis.scatter(inside["x"], inside["observed"], s=48, c=colour, marker=marker, edgecolors="black",
                             linewidths=0.8, zorder=5)
                axis.scatter(outside["x"], outside["observed"], s=48, c=colour, marker=marker, edgecolors="#D55E00",
                             linewidths=1.6, zorder=5)
                axis.scatter(outside["x"], outside["observed"], s=90, c="#D55E00", marker="x", linewidths=1.6,
                             zorder=6)
            _weight_axis(axis, plot.x_name, plot.curves["x"].min(), plot.curves["x"].max())
            axis.set_ylim(*_around(fresh["observed"], plot.curves[metric], plot.fitted[metric]))
            axis.set_ylabel(axis_label(metric, plot.value))
            axis.set_title(plot.titles[metric])
        handles, labels = axes[0].get_legend_handles_labels()
        handles += [
            Line2D([], [], color="grey", linewidth=8, alpha=0.2),
            Line2D([], [], color="grey", marker="o", markersize=4, alpha=0.5, linestyle=""),
            Line2D([], [], color="grey", marker="|", markersize=14, markeredgewidth=1.3, linestyle=""),
            Line2D([], [], color="grey", marker="o", markersize=8, markeredgecolor="black", linestyle=""),
            Line2D([], [], color="#D55E00", marker="x", markersize=9, markeredgewidth=1.6, linestyle=""),
        ]
        labels += [
            f"{plot.level:.0%} band of a new trial",
            "trial of the study (fitted)",
            "the band at a fresh trial's weight",
            "fresh trial inside its band",
            "fresh trial outside its band",
        ]
        figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), frameon=False)
        figure.suptitle(
            f"Calibration: fresh trials the fit never saw, against its {plot.level:.0%} prediction bands "
            f"({plot.value} values)"
        )
        return figure


# --- hypervolume ---------------------------------------------------------------------------


def draw_hypervolume(plot: HypervolumePlot) -> Figure:
    """Step curve of the hypervolume over trial number, one panel per value."""
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(len(plot.histories), height=4.0)
        for axis, (value, history) in zip(axes, plot.histories.items()):
            axis.step(history["number"], history["hypervolume"], where="post", color="#0072B2", linewidth=1.8)
            gains = history[history["hypervolume"].diff().fillna(history["hypervolume"]) > 0]
            axis.scatter(gains["number"], gains["hypervolume"], s=18, color="#0072B2", zorder=3,
                         label="trial that enlarged the front")
            mse, mrr = plot.references[value]
            axis.set_title(f"{_VALUE_TITLE[value]}\nreference point: MSE {mse:.4g}, MRR {mrr:.4g}")
            axis.set_xlabel("trial number (creation order)")
            axis.set_ylabel("hypervolume of the front (higher is better)")
            axis.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
            axis.legend(loc="lower right")
        figure.suptitle("Hypervolume of the (test MSE, test MRR) front after each complete trial")
        return figure


# --- epoch curves -------------------------------------------------------------------------


def draw_epochs(plot: EpochPlot) -> Figure:
    """Test MSE and MRR against epoch, one line per trial, best epoch starred."""
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(2)
        colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, max(len(plot.labels), 1)))
        for axis, metric in zip(axes, ("test_mse", "test_mrr")):
            for colour, (trial_id, label) in zip(colours, plot.labels.items()):
                curve = plot.curves[(plot.curves["trial_id"] == trial_id) & (plot.curves["metric"] == metric)]
                axis.plot(curve["epoch"], curve["value"], color=colour, linewidth=1.5, label=label)
                best = curve[curve["is_best"]]
                axis.scatter(best["epoch"], best["value"], marker="*", s=150, color=colour, edgecolors="black",
                             linewidths=0.6, zorder=4)
            axis.set_xlabel("epoch")
            axis.set_ylabel(axis_label(metric))
            title = f"{METRIC_NAMES[metric]} per epoch"
            if plot.y_limits[metric] is not None:
                axis.set_ylim(*plot.y_limits[metric])
                title += "\n(zoomed: the first epochs lie above the axis)"
            axis.set_title(title)
        handles, labels = axes[0].get_legend_handles_labels()
        handles.append(Line2D([], [], color="grey", marker="*", markersize=12, linestyle="", markeredgecolor="black"))
        labels.append("best epoch")
        figure.legend(handles, labels, loc="outside right center", title="trial (front order)")
        figure.suptitle(
            f"Epoch curves of {len(plot.labels)} of the {plot.n_front} trials on the {plot.value}-value Pareto front"
        )
        return figure


# --- early stopping ------------------------------------------------------------------------


def draw_stopping(stopping: EarlyStopping) -> Figure:
    """Trial-epochs trained against all epochs per variant and, with rung
    records, the fraction of the trials reaching each rung that were stopped there."""
    colours = {group_label(shared, bias): colour for (shared, bias), (colour, _) in _VARIANT_STYLE.items()}
    with matplotlib.rc_context(_STYLE):
        figure, axes = _figure(2 if len(stopping.rungs) else 1, height=3.6)
        variants = stopping.compute.iloc[:-1].iloc[::-1]  # first variant on top
        rows = np.arange(len(variants))
        axis = axes[0]
        axis.barh(rows, variants["full_epochs"], color="#eeeeee", edgecolor="#999999", label="without early stopping")
        axis.barh(rows, variants["trial_epochs"], color=[colours[v] for v in variants["variant"]], height=0.5)
        for row, item in zip(rows, variants.itertuples()):
            axis.annotate(f"  {1 - item.saving:.0%} trained", (item.trial_epochs, row), va="center", fontsize=9)
        axis.set_yticks(rows, variants["variant"])
        axis.set_xlabel("trial-epochs")
        axis.set_title("Trial-epochs trained, against all epochs")
        axis.grid(axis="y", visible=False)
        axis.legend(loc="lower right", framealpha=0.9)
        if len(stopping.rungs):
            axis = axes[1]
            rungs = stopping.rungs
            places = np.arange(len(rungs))
            axis.bar(places, rungs["fraction_stopped"], color="#D55E00", width=0.6)
            for place, item in zip(places, rungs.itertuples()):
                axis.annotate(f"{item.stopped} of {item.reached}", (place, item.fraction_stopped),
                              xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)
            axis.set_xticks(places, [f"epoch {rung}" for rung in rungs["rung"]])
            axis.set_ylim(0, 1.1)
            axis.yaxis.set_major_formatter(PercentFormatter(1.0))
            axis.set_xlabel("rung")
            axis.set_ylabel("stopped there, of the trials reaching it")
            axis.set_title("Trials stopped at each rung")
        totals = stopping.totals
        figure.suptitle(
            f"Early stopping: {totals['trial_epochs']:,} of {totals['full_epochs']:,} trial-epochs trained"
        )
        return figure


# --- optional interactive page ---------------------------------------------------------------


def draw_replay(replay: StoppingReplay) -> Figure:
    """Hypervolume kept against trial-epochs spent, one point per replayed rule (a colour)
    and setting (a marker), its bars spanning the arrival orders' range on both axes."""
    summary = replay.summary
    colours = {rule: f"C{index % 10}" for index, rule in enumerate(dict.fromkeys(summary["rule"]))}
    markers = dict(zip(dict.fromkeys(summary["setting"]), "osD^v<>ph*"))
    with matplotlib.rc_context(_STYLE):
        figure, (axis,) = _figure(1, width=9.0, height=5.2)
        for row in summary.itertuples():
            axis.errorbar(
                row.trial_epochs_mean, row.hypervolume_mean,
                xerr=[[row.trial_epochs_mean - row.trial_epochs_min], [row.trial_epochs_max - row.trial_epochs_mean]],
                yerr=[[row.hypervolume_mean - row.hypervolume_min], [row.hypervolume_max - row.hypervolume_mean]],
                fmt=markers.get(row.setting, "o"), color=colours[row.rule], alpha=0.8, capsize=2, elinewidth=0.8,
            )
        axis.axhline(1.0, color="#999999", linestyle="--", linewidth=1)
        axis.xaxis.set_major_formatter(PercentFormatter(1.0))
        axis.yaxis.set_major_formatter(PercentFormatter(1.0))
        axis.set_xlabel("trial-epochs spent, of the full study's")
        axis.set_ylabel("hypervolume kept, of the full study's")
        axis.set_title(f"Replayed early stopping: {replay.trials} trials, {replay.arrivals}, {replay.concurrency} at a time")
        handles = [Line2D([], [], color=colour, marker="o", linestyle="", label=rule) for rule, colour in colours.items()]
        if len(markers) > 1:
            handles += [Line2D([], [], color="#555555", marker=m, linestyle="", label=s) for s, m in markers.items()]
        axis.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        return figure


def check_figure_path(path: str | Path) -> Path:
    """``path`` if its suffix names one of :data:`FIGURE_FORMATS` and its folder exists, else ConfigError."""
    path = Path(path)
    if path.suffix.lstrip(".").lower() not in FIGURE_FORMATS:
        raise ConfigError(f"figure must end in one of {', '.join('.' + f for f in FIGURE_FORMATS)}; got {str(path)!r}")
    if not path.parent.is_dir():
        raise ConfigError(f"figure {str(path)!r} names a folder that does not exist")
    return path


def save_replay_figure(replay: StoppingReplay, path: str | Path) -> None:
    """Draw ``replay`` (:func:`draw_replay`) into ``path`` (see :func:`check_figure_path`); a file
    appears whole or not at all, a device or fifo is written into (see :func:`~mtlstudy._files.output_path`)."""
    path = check_figure_path(path)
    figure = draw_replay(replay)
    with output_path(path) as target:
        _save(figure, target, path.suffix.lstrip(".").lower())


def draw_interactive(panels: Sequence[ParetoPanel], path: Path, title: str) -> None:
    """Write the Pareto scatters as one plotly page (plotly.js embedded, no CDN).

    Plotly renders titles and hover text as HTML, so every study value in them is escaped.
    """
    # Imported here: plotly is optional, and the report checks for it before it draws.
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=[_VALUE_TITLE[p.value] for p in panels])
    for column, panel in enumerate(panels, start=1):
        for label, colour, _, group in _variants(panel.points):
            hover = [
                "<br>".join(
                    html.escape(line)
                    for line in (
                        f"trial {row.trial_id} (#{row.number})",
                        f"{'shared' if row.shared else 'separate'} embeddings",
                        f"λ_F {row.lambda_f:.6g}, λ_R {row.lambda_r:.6g}",
                        f"seed {row.seed}",
                    )
                )
                for row in group.itertuples()
            ]
            figure.add_trace(
                go.Scatter(x=group["test_mse"], y=group["test_mrr"], mode="markers", name=label, legendgroup=label,
                           showlegend=column == 1, marker={"color": colour}, text=hover,
                           hovertemplate="%{text}<br>MSE %{x:.4g}<br>MRR %{y:.4g}<extra></extra>"),
                row=1, col=column,
            )
        figure.add_trace(
            go.Scatter(x=panel.front["test_mse"], y=panel.front["test_mrr"], mode="lines", line_shape="hv",
                       line={"color": "black"}, name="Pareto front", legendgroup="front", showlegend=column == 1),
            row=1, col=column,
        )
        figure.update_xaxes(title_text=axis_label("test_mse", panel.value), row=1, col=column)
        figure.update_yaxes(title_text=axis_label("test_mrr", panel.value), row=1, col=column)
    figure.update_layout(title=html.escape(title), template="plotly_white")
    figure.write_html(str(path), include_plotlyjs=True, full_html=True)


#: How each figure of :class:`~mtlstudy.analysis.report.ReportFigures` is drawn from its data.
DRAW: dict[str, Callable[..., Figure]] = {
    "pareto": draw_pareto,
    "response": draw_response,
    "tradeoff": draw_tradeoff,
    "hypervolume": draw_hypervolume,
    "stopping": draw_stopping,
    "calibration": draw_calibration,
    "epochs": draw_epochs,
}
