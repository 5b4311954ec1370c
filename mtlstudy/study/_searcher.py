"""A Ray Tune searcher that drives Optuna through its public ask-and-tell API (see :mod:`._database`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from ray.tune.search import Searcher

from mtlstudy._runs import PACK_KEY, member_run_id, ray_trial_of, run_result
from mtlstudy._schema import ROLES
from mtlstudy.study._database import PARAMS_ATTR, RAY_TRIAL_ID, ROLE_ATTR, OpensDatabase, role_of
from mtlstudy.study._spec import COMPLETE_ONLY_SAMPLERS, StudySpec, trial_params
from mtlstudy.training import PACK_MEMBER_FIELDS

__all__ = ["StudySearcher", "FLAT_PARAMS", "ask_trial", "stopped_as_dominated"]

#: Training parameters also stored as one user attribute each.
FLAT_PARAMS: tuple[str, ...] = ("lambda_f", "lambda_r", "shared", "seed", "epochs")

# The trials that make up a study's history when the sampler is reseeded: failed
# attempts are left out, so a trial that failed before it trained is replaced by
# the very trial it would have been. A waiting trial is one enqueued for the ask under way
# (or left by a driver killed before its ask), so it is not history either.
_HISTORY = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


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
    tells a trial twice nor loses one whose Optuna trial was recreated for a retry.
    """

    def __init__(self, spec: StudySpec, role: str = ROLES[0]) -> None:
        super().__init__()
        self.spec = spec
        self.role = role

    def suggest(self, trial_id: str) -> dict[str, Any] | str:
        if self.spec.pack > 1:
            return self._suggest_pack(trial_id)
        waiting = self._waiting()
        if not waiting and not self._samples:
            return Searcher.FINISHED
        trial = waiting[0] if waiting else self._ask()
        self.database.set_user_attr(trial, RAY_TRIAL_ID, trial_id)
        return trial.user_attrs[PARAMS_ATTR]

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
        history = study.get_trials(deepcopy=False, states=_HISTORY)
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
        for run_id, trial in self.database.latest().items():
            if ray_trial_of(run_id) == trial_id and trial.state == TrialState.RUNNING:
                self.database.finish(trial, run_result(run_id, result), error)

    def save(self, checkpoint_path: str) -> None:
        # Everything lives in the database; the file names the study it belongs to. JSON, not
        # a pickle: a study directory may be shared, and reading it must run no code.
        with open(checkpoint_path, "w", encoding="utf-8") as file:
            json.dump({"study_name": self.spec.name}, file)

    def restore(self, checkpoint_path: str) -> None:
        try:
            with open(checkpoint_path, encoding="utf-8") as file:
                saved = json.load(file)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return  # an older mtlstudy's pickle, never unpickled: the database holds the whole state
        name = saved.get("study_name") if isinstance(saved, dict) else None
        if name != self.spec.name:
            raise ValueError(f"searcher state of study {name!r} restored into {self.spec.name!r}")


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


