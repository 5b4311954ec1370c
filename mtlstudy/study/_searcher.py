"""A Ray Tune searcher that drives Optuna through its public ask-and-tell API (see :mod:`._database`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from ray.tune import Callback
from ray.tune.search import Searcher

from mtlstudy._runs import PACK_KEY, RESTORE_KEY, TRIAL_KEY, member_run_id, ray_trial_of, run_result, trial_name
from mtlstudy._schema import ROLES
from mtlstudy.study._database import (
    ERROR_FAILURE,
    PARAMS_ATTR,
    RAY_TRIAL_ID,
    ROLE_ATTR,
    OpensDatabase,
    StudyDatabase,
    role_of,
)
from mtlstudy.study._spec import COMPLETE_ONLY_SAMPLERS, StudySpec, trial_params
from mtlstudy.training import PACK_MEMBER_FIELDS

__all__ = ["StudySearcher", "TrialErrors", "FLAT_PARAMS", "ask_trial", "error_reason", "stopped_as_dominated"]

#: Training parameters also stored as one user attribute each.
FLAT_PARAMS: tuple[str, ...] = ("lambda_f", "lambda_r", "shared", "seed", "epochs")


def _history(study: optuna.Study) -> list[FrozenTrial]:
    """The trials that make up a study's history when the sampler is reseeded: every trial
    that got its parameters, whatever became of it, so that no two asks ever get the same
    seed (a failed trial's replacement is asked with the failed one on record). An ask that
    a killed driver never finished left a trial without parameters, and a waiting trial is
    one enqueued for the ask under way: neither counts, so a resumed ask is the one the
    killed driver was making."""
    return [t for t in study.get_trials(deepcopy=False) if PARAMS_ATTR in t.user_attrs]


def ask_trial(
    study: optuna.Study,
    spec: StudySpec,
    fixed: Mapping[str, Any] | None,
    attrs: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> optuna.Trial:
    """Ask ``study`` for a trial, ``fixed`` Optuna parameters taken as given, and record its
    user attributes ``attrs`` and its training parameters (``overrides`` replacing some), but no Ray trial.

    The parameters are recorded last: with them the trial is whole, and a searcher hands it
    out even after a crash; a trial without them was never started and is marked FAIL on resume.
    """
    # A waiting trial was enqueued with these very values by a driver killed before its
    # ask (the history, and so the sampler, is the same now), and this ask takes it.
    if fixed and not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        study.enqueue_trial(dict(fixed))
    trial = study.ask()
    params = {**trial_params(spec.search_space(trial, spec), trial.params), **(overrides or {})}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    # Flat copies that Optuna's tables and dashboard can sort and filter by.
    for key, value in {**spec.fixed_params(), **params}.items():
        if key in FLAT_PARAMS:
            trial.set_user_attr(key, value)
    trial.set_user_attr(PARAMS_ATTR, params)
    return trial


class StudySearcher(OpensDatabase, Searcher):
    """Samples each Ray trial's parameters from the spec's space with Optuna.

    ``suggest`` asks Optuna for a trial, runs the define-by-run space on it and
    records the Ray trial id and the training parameters on it; a trial that a
    killed driver had started but Ray never recorded is handed out first, so it
    runs under the new Ray trial instead of being lost or sampled twice. Before each
    ask the sampler is rebuilt from the spec's seed and the study's history
    (:meth:`StudySpec.make_sampler`), and samplers that read only COMPLETE trials
    sample from a copy in which stopped trials count (:func:`stopped_as_dominated`).
    With ``spec.pack > 1`` each Ray trial is a pack of trials (see :meth:`_suggest_pack`).
    A searcher of another ``role`` than ``"search"`` samples nothing: it hands out the waiting
    trials of its role (replicates, calibration trials, made beforehand) and then says it is finished.
    A finished Ray trial is told to the newest RUNNING Optuna trial of that Ray trial as found in
    the database (each member of a pack from its own result), so a resumed study never
    tells a trial twice.

    ``unfinished`` (a resume): trial name -> the checkpoint directory it resumes from (None:
    from its first epoch), for the Ray trials whose runs a killed driver left RUNNING. They
    come first, each as a new Ray trial under its old name (:data:`~mtlstudy._runs.TRIAL_KEY`),
    with its own parameters (a pack's, every member in its place).
    """

    def __init__(self, spec: StudySpec, role: str = ROLES[0], unfinished: Mapping[str, str | None] | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.role = role
        self._unfinished = dict(unfinished or {})
        self._names: dict[str, str] = {}  # Ray trial id -> its trial name, where they differ

    def suggest(self, trial_id: str) -> dict[str, Any] | str:
        if self._unfinished:
            name = next(iter(self._unfinished))  # in the order given
            return self._resume(trial_id, name, self._unfinished.pop(name))
        if self.spec.pack > 1:
            return self._suggest_pack(trial_id)
        waiting = self._waiting()
        if not waiting and not self._samples:
            return Searcher.FINISHED
        trial = waiting[0] if waiting else self._ask()
        self.database.set_user_attr(trial, RAY_TRIAL_ID, trial_id)
        return trial.user_attrs[PARAMS_ATTR]

    def _resume(self, trial_id: str, name: str, checkpoint: str | None) -> dict[str, Any]:
        """The config that resumes Ray trial ``name``'s runs as Ray trial ``trial_id``."""
        self._names[trial_id] = name
        runs = {run_id: trial for run_id, trial in self.database.latest().items() if ray_trial_of(run_id) == name}
        params = runs[name].user_attrs[PARAMS_ATTR] if name in runs else {
            PACK_KEY: [runs[member_run_id(name, member)].user_attrs[PARAMS_ATTR] for member in range(len(runs))]
        }
        return {**params, TRIAL_KEY: name, **({RESTORE_KEY: checkpoint} if checkpoint else {})}

    def _suggest_pack(self, trial_id: str) -> dict[str, Any] | str:
        """Up to ``spec.pack`` trials that share their architecture, as one Ray trial.

        Members are the unlinked trials first, then new asks. A pack takes its shared
        flag from its first member, and the sampler is asked for the others with that
        flag fixed. A grid's points cannot be fixed that way, so a grid pack ends at
        the first point of another architecture, which then opens the next pack.
        Once the budget is spent, returns ``Searcher.FINISHED``.
        """
        waiting = self._waiting()
        left = self.spec.trials - len(self.database.latest()) - len(waiting) if self._samples else 0
        members: list[tuple[FrozenTrial | optuna.Trial, dict[str, Any]]] = []  # (trial, its parameters)
        while len(members) < self.spec.pack and (waiting or left > 0):
            if waiting:
                trial = waiting.pop(0)
            else:
                fixed = {"shared": members[0][1]["shared"]} if members and not self._grid else {}
                trial, left = self._ask(fixed), left - 1
            params = trial.user_attrs[PARAMS_ATTR]
            if members and _architecture(params) != _architecture(members[0][1]):
                break  # stays unlinked: the next pack starts with it
            members.append((trial, params))
        if not members:
            return Searcher.FINISHED
        for member, (trial, _) in enumerate(members):
            self.database.set_user_attr(trial, RAY_TRIAL_ID, member_run_id(trial_id, member))
        return {PACK_KEY: [params for _, params in members]}

    def _waiting(self) -> list[FrozenTrial]:
        """Trials of this searcher's role with parameters but no Ray trial (see
        :meth:`StudyDatabase.orphans`), oldest first."""
        return [t for t in self.database.orphans() if PARAMS_ATTR in t.user_attrs and role_of(t) == self.role]

    @property
    def _samples(self) -> bool:
        return self.role == ROLES[0]

    @property
    def _grid(self) -> bool:
        return self.spec.search_space.grid is not None

    def _ask(self, fixed: Mapping[str, Any] | None = None) -> optuna.Trial:
        """A new trial, ``fixed`` parameters taken as given, with its parameters recorded but no Ray trial yet."""
        study = self.database.study
        history = _history(study)
        study.sampler = self.spec.make_sampler(history=len(history))
        if self.spec.sampler in COMPLETE_ONLY_SAMPLERS and not self._grid:
            if any(t.state == TrialState.PRUNED for t in history):
                fixed = self._sample_seeing_stopped(history, study.directions, fixed)
        return ask_trial(study, self.spec, fixed, {ROLE_ATTR: self.role})

    def _sample_seeing_stopped(
        self, history: list[FrozenTrial], directions, fixed: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Parameters sampled in memory from ``history`` with stopped trials shown as dominated."""
        scratch = optuna.create_study(directions=directions, sampler=self.spec.make_sampler(history=len(history)))
        scratch.add_trials(stopped_as_dominated(history, directions))
        if fixed:
            scratch.enqueue_trial(dict(fixed))
        probe = scratch.ask()
        self.spec.search_space(probe, self.spec)
        return probe.params

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if not error:  # an error is told by TrialErrors, which Ray tells next, with why
            finish_runs(self.database, self._names.get(trial_id, trial_id), result)

    def save(self, checkpoint_path: str) -> None:
        # Everything lives in the database, and a resume never reads Ray's saved state back
        # (see new_tuner); the file only names the study it belongs to.
        with open(checkpoint_path, "w", encoding="utf-8") as file:
            json.dump({"study_name": self.spec.name}, file)


def finish_runs(database: StudyDatabase, name: str, result: dict | None, error: str | None = None) -> None:
    """Tell the newest RUNNING Optuna trial of each run of Ray trial ``name`` how it ended (see
    :meth:`StudyDatabase.finish`): each member of a pack from its own part of ``result``."""
    for run_id, trial in database.latest().items():
        if ray_trial_of(run_id) == name and trial.state == TrialState.RUNNING:
            database.finish(trial, run_result(run_id, result), error)


class TrialErrors(OpensDatabase, Callback):
    """A Ray Tune callback that tells Optuna how a Ray trial that failed with an error (its worker
    died, or it raised an exception) ended, and why.

    Ray tells the searcher only that a trial failed, and then tells callbacks, with the trial and
    the ``error.txt`` it has just written, so the searcher leaves such a trial to this callback.
    """

    def __init__(self, spec: StudySpec) -> None:
        self.spec = spec

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        finish_runs(self.database, trial_name(trial.trial_id, trial.config), trial.last_result, _error_of(trial))


def _error_of(trial) -> str:
    """Why Ray trial ``trial`` failed, from the driver's copy of its ``error.txt``."""
    if trial.error_file is None:
        return ERROR_FAILURE
    try:
        with open(trial.error_file, "rb") as file:
            return error_reason(file.read(1 << 20))
    except OSError:
        return ERROR_FAILURE


def error_reason(text: bytes | None) -> str:
    """Why a Ray trial raised an error, in one line, from the ``error.txt`` Ray wrote (None: none).

    Examples
    --------
    >>> error_reason(b"Failure # 1 (occurred at x)\\nThe actor died unexpectedly before finishing this task.\\n"
    ...              b"The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR Worker exit detail: ...")
    'its worker died (exit type SYSTEM_ERROR)'
    >>> error_reason(b"Failure # 1 (occurred at x)\\nTraceback (most recent call last):\\n  ...\\nMemoryError: out of memory\\n")
    'the trial raised MemoryError: out of memory'
    """
    newest = (text or b"").decode(errors="replace").rsplit("Failure # ", 1)[-1].splitlines()[1:]
    lines = [line.strip() for line in newest if line.strip()]
    if not lines:
        return ERROR_FAILURE
    if lines[0].startswith("The actor died"):  # Ray's words for a worker process that is gone
        kind = re.search(r"Worker exit type: (\w+)", " ".join(lines))
        return "its worker died" + (f" (exit type {kind[1]})" if kind else "")
    return f"the trial raised {lines[-1][:300]}"


def stopped_as_dominated(trials: list[FrozenTrial], directions) -> list[FrozenTrial]:
    """``trials`` with each PRUNED one turned COMPLETE at the worst complete values.

    A stopped trial was dominated at its rung and its values after every epoch are
    unknown; treating it as no better than the worst complete trial lets samplers
    that read only COMPLETE trials steer away from it. Other states are kept, with
    their system attributes (NSGA-II's generations), except WAITING ones. Without
    a complete trial there is nothing to compare with, and stopped trials are left out.
    """
    complete = [t.values for t in trials if t.state == TrialState.COMPLETE]
    signs = [1.0 if d == optuna.study.StudyDirection.MINIMIZE else -1.0 for d in directions]
    worst = [sign * max(sign * values[i] for values in complete) for i, sign in enumerate(signs)] if complete else None
    shown = []
    for trial in trials:
        # A waiting trial would be handed out by the in-memory study's ask.
        if trial.state == TrialState.WAITING or (trial.state == TrialState.PRUNED and worst is None):
            continue
        pruned = trial.state == TrialState.PRUNED
        shown.append(
            optuna.trial.create_trial(
                state=TrialState.COMPLETE if pruned else trial.state,
                values=worst if pruned else trial.values,
                params=trial.params,
                distributions=trial.distributions,
                system_attrs=trial.system_attrs,
            )
        )
    return shown


def _architecture(params: Mapping[str, Any]) -> dict[str, Any]:
    """Of a trial's parameters, those that members of one pack must share."""
    return {k: v for k, v in params.items() if k not in PACK_MEMBER_FIELDS}


