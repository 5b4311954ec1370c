"""The phases of a study: its search, then replicates, extra sampled trials and calibration trials.

Phase 0 is the search that ``study run`` starts, under the spec's scheduler. ``study run
--replicates``, ``study extend`` and ``calibrate`` append later phases to the study's
:data:`PHASES_ATTR` user attribute, and they run one after the other, each as a new Ray Tune
experiment in the study's ``ray/`` folder and without a scheduler, so their trials train
every epoch. Replicate and calibration trials are made before their phase runs, as
*waiting* trials (parameters, no Ray trial) that the phase's searcher hands out; the trials
a phase plans are stored with it first, so a driver killed while making them makes the same
ones on resume. The study's budget (``trials`` in ``study.yaml``) is the search budget plus
the trials every phase planned.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from mtlstudy._dominance import nondominated_ranks
from mtlstudy._errors import StudyError
from mtlstudy._schema import OBJECTIVES, ROLES
from mtlstudy.study._database import PARAMS_ATTR, REPLICATE_OF_ATTR, ROLE_ATTR, StudyDatabase, role_of
from mtlstudy.study._searcher import ask_trial
from mtlstudy.study._spec import StudySpec

__all__ = [
    "PHASES_ATTR",
    "PHASE_ATTR",
    "study_phases",
    "add_phases",
    "sampled_phase",
    "replicate_phase",
    "calibration_phase",
    "current_phase",
    "enter_phase",
    "budget",
    "trials_left",
    "running",
    "plan_phase",
    "trials_with_params",
    "replicate_parents",
    "unused_seeds",
    "calibration_draws",
]

#: Optuna study user attribute: the phases after the search, in order (plain dicts, see :func:`add_phases`).
PHASES_ATTR = "phases"
#: Optuna study user attribute: the phase whose Ray experiment is the newest, or is about to be (0: the search).
PHASE_ATTR = "phase"

_SEARCH, _REPLICATE, _CALIBRATION = ROLES


def study_phases(study: optuna.Study) -> list[dict[str, Any]]:
    """Every phase of the study, the search first: ``role`` and ``trials`` (None until planned), and
    ``replicates``, ``replicate_trials`` (replicate phases), ``seed`` (calibration) and ``plan`` once planned."""
    return [{"role": _SEARCH, "trials": None}, *study.user_attrs.get(PHASES_ATTR, [])]


def add_phases(study: optuna.Study, phases: Sequence[Mapping[str, Any]]) -> None:
    """Append ``phases`` (one write, so a killed driver leaves all of them or none)."""
    study.set_user_attr(PHASES_ATTR, [*study.user_attrs.get(PHASES_ATTR, []), *map(dict, phases)])


def sampled_phase(trials: int) -> dict[str, Any]:
    """A phase of ``trials`` more trials from the study's sampler."""
    return {"role": _SEARCH, "trials": trials}


def replicate_phase(replicates: int, replicate_trials: Sequence[int] | None) -> dict[str, Any]:
    """A phase of ``replicates`` retrains of each trial in ``replicate_trials`` (None: the Pareto front)."""
    numbers = None if replicate_trials is None else list(replicate_trials)
    return {"role": _REPLICATE, "trials": None, "replicates": replicates, "replicate_trials": numbers}


def calibration_phase(trials: int, seed: int) -> dict[str, Any]:
    """A phase of ``trials`` calibration trials, their loss weights drawn with ``seed``."""
    return {"role": _CALIBRATION, "trials": trials, "seed": seed}


def current_phase(study: optuna.Study) -> int:
    """The index of the phase whose Ray experiment is the newest (see :func:`enter_phase`)."""
    return study.user_attrs.get(PHASE_ATTR, 0)


def enter_phase(study: optuna.Study, index: int) -> None:
    """Record that phase ``index`` starts; written before its Ray experiment exists, so a resume
    restores the newest experiment with this phase's trainable."""
    study.set_user_attr(PHASE_ATTR, index)


def budget(study: optuna.Study, through: int | None = None) -> int:
    """The study's trial budget: the search's, plus the trials that every later phase (up to
    phase ``through``) adds and that are known."""
    phases = study_phases(study)[1:] if through is None else study_phases(study)[1:through + 1]
    return study.user_attrs["spec"]["trials"] + sum(phase["trials"] or 0 for phase in phases)


def running(database: StudyDatabase) -> int:
    """Trials that a Ray trial runs and that have not ended."""
    return sum(trial.state == TrialState.RUNNING for trial in database.latest().values())


def trials_left(database: StudyDatabase, index: int) -> int:
    """Trials of phase ``index`` yet to start: of a search phase, what the budget up to it
    leaves; of any other, its waiting trials."""
    role = study_phases(database.study)[index]["role"]
    if role == _SEARCH:
        return max(budget(database.study, index) - len(database.latest()), 0)
    return sum(PARAMS_ATTR in t.user_attrs and role_of(t) == role for t in database.orphans())


def plan_phase(database: StudyDatabase, spec: StudySpec, index: int) -> list[str]:
    """Plan phase ``index`` (once: a stored plan is kept) and make its waiting trials; returns what it did, in words.

    A replicate phase plans ``replicates`` retrains of each parent (the Pareto-front search trials,
    or ``replicate_trials``; a named trial that did not complete is named and skipped), a
    calibration phase ``trials`` draws from :func:`calibration_draws`; each with a seed from
    :func:`unused_seeds`. A sampled (search) phase has nothing to plan.
    """
    study = database.study
    phases = study_phases(study)
    phase = phases[index]
    if phase["role"] == _SEARCH:
        return [f"phase {index}: {phase['trials']} more sampled trial(s)"]
    notes = []
    if "plan" not in phase:
        trials = trials_with_params(database)
        if phase["role"] == _REPLICATE:
            parents, refused = replicate_parents(trials, phase["replicate_trials"])
            notes += [f"phase {index}: trial {number} {reason}, not replicated" for number, reason in refused.items()]
            seeds = iter(unused_seeds(trials, len(parents) * phase["replicates"]))
            parents.sort(key=lambda parent: parent.user_attrs["shared"])  # flag by flag, for packs
            attrs = {ROLE_ATTR: _REPLICATE}
            plan = [
                {"optuna": parent.params, "seed": next(seeds), "attrs": {**attrs, REPLICATE_OF_ATTR: parent.number}}
                for parent in parents
                for _ in range(phase["replicates"])
            ]
        else:
            draws = calibration_draws(trials, phase["trials"], phase["seed"])
            plan = [
                {"optuna": draw, "seed": seed, "attrs": {ROLE_ATTR: _CALIBRATION}}
                for draw, seed in zip(draws, unused_seeds(trials, len(draws)))
            ]
        phase = {**phase, "trials": len(plan), "plan": plan}
        study.set_user_attr(PHASES_ATTR, [*phases[1:index], phase, *phases[index + 1:]])
    made = {
        (role_of(trial), trial.user_attrs.get("seed"))
        for trial in study.get_trials(deepcopy=False)
        if PARAMS_ATTR in trial.user_attrs
    }
    todo = [item for item in phase["plan"] if (item["attrs"][ROLE_ATTR], item["seed"]) not in made]
    # The values are fixed; a random sampler spares a model-based one a pointless fit per trial.
    study.sampler = optuna.samplers.RandomSampler(seed=spec.seed)
    for item in todo:
        ask_trial(study, spec, item["optuna"], item["attrs"], {"seed": item["seed"]})
    notes.append(f"phase {index}: {_described(phase)}")
    return notes


def _described(phase: Mapping[str, Any]) -> str:
    """A planned phase's trials in words."""
    plan = phase["plan"]
    if not plan:
        return f"no {phase['role']} trials"
    seeds = f", seeds {plan[0]['seed']} to {plan[-1]['seed']}"
    if phase["role"] == _REPLICATE:
        parents = sorted({item["attrs"][REPLICATE_OF_ATTR] for item in plan})
        return f"{len(plan)} replicate(s) of trial(s) {', '.join(map(str, parents))}{seeds}"
    return f"{len(plan)} calibration trial(s){seeds}"


def trials_with_params(database: StudyDatabase) -> list[FrozenTrial]:
    """The newest Optuna trial of each Ray trial, if it got its parameters."""
    return [trial for trial in database.latest().values() if PARAMS_ATTR in trial.user_attrs]


def replicate_parents(
    trials: Sequence[FrozenTrial], numbers: Sequence[int] | None
) -> tuple[list[FrozenTrial], dict[int, str]]:
    """The trials to replicate, by number, and why any of ``numbers`` cannot be.

    ``numbers`` None: the Pareto front (sort-and-sweep, :func:`~mtlstudy._dominance.nondominated_ranks`)
    of the complete search trials. Otherwise those trials; only complete search trials qualify.
    """
    search = [t for t in trials if role_of(t) == _SEARCH and t.state == TrialState.COMPLETE]
    if numbers is None:
        values = np.array([t.values for t in search], dtype=float).reshape(-1, len(OBJECTIVES))
        ranks = nondominated_ranks(values, list(OBJECTIVES.values()))
        return sorted((t for t, rank in zip(search, ranks) if rank == 0), key=lambda t: t.number), {}
    by_number = {t.number: t for t in trials}
    parents, refused = [], {}
    for number in numbers:
        trial = by_number.get(number)
        if trial is None:
            refused[number] = "does not exist"
        elif role_of(trial) != _SEARCH:
            refused[number] = f"is a {role_of(trial)} trial"
        elif trial.state != TrialState.COMPLETE:
            refused[number] = f"is {trial.state.name}"
        else:
            parents.append(trial)
    return parents, refused


def unused_seeds(trials: Sequence[FrozenTrial], count: int) -> list[int]:
    """``count`` seeds above every seed ``trials`` used: the highest plus 1, 2, ..."""
    highest = max((t.user_attrs.get("seed", 0) for t in trials), default=-1)
    return list(range(highest + 1, highest + 1 + count))


def _log_ratio(trial: FrozenTrial) -> float:
    """ln(λ_F/λ_R): logit(λ_F) on the simplex, ln(10)·log10(λ_F/λ_R) in the independent space."""
    return math.log(trial.user_attrs["lambda_f"] / trial.user_attrs["lambda_r"])


def calibration_draws(trials: Sequence[FrozenTrial], count: int, seed: int) -> list[dict[str, Any]]:
    """The Optuna parameters of ``count`` fresh trials between the complete non-calibration ``trials``.

    The draws are split between the shared flags the trials have as evenly as they divide, the
    first flags (in sorted order) getting one more, and come flag by flag, so that a packed study
    packs them together. Each draws
    x = ln(λ_F/λ_R) uniformly between the flag's smallest and largest, which is uniform on the
    scale the space samples (logit λ_F on the simplex, log10 λ_F/λ_R in the independent space),
    and sets every float parameter between the two trials around x, on its distribution's scale
    (log for a log-uniform one), in the proportion x lies between them.

    Raises
    ------
    StudyError
        When no trial is complete.
    """
    fitted = [t for t in trials if role_of(t) != _CALIBRATION and t.state == TrialState.COMPLETE]
    if not fitted:
        raise StudyError(f"no complete trial to draw calibration trials between (the study has {len(trials)} trial(s))")
    groups: dict[bool, list[FrozenTrial]] = defaultdict(list)
    for trial in fitted:
        groups[trial.user_attrs["shared"]].append(trial)
    flags = sorted(groups)
    rng = np.random.default_rng(seed)
    draws = []
    for k in range(count):
        flag = flags[k * len(flags) // count]
        group = sorted(groups[flag], key=_log_ratio)
        xs = [_log_ratio(t) for t in group]
        x = rng.uniform(xs[0], xs[-1])
        right = min(bisect.bisect_left(xs, x), len(xs) - 1)
        left = max(right - 1, 0)
        share = 0.0 if xs[right] == xs[left] else (x - xs[left]) / (xs[right] - xs[left])
        low, high = group[left], group[right]
        draws.append({name: _between(low, high, name, share) for name in low.params})
    return draws


def _between(low: FrozenTrial, high: FrozenTrial, name: str, share: float) -> Any:
    """Parameter ``name`` a ``share`` of the way from ``low`` to ``high`` on its scale; other than floats, ``low``'s."""
    distribution = low.distributions[name]
    a, b = low.params[name], high.params[name]
    if not isinstance(distribution, FloatDistribution):
        return a
    if distribution.log:
        return float(math.exp(math.log(a) + share * (math.log(b) - math.log(a))))
    return float(a + share * (b - a))
