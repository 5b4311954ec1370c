"""Packed trials in a whole study: wall time of the same study with and without ``--pack``.

Four arms run a study of the same size (space, sampler, seed, trial budget, epochs,
concurrency) on ML-100K, one after the other on one local Ray:

``pack 1``  / ``pack K``
    each trial alone in its Ray trial, or K trials per Ray trial (:class:`PackedTrainer`);
``none`` / ``moasha``
    without early stopping, or with it (rungs at grace · η^k).

For each arm it records the wall time from launch to the last trial told, the
trial-epochs trained (``epochs_trained`` summed over the export) and the hypervolume
of the fully trained trials, as a fraction of the hypervolume of all arms' fully trained
trials together (one reference point: their worst MSE and worst MRR). Packed studies
sample other trials than unpacked ones (a pack's members share the shared flag), so
the fraction says whether the front a packed study finds is as good, not the same.

Speed is compared only as ratios against ``pack 1`` measured in the same run. The
goal of the packed-trials issue: the packed study (no early stopping) at least 2x
faster in wall time on 2 cores. ``--out`` receives ``results.md`` and ``results.json``.

    python benchmarks/bench_packed_study.py                  # 32 trials x 60 epochs, K = 16
    python benchmarks/bench_packed_study.py --trials 8 --epochs 4 --dataset synthetic   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

GOAL_SPEEDUP = 2.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--pack", type=int, default=16, help="K of the packed arms [16, the best K on one CPU thread].")
    parser.add_argument("--concurrency", type=int, default=2, help="Ray trials at once, one CPU each [2].")
    parser.add_argument("--grace-epochs", type=int, default=5)
    parser.add_argument("--reduction-factor", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", default="ml-100k", help="ml-100k, or synthetic for a smoke run.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/packed-study"))
    return parser.parse_args(argv)


def arms(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [
        {"pack": pack, "early_stopping": stopping}
        for stopping in ("none", "moasha")
        for pack in (1, args.pack)
    ]


def run_arm(arm: Mapping[str, Any], args: argparse.Namespace, studies: Path) -> dict[str, Any]:
    from mtlstudy.study import load_export, resolve_spec, run_study

    name = f"pack{arm['pack']}-{arm['early_stopping']}"
    spec = resolve_spec(
        name=name, dir=str(studies), trials=args.trials, epochs=args.epochs, seed=args.seed,
        concurrency=args.concurrency, cpus_per_trial=1, dataset=args.dataset, checkpoint_every=0,
        pack=arm["pack"], early_stopping=arm["early_stopping"], grace_epochs=args.grace_epochs,
        reduction_factor=args.reduction_factor,
    )
    started = time.perf_counter()
    run_study(spec, echo=lambda line: None)
    wall = time.perf_counter() - started
    trials = load_export(name, studies)
    complete = trials[trials["state"] == "COMPLETE"]
    return {
        **arm,
        "wall_s": wall,
        "trial_epochs": int(trials["epochs_trained"].sum()),
        "complete": len(complete),
        "points": complete[["final_test_mse", "final_test_mrr"]].to_numpy().tolist(),
    }


def analyse(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run with its wall-time ratio against ``pack 1`` (same early stopping) and hypervolume fraction."""
    import numpy as np

    from mtlstudy.analysis import hypervolume_2d

    every = np.array([point for run in runs for point in run["points"]])
    reference = (float(every[:, 0].max()), float(every[:, 1].min()))
    best = hypervolume_2d(every, reference)
    baseline = {run["early_stopping"]: run["wall_s"] for run in runs if run["pack"] == 1}
    return [
        {
            **run,
            "speedup": baseline[run["early_stopping"]] / run["wall_s"],
            "hypervolume_fraction": hypervolume_2d(np.array(run["points"]), reference) / best if run["points"] else 0.0,
        }
        for run in runs
    ]


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "| pack | early stopping | wall s | vs pack 1 | trial-epochs | fully trained trials | hypervolume |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['pack']} | {r['early_stopping']} | {r['wall_s']:.0f} | {r['speedup']:.2f}x | {r['trial_epochs']:,} | "
        f"{r['complete']} | {r['hypervolume_fraction']:.3f} |"
        for r in rows
    ]
    return "\n".join(lines)


def machine_line(args: argparse.Namespace) -> str:
    import optuna
    import ray
    import torch

    usable = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    return (
        f"{usable} usable CPU cores, load average {load:.1f} at the start, torch {torch.__version__}, "
        f"ray {ray.__version__}, optuna {optuna.__version__}; {args.dataset}, {args.trials} trials x "
        f"{args.epochs} epochs, concurrency {args.concurrency} (1 CPU per Ray trial), seed {args.seed}, "
        f"grace {args.grace_epochs}, eta {args.reduction_factor:g}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    import ray

    args = parse_args(argv)
    studies = args.out / "studies"
    shutil.rmtree(studies, ignore_errors=True)
    machine = machine_line(args)
    print(machine, flush=True)
    ray.init(num_cpus=args.concurrency, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        runs = []
        for arm in arms(args):
            runs.append(run_arm(arm, args, studies))
            print(f"pack {arm['pack']}, early stopping {arm['early_stopping']}: {runs[-1]['wall_s']:.0f} s", flush=True)
    finally:
        ray.shutdown()
    rows = analyse(runs)
    packed = next(r for r in rows if r["pack"] == args.pack and r["early_stopping"] == "none")
    verdict = (
        f"goal: the packed study (pack {args.pack}, no early stopping) >= {GOAL_SPEEDUP:g}x faster in wall time: "
        f"{'yes' if packed['speedup'] >= GOAL_SPEEDUP else 'no'} ({packed['speedup']:.2f}x)"
    )
    report = f"{machine}\n\n{table(rows)}\n\n- {verdict}\n"
    print("\n" + report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(report, encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps({"machine": machine, "runs": rows}, indent=2), encoding="utf-8")
    shutil.rmtree(studies, ignore_errors=True)


if __name__ == "__main__":
    main()
