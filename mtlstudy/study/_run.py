"""Running and resuming a study: Ray Tune drives trials, Optuna (in a database) samples them."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Any, NamedTuple

import optuna
import yaml
from optuna.trial import TrialState
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.schedulers import TrialScheduler

from mtlstudy._errors import CheckpointError, StudyError
from mtlstudy._runs import OBJECTIVE_KEYS, objective_key, ray_trial_of, run_result, trial_result
from mtlstudy._schema import OBJECTIVES, ROLES
from mtlstudy.schedulers import MOASHAScheduler
from mtlstudy.study._lock import lock_owner, study_lock
from mtlstudy.study._phases import (
    add_phases,
    budget,
    current_phase,
    enter_phase,
    plan_phase,
    replicate_phase,
    running,
    study_phases,
    trials_left,
)
from mtlstudy.study._progress import StudyProgress
from mtlstudy.study._ray_log import RAY_LOG_FILE, ray_log_to
from mtlstudy.study._remote import StudyFiles, is_remote
from mtlstudy.study._searcher import FAILURE_ATTR, PARAMS_ATTR, OptunaRungStore, StudyDatabase, StudySearcher
from mtlstudy.study._spec import StudySpec, check_name, resolve_spec
from mtlstudy.study._storage import load_study, open_storage
from mtlstudy.study._tensorboard import TensorBoardView
from mtlstudy.trainables import CHECKPOINT_FILE, PACK_CHECKPOINT_FILE, saved_histories, train_pack, train_trial

__all__ = ["run_study", "resume_study", "run_phases", "open_spec", "SPEC_FILE", "RAY_DIR"]

#: The spec a study actually used, saved in its directory.
SPEC_FILE = "study.yaml"
#: Ray Tune's experiment directory inside the study directory (one subdirectory per trial).
RAY_DIR = "ray"

_UNFINISHED = {"PENDING", "RUNNING", "PAUSED", "ERROR"}


def open_spec(name: str, dir: str | os.PathLike = "./mtlstudy-runs", **overrides: Any) -> StudySpec:
    """The saved spec of study ``name`` in ``dir`` (``overrides`` replace its values)."""
    files = StudyFiles(dir, check_name(name))
    with files.local_file(files.path(SPEC_FILE)) as path:
        if not path.exists():
            raise StudyError(f"no study {name!r} in {files.dir!r} (missing {SPEC_FILE})")
        return resolve_spec(path, dir=str(dir), **overrides)


def run_study(spec: StudySpec, echo: Callable[[str], None] = print, scheduler: TrialScheduler | None = None) -> dict[str, int]:
    """Create study ``spec.name`` and run its trials; returns trial counts by Optuna state.

    The last lines echoed say how many trials completed and name each failed one, with
    why it failed and where its logs are (a retried trial counts by its last attempt).

    Refused (StudyError) if the study directory exists: a running study holds its
    lock, an interrupted one is continued by :func:`resume_study`. ``scheduler``, a
    Ray Tune scheduler, replaces the one ``spec.early_stopping`` names (to compare
    schedulers, for example); a trial it stops early is recorded as PRUNED. With
    ``spec.replicates``, the replicates follow the search (see :mod:`mtlstudy.study._phases`).
    """
    _check_local_gpus(spec)
    files, study_dir = StudyFiles(spec.dir, spec.name), spec.study_dir
    files.check_writable()  # a missing bucket fails before anything exists
    if spec.storage is not None:
        open_storage(spec.storage)  # a bad URL or an unwritable database, too
    owner = lock_owner(study_dir)
    if owner is not None:
        raise StudyError(f"study {spec.name!r} is in use by process {owner}")
    if files.exists():
        raise _exists(spec)
    with ray_log_to(study_dir / RAY_LOG_FILE), _ray(spec):
        try:
            # A remote study's local folder is only its working folder, which an earlier study of the name may have left.
            study_dir.mkdir(parents=True, exist_ok=files.remote)
        except FileExistsError:
            raise _exists(spec) from None
        except OSError as error:
            raise StudyError(f"cannot create the study directory {str(study_dir)!r}: {error.strerror}") from None
        with study_lock(study_dir):
            files.write_bytes(yaml.safe_dump(spec.to_dict(), sort_keys=False).encode(), SPEC_FILE)
            if spec.replicates:
                add_phases(StudyDatabase(spec).study, [replicate_phase(spec.replicates, spec.replicate_trials)])
            counts = _fit(spec, _new_tuner(spec, echo, _scheduler(spec, scheduler)), echo)
            return run_phases(spec, echo, counts, start_over=False)


def _exists(spec: StudySpec) -> StudyError:
    return StudyError(
        f"study {spec.name!r} already exists in {spec.dir!r}; continue it with "
        f"`mtlstudy study resume {spec.name}` or choose another name"
    )


def resume_study(name: str, dir: str | os.PathLike = "./mtlstudy-runs", echo: Callable[[str], None] = print) -> dict[str, int]:
    """Continue an interrupted study until its trial budget is met, and run the phases still due.

    Reconciles the Optuna database with Ray's trials first (see :func:`_reconcile`)
    and reports what it changed, then restores Ray's newest experiment: unfinished and
    errored trials continue from their last checkpoints, finished ones are kept. Then
    the phase it belonged to ends, and the phases after it run (see :func:`run_phases`).
    """
    spec = open_spec(name, dir)
    _check_local_gpus(spec)
    load_study(spec.name, spec.storage_url)  # never resume into a new, empty database
    spec.study_dir.mkdir(parents=True, exist_ok=True)  # a remote study's working folder may be gone
    with study_lock(spec.study_dir):
        with ray_log_to(spec.study_dir / RAY_LOG_FILE), _ray(spec):
            experiment = StudyFiles(spec.dir, spec.name).uri(RAY_DIR)
            restorable = tune.Tuner.can_restore(experiment)
            ray_trials = _ray_trials(experiment) if restorable else {}
            for line in _reconcile(spec, ray_trials):
                echo(f"reconcile: {line}")
            counts = {}
            if restorable:
                scheduler = _scheduler(spec) if current_phase(StudyDatabase(spec).study) == 0 else None
                counts = _fit(spec, tune.Tuner.restore(
                    experiment, _trainable(spec, scheduler), resume_unfinished=True, resume_errored=True
                ), echo)
            return run_phases(spec, echo, counts, start_over=True)


def run_phases(spec: StudySpec, echo: Callable[[str], None], counts: dict[str, int], start_over: bool) -> dict[str, int]:
    """Run the study's phases after the newest one, each once the one before it has ended; returns
    the trial counts by Optuna state after the last run (``counts``: those of the run before).

    Called inside the study's lock and Ray. The newest phase has ended when no trial runs and
    it has no trial left to start. With ``start_over`` (a resume), the newest phase is planned
    again (which makes only the trials a killed driver did not) and, with trials left, gets a
    new Ray experiment for them: a driver killed just after it recorded the phase's start left
    no experiment of it. Otherwise trials left mean the run was interrupted, and the study
    stops there, to be resumed.
    """
    database = StudyDatabase(spec)
    study = database.study
    phases, index = study_phases(study), current_phase(study)
    if start_over and index:  # a driver killed while it planned the phase left some of its trials unmade
        for line in plan_phase(database, spec, index):
            echo(line)
        phases = study_phases(study)
    while not running(database):
        if not trials_left(database, index):
            if index + 1 == len(phases):
                break
            index += 1
            enter_phase(study, index)
            for line in plan_phase(database, spec, index):
                echo(line)
            phases = study_phases(study)
            if not trials_left(database, index):  # e.g. no trial to replicate
                continue
        elif not start_over:
            echo(f"study {spec.name}: interrupted; continue with `mtlstudy study resume {spec.name}`")
            break
        start_over = False
        spec = _with_budget(spec, budget(study))
        role, scheduler = phases[index]["role"], _scheduler(spec) if index == 0 else None
        # The phase's own budget: a later phase's known size is no trial for this one to sample.
        phase_spec = dataclasses.replace(spec, trials=budget(study, index))
        counts = _fit(phase_spec, _new_tuner(phase_spec, echo, scheduler, role, trials_left(database, index)), echo)
    _with_budget(spec, budget(study))
    return counts


def _with_budget(spec: StudySpec, trials: int) -> StudySpec:
    """``spec`` with the budget ``trials``, written to the study's spec file if it holds another."""
    files = StudyFiles(spec.dir, spec.name)
    saved = yaml.safe_load(files.read_bytes(SPEC_FILE))
    if saved.get("trials") != trials:
        files.write_bytes(yaml.safe_dump({**saved, "trials": trials}, sort_keys=False).encode(), SPEC_FILE)
    return dataclasses.replace(spec, trials=trials)


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


def _trainable(spec: StudySpec, scheduler: TrialScheduler | None):
    """One trial per Ray trial, or with ``spec.pack > 1`` a pack of trials per Ray trial."""
    trainable = train_trial
    if spec.pack > 1:
        # A pack drops the members that MOASHA stopped; it reads the decisions from the rung store.
        decisions = {"rung_store": scheduler.store, "rungs": scheduler.rungs} if scheduler else {}
        trainable = tune.with_parameters(train_pack, **decisions)
    return tune.with_resources(trainable, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})


def _trial_dirname(trial) -> str:
    return trial.trial_id


def _scheduler(spec: StudySpec, scheduler: TrialScheduler | None = None) -> TrialScheduler | None:
    """``scheduler``, else the one ``spec.early_stopping`` names (None: run every trial to its budget)."""
    if scheduler is not None:
        if spec.pack > 1 and not isinstance(scheduler, MOASHAScheduler):
            raise StudyError(
                f"packed trials (pack {spec.pack}) stop member by member under MOASHA only, "
                f"got {type(scheduler).__name__}; use pack 1 or early_stopping moasha"
            )
        return scheduler
    if spec.early_stopping == "none":
        return None
    return MOASHAScheduler(
        OptunaRungStore(spec),
        epochs=spec.epochs,
        grace_epochs=spec.grace_epochs,
        reduction_factor=spec.reduction_factor,
        objectives={objective_key(metric): OBJECTIVES[metric] for metric in OBJECTIVE_KEYS},
    )


def _new_tuner(
    spec: StudySpec,
    echo: Callable[[str], None],
    scheduler: TrialScheduler | None,
    role: str = ROLES[0],
    trials: int | None = None,
):
    """A Ray Tune experiment that runs ``trials`` (default: the budget) trials of ``role`` under ``scheduler``."""
    return tune.Tuner(
        _trainable(spec, scheduler),
        param_space=spec.fixed_params(),
        tune_config=tune.TuneConfig(
            search_alg=StudySearcher(spec, role),
            scheduler=scheduler,
            # Packs can end up smaller than spec.pack, so the searcher says when the budget is spent.
            num_samples=(spec.trials if trials is None else trials) if spec.pack == 1 else -1,
            max_concurrent_trials=spec.concurrency,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=RAY_DIR,
            storage_path=StudyFiles(spec.dir, spec.name).uri(),
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            # The trials of a study in an object store upload their logs themselves (``upload_logs``).
            sync_config=tune.SyncConfig(sync_artifacts=is_remote(spec.dir)),
            verbose=0,
            # Ray's JSON and CSV result logs, without its TensorBoard logger (see _ray).
            callbacks=[StudyProgress(spec if trials is None else dataclasses.replace(spec, trials=trials), echo),
                       TensorBoardView(spec), JsonLoggerCallback(), CSVLoggerCallback()],
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
    # The legacy reporter honours verbose=0; StudyProgress shows the study's progress instead.
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
    latest = StudyDatabase(spec).latest()
    counts = dict(Counter(trial.state.name for trial in latest.values()))
    stopped, unfinished = counts.get("PRUNED", 0), counts.get("RUNNING", 0)
    echo(
        f"study {spec.name}: {counts.get('COMPLETE', 0) + stopped}/{spec.trials} trials complete"
        + (f", {stopped} of them stopped early" if stopped else "")
        + (f", {unfinished} unfinished: continue with `mtlstudy study resume {spec.name}`" if unfinished else "")
    )
    failed = {ray_id: trial for ray_id, trial in latest.items() if trial.state == TrialState.FAIL}
    if failed:
        echo(
            f"{len(failed)} trial(s) failed: "
            + "; ".join(
                f"{ray_id} ({trial.user_attrs.get(FAILURE_ATTR, 'no reason recorded')}, logs in "
                f"{StudyFiles(spec.dir, spec.name).uri(RAY_DIR, ray_id)})"
                for ray_id, trial in failed.items()
            )
        )
    return counts


class _RayTrial(NamedTuple):
    """A trial as Ray's saved experiment state has it."""

    status: str | None
    last_result: dict
    checkpoint: str | None  # the directory Ray restores it from, on the study's file system


def _ray_trials(experiment: str) -> dict[str, _RayTrial]:
    """Ray trial id -> its status, last result and checkpoint in Ray's saved experiment state."""
    analysis = tune.ExperimentAnalysis(experiment)
    trials = {}
    for trial in analysis.trials:
        checkpoint = analysis.get_last_checkpoint(trial)
        path = None if checkpoint is None else checkpoint.path
        trials[trial.trial_id] = _RayTrial(trial.status, trial.last_result or {}, path)
    return trials


def _reconcile(spec: StudySpec, ray_trials: dict[str, _RayTrial]) -> list[str]:
    """Make the Optuna database and Ray's saved trials agree with the trials' records before a resume.

    For the newest Optuna trial of each Ray trial id:

    - RUNNING, finished in Ray -> told as the searcher would have (the driver died
      between Ray's result and Optuna's tell): COMPLETE with Ray's values, PRUNED if
      it was stopped early, FAIL without objectives;
    - unfinished in Ray, but the trial's own newest checkpoint holds its whole
      budget (the driver died after the trial's last report, before Ray saved its
      state) -> told from that checkpoint if still RUNNING, and Ray's restore is
      pointed at that final state, so Ray replays the trial's end without training;
    - RUNNING, unfinished in Ray -> kept RUNNING: Ray resumes it from the trial's
      newest readable checkpoint (see :func:`_restore_from`) and the searcher tells
      this same Optuna trial, so no new trial is created; a checkpoint that cannot
      be read is named, and without a readable one the trial restarts from epoch 1;
    - RUNNING, unknown to Ray -> unlinked from its Ray id: it was sampled after
      Ray's last saved state, so Ray will ask for one more trial within the same
      budget, and the searcher hands it this one;
    - FAIL, errored in Ray -> a new RUNNING Optuna trial with the same parameters,
      for the retry Ray is about to run, carrying its attributes and rung records
      (the failed attempt stays on record).
    """
    database = StudyDatabase(spec)
    study = database.study
    files = StudyFiles(spec.dir, spec.name)
    notes: list[str] = []

    # Once per Ray trial, however many runs (pack members) it holds.
    @functools.cache
    def saved(ray_id: str) -> _Saved:
        return _newest_checkpoint(spec, files, ray_id)

    @functools.cache
    def restore_from_newest(ray_id: str) -> str | None:
        _, _, checkpoint = ray_trials[ray_id]
        return _restore_from(files, saved(ray_id), checkpoint)

    for run_id, trial in database.latest().items():
        ray_id = ray_trial_of(run_id)
        status, result, _ = ray_trials.get(ray_id, _RayTrial(None, {}, None))
        label = f"Optuna trial {trial.number} (Ray {run_id})"
        history = saved(ray_id).histories.get(run_id, []) if status in _UNFINISHED else []
        if trial.state == TrialState.RUNNING and status == "TERMINATED":
            state = database.finish(trial, run_result(run_id, result))
            notes.append(f"{label}: finished in Ray, marked {state.name} with its last result")
        elif len(history) >= spec.epochs and trial.state in (TrialState.RUNNING, TrialState.COMPLETE):
            if trial.state == TrialState.RUNNING:
                state = database.finish(trial, trial_result(history, spec.objective))
                notes.append(f"{label}: finished per its final checkpoint, marked {state.name}")
            notes.append(f"{label}: Ray saved it as unfinished; " + (
                restore_from_newest(ray_id) or "it restores the final checkpoint and ends without training"
            ))
        elif trial.state == TrialState.RUNNING and status in _UNFINISHED:
            unreadable = saved(ray_id).unreadable
            notes.append(f"{label}: unfinished, " + (f"{unreadable}; " if unreadable else "") + (
                restore_from_newest(ray_id) or f"resumes from its checkpoint at epoch {len(history)}"
            ))
        elif trial.state == TrialState.RUNNING:
            database.disown(trial)
            notes.append(f"{label}: never recorded by Ray, runs again as the next new Ray trial")
        elif trial.state == TrialState.FAIL and status == "ERROR":
            attributes = {key: value for key, value in trial.user_attrs.items() if key != FAILURE_ATTR}
            study.add_trial(
                optuna.trial.create_trial(
                    state=TrialState.RUNNING,
                    params=trial.params,
                    distributions=trial.distributions,
                    user_attrs=attributes,
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


class _Saved(NamedTuple):
    """A Ray trial's newest readable checkpoint in the study directory."""

    path: str | None  # on the study's file system; None: none can be read
    histories: dict[str, list[dict]]  # run id -> its epoch history there
    unreadable: str | None  # why a newer checkpoint cannot be read


def _newest_checkpoint(spec: StudySpec, files: StudyFiles, ray_id: str) -> _Saved:
    """The Ray trial's own newest checkpoint that can be read, and why any newer one cannot."""
    unreadable = None
    file = PACK_CHECKPOINT_FILE if spec.pack > 1 else CHECKPOINT_FILE
    for name in reversed(files.folders(RAY_DIR, ray_id, prefix="checkpoint_")):
        path = files.path(RAY_DIR, ray_id, name, file)
        try:
            with files.local_file(path) as local:
                _, histories = saved_histories(local.parent, ray_id, packed=spec.pack > 1)
            return _Saved(path, histories, unreadable)
        except CheckpointError as error:
            # Named as the user knows it, not as the downloaded copy of a remote one.
            unreadable = unreadable or str(error).replace(str(local), files.uri(RAY_DIR, ray_id, name, file))
    return _Saved(None, {}, unreadable)


def _restore_from(files: StudyFiles, saved: _Saved, restored: str | None) -> str | None:
    """Make Ray's restore (from ``restored``) load ``saved``; None if it will, else why the
    trial starts from epoch 1.

    Ray restores the checkpoint its saved state names. The driver may have kept a
    newer one and deleted that one after the save, or it may be unreadable, so the
    newest readable state is copied there. Ray refuses to restore from a directory
    that is gone, so one is kept there even when nothing can be read: the trainable
    then finds no state in it and starts afresh.
    """
    if saved.path is None:
        if restored is not None:
            files.filesystem.create_dir(restored)
        return "it restarts from epoch 1" if saved.unreadable else "no checkpoint yet: it starts from epoch 1"
    if restored is None:
        return "no checkpoint in Ray's saved state: it restarts from epoch 1"
    target = str(PurePosixPath(restored, PurePosixPath(saved.path).name))
    if target != saved.path:
        files.copy_file(saved.path, target)
    return None

