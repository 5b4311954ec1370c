"""A finished study made without Ray, as the tests of everything that reads studies need one."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd
import yaml

from mtlstudy._schema import EPOCH_METRICS
from mtlstudy.study import StudySpec, resolve_spec
from mtlstudy.study._database import StudyDatabase
from mtlstudy.study._layout import RAY_DIR, SPEC_FILE
from mtlstudy.study._searcher import StudySearcher

def saved_study(
    dir: str | os.PathLike,
    name: str = "s",
    outcomes: Sequence[tuple | None] = (),
    *,
    metrics: bool = False,
    **options,
) -> StudySpec:
    """Study ``name`` in ``dir``: its spec file, its Optuna database and one trial ``t<k>`` per outcome.

    An outcome is (test MSE, test MRR) after the whole budget, (test MSE, test MRR, epoch)
    for a trial that early stopping ended at that epoch, or None for a failed trial.

    The trials are asked and told through the study's own searcher, as Ray would drive it.
    With ``metrics``, each trial that trained also gets the ``metrics.csv`` its epochs
    would have written: every metric 0.5, but test MSE falling by 0.1 per epoch to its
    outcome and test MRR at its outcome throughout. ``options`` are further spec values
    (default: 2 epochs of synthetic data, the random sampler, a budget of the outcomes).
    """
    defaults = {"epochs": 2, "dataset": "synthetic", "sampler": "random", "trials": max(len(outcomes), 1)}
    spec = resolve_spec(name=name, dir=str(dir), **{**defaults, **options})
    spec.study_dir.mkdir(parents=True)
    (spec.study_dir / SPEC_FILE).write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False), encoding="utf-8")
    StudyDatabase(spec)  # a study without trials has its database too
    searcher = StudySearcher(spec)
    for k, outcome in enumerate(outcomes):
        searcher.suggest(f"t{k}")
        if outcome is None:
            searcher.on_trial_complete(f"t{k}", {"epoch": spec.epochs})
            continue
        mse, mrr, epoch = (*outcome, spec.epochs) if len(outcome) == 2 else outcome
        searcher.on_trial_complete(f"t{k}", {"epoch": epoch, "objective_test_mse": mse, "objective_test_mrr": mrr})
        if metrics:
            _write_metrics(spec, f"t{k}", mse, mrr, epoch)
    return spec


def _write_metrics(spec: StudySpec, trial_id: str, mse: float, mrr: float, epochs: int) -> None:
    rows = [
        {"epoch": epoch, **{metric: 0.5 for metric in EPOCH_METRICS}, "test_mse": mse + 0.1 * (epochs - epoch),
         "test_mrr": mrr, "train_time_s": 1.0, "eval_time_s": 0.5}
        for epoch in range(1, epochs + 1)
    ]
    path = spec.study_dir / RAY_DIR / trial_id / "metrics.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(path, index=False)
