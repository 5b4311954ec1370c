"""Ray Tune's OptunaSearch with the Optuna database as the source of truth for trials."""

from __future__ import annotations

import functools
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from mtlstudy._schema import OBJECTIVES
from mtlstudy.study._spec import StudySpec, trial_params
from mtlstudy.trainables import OBJECTIVE_KEYS, objective_key

__all__ = ["StudySearcher", "RAY_TRIAL_ID", "PARAMS_ATTR", "latest_trials"]

#: Optuna user attribute linking an Optuna trial to its Ray trial.
RAY_TRIAL_ID = "ray_trial_id"
#: Optuna user attribute holding the trial's training parameters.
PARAMS_ATTR = "params"


def latest_trials(study: optuna.Study) -> dict[str, optuna.trial.FrozenTrial]:
    """Ray trial id -> the newest Optuna trial for it (a retried trial has several)."""
    latest: dict[str, optuna.trial.FrozenTrial] = {}
    for trial in study.get_trials(deepcopy=False):
        ray_id = trial.user_attrs.get(RAY_TRIAL_ID)
        if ray_id is not None:
            latest[ray_id] = trial
    return latest


class StudySearcher(OptunaSearch):
    """Multi-objective OptunaSearch over a spec's space, in the spec's database.

    Each Optuna trial records its Ray trial id and training parameters as user
    attributes. A completion is told to the newest RUNNING Optuna trial of that Ray
    trial as found in the database, not in the searcher's own (possibly older,
    restored-from-checkpoint) map, so a resumed study never tells a finished trial
    twice nor loses one whose Optuna trial was recreated for a retry.
    """

    def __init__(self, spec: StudySpec) -> None:
        super().__init__(
            space=functools.partial(spec.search_space, spec=spec),
            metric=[objective_key(metric) for metric in OBJECTIVE_KEYS],
            mode=[OBJECTIVES[metric] for metric in OBJECTIVE_KEYS],
            sampler=spec.make_sampler(),
            study_name=spec.name,
            storage=optuna.storages.RDBStorage(spec.storage_url),
        )

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        sampled = super().suggest(trial_id)
        params = trial_params(sampled, {})
        trial = self._ot_trials[trial_id]
        trial.set_user_attr(RAY_TRIAL_ID, trial_id)
        trial.set_user_attr(PARAMS_ATTR, params)
        return params

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        frozen = latest_trials(self._ot_study).get(trial_id)
        if frozen is None or frozen.state != TrialState.RUNNING:
            return
        self._ot_trials[trial_id] = optuna.trial.Trial(self._ot_study, frozen._trial_id)
        self._completed_trials.discard(trial_id)
        super().on_trial_complete(trial_id, result, error)
