"""Running and resuming a study: Ray Tune drives trials, Optuna (in a database) samples them."""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.schedulers import TrialScheduler

from mtlstudy._errors import StudyError
from mtlstudy._schema import OBJECTIVES
from mtlstudy.schedulers import MOASHAScheduler
from mtlstudy.study._lock import lock_owner, study_lock
from mtlstudy.study._searcher import PARAMS_ATTR, OptunaRungStore, StudyDatabase, StudySearcher
from mtlstudy.study._spec import StudySpec, check_name, resolve_spec
from mtlstudy.study._storage import load_study, open_storage
from mtlstudy.trainables import OBJECTIVE_KEYS, objective_key, train_trial

__all__ = ["run_study", "resume_study", "open_spec", "SPEC_FILE", "RAY_DIR"]

#: The spec a study actually used, saved in its directory.
SPEC_FILE = "study.yaml"
#: Ray Tune's experiment directory inside the study directory (one subdirectory per trial).
RAY_DIR = "ray"

_UNFINISHED = {"PENDING", "RUNNING", "PAUSED", "ERROR"}


def open_spec(name: str, dir: str | os.PathLike = "./mtlstudy-runs", **overrides: Any) -> StudySpec:
    """The saved spec of study ``name`` in ``dir`` (``overrides`` replace its values)."""
    path = Path(dir) / check_name(name) / SPEC_FILE
    if not path.exists():
        raise StudyError(f"no study {name!r} in {str(Path(dir).resolve())!r} (missing {SPEC_FILE})")
    return resolve_spec(path, dir=str(dir), **overrides)


def run_study(spec: StudySpec, echo: Callable[[str], None] = print, scheduler: TrialScheduler | None = None) -> dict[str, int]:
    """Create study ``spec.name`` and run its trials; returns trial counts by Optuna state.

    Refused (StudyError) if the study directory exists: a running study holds its
    lock, an interrupted one is continued by :func:`resume_study`. ``scheduler``, a
    Ray Tune scheduler, replaces the one ``spec.early_stopping`` names (to compare
    schedulers, for example); a trial it stops early is recorded as PRUNED.
    """
    _check_local_gpus(spec)
    if spec.storage is not None:
        open_storage(spec.storage)  # a bad URL or an unwritable database fails before anything exists
    study_dir = spec.study_dir
    owner = lock_owner(study_dir)
    if owner is not None:
        raise StudyError(f"study {spec.name!r} is in use by process {owner}")
    if study_dir.exists():
        raise _exists(spec)
    with _ray(spec):
        try:
            study_dir.mkdir(parents=True)
        except FileExistsError:
            raise _exists(spec) from None
        except OSError as error:
            raise StudyError(f"cannot create the study directory {str(study_dir)!r}: {error.strerror}") from None
        with study_lock(study_dir):
            (study_dir / SPEC_FILE).write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False), encoding="utf-8")
            return _fit(spec, _new_tuner(spec, echo, scheduler), echo)


def _exists(spec: StudySpec) -> StudyError:
    return StudyError(
        f"study {spec.name!r} already exists in {spec.dir!r}; continue it with "
        f"`mtlstudy study resume {spec.name}` or choose another name"
    )


def resume_study(name: str, dir: str | os.PathLike = "./mtlstudy-runs", echo: Callable[[str], None] = print) -> dict[str, int]:
    """Continue an interrupted study until its trial budget is met.

    Reconciles the Optuna database with Ray's trials first (see :func:`_reconcile`)
    and reports what it changed, then restores Ray's experiment: unfinished and
    errored trials continue from their last checkpoints, finished ones are kept.
    """
    spec = open_spec(name, dir)
    _check_local_gpus(spec)
    load_study(spec.name, spec.storage_url)  # never resume into a new, empty database
    with study_lock(spec.study_dir):
        with _ray(spec):
            experiment = spec.study_dir / RAY_DIR
            restorable = tune.Tuner.can_restore(str(experiment))
            ray_trials = _ray_trials(experiment) if restorable else {}
            for line in _reconcile(spec, ray_trials):
                echo(f"reconcile: {line}")
            if restorable:
                tuner = tune.Tuner.restore(
                    str(experiment), _trainable(spec), resume_unfinished=True, resume_errored=True
                )
            else:
                tuner = _new_tuner(spec, echo, None)
            return _fit(spec, tuner, echo)


def _ray_address(spec: StudySpec) -> str:
    """The cluster to join, or ``"local"`` for an embedded Ray.

    ``"local"`` starts one even when a cluster runs on this machine: a study joins a
    cluster only when asked to (``--address``, or ``RAY_ADDRESS`` as Ray's job tools set it).
    """
    return spec.address or os.environ.get("RAY_ADDRESS") or "local"


def _check_local_gpus(spec: StudySpec) -> None:
    """Refuse GPU trials on a local Ray without a GPU: Ray would keep them pending forever."""
    import torch

    if _ray_address(spec) == "local" and spec.gpus_per_trial > 0 and torch.cuda.device_count() == 0:
        raise StudyError(
            f"gpus_per_trial is {spec.gpus_per_trial} but this machine has no CUDA GPU for the local Ray; "
            "drop --gpus-per-trial or join a cluster that has GPUs with --address"
        )


def _check_resources(spec: StudySpec) -> None:
    """Refuse trials no node of the Ray cluster can hold: Ray would keep them pending forever."""
    import ray

    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    for key, resource in (("cpus_per_trial", "CPU"), ("gpus_per_trial", "GPU")):
        request, largest = getattr(spec, key), max((node.get(resource, 0) for node in nodes), default=0)
        if request > largest:
            raise StudyError(
                f"{key} is {request:g} but the largest node of the Ray cluster has {largest:g} {resource}s; "
                f"lower --{key.replace('_', '-')}"
            )


def _trainable(spec: StudySpec):
    return tune.with_resources(train_trial, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})


def _trial_dirname(trial) -> str:
    return trial.trial_id


def _scheduler(spec: StudySpec) -> TrialScheduler | None:
    """The scheduler ``spec.early_stopping`` names (None: run every trial to its budget)."""
    if spec.early_stopping == "none":
        return None
    return MOASHAScheduler(
        OptunaRungStore(spec),
        epochs=spec.epochs,
        grace_epochs=spec.grace_epochs,
        reduction_factor=spec.reduction_factor,
        objectives={objective_key(metric): OBJECTIVES[metric] for metric in OBJECTIVE_KEYS},
    )


def _new_tuner(spec: StudySpec, echo: Callable[[str], None], scheduler: TrialScheduler | None):
    return tune.Tuner(
        _trainable(spec),
        param_space=spec.fixed_params(),
        tune_config=tune.TuneConfig(
            search_alg=StudySearcher(spec),
            scheduler=scheduler or _scheduler(spec),
            num_samples=spec.trials,
            max_concurrent_trials=spec.concurrency,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=RAY_DIR,
            storage_path=str(spec.study_dir.resolve()),
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=0,
            # Ray's JSON and CSV result logs, without its TensorBoard logger (see _ray).
            callbacks=[_Progress(spec, echo), JsonLoggerCallback(), CSVLoggerCallback()],
        ),
    )


@contextlib.contextmanager
def _ray(spec: StudySpec) -> Iterator[None]:
    """Join ``spec.address`` or start a local Ray, unless this process already runs one.

    A local Ray serves on 127.0.0.1 only (see ``mtlstudy/__init__.py``). Trials that no
    node can hold are refused here, before any of them is queued.
    """
    import ray

    # Ray's automatic TensorBoard logger would add tags beside SPEC.md's five; the JSON and
    # CSV loggers, which Ray's result tables read, are passed to the tuner explicitly.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # The legacy reporter honours verbose=0; _Progress prints a line per trial instead.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    started = not ray.is_initialized()
    if started:
        ray.init(address=_ray_address(spec), include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    try:
        _check_resources(spec)
        yield
    finally:
        if started:
            ray.shutdown()


def _fit(spec: StudySpec, tuner, echo: Callable[[str], None]) -> dict[str, int]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tuner.fit()
    counts = dict(Counter(trial.state.name for trial in StudyDatabase(spec).latest().values()))
    stopped, unfinished = counts.get("PRUNED", 0), counts.get("RUNNING", 0)
    echo(
        f"study {spec.name}: {counts.get('COMPLETE', 0) + stopped}/{spec.trials} trials complete"
        + (f", {stopped} of them stopped early" if stopped else "")
        + (f", {unfinished} unfinished: continue with `mtlstudy study resume {spec.name}`" if unfinished else "")
    )
    return counts


def _ray_trials(experiment: Path) -> dict[str, tuple[str, dict]]:
    """Ray trial id -> (status, last result) from Ray's saved experiment state."""
    analysis = tune.ExperimentAnalysis(str(experiment))
    return {trial.trial_id: (trial.status, trial.last_result or {}) for trial in analysis.trials}


def _reconcile(spec: StudySpec, ray_trials: dict[str, tuple[str, dict]]) -> list[str]:
    """Make the Optuna database agree with Ray's saved trials before a resume.

    For the newest Optuna trial of each Ray trial id:

    - RUNNING, finished in Ray -> told as the searcher would have (the driver died
      between Ray's result and Optuna's tell): COMPLETE with Ray's values, PRUNED if
      it was stopped early, FAIL without objectives;
    - RUNNING, unfinished in Ray -> kept RUNNING: Ray resumes it from its checkpoint
      and the searcher tells this same Optuna trial, so no new trial is created;
    - RUNNING, unknown to Ray -> unlinked from its Ray id: it was sampled after
      Ray's last saved state, so Ray will ask for one more trial within the same
      budget, and the searcher hands it this one;
    - FAIL, errored in Ray -> a new RUNNING Optuna trial with the same parameters,
      for the retry Ray is about to run, carrying its attributes and rung records
      (the failed attempt stays on record).
    """
    database = StudyDatabase(spec)
    study = database.study
    notes: list[str] = []
    for ray_id, trial in database.latest().items():
        status, result = ray_trials.get(ray_id, (None, {}))
        label = f"Optuna trial {trial.number} (Ray {ray_id})"
        if trial.state == TrialState.RUNNING and status == "TERMINATED":
            state = database.finish(trial, result)
            notes.append(f"{label}: finished in Ray, marked {state.name} with its last result")
        elif trial.state == TrialState.RUNNING and status in _UNFINISHED:
            notes.append(f"{label}: unfinished, resumes from its checkpoint")
        elif trial.state == TrialState.RUNNING:
            database.disown(trial)
            notes.append(f"{label}: never recorded by Ray, runs again as the next new Ray trial")
        elif trial.state == TrialState.FAIL and status == "ERROR":
            study.add_trial(
                optuna.trial.create_trial(
                    state=TrialState.RUNNING,
                    params=trial.params,
                    distributions=trial.distributions,
                    user_attrs=dict(trial.user_attrs),
                )
            )
            notes.append(f"{label}: failed, retried by Ray under a new Optuna trial")
    for trial in database.orphans():
        if PARAMS_ATTR not in trial.user_attrs:  # the driver died inside the searcher's ask
            study.tell(trial.number, state=TrialState.FAIL)
            notes.append(f"Optuna trial {trial.number}: asked but never started, marked FAIL")
    if not notes:
        notes.append("database and Ray agree, nothing to change")
    return notes


class _Progress(tune.Callback):
    """Echoes one line per finished or failed trial (Ray's own table is kept quiet)."""

    def __init__(self, spec: StudySpec, echo: Callable[[str], None]) -> None:
        self.total = spec.trials
        self.epochs = spec.epochs
        self.echo = echo

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        done = sum(t.status == "TERMINATED" or t is trial for t in trials)
        config, result = trial.config, trial.last_result or {}
        epoch = result.get("epoch", self.epochs)
        self.echo(
            f"[{done}/{self.total}] trial {trial.trial_id}: shared={config.get('shared')}, "
            f"lambda_f={config.get('lambda_f', float('nan')):.4g}, "
            f"lambda_r={config.get('lambda_r', float('nan')):.4g}, seed={config.get('seed')}: "
            + (f"stopped at epoch {epoch}: " if epoch < self.epochs else "")
            + f"test MSE {result.get(objective_key('test_mse'), float('nan')):.4f}, "
            f"test MRR {result.get(objective_key('test_mrr'), float('nan')):.4f}"
        )

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.echo(f"trial {trial.trial_id} failed")
