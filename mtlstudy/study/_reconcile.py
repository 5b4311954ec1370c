"""Reconciling a study before a resume, from the Optuna database and the trials' checkpoints alone.

Ray's saved experiment state is never read: Ray pickles it (``tuner.pkl``, the searcher's
state, parts of ``experiment_state-*.json``), and a study directory may be shared, so reading
it back could run code that anyone with write access put there. It would also name the paths
of the driver that saved it, which a moved or copied study no longer has.
"""

from __future__ import annotations

from typing import NamedTuple

from optuna.trial import TrialState

from mtlstudy._errors import CheckpointError
from mtlstudy._runs import ray_trial_of, trial_result
from mtlstudy.study._database import PARAMS_ATTR, StudyDatabase
from mtlstudy.study._layout import RAY_DIR
from mtlstudy.study._spec import StudySpec
from mtlstudy.trainables import CHECKPOINT_FILE, PACK_CHECKPOINT_FILE, saved_histories

__all__ = ["Reconciled", "reconcile"]


class Reconciled(NamedTuple):
    """What :func:`reconcile` found and did."""

    notes: list[str]  # what it did, one line per trial
    unfinished: dict[str, str | None]  # trial name -> the checkpoint it resumes from (None: epoch 1)


def reconcile(database: StudyDatabase) -> Reconciled:
    """Make the study's Optuna ``database`` agree with the trials' checkpoints, and name the trials to resume.

    A RUNNING Optuna trial was left so by a killed driver. Each resumes from its Ray
    trial's newest readable checkpoint in the study directory (the one with the most
    epochs; an unreadable one is named), or from its first epoch without one; a pack
    resumes whole, so that its members train on together. One whose checkpoint holds its
    last epoch (the driver died after its last report, before Optuna heard of it) is
    told from that checkpoint instead. A trial that a driver asked for but that never got
    its parameters is marked FAIL: the searcher asks for another in its place.
    """
    spec = database.spec
    notes: list[str] = []
    unfinished: dict[str, str | None] = {}
    saved: dict[str, _Saved] = {}
    for run_id, trial in database.latest().items():
        if trial.state != TrialState.RUNNING:
            continue
        name = ray_trial_of(run_id)
        if name not in saved:
            saved[name] = _newest_checkpoint(spec, name)
        history = saved[name].histories.get(run_id, [])
        label = f"Optuna trial {trial.number} (run {run_id})"
        if len(history) >= spec.epochs:
            state = database.finish(trial, trial_result(history, spec.value))
            notes.append(f"{label}: finished per its final checkpoint, marked {state.name}")
            continue
        unreadable = saved[name].unreadable
        unfinished[name] = saved[name].path
        notes.append(
            f"{label}: unfinished, "
            + (f"{unreadable}; " if unreadable else "")
            + (f"resumes from its checkpoint at epoch {len(history)}" if history else "resumes from epoch 1")
        )
    for trial in database.orphans():
        if PARAMS_ATTR not in trial.user_attrs:  # the driver died inside the searcher's ask
            database.study.tell(trial.number, state=TrialState.FAIL)
            notes.append(f"Optuna trial {trial.number}: asked but never started, marked FAIL")
    return Reconciled(notes or ["every trial has ended, nothing to resume"], unfinished)


class _Saved(NamedTuple):
    """A Ray trial's newest readable checkpoint in the study directory."""

    path: str | None  # the checkpoint directory, as Ray names it (a path or URI); None: none can be read
    histories: dict[str, list[dict]]  # run id -> its epoch history there
    unreadable: str | None  # why a newer checkpoint cannot be read


def _newest_checkpoint(spec: StudySpec, name: str) -> _Saved:
    """Of Ray trial ``name``'s checkpoints, the readable one with the most epochs, and why any
    one with more cannot be read.

    Epochs, not folder names, tell the newest: a resumed trial is a new Ray trial in the
    same folder, whose checkpoints are numbered from 0 again.
    """
    files, packed = spec.files, spec.pack > 1
    file = PACK_CHECKPOINT_FILE if packed else CHECKPOINT_FILE
    readable: list[tuple[int, str, dict[str, list[dict]]]] = []
    unreadable: list[tuple[str, str]] = []  # (folder, why)
    for folder in files.folders(RAY_DIR, name, prefix="checkpoint_"):
        try:
            with files.local_file(files.path(RAY_DIR, name, folder, file)) as local:
                _, histories = saved_histories(local.parent, name, packed=packed)
        except CheckpointError as error:
            # Named as the user knows it, not as the downloaded copy of a remote one.
            unreadable.append((folder, str(error).replace(str(local), files.uri(RAY_DIR, name, folder, file))))
            continue
        readable.append((max(map(len, histories.values()), default=0), folder, histories))
    if not readable:
        return _Saved(None, {}, unreadable[-1][1] if unreadable else None)
    _, folder, histories = max(readable)
    # An unreadable checkpoint numbered above the one kept may have held more epochs.
    newer = [why for other, why in unreadable if other > folder]
    return _Saved(files.uri(RAY_DIR, name, folder), histories, newer[-1] if newer else None)
