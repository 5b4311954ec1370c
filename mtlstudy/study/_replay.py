"""Replaying early-stopping rules on a finished study: what would each rule have stopped?

A replay simulates studies that ran the same trials as a finished full-budget study, one
arrival order at a time: ``concurrency`` workers take the trials in that order, each
epoch lasts as long as it did, and at every rung the trial's values there go to the
rule's own scheduler (the one a live study builds, :data:`EARLY_STOPPING`), which decides
as it would live. A stopped trial frees its worker for the next one. What the rule kept
is then judged against the full study (:func:`~mtlstudy.analysis.replay_summary`).

What a replay cannot show: in a live study the sampler would have seen the stopped
trials and proposed other ones, so a replay measures a rule on the trials the study
chose, not the study it would have become.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mtlstudy._checks import MAX_COUNT, check_count, check_seed
from mtlstudy._errors import StudyError
from mtlstudy._runs import MemoryRungStore, trial_result
from mtlstudy._schema import PARAM_COLUMNS
from mtlstudy.analysis import ReplayOutcome, StoppingReplay, check_figure_path, replay_summary, save_replay_figure
from mtlstudy.study._export import export_frames
from mtlstudy.study._layout import DEFAULT_DIR
from mtlstudy.study._open import open_study
from mtlstudy.study._spec import EARLY_STOPPING, StudySpec, check_rungs

__all__ = ["replay_stopping", "RECORDED_ORDER"]

#: ``orders`` value that replays the trials in the order the study started them.
RECORDED_ORDER = "recorded"

class _Run:
    """What a scheduler reads of a Ray trial: its id and its config."""

    def __init__(self, trial_id: str, config: Mapping[str, Any]) -> None:
        self.trial_id = trial_id
        self.config = config


class _Trial:
    """One trial of the full study: its parameters, epoch durations and results at each epoch."""

    def __init__(self, trial_id: str, params: Mapping[str, Any], history: list[dict], value: str) -> None:
        self.run = _Run(trial_id, params)
        self.history = history
        self.durations = [row["epoch_time_s"] for row in history]
        self.value = value
        self._results: dict[int, dict[str, Any]] = {}

    def result(self, epoch: int) -> dict[str, Any]:
        """What the trial reported after ``epoch`` (cached: every rule asks for the same rungs)."""
        if epoch not in self._results:
            self._results[epoch] = trial_result(self.history[:epoch], self.value)
        return self._results[epoch]


def replay_stopping(
    name: str,
    dir: str | os.PathLike = DEFAULT_DIR,
    *,
    rules: Sequence[str] | None = None,
    grace_epochs: int | Sequence[int] | None = None,
    reduction_factor: float | None = None,
    concurrency: int | None = None,
    orders: int | str = 20,
    seed: int = 0,
    storage: str | None = None,
    figure: str | os.PathLike | None = None,
) -> StoppingReplay:
    """Replay early-stopping ``rules`` on finished study ``name``.

    Parameters
    ----------
    name, dir, storage
        The study, where it lives, and its Optuna database if not its own.
    rules : sequence of str, optional
        Rules of :data:`EARLY_STOPPING` (all but ``"none"`` by default).
    grace_epochs : int or sequence of int, optional
        The first rung, or several to compare (the study's own by default).
    reduction_factor : float, optional
        ``η`` (the study's own by default).
    concurrency : int, optional
        Trials at once (the study's own, else 2).
    orders : int or "recorded"
        How many seeded arrival orders to replay, or :data:`RECORDED_ORDER` for the
        order the study started its trials in.
    seed : int
        Seed of the arrival orders.
    figure : path, optional
        Also draw hypervolume kept against trial-epochs spent into this file (its
        suffix names the format: png, pdf or svg).

    Returns
    -------
    StoppingReplay

    Raises
    ------
    ConfigError
        For an unknown rule or a setting out of range.
    StudyError
        For a study whose search trials did not all train every epoch (stopped, failed
        or unfinished ones), or whose epochs are missing from its logs.

    Examples
    --------
    >>> replay = replay_stopping("first", rules=["moasha", "moasha+arch"], orders=10)  # doctest: +SKIP
    >>> replay.summary[["rule", "trial_epochs_mean", "hypervolume_mean"]]  # doctest: +SKIP
    """
    opened = open_study(name, dir, storage=storage)
    spec = opened.spec
    specs = _rule_specs(spec, rules, grace_epochs, reduction_factor)
    concurrency = check_count(
        concurrency if concurrency is not None else spec.concurrency or 2, "concurrency", 1, MAX_COUNT
    )
    check_seed(seed)
    if orders != RECORDED_ORDER:
        check_count(orders, "orders", 1, MAX_COUNT)
    if figure is not None:
        check_figure_path(figure)
    trials, epochs = export_frames(opened)
    trials = trials[trials["role"] == "search"]
    replayed = _replayed_trials(trials, epochs, spec.value)
    in_study_order = list(replayed.values())
    if orders == RECORDED_ORDER:
        arrivals, described = [in_study_order], "the recorded order"
    else:
        rng = np.random.default_rng(seed)
        arrivals = [[in_study_order[i] for i in rng.permutation(len(in_study_order))] for _ in range(orders)]
        described = f"{orders} arrival order{'s' if orders > 1 else ''} (seed {seed})"
    full_walls = [_simulate(None, arrival, concurrency)[1] for arrival in arrivals]
    outcomes = []
    for rule_spec in specs:
        setting = f"r={rule_spec.grace_epochs}, η={rule_spec.reduction_factor:g}"
        for index, (arrival, full_wall) in enumerate(zip(arrivals, full_walls)):
            trained, wall = _simulate(rule_spec.make_scheduler(MemoryRungStore()), arrival, concurrency)
            outcomes.append(ReplayOutcome(rule_spec.early_stopping, index, trained, wall, full_wall, setting))
    replay = replay_summary(trials, outcomes, spec.value, concurrency=concurrency, arrivals=described)
    if figure is not None:
        save_replay_figure(replay, figure)
    return replay


def _rule_specs(
    spec: StudySpec,
    rules: Sequence[str] | None,
    grace_epochs: int | Sequence[int] | None,
    reduction_factor: float | None,
) -> list[StudySpec]:
    """The spec of each rule and setting replayed, every value checked as a study's would be."""
    rules = list(rules) if rules else [rule for rule in EARLY_STOPPING if rule != "none"]
    if grace_epochs is None:
        graces = [spec.grace_epochs]
    else:
        graces = list(grace_epochs) if isinstance(grace_epochs, (list, tuple)) else [grace_epochs]
    eta = reduction_factor if reduction_factor is not None else spec.reduction_factor
    return [
        check_rungs(StudySpec.from_saved(spec.to_dict(), early_stopping=rule, grace_epochs=grace, reduction_factor=eta))
        for rule in rules
        for grace in graces
    ]


def _replayed_trials(trials: pd.DataFrame, epochs: pd.DataFrame, value: str) -> dict[str, _Trial]:
    """Trial id -> the trial as a replay reads it, in the study's order; StudyError if a
    search trial did not train every epoch or lacks one in its logs."""
    if trials.empty:
        raise StudyError("the study has no search trials to replay")
    unfinished = trials[(trials["state"] != "COMPLETE") | trials["stopped_epoch"].notna()]
    if len(unfinished):
        listed = ", ".join(f"{row.number} ({row.state})" for row in unfinished.head(5).itertuples())
        more = f" and {len(unfinished) - 5} more" if len(unfinished) > 5 else ""
        raise StudyError(
            f"a replay needs a study whose search trials all trained every epoch; trial(s) {listed}{more} did "
            "not (replay a study run with --early-stopping none, once it has ended)"
        )
    by_trial = {trial_id: group for trial_id, group in epochs.groupby("trial_id", sort=False)}
    replayed = {}
    for row in trials.sort_values("number").itertuples():
        history = by_trial.get(row.trial_id, epochs.iloc[:0]).sort_values("epoch").to_dict("records")
        logged = [int(r["epoch"]) for r in history]
        if logged != list(range(1, row.epochs + 1)):
            raise StudyError(f"trial {row.number}'s metrics.csv {_epochs_wrong(logged, row.epochs)}; a replay needs "
                             f"epochs 1 to {row.epochs} of every trial, each once")
        params = {key: getattr(row, key) for key in PARAM_COLUMNS}
        replayed[row.trial_id] = _Trial(row.trial_id, params, history, value)
    return replayed


def _epochs_wrong(logged: list[int], epochs: int) -> str:
    """What is wrong with a trial's logged epochs, for a message."""
    expected = set(range(1, epochs + 1))
    problems = [
        f"lacks epoch(s) {sorted(expected - set(logged))}" if expected - set(logged) else "",
        f"holds epoch(s) {sorted(set(logged) - expected)} beyond them" if set(logged) - expected else "",
        "holds an epoch twice" if len(set(logged)) < len(logged) else "",
    ]
    return " and ".join(problem for problem in problems if problem)


def _simulate(scheduler: Any, arrival: Sequence[_Trial], concurrency: int) -> tuple[dict[str, int], float]:
    """Run ``arrival`` on ``concurrency`` workers under ``scheduler`` (None: no stopping).

    Returns each trial's epochs trained and the time the last one ended. Events are
    handled in time order (ties in the order they were scheduled); a scheduler is told
    the epochs it reads, its ``levels`` (its rungs and, for some rules, the last epoch),
    as it ignores every other.
    """
    from ray.tune.schedulers import TrialScheduler  # imported here: Ray loads slowly

    levels = set(getattr(scheduler, "levels", ())) if scheduler is not None else set()
    waiting = iter(arrival)
    events: list[tuple[float, int, int, _Trial]] = []
    sequence = 0

    def start(at: float) -> None:
        nonlocal sequence
        trial = next(waiting, None)
        if trial is not None:
            heapq.heappush(events, (at + trial.durations[0], sequence, 1, trial))
            sequence += 1

    for _ in range(concurrency):
        start(0.0)
    trained, end = {}, 0.0
    while events:
        now, _, epoch, trial = heapq.heappop(events)
        decision = TrialScheduler.CONTINUE
        if epoch in levels:
            decision = scheduler.on_trial_result(None, trial.run, trial.result(epoch))
        if decision == TrialScheduler.STOP or epoch == len(trial.durations):
            trained[trial.run.trial_id], end = epoch, max(end, now)
            start(now)
            continue
        if decision != TrialScheduler.CONTINUE:
            raise StudyError(f"a replay supports rules that continue or stop trials; got decision {decision!r}")
        heapq.heappush(events, (now + trial.durations[epoch], sequence, epoch + 1, trial))
        sequence += 1
    return trained, end
