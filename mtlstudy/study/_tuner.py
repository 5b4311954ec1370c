"""The Ray Tune experiment of a study phase: its trainable, scheduler, searcher and callbacks."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping

import optuna
from optuna.trial import TrialState
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.schedulers import TrialScheduler

from mtlstudy._errors import StudyError
from mtlstudy._runs import trial_name
from mtlstudy._schema import ROLES
from mtlstudy.schedulers import MOASHAScheduler
from mtlstudy.study._database import FAILURE_ATTR, OptunaRungStore, StudyDatabase
from mtlstudy.study._layout import RAY_DIR, is_remote
from mtlstudy.study._progress import StudyProgress
from mtlstudy.study._searcher import StudySearcher, TrialErrors
from mtlstudy.study._spec import StudySpec
from mtlstudy.study._tensorboard import TensorBoardView
from mtlstudy.trainables import train_pack, train_trial

__all__ = ["new_tuner", "fit", "study_scheduler"]


def new_tuner(
    spec: StudySpec,
    echo: Callable[[str], None],
    scheduler: TrialScheduler | None,
    role: str = ROLES[0],
    trials: int | None = None,
    unfinished: Mapping[str, str | None] | None = None,
):
    """A Ray Tune experiment that runs ``trials`` (default: the budget) trials of ``role`` under ``scheduler``,
    the ``unfinished`` ones first (see :class:`StudySearcher`).

    A study's experiments all live in its ``ray/`` folder, each trial in a folder named after
    its :func:`~mtlstudy._runs.trial_name`. Nothing is read back from an earlier experiment's
    saved state (Ray pickles it): a resumed study is a new experiment.
    """
    return tune.Tuner(
        _trainable(spec, scheduler),
        param_space=spec.fixed_params(),
        tune_config=tune.TuneConfig(
            search_alg=StudySearcher(spec, role, unfinished),
            scheduler=scheduler,
            # Packs can end up smaller than spec.pack, so the searcher says when the budget is spent.
            num_samples=(spec.trials if trials is None else trials) if spec.pack == 1 else -1,
            max_concurrent_trials=spec.concurrency,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=RAY_DIR,
            storage_path=spec.files.uri(),
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            # The trials of a study in an object store upload their logs themselves (``upload_logs``).
            sync_config=tune.SyncConfig(sync_artifacts=is_remote(spec.dir)),
            verbose=0,
            # Ray's JSON and CSV result logs, without its TensorBoard logger (see ray_session).
            callbacks=[StudyProgress(spec if trials is None else dataclasses.replace(spec, trials=trials), echo),
                       TensorBoardView(spec), TrialErrors(spec), JsonLoggerCallback(), CSVLoggerCallback()],
        ),
    )


def _trainable(spec: StudySpec, scheduler: TrialScheduler | None):
    """One trial per Ray trial, or with ``spec.pack > 1`` a pack of trials per Ray trial."""
    trainable = train_trial
    if spec.pack > 1:
        # A pack drops the members that MOASHA stopped; it reads the decisions from the rung store.
        decisions = {"rung_store": scheduler.store, "rungs": scheduler.rungs} if scheduler else {}
        trainable = tune.with_parameters(train_pack, **decisions)
    return tune.with_resources(trainable, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})


def _trial_dirname(trial) -> str:
    return trial_name(trial.trial_id, trial.config)


def study_scheduler(spec: StudySpec, scheduler: TrialScheduler | None = None) -> TrialScheduler | None:
    """``scheduler``, else the one ``spec.early_stopping`` names (None: run every trial to its last epoch)."""
    if scheduler is not None:
        if spec.pack > 1 and not isinstance(scheduler, MOASHAScheduler):
            raise StudyError(
                f"packed trials (pack {spec.pack}) stop member by member under MOASHA only, "
                f"got {type(scheduler).__name__}; use pack 1 or early_stopping moasha"
            )
        return scheduler
    return spec.make_scheduler(OptunaRungStore(spec))


def fit(spec: StudySpec, tuner, echo: Callable[[str], None]) -> dict[str, int]:
    """Run ``tuner`` to its end, echo how its trials ended, and return the trial counts by Optuna state."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tuner.fit()
    latest = StudyDatabase(spec).latest()
    counts = dict(Counter(trial.state.name for trial in latest.values()))
    stopped, unfinished = counts.get("PRUNED", 0), counts.get("RUNNING", 0)
    echo(
        f"study {spec.name}: {counts.get('COMPLETE', 0) + stopped}/{spec.trials} trials complete"
        + (f", {stopped} of them stopped early" if stopped else "")
        + (f", {unfinished} unfinished" if unfinished else "")
    )
    failed = {ray_id: trial for ray_id, trial in latest.items() if trial.state == TrialState.FAIL}
    if failed:
        echo(
            f"{len(failed)} trial(s) failed: "
            + "; ".join(
                f"{ray_id} ({trial.user_attrs.get(FAILURE_ATTR, 'no reason recorded')}, logs in "
                f"{spec.files.uri(RAY_DIR, ray_id)})"
                for ray_id, trial in failed.items()
            )
        )
    return counts
