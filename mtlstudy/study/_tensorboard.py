"""The study's TensorBoard view: one run per trial, under a name a person can read.

Trials log into Ray's trial directories, which are named by Ray trial id because
the rest of the study finds them that way. ``<study dir>/tensorboard/`` holds one
link per trial, named by :func:`run_name`, to that directory, so TensorBoard
pointed at it shows ``0007-shared-lf0.990-s0`` instead of ``ray/1a2b3c4d``. When a
trial ends, its parameters and its final and best test metrics are written there
as HParams.

A remote study (``--dir s3://...``) has no view: its trial folders are objects, which
links cannot point to. Its HParams go into the driver's copy of the trial folder,
which Ray uploads with its experiment state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ray import tune

from mtlstudy._runs import trial_runs
from mtlstudy._schema import PARAM_COLUMNS
from mtlstudy.study._database import StudyDatabase
from mtlstudy.study._layout import TENSORBOARD_DIR, is_remote
from mtlstudy.study._spec import StudySpec
from mtlstudy.training import write_hparams

__all__ = ["HPARAMS", "HPARAMS_METRICS", "run_name", "TensorBoardView"]

#: The trial parameters written as HParams.
HPARAMS: tuple[str, ...] = (*PARAM_COLUMNS, "epochs")

#: The HParams metrics: final and best-epoch value of each test metric. SPEC.md allows
#: no per-epoch tag beyond its five, so hit rate and NDCG appear in TensorBoard here.
HPARAMS_METRICS: tuple[str, ...] = tuple(
    f"{kind}_{metric}" for metric in ("test_mse", "test_mrr", "test_hit_rate", "test_ndcg") for kind in ("final", "best")
)


def run_name(number: int, params: Mapping[str, Any]) -> str:
    """The readable TensorBoard run name of Optuna trial ``number``, e.g. ``0007-shared-lf0.990-s0``.

    Parameters
    ----------
    number : int
        The Optuna trial number, which makes the name unique within its study.
    params : mapping
        The trial's parameters; ``shared``, ``lambda_f`` and ``seed`` are read.
    """
    variant = "shared" if params["shared"] else "separate"
    return f"{number:04d}-{variant}-lf{params['lambda_f']:.3f}-s{params['seed']}"


class TensorBoardView(tune.Callback):
    """Keeps ``<study dir>/tensorboard/`` in step with the study's trials.

    On a trial's start it links the view's run name to the trial's directory (a
    retried trial, which a resume gives a new Optuna trial number, is renamed);
    on its end, stopped early or not, it writes the trial's HParams.
    """

    def __init__(self, spec: StudySpec) -> None:
        self.spec = spec
        self.view = spec.study_dir / TENSORBOARD_DIR
        self.remote = is_remote(spec.dir)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        if self.remote:
            return
        latest = StudyDatabase(self.spec).latest()
        for run_id, (config, _) in trial_runs(trial.trial_id, trial.config, None).items():
            optuna_trial = latest.get(run_id)
            if optuna_trial is not None:  # every trial the searcher started has one; a view is no reason to fail
                _link(self.view / run_name(optuna_trial.number, config), _run_dir(trial, run_id))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        # The last result carries each run's final and best values of every metric.
        for run_id, (config, result) in trial_runs(trial.trial_id, trial.config, trial.last_result).items():
            if result:
                write_hparams(
                    _run_dir(trial, run_id, staged=self.remote),
                    {key: config[key] for key in HPARAMS},
                    {name: result[name] for name in HPARAMS_METRICS},
                    step=int(result["epoch"]),
                )


def _run_dir(trial, run_id: str, staged: bool = False) -> Path:
    """Where run ``run_id`` of Ray trial ``trial`` logs: the trial's folder, or a member's inside it;
    with ``staged``, in the driver's copy of the trial's folder that Ray uploads."""
    return Path(trial.local_path if staged else trial.path, *run_id.split("/")[1:])


def _link(link: Path, target: Path) -> None:
    """Make ``link`` the one link in its folder to ``target`` (relative, so the study folder can move)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    for other in link.parent.iterdir():
        if other != link and other.is_symlink() and other.resolve() == target.resolve():
            other.unlink()
    if not link.is_symlink():
        link.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)
