"""Stopping rules compared by replay: every early-stopping rule, at several settings, on finished studies.

For each study (one that ended with every trial trained to its last epoch) and each
``eta`` this replays every rule of ``mtlstudy.study.EARLY_STOPPING`` at every grace
(``mtlstudy.study.replay_stopping``: the rules' own schedulers, seeded arrival orders,
the recorded epoch times) and tabulates, per rule and setting, the trial-epochs spent
and the hypervolume kept (fractions of the full study's, mean and range over the
orders) and the front trials stopped. It marks the settings that meet the early-stopping
goal (hypervolume kept >= 0.99 on average with >= 3x fewer trial-epochs) and, per
study, the cheapest setting that keeps >= 0.99 on average and in every order.

``--out`` receives ``results.md``, ``results.json`` and one figure per study and eta.

    python benchmarks/bench_replay.py --study mtlstudy-runs/full60 --study mtlstudy-runs/full200
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mtlstudy.study import replay_stopping

#: The early-stopping goal: the fraction of the full front's hypervolume kept, and how many times fewer trial-epochs.
GOAL_KEPT, GOAL_SAVING = 0.99, 3.0


def replay_table(study: Path, etas: Sequence[float], graces: Sequence[int], args: argparse.Namespace) -> pd.DataFrame:
    """One row per rule, grace and eta replayed on ``study``."""
    frames = []
    for eta in etas:
        replay = replay_stopping(
            study.name, study.parent, grace_epochs=list(graces), reduction_factor=eta, orders=args.orders,
            concurrency=args.concurrency, figure=args.out / f"{study.name}-eta{eta:g}.png",
        )
        frames.append(replay.summary.assign(study=study.name, trials=replay.trials))
    table = pd.concat(frames, ignore_index=True)
    table["label"] = table["rule"] + " (" + table["setting"] + ")"
    table["saving"] = 1 / table["trial_epochs_mean"]
    table["goal"] = (table["hypervolume_mean"] >= GOAL_KEPT) & (table["saving"] >= GOAL_SAVING)
    return table


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown, with the cheapest settings that keep the goal's hypervolume, per study."""

    def cheapest(rows: pd.DataFrame, column: str) -> str:
        safe = rows[rows[column] >= GOAL_KEPT].sort_values("trial_epochs_mean")
        return f"`{safe['label'].iloc[0]}`, {safe['saving'].iloc[0]:.2f}× fewer trial-epochs" if len(safe) else "none"

    lines = []
    for study, rows in table.groupby("study", sort=False):
        lines += [
            f"### {study} ({rows['trials'].iloc[0]} trials)",
            "",
            f"- Cheapest setting that keeps ≥ {GOAL_KEPT:.0%} of the hypervolume on average: "
            f"{cheapest(rows, 'hypervolume_mean')}.",
            f"- The same in every arrival order: {cheapest(rows, 'hypervolume_min')}.",
            "",
            "| rule | trial-epochs | fewer | hypervolume kept | front trials stopped | goal |",
            "|---|---:|---:|---:|---:|:-:|",
        ]
        lines += [
            f"| {row.label} | {row.trial_epochs_mean:.2f} | {row.saving:.1f}× | {row.hypervolume_mean:.3f} "
            f"({row.hypervolume_min:.3f}–{row.hypervolume_max:.3f}) | {row.front_stopped_mean:.1f} | "
            f"{'yes' if row.goal else 'no'} |"
            for row in rows.itertuples()
        ]
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, action="append", required=True, help="DIR/NAME of a finished study (repeat)")
    parser.add_argument("--eta", type=float, action="append", help="reduction factors to replay (repeat) [2, 3, 4]")
    parser.add_argument("--grace", type=int, action="append", help="first rungs to replay (repeat) [3, 5, 10]")
    parser.add_argument("--orders", type=int, default=20, help="seeded arrival orders per setting [20]")
    parser.add_argument("--concurrency", type=int, default=2, help="trials at once in the replayed studies [2]")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/replay"), help="output folder")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tables = [replay_table(study, args.eta or [2, 3, 4], args.grace or [3, 5, 10], args) for study in args.study]
    table = pd.concat(tables, ignore_index=True)
    text = markdown(table)
    print(text)
    (args.out / "results.md").write_text(text, encoding="utf-8")
    (args.out / "results.json").write_text(table.to_json(orient="records", indent=1), encoding="utf-8")
    print(f"wrote {args.out / 'results.md'}, results.json and one figure per study and eta")


if __name__ == "__main__":
    main()
