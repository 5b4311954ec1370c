"""Early stopping: how much cheaper multi-objective early stopping makes a study.

Four arms run the same study (same search space, sampler, sampler seeds, trial
budget and epochs) on ML-100K, in one invocation:

``none``
    every trial trains all its epochs;
``moasha``
    ``early_stopping="moasha"``: a trial continues past a rung only if it is in the
    top ``1/eta`` there by non-dominated rank (test MSE down, test MRR up);
``<rule>``
    the rule named by ``--rule`` (``moasha+arch`` by default: shared and separate
    embeddings ranked apart), any ``moasha+...`` rule of ``mtlstudy.study.EARLY_STOPPING``;
``asha``
    Ray Tune's own ``ASHAScheduler`` on one scalarised objective,
    ``MRR - alpha * MSE``: what a Ray user would reach for today.

Each (arm, seed) is one study. For every trial, in the order trials finish, the
script records the trial-epochs spent so far (the ``epochs_trained`` of the trials
finished so far; epochs of trials still running are not counted yet), the
wall-clock seconds since that study started, and the hypervolume of the
fully trained (COMPLETE) trials finished so far. The reference front is the union of
the fully trained trials of every arm and seed, bounded by one reference point (the
worst test MSE and the worst test MRR among them); hypervolume is reported as a
fraction of that front's. Trials stopped early never count towards the front: a
stopped trial's metrics are those of a model trained for fewer epochs.

Then ``moasha`` and the rule are replayed (``mtlstudy.study.replay_stopping``) on each
seed's ``none`` study: ``--replay-orders`` seeded arrival orders of the same trials, with
the same rungs and concurrency. A replay measures a rule on the trials the ``none``
sampler chose (a live study's sampler would have reacted to the stopped ones), against
that study's own hypervolume, so it isolates the rule from the sampler's luck.

It prints, per arm, the trial-epochs and wall time needed to reach 95% and 99% of
the reference hypervolume (mean ± std over seeds, and how many seeds never got
there), the final hypervolume fraction and the total cost; then, beside each arm's
live trial-epochs (as a fraction of ``none``'s) and final hypervolume fraction, the
replay's trial-epochs fraction, hypervolume kept and front trials stopped; then plain
yes/no checks. For ``moasha`` and the rule: does it reach 99% with at least 3x fewer
trial-epochs than ``none``, and does it beat scalarised ASHA on hypervolume at equal
trial-epochs. For the rule, the goal (set at 200 epochs): it keeps >= 0.99 of the
``none`` studies' hypervolume in replay, and live a mean final hypervolume fraction
>= 0.97 while spending >= 3x fewer trial-epochs than ``none``, and it beats scalarised
ASHA at equal trial-epochs. ``--out`` receives ``results.md`` (the tables, for the
README), ``results.json`` (every per-trial curve and every replay) and
``hypervolume.png``; the studies themselves go to ``--out``/studies, which is emptied
on every run.

    python benchmarks/bench_early_stopping.py                # 60 epochs, 64 trials, 3 seeds
    python benchmarks/bench_early_stopping.py --epochs 200
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import statistics
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtlstudy._json import jsonable

#: The rule of the third arm unless ``--rule`` names another.
DEFAULT_RULE = "moasha+arch"
LEVELS: tuple[float, ...] = (0.95, 0.99)
#: The old goal, checked for moasha and the rule: reach this hypervolume fraction with this many
#: times fewer trial-epochs than ``none``.
GOAL_LEVEL, GOAL_SPEEDUP = 0.99, 3.0
#: The rule's goal: keep this fraction of the ``none`` studies' hypervolume in replay, and reach
#: this mean final fraction live (while spending GOAL_SPEEDUP times fewer trial-epochs).
REPLAY_GOAL, LIVE_GOAL = 0.99, 0.97
#: The checks that make up the rule's goal (all must say yes).
RULE_GOAL = ("replay_hypervolume", "final_hypervolume", "fewer_trial_epochs", "equal_trial_epochs")
ARM_COLOURS = {"none": "tab:grey", "moasha": "tab:blue", "asha": "tab:orange"}
#: The colour of the ``--rule`` arm, whichever rule it is.
RULE_COLOUR = "tab:green"
DEFAULT_ALPHA = 0.05
ALPHA_HELP = (
    "weight of test MSE in ASHA's scalarised objective MRR - alpha * MSE "
    f"[{DEFAULT_ALPHA}]. On ML-100K, test MRR spans about 0.05-0.13 across trials and "
    "test MSE about 0.85-2.4, so their spreads are about 0.08 and 1.5; alpha = 0.05 "
    "(about 0.08 / 1.5) gives the two metrics comparable weight in the score."
)


# ---------------------------------------------------------------------------
# Pure computations (lists of plain dicts in, plain values out)
# ---------------------------------------------------------------------------


def fully_trained_points(trials: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """(test MSE, test MRR) of the COMPLETE trials with finite values, shape (n, 2)."""
    points = [
        (float(t["mse"]), float(t["mrr"]))
        for t in trials
        if t["state"] == "COMPLETE" and math.isfinite(float(t["mse"])) and math.isfinite(float(t["mrr"]))
    ]
    return np.asarray(points, dtype=float).reshape(-1, 2)


def reference_point(points: np.ndarray) -> tuple[float, float]:
    """The worst test MSE (largest) and the worst test MRR (smallest) of ``points``."""
    if len(points) == 0:
        raise ValueError("no fully trained trial with finite test MSE and MRR in any study")
    return float(points[:, 0].max()), float(points[:, 1].min())


def hypervolume(points: np.ndarray, reference: Sequence[float]) -> float:
    """Area dominated by ``points`` (MSE down, MRR up) within ``reference``."""
    from mtlstudy.analysis import hypervolume_2d

    return hypervolume_2d(points, reference)


def study_curve(trials: Sequence[Mapping[str, Any]], reference: Sequence[float], reference_hv: float) -> list[dict[str, Any]]:
    """One row per trial in finishing order, with the cost so far and the hypervolume so far.

    ``trials`` are dicts with ``state``, ``epochs_trained``, ``finished_s`` (seconds
    since the study started), ``mse`` and ``mrr``; trials without a finish time go
    last. Each row is the trial plus ``trial_epochs`` (cumulative ``epochs_trained``),
    ``wall_s`` (its ``finished_s``), ``hypervolume`` of the COMPLETE trials so far and
    ``hv_fraction`` (that over ``reference_hv``).
    """

    def finish_key(trial: Mapping[str, Any]) -> tuple[float, int]:
        finished = trial.get("finished_s")
        missing = finished is None or not math.isfinite(finished)
        return (math.inf if missing else float(finished), int(trial.get("number", 0)))

    ordered = sorted(trials, key=finish_key)
    rows, spent = [], 0
    for index, trial in enumerate(ordered):
        spent += int(trial["epochs_trained"])
        volume = hypervolume(fully_trained_points(ordered[: index + 1]), reference)
        rows.append(
            {
                **trial,
                "trial_epochs": spent,
                "wall_s": trial.get("finished_s"),
                "hypervolume": volume,
                "hv_fraction": volume / reference_hv if reference_hv > 0 else math.nan,
            }
        )
    return rows


def value_at(curve: Sequence[Mapping[str, Any]], cost_key: str, budget: float) -> float:
    """The hypervolume fraction a study had once ``budget`` of ``cost_key`` was spent (0 before its first trial)."""
    reached = [row["hv_fraction"] for row in curve if _finite(row[cost_key]) and row[cost_key] <= budget]
    return reached[-1] if reached else 0.0


def cost_to_reach(curve: Sequence[Mapping[str, Any]], level: float, cost_key: str) -> float | None:
    """``cost_key`` of the first trial after which the fraction is >= ``level``; None if never."""
    for row in curve:
        if row["hv_fraction"] >= level - 1e-12:
            return float(row[cost_key])
    return None


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN where undefined: no values, or one)."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def summarise_arm(runs: Sequence[Mapping[str, Any]], levels: Sequence[float] = LEVELS) -> dict[str, Any]:
    """Headline figures of one arm's runs (each a dict with ``curve``, ``total_epochs``, ``total_s``).

    For every level and cost (``trial_epochs``, ``wall_s``): the costs of the seeds that
    reached it, their mean and std, and how many seeds never did. Also the final
    hypervolume fraction, total trial-epochs and wall seconds (mean, std) and the
    number of trials stopped early.
    """
    summary: dict[str, Any] = {"seeds": len(runs), "reach": {}}
    for level in levels:
        for cost_key in ("trial_epochs", "wall_s"):
            costs = [cost_to_reach(run["curve"], level, cost_key) for run in runs]
            reached = [cost for cost in costs if cost is not None]
            summary["reach"][f"{cost_key}@{level}"] = {
                "per_seed": costs,
                "mean_std": mean_std(reached),
                "never": len(costs) - len(reached),
            }
    finals = [run["curve"][-1]["hv_fraction"] if run["curve"] else 0.0 for run in runs]
    summary["final_hv_fraction"] = mean_std(finals)
    summary["total_epochs"] = mean_std([run["total_epochs"] for run in runs])
    summary["total_s"] = mean_std([run["total_s"] for run in runs])
    summary["stopped_early"] = mean_std([sum(row["state"] == "PRUNED" for row in run["curve"]) for run in runs])
    return summary


def speedup_check(
    none_runs: Sequence[Mapping[str, Any]],
    arm_runs: Sequence[Mapping[str, Any]],
    level: float = GOAL_LEVEL,
    speedup: float = GOAL_SPEEDUP,
) -> dict[str, Any]:
    """Does the arm of ``arm_runs`` reach ``level`` with ``speedup``x fewer trial-epochs than ``none``?

    The ratio is mean(none) / mean(arm) of the trial-epochs to reach ``level``. A
    ``none`` seed that never reaches it counts at its total trial-epochs (a lower
    bound, so the ratio is then a lower bound too). The answer is yes only if every
    seed of the arm reaches the level and the ratio is at least ``speedup``.
    """
    none_costs = [cost_to_reach(run["curve"], level, "trial_epochs") for run in none_runs]
    arm_costs = [cost_to_reach(run["curve"], level, "trial_epochs") for run in arm_runs]
    none_censored = [c if c is not None else float(run["total_epochs"]) for c, run in zip(none_costs, none_runs)]
    arm_reached = [c for c in arm_costs if c is not None]
    all_reached = len(arm_reached) == len(arm_costs) and bool(arm_costs)
    ratio = statistics.fmean(none_censored) / statistics.fmean(arm_reached) if all_reached and none_censored else math.nan
    return {
        "level": level,
        "speedup": speedup,
        "none_epochs": none_costs,
        "arm_epochs": arm_costs,
        "none_never": sum(c is None for c in none_costs),
        "arm_never": sum(c is None for c in arm_costs),
        "ratio": ratio,
        "ratio_is_lower_bound": any(c is None for c in none_costs),
        "yes": bool(all_reached and ratio >= speedup),
    }


def equal_compute_check(
    arm_runs: Sequence[Mapping[str, Any]], asha_runs: Sequence[Mapping[str, Any]], cost_key: str = "trial_epochs"
) -> dict[str, Any]:
    """Hypervolume fraction of an arm and of ASHA at the same spend: the smaller arm's mean total.

    A seed that spent less than the budget in all keeps its final value. Yes if the
    arm's mean over seeds is higher.
    """
    total_key = "total_epochs" if cost_key == "trial_epochs" else "total_s"
    budget = min(statistics.fmean(run[total_key] for run in runs) for runs in (arm_runs, asha_runs))
    arm = [value_at(run["curve"], cost_key, budget) for run in arm_runs]
    asha = [value_at(run["curve"], cost_key, budget) for run in asha_runs]
    return {
        "cost": cost_key,
        "budget": budget,
        "arm": arm,
        "asha": asha,
        "arm_mean_std": mean_std(arm),
        "asha_mean_std": mean_std(asha),
        "yes": statistics.fmean(arm) > statistics.fmean(asha),
    }


def comparison_checks(
    none_runs: Sequence[Mapping[str, Any]], arm_runs: Sequence[Mapping[str, Any]], asha_runs: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """An early-stopping arm against ``none`` (:func:`speedup_check`) and against ASHA at equal trial-epochs
    and, for information, equal wall time (:func:`equal_compute_check`)."""
    return {
        "speedup": speedup_check(none_runs, arm_runs),
        "equal_trial_epochs": equal_compute_check(arm_runs, asha_runs, "trial_epochs"),
        "equal_wall_s": equal_compute_check(arm_runs, asha_runs, "wall_s"),
    }


def epochs_vs_none(none_runs: Sequence[Mapping[str, Any]], arm_runs: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """Mean and std over seeds of the arm's total trial-epochs as a fraction of the same seed's ``none`` run's."""
    none_epochs = {run["seed"]: run["total_epochs"] for run in none_runs}
    return mean_std([run["total_epochs"] / none_epochs[run["seed"]] for run in arm_runs])


def aggregate_replays(replays: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rule -> its replay figures over the seeds replayed (each a ``StoppingReplay.to_dict()``).

    Per measure, the mean of the per-seed means, the min of the mins and the max of the
    maxes; the same for the front trials stopped (mean and max). Seeds that could not
    be replayed (an ``error`` instead of ``rules``) are left out.
    """
    from mtlstudy.analysis import REPLAY_MEASURES

    rows_by_rule: dict[str, list[Mapping[str, Any]]] = {}
    for replay in replays:
        for row in replay.get("rules", ()):
            # One setting per rule here (the live arms' grace and eta), so the rule names the row.
            rows_by_rule.setdefault(row["rule"], []).append(row)

    def column(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
        return np.array([math.nan if row[key] is None else row[key] for row in rows], dtype=float)

    aggregate = {}
    for rule, rows in rows_by_rule.items():
        setting = rows[0].get("setting")
        entry = {
            "label": f"{rule} ({setting})" if setting else rule,
            "seeds": len(rows),
            "orders": sum(row["orders"] for row in rows),
        }
        for measure in REPLAY_MEASURES:
            entry[f"{measure}_mean"] = float(column(rows, f"{measure}_mean").mean())
            entry[f"{measure}_min"] = float(column(rows, f"{measure}_min").min())
            entry[f"{measure}_max"] = float(column(rows, f"{measure}_max").max())
        entry["front_stopped_mean"] = float(column(rows, "front_stopped_mean").mean())
        entry["front_stopped_max"] = int(column(rows, "front_stopped_max").max())
        aggregate[rule] = entry
    return aggregate


def rule_goal_checks(
    summary: Mapping[str, Any],
    replayed: Mapping[str, Any] | None,
    replay_level: float = REPLAY_GOAL,
    live_level: float = LIVE_GOAL,
    speedup: float = GOAL_SPEEDUP,
) -> dict[str, Any]:
    """The rule's own goals, from its arm ``summary`` and its aggregated replay (None if no seed was replayed).

    Kept in replay: the mean over seeds of the replays' hypervolume kept. Live: the mean
    final hypervolume fraction, and the ratio none/rule of total trial-epochs (the
    inverse of the mean per-seed fraction).
    """
    kept = replayed["hypervolume_mean"] if replayed else math.nan
    final = summary["final_hv_fraction"][0]
    fraction = summary["epochs_vs_none"][0]
    ratio = 1 / fraction if fraction > 0 else math.nan
    return {
        "replay_hypervolume": {"level": replay_level, "mean": kept, "yes": bool(kept >= replay_level)},
        "final_hypervolume": {
            "level": live_level, "mean_std": summary["final_hv_fraction"], "yes": bool(final >= live_level)
        },
        "fewer_trial_epochs": {
            "speedup": speedup,
            "fraction_mean_std": summary["epochs_vs_none"],
            "ratio": ratio,
            "yes": bool(ratio >= speedup),
        },
    }


def format_mean_std(mean_and_std: Sequence[float], digits: int = 0, never: int = 0, seeds: int = 0) -> str:
    """``"412 ± 37"`` (``"412"`` from one seed), with ``" (1/3 never)"`` when some seeds never got
    there, ``"never"`` if none did."""
    mean, std = mean_and_std
    if never and never == seeds:
        return "never"
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if math.isfinite(std) else "")
    return f"{text} ({never}/{seeds} never)" if never else text


def table_cells(summaries: Mapping[str, Mapping[str, Any]], levels: Sequence[float] = LEVELS) -> list[list[str]]:
    """Header and one row per arm: costs to reach each level, final fraction, totals."""
    header = ["arm"]
    header += [f"trial-epochs to {level:.0%}" for level in levels]
    header += [f"wall s to {level:.0%}" for level in levels]
    header += ["final HV fraction", "trial-epochs", "wall s", "trials stopped early"]
    rows = [header]
    for arm, summary in summaries.items():
        seeds = summary["seeds"]
        row = [arm]
        for cost_key, digits in (("trial_epochs", 0), ("wall_s", 0)):
            for level in levels:
                reach = summary["reach"][f"{cost_key}@{level}"]
                row.append(format_mean_std(reach["mean_std"], digits, reach["never"], seeds))
        row += [
            format_mean_std(summary["final_hv_fraction"], 3),
            format_mean_std(summary["total_epochs"], 0),
            format_mean_std(summary["total_s"], 0),
            format_mean_std(summary["stopped_early"], 1),
        ]
        rows.append(row)
    return rows


def spread(entry: Mapping[str, Any], measure: str, digits: int = 3) -> str:
    """``"0.312 (0.250–0.400)"``: an aggregated replay measure's mean and range."""
    low, mean, high = (entry[f"{measure}_{stat}"] for stat in ("min", "mean", "max"))
    return f"{mean:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def replay_cells(summaries: Mapping[str, Mapping[str, Any]], replayed: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Header and one row per arm: its live trial-epochs (fraction of none's) and final fraction, beside
    the replay of its rule on the ``none`` studies ("-" for an arm not replayed)."""
    header = ["arm", "live trial-epochs / none", "live final HV fraction"]
    header += ["replay trial-epochs / none", "replay HV kept", "replay front trials stopped"]
    rows = [header]
    for arm, summary in summaries.items():
        row = [arm, format_mean_std(summary["epochs_vs_none"], 3), format_mean_std(summary["final_hv_fraction"], 3)]
        entry = replayed.get(arm)
        if entry is None:
            row += ["-"] * 3
        else:
            row += [
                spread(entry, "trial_epochs"),
                spread(entry, "hypervolume"),
                f"{entry['front_stopped_mean']:.1f} (max {entry['front_stopped_max']})",
            ]
        rows.append(row)
    return rows


def replay_caption(replays: Sequence[Mapping[str, Any]], replayed: Mapping[str, Mapping[str, Any]]) -> str:
    """What the replay columns are, and which seeds could not be replayed."""
    done = [replay for replay in replays if "rules" in replay]
    rules = ", ".join(entry["label"] for entry in replayed.values()) or "nothing"
    text = (
        f"replay on the none arm's studies: {rules}, {done[0]['arrivals'] if done else 'no arrival order'} per seed, "
        f"{done[0]['concurrency'] if done else '-'} at a time, seeds {[replay['seed'] for replay in done]}. Replay "
        "figures are fractions of each none study's own trial-epochs and hypervolume (at its own reference point): "
        "mean of the per-seed means (min–max over every order and seed); front trials stopped, of that study's "
        "front. Live figures: mean ± std over seeds; the final fraction is of the union reference front."
    )
    failed = [f"seed {replay['seed']} not replayed: {replay['error']}" for replay in replays if "error" in replay]
    return " ".join([text, *failed])


def plain_table(cells: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned others, two spaces apart."""
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def markdown_table(cells: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table; every column but the first right-aligned."""
    lines = ["| " + " | ".join(cells[0]) + " |", "|---|" + "---:|" * (len(cells[0]) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    return "\n".join(lines)


def comparison_lines(arm: str, checks: Mapping[str, Any]) -> list[str]:
    """The plain-language verdicts of :func:`comparison_checks` for ``arm``."""
    speedup, equal, equal_wall = checks["speedup"], checks["equal_trial_epochs"], checks["equal_wall_s"]
    level = f"{speedup['level']:.0%}"
    if math.isnan(speedup["ratio"]):
        ratio = f"{arm} never reached {level} in {speedup['arm_never']} of {len(speedup['arm_epochs'])} seeds"
    else:
        bound = ">=" if speedup["ratio_is_lower_bound"] else "="
        ratio = f"ratio none/{arm} {bound} {speedup['ratio']:.2f}x"
        if speedup["ratio_is_lower_bound"]:
            ratio += (
                f" (a lower bound: {speedup['none_never']} none seed(s) never reached {level}, "
                "counted at their total trial-epochs)"
            )

    def both(check: Mapping[str, Any]) -> str:
        return f"{arm} {format_mean_std(check['arm_mean_std'], 3)}, asha {format_mean_std(check['asha_mean_std'], 3)}"

    first = (
        f"{arm} reaches {level} of the reference hypervolume with >= {speedup['speedup']:g}x fewer "
        f"trial-epochs than none: {_yes(speedup)} ({ratio})"
    )
    second = (
        f"{arm} beats scalarised ASHA on hypervolume at equal compute ({equal['budget']:.0f} trial-epochs): "
        f"{_yes(equal)} ({both(equal)})"
    )
    third = f"  (for information, at equal wall time, {equal_wall['budget']:.0f} s: {both(equal_wall)})"
    return [first, second, third]


def rule_goal_lines(rule: str, checks: Mapping[str, Any], epochs: int) -> list[str]:
    """The plain-language verdicts of :func:`rule_goal_checks`, and whether the whole goal is met."""
    kept, final, fewer = checks["replay_hypervolume"], checks["final_hypervolume"], checks["fewer_trial_epochs"]
    return [
        f"{rule} keeps >= {kept['level']:g} of the none studies' hypervolume in replay: {_yes(kept)} "
        f"(mean over seeds {kept['mean']:.3f})",
        f"{rule} reaches a mean final hypervolume fraction >= {final['level']:g} live: {_yes(final)} "
        f"({format_mean_std(final['mean_std'], 3)})",
        f"{rule} spends >= {fewer['speedup']:g}x fewer trial-epochs than none live: {_yes(fewer)} "
        f"(none/{rule} = {fewer['ratio']:.2f}x; {format_mean_std(fewer['fraction_mean_std'], 3)} of none's)",
        f"{rule} meets the goal (the three above and beating ASHA at equal trial-epochs) at {epochs} epochs, "
        f"the goal being set at 200: {_yes(checks['goal'])}",
    ]


def _yes(check: Mapping[str, Any]) -> str:
    return "yes" if check["yes"] else "no"


def plot_curves(runs: Sequence[Mapping[str, Any]], path: Path, levels: Sequence[float] = LEVELS, title: str = "") -> None:
    """Two panels, hypervolume fraction against trial-epochs and against wall seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True, constrained_layout=True)
    labelled: set[str] = set()
    for run in runs:
        curve = [row for row in run["curve"] if _finite(row["wall_s"])]
        fractions = [0.0] + [row["hv_fraction"] for row in curve]
        label = None if run["arm"] in labelled else run["arm"]
        labelled.add(run["arm"])
        colour = ARM_COLOURS.get(run["arm"], RULE_COLOUR)
        for axis, cost_key, total in zip(axes, ("trial_epochs", "wall_s"), (run["total_epochs"], run["total_s"])):
            # Each line runs on flat to the study's total spend.
            costs = [0.0] + [row[cost_key] for row in curve] + [total]
            axis.step(costs, fractions + fractions[-1:], where="post", color=colour, alpha=0.8, lw=1.4, label=label)
    for axis, xlabel in zip(axes, ("trial-epochs spent", "wall-clock seconds since the study started")):
        for level in levels:
            axis.axhline(level, color="black", ls="--", lw=0.8)
            axis.annotate(f"{level:.0%}", (0.01, level), xycoords=("axes fraction", "data"), ha="left", va="bottom", fontsize=8)
        axis.set_xlabel(xlabel)
        axis.set_xlim(left=0)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("hypervolume / reference hypervolume")
    axes[0].set_ylim(0, 1.02)
    axes[0].legend(title="arm (one line per seed)", loc="lower right")
    if title:
        figure.suptitle(textwrap.fill(title, 150), fontsize=9)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(value)


# ---------------------------------------------------------------------------
# Running the studies
# ---------------------------------------------------------------------------


def arms_of(rule: str) -> tuple[str, ...]:
    """The arms of a run whose third arm is ``rule``, in the order they run and are reported."""
    return ("none", "moasha", rule, "asha")


def study_name(arm: str, seed: int) -> str:
    """The study of one (arm, seed); a study name cannot hold the "+" of a rule's options."""
    return f"{arm.replace('+', '.')}-seed{seed}"


def scalarised_asha(alpha: float, **kwargs: Any):
    """Ray's ASHAScheduler on ``objective_test_mrr - alpha * objective_test_mse`` (maximised)."""
    from ray.tune.schedulers import ASHAScheduler

    class ScalarisedASHA(ASHAScheduler):
        def on_trial_result(self, tune_controller, trial, result):
            result["scalarised"] = result["objective_test_mrr"] - alpha * result["objective_test_mse"]
            return super().on_trial_result(tune_controller, trial, result)

        @property
        def metric(self):
            # Tune checks that every reported result holds the scheduler's metric before
            # calling on_trial_result, where "scalarised" is only added; the scheduler
            # itself ranks on self._metric ("scalarised").
            return None

    return ScalarisedASHA(metric="scalarised", mode="max", **kwargs)


def read_study(spec, started: float) -> list[dict[str, Any]]:
    """One dict per trial of a finished study: state, cost, finish time and objective values."""
    import optuna

    from mtlstudy.study import load_export

    export = load_export(spec.name, spec.dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    finished = {
        trial.number: trial.datetime_complete
        for trial in optuna.load_study(study_name=spec.name, storage=spec.storage_url).get_trials(deepcopy=False)
    }
    value = spec.value
    trials = []
    for row in export.to_dict("records"):
        complete = finished.get(row["number"])
        trials.append(
            {
                "number": int(row["number"]),
                "trial_id": str(row["trial_id"]),
                "state": str(row["state"]),
                "shared": bool(row["shared"]),
                "lambda_f": float(row["lambda_f"]),
                "lambda_r": float(row["lambda_r"]),
                "epochs_trained": int(row["epochs_trained"]),
                "finished_s": complete.timestamp() - started if complete is not None else math.nan,
                "mse": float(row[f"{value}_test_mse"]),
                "mrr": float(row[f"{value}_test_mrr"]),
            }
        )
    return trials


def run_arm(arm: str, seed: int, args: argparse.Namespace, studies: Path, echo: Callable[[str], None]) -> dict[str, Any]:
    """Run one (arm, seed) study and read it back (without its curve, which needs the reference)."""
    from mtlstudy.study import resolve_spec, run_study

    spec = resolve_spec(
        name=study_name(arm, seed),
        dir=str(studies),
        trials=args.trials,
        epochs=args.epochs,
        seed=seed,
        sampler="tpe",
        space="simplex",
        value=args.value,
        early_stopping="none" if arm == "asha" else arm,
        grace_epochs=args.grace_epochs,
        reduction_factor=args.reduction_factor,
        concurrency=args.concurrency,
        cpus_per_trial=1,
        checkpoint_every=0,
        dataset=args.dataset,
        dataset_options=args.dataset_options or None,
    )
    scheduler = None
    if arm == "asha":
        scheduler = scalarised_asha(
            args.alpha,
            time_attr="epoch",
            max_t=args.epochs,
            grace_period=args.grace_epochs,
            reduction_factor=args.reduction_factor,
        )
    started = time.time()
    run_study(spec, echo=echo, scheduler=scheduler)
    total_s = time.time() - started
    trials = read_study(spec, started)
    return {
        "arm": arm,
        "seed": seed,
        "study": spec.name,
        "total_s": total_s,
        "total_epochs": sum(trial["epochs_trained"] for trial in trials),
        "trials": trials,
    }


def machine_line(args: argparse.Namespace) -> str:
    import optuna
    import ray
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{usable} usable CPU cores ({os.cpu_count()} on the machine), torch {torch.__version__}, "
        f"ray {ray.__version__}, optuna {optuna.__version__}; {args.dataset}, {args.epochs} epochs, "
        f"{args.trials} trials, seeds {list(range(args.seeds))}, concurrency {args.concurrency}, "
        f"grace {args.grace_epochs}, eta {args.reduction_factor:g}, alpha {args.alpha:g}, value {args.value}, "
        f"rule {args.rule}, {args.replay_orders} replay orders"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60, help="epochs per trial [60]")
    parser.add_argument("--trials", type=int, default=64, help="trial budget of every study [64]")
    parser.add_argument("--seeds", type=int, default=3, help="sampler seeds 0..N-1, the same for every arm [3]")
    parser.add_argument("--grace-epochs", type=int, default=5, help="first rung, for moasha, the rule, ASHA and the replay [5]")
    parser.add_argument("--reduction-factor", type=float, default=3.0, help="eta, for moasha, the rule, ASHA and the replay [3]")
    parser.add_argument(
        "--rule", default=DEFAULT_RULE,
        help=f"early-stopping rule of the third arm: a moasha+... key of mtlstudy.study.EARLY_STOPPING [{DEFAULT_RULE}]",
    )
    parser.add_argument(
        "--replay-orders", type=int, default=20, help="arrival orders per none study replayed under moasha and --rule [20]"
    )
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help=ALPHA_HELP)
    parser.add_argument("--value", choices=("final", "best"), default="final", help="judge trials by their last or best epoch [final]")
    parser.add_argument("--concurrency", type=int, default=2, help="trials at once, one CPU each [2]")
    parser.add_argument("--dataset", default="ml-100k", help="ml-100k [default] or synthetic")
    parser.add_argument(
        "--dataset-option", action="append", default=[], metavar="KEY=VALUE", help="dataset option, e.g. num_users=300"
    )
    parser.add_argument("--out", type=Path, help="output folder [benchmarks/results/early-stopping-<epochs>ep]")
    parser.add_argument(
        "--reanalyse", action="store_true",
        help="run nothing: report the seeds whose every arm finished in --out (e.g. of an interrupted run)",
    )
    args = parser.parse_args(argv)
    from mtlstudy import ConfigError
    from mtlstudy.study import EARLY_STOPPING, parse_key_values

    rules = [rule for rule in EARLY_STOPPING if rule not in ("none", "moasha")]
    if args.rule not in rules:
        parser.error(f"--rule must be one of {', '.join(rules)} (none and moasha are arms already), got {args.rule!r}")
    if args.replay_orders < 1:
        parser.error(f"--replay-orders must be at least 1, got {args.replay_orders}")
    try:
        args.dataset_options = parse_key_values(args.dataset_option, "--dataset-option")
    except ConfigError as error:
        parser.error(str(error))
    if args.out is None:
        args.out = Path(__file__).resolve().parent / "results" / f"early-stopping-{args.epochs}ep"
    return args


def run_all(args: argparse.Namespace, studies: Path) -> list[dict[str, Any]]:
    """Every (arm, seed) study, arms interleaved so a slow spell on the machine hits all of them."""
    import ray

    ray.init(num_cpus=args.concurrency, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    runs = []
    try:
        for seed in range(args.seeds):
            for arm in arms_of(args.rule):
                tag = f"[{arm} seed {seed}]"

                def echo(line: str, tag: str = tag) -> None:
                    print(f"{tag} {line}", file=sys.stderr, flush=True)

                runs.append(run_arm(arm, seed, args, studies, echo))
                # Kept as it finishes, so --reanalyse can report the runs of an interrupted invocation.
                (studies / f"{study_name(arm, seed)}.json").write_text(json.dumps(jsonable(runs[-1])), encoding="utf-8")
                print(f"{tag} {runs[-1]['total_epochs']} trial-epochs, {runs[-1]['total_s']:.0f} s", flush=True)
    finally:
        ray.shutdown()
    return runs


def finished_runs(studies: Path, arms: Sequence[str]) -> list[dict[str, Any]]:
    """The runs of ``arms`` saved by :func:`run_all` in ``studies``, in seed-then-arm order, for whole seeds only."""
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in studies.glob("*-seed*.json")]
    runs = [run for run in runs if run["arm"] in arms]
    seeds = sorted({run["seed"] for run in runs if sum(r["seed"] == run["seed"] for r in runs) == len(arms)})
    if not seeds:
        raise SystemExit(f"no seed with all of {', '.join(arms)} finished in {studies}")
    for run in runs:
        for trial in run["trials"]:
            trial["finished_s"] = math.nan if trial["finished_s"] is None else trial["finished_s"]
    return sorted((run for run in runs if run["seed"] in seeds), key=lambda run: (run["seed"], arms.index(run["arm"])))


def replay_none_studies(args: argparse.Namespace, studies: Path, seeds: Iterable[int]) -> list[dict[str, Any]]:
    """Replay moasha and ``args.rule`` on each seed's ``none`` study, with the live arms' rungs and concurrency.

    One dict per seed: its ``seed`` and the replay's ``to_dict()``, or an ``error`` where
    the study cannot be replayed (a trial of it failed), so one bad seed costs only itself.
    """
    from mtlstudy import StudyError
    from mtlstudy.study import replay_stopping

    replays = []
    for seed in seeds:
        try:
            replay = replay_stopping(
                study_name("none", seed),
                str(studies),
                rules=["moasha", args.rule],
                grace_epochs=args.grace_epochs,
                reduction_factor=args.reduction_factor,
                concurrency=args.concurrency,
                orders=args.replay_orders,
                seed=0,
            )
        except StudyError as error:
            print(f"[none seed {seed}] not replayed: {error}", file=sys.stderr, flush=True)
            replays.append({"seed": seed, "error": str(error)})
            continue
        replays.append({"seed": seed, **replay.to_dict()})
    return replays


def analyse(runs: list[dict[str, Any]], replays: Sequence[Mapping[str, Any]], rule: str) -> dict[str, Any]:
    """Reference front, each run's curve (added to the run), per-arm summaries, the replays and the goal checks."""
    front_points = fully_trained_points(trial for run in runs for trial in run["trials"])
    reference = reference_point(front_points)
    reference_hv = hypervolume(front_points, reference)
    for run in runs:
        run["curve"] = study_curve(run.pop("trials"), reference, reference_hv)
    by_arm = {arm: [run for run in runs if run["arm"] == arm] for arm in arms_of(rule)}
    summary = {
        arm: summarise_arm(arm_runs) | {"epochs_vs_none": epochs_vs_none(by_arm["none"], arm_runs)}
        for arm, arm_runs in by_arm.items()
    }
    replayed = aggregate_replays(replays)
    goals = {arm: comparison_checks(by_arm["none"], by_arm[arm], by_arm["asha"]) for arm in ("moasha", rule)}
    goals[rule] |= rule_goal_checks(summary[rule], replayed.get(rule))
    goals[rule]["goal"] = {"checks": list(RULE_GOAL), "yes": all(goals[rule][check]["yes"] for check in RULE_GOAL)}
    return {
        "reference": {"point": reference, "hypervolume": reference_hv, "front_trials": len(front_points)},
        "summary": summary,
        "replay": {"per_seed": list(replays), "aggregate": replayed},
        "goals": goals,
    }


def write_outputs(args: argparse.Namespace, machine: str, runs: list[dict[str, Any]], analysis: dict[str, Any]) -> None:
    """The tables and verdicts on stdout and in results.md, results.json, hypervolume.png."""
    (mse, mrr), reference = analysis["reference"]["point"], analysis["reference"]
    reference_line = (
        f"reference point: test MSE {mse:.4f}, test MRR {mrr:.4f} (the worst over the {reference['front_trials']} "
        f"fully trained trials of all arms and seeds); reference hypervolume {reference['hypervolume']:.5f}"
    )
    cells = table_cells(analysis["summary"])
    replay = analysis["replay"]
    caption = replay_caption(replay["per_seed"], replay["aggregate"])
    replayed = replay_cells(analysis["summary"], replay["aggregate"])
    verdicts = [line for arm, checks in analysis["goals"].items() for line in comparison_lines(arm, checks)]
    verdicts += rule_goal_lines(args.rule, analysis["goals"][args.rule], args.epochs)
    print(reference_line)
    print(plain_table(cells))
    print(f"\n{caption}")
    print(plain_table(replayed))
    print("\n".join(["", *verdicts]))

    args.out.mkdir(parents=True, exist_ok=True)
    markdown = [machine, reference_line, markdown_table(cells), caption, markdown_table(replayed)]
    markdown.append("\n".join(f"- {line.strip()}" for line in verdicts))
    (args.out / "results.md").write_text("\n\n".join(markdown) + "\n", encoding="utf-8")
    config = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    results = {"machine": machine, "config": config, **analysis, "runs": runs}
    (args.out / "results.json").write_text(json.dumps(jsonable(results), indent=1), encoding="utf-8")
    plot_curves(runs, args.out / "hypervolume.png", title=machine)
    print(f"wrote {args.out / 'results.md'}, results.json and hypervolume.png")


def report(args: argparse.Namespace, machine: str, studies: Path, runs: list[dict[str, Any]]) -> None:
    """Replay the seeds' ``none`` studies, analyse everything and write it out."""
    seeds = sorted({run["seed"] for run in runs})
    print(f"replaying moasha and {args.rule} on the none studies of seeds {seeds}", flush=True)
    write_outputs(args, machine, runs, analyse(runs, replay_none_studies(args, studies, seeds), args.rule))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    machine = machine_line(args)
    print(machine, flush=True)
    studies = args.out / "studies"
    if args.reanalyse:
        runs = finished_runs(studies, arms_of(args.rule))
        args.seeds = len({run["seed"] for run in runs})
        report(args, machine_line(args), studies, runs)
        return
    shutil.rmtree(studies, ignore_errors=True)
    studies.mkdir(parents=True)
    (studies / ".gitignore").write_text("*\n", encoding="utf-8")  # scratch: keep it out of git
    print(f"studies in {studies}; per-trial progress on stderr", flush=True)
    report(args, machine, studies, run_all(args, studies))


if __name__ == "__main__":
    main()
