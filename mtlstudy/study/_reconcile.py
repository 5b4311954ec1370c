"""Reconciling a study before a resume: the Optuna database, Ray's saved trials and the trials' checkpoints."""

from __future__ import annotations

import functools
from pathlib import PurePosixPath
from typing import NamedTuple

import optuna
from optuna.trial import TrialState
from ray import tune

from mtlstudy._errors import CheckpointError
from mtlstudy.study._database import FAILURE_ATTR, PARAMS_ATTR, StudyDatabase
from mtlstudy.study._layout import RAY_DIR, StudyFiles
from mtlstudy.study._spec import StudySpec
from mtlstudy.trainables import CHECKPOINT_FILE, PACK_CHECKPOINT_FILE, saved_histories
from mtlstudy._runs import ray_trial_of, run_result, trial_result

__all__ = ["RayTrial", "ray_trials", "reconcile"]

_UNFINISHED = {"PENDING", "RUNNING", "PAUSED", "ERROR"}


class RayTrial(NamedTuple):
    """A trial as Ray's saved experiment state has it."""

    status: str | None
    last_result: dict
    checkpoint: str | None  # the directory Ray restores it from, on the study's file system


def ray_trials(experiment: str) -> dict[str, RayTrial]:
    """Ray trial id -> its status, last result and checkpoint in Ray's saved experiment state."""
    analysis = tune.ExperimentAnalysis(experiment)
    trials = {}
    for trial in analysis.trials:
        checkpoint = analysis.get_last_checkpoint(trial)
        path = None if checkpoint is None else checkpoint.path
        trials[trial.trial_id] = RayTrial(trial.status, trial.last_result or {}, path)
    return trials


def reconcile(spec: StudySpec, ray_trials: dict[str, RayTrial]) -> list[str]:
    """Make the Optuna database and Ray's saved trials agree with the trials' records before a resume.

    For the newest Optuna trial of each Ray trial id:

    - RUNNING, finished in Ray -> told as the searcher would have (the driver died
      between Ray's result and Optuna's tell): COMPLETE with Ray's values, PRUNED if
      it was stopped early, FAIL without objectives;
    - unfinished in Ray, but the trial's own newest checkpoint holds its last
      epoch (the driver died after the trial's last report, before Ray saved its
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
    files = spec.files
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
        status, result, _ = ray_trials.get(ray_id, RayTrial(None, {}, None))
        label = f"Optuna trial {trial.number} (Ray {run_id})"
        history = saved(ray_id).histories.get(run_id, []) if status in _UNFINISHED else []
        if trial.state == TrialState.RUNNING and status == "TERMINATED":
            state = database.finish(trial, run_result(run_id, result))
            notes.append(f"{label}: finished in Ray, marked {state.name} with its last result")
        elif len(history) >= spec.epochs and trial.state in (TrialState.RUNNING, TrialState.COMPLETE):
            if trial.state == TrialState.RUNNING:
                state = database.finish(trial, trial_result(history, spec.value))
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

