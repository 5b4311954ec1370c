"""Asynchronous successive halving on two objectives, as a Ray Tune scheduler."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from mtlstudy._runs import FAILURE_KEY, RungRecord, RungStore, run_config, run_results, trial_name
from mtlstudy._schema import PARAM_COLUMNS
from mtlstudy.schedulers._ranking import is_promoted, promotion_order, rung_epochs

__all__ = ["MOASHAScheduler"]


class MOASHAScheduler(FIFOScheduler):
    """Stops trials that are not in the top ``1/η`` by non-dominated sorting at a rung.

    Rungs are the epochs ``r, rη, rη², …`` below ``epochs``. When a trial reports a
    rung's epoch it is ranked against every trial that reached that rung before it,
    by non-dominated front and then by crowding distance within the front (so the
    ends and sparse parts of a front survive), and it continues only if it ranks
    in the top ``ceil(n/η)`` of the ``n`` trials there. Nobody waits: as in ASHA, a
    decision uses whatever has arrived so far.

    A Ray trial's result may hold several runs: a packed trial (see
    :func:`~mtlstudy.trainables.train_pack`) reports its members' results together. The
    scheduler gets a result's runs from ``run_results``; each run at the rung is decided
    as a trial of its own, in the order given, and the Ray trial stops when none of its
    runs continues. A run whose result holds :data:`~mtlstudy._runs.FAILURE_KEY` is not
    ranked, and a Ray trial whose result holds it ends itself.

    Two options keep trials whose curves cross from competing too early, each by
    splitting the trials into *ladders* that are ranked apart, as Hyperband's brackets
    are: ``ladder_by`` gives every value of those training parameters (the shared flag)
    ladders of its own, so one architecture never stops another at a low rung; and
    ``brackets`` spreads trials over that many brackets by a hash of their parameters,
    bracket ``b`` starting at a later rung than bracket ``b - 1`` and the last one never
    stopping a trial.

    With ``stable``, a rung is trusted only once its ranking has held at the next level
    (the next rung, or the last epoch after the last rung), as PASHA trusts a rung only
    while the ranking of its top two rungs agrees: of the ``m`` trials in a ladder
    that reached both, the top ``ceil(m/η)`` at the rung must be the top ``ceil(m/η)``
    at the next level, and ``m`` must be at least ``2η``. (Not the whole front at the
    next level: in two objectives it often holds more than ``m/η`` trials.)
    Until then every trial continues past the rung. Trials whose curves cross between
    two levels thus keep a rung from stopping anyone; the last epoch's values are
    recorded for this check.

    Every decision is written to ``store`` before it is acted on, and a trial that
    reaches a rung it already has a record for (a trial resumed from an earlier
    checkpoint) gets the recorded decision again, so a resumed study decides as the
    uninterrupted one would have.

    Parameters
    ----------
    store : RungStore
        Where the decisions are kept, by run id (see :class:`~mtlstudy._runs.RungStore`).
    epochs : int
        The epochs a trial trains unless it is stopped.
    grace_epochs : int
        ``r``, the first rung.
    reduction_factor : float
        ``η``: a trial continues past a rung if it is in the top ``1/η`` there.
    objectives : mapping of str to {"min", "max"}
        The result keys compared at a rung, and which way each is better.
    time_attr : str
        The result key counting epochs.
    run_results : callable, optional
        ``run_results(ray_trial_id, result)``: run id -> that run's result, for each run
        in one Ray trial's ``result``. The default, :func:`~mtlstudy._runs.run_results`,
        reads the trial itself or each member of a pack.
    ladder_by : sequence of str
        Training parameters whose every value is ranked apart (none: all together).
    stable : bool
        Trust a rung only while its ranking holds at the next level.
    brackets : int
        Brackets of rungs (1: every trial stops at every rung; ``b > 1``: bracket
        ``k`` uses the rungs from ``round(k * len(rungs) / (b - 1))`` on, so the last
        one has none). A run's bracket is a hash of its :data:`~mtlstudy._schema.PARAM_COLUMNS`
        values, not of its Ray trial id, so that a study run again with the same seed,
        or replayed, brackets its trials alike.

    Examples
    --------
    >>> from mtlstudy._runs import MemoryRungStore
    >>> scheduler = MOASHAScheduler(MemoryRungStore(), epochs=60, grace_epochs=5, reduction_factor=3,
    ...                             objectives={"test_mse": "min", "test_mrr": "max"})
    >>> scheduler.rungs
    (5, 15, 45)
    """

    def __init__(
        self,
        store: RungStore,
        epochs: int,
        grace_epochs: int,
        reduction_factor: float,
        objectives: Mapping[str, str],
        time_attr: str = "epoch",
        run_results: Callable[[str, Mapping[str, Any]], Mapping[str, Mapping[str, Any]]] = run_results,
        ladder_by: Sequence[str] = (),
        brackets: int = 1,
        stable: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(brackets, int) or isinstance(brackets, bool) or brackets < 1:
            raise ValueError(f"brackets must be an integer >= 1; got {brackets!r}")
        self.store = store
        self.rungs = rung_epochs(grace_epochs, reduction_factor, epochs)
        self.reduction_factor = reduction_factor
        self.objectives = dict(objectives)
        self.time_attr = time_attr
        self.run_results = run_results
        self.ladder_by = tuple(ladder_by)
        self.brackets = brackets
        self.stable = stable
        # The epochs whose values are recorded: the rungs and, for the check of the last one, the last epoch.
        self.levels = (*self.rungs, epochs) if stable else self.rungs

    @property
    def supports_buffered_results(self) -> bool:
        # A buffered trial would train past its rung before the decision reached it.
        return False

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        rung = result.get(self.time_attr)
        if rung not in self.levels:
            return TrialScheduler.CONTINUE
        if FAILURE_KEY in result:  # a diverged trial ends itself and has no values to rank
            return TrialScheduler.CONTINUE
        config = getattr(trial, "config", None) or {}
        # Each run still training (at this rung, not failed) is decided on its own, in the order given.
        continues = [
            self.decide(run_id, rung, values, self.ladder(run_config(run_id, config))).promoted
            for run_id, values in self.run_results(trial_name(trial.trial_id, config), result).items()
            if values.get(self.time_attr) == rung and FAILURE_KEY not in values
        ]
        return TrialScheduler.CONTINUE if any(continues) else TrialScheduler.STOP

    def ladder(self, config: Mapping[str, Any]) -> tuple[str, int] | None:
        """The ladder of a run trained with ``config``, and the index in :attr:`rungs` of
        the first rung that ladder stops trials at; None for a run whose bracket never
        stops it."""
        names = [f"{key}={_plain(config.get(key))}" for key in self.ladder_by]
        if self.brackets == 1:
            return ",".join(names), 0
        params = {key: _plain(config[key]) for key in PARAM_COLUMNS if key in config}
        bracket = zlib.crc32(json.dumps(params, sort_keys=True).encode()) % self.brackets
        if bracket == self.brackets - 1:
            return None
        return ",".join([*names, f"bracket={bracket}"]), round(bracket * len(self.rungs) / (self.brackets - 1))

    def decide(
        self, trial_id: str, rung: int, result: Mapping[str, float], ladder: tuple[str, int] | None = ("", 0)
    ) -> RungRecord:
        """The record of run ``trial_id`` at ``rung`` in ``ladder`` (see :meth:`ladder`):
        the stored one, else a new decision, stored. A run passes a rung below its
        ladder's first, or any rung without a ladder, with an unstored record."""
        record = self.store.record(trial_id, rung)
        if record is not None:
            return record
        values = tuple(float(result[key]) for key in self.objectives)
        if ladder is None or self.levels.index(rung) < ladder[1]:
            return RungRecord(rung=rung, values=values, order=-1, promoted=True)
        everyone = self.store.records(rung)
        if rung not in self.rungs or (self.stable and not self.trusted(rung, ladder[0], everyone)):
            promoted = True
        else:
            rivals = [r.values for r in everyone.values() if r.ladder == ladder[0]]
            promoted = is_promoted(values, rivals, list(self.objectives.values()), self.reduction_factor)
        record = RungRecord(rung=rung, values=values, order=len(everyone), promoted=promoted, ladder=ladder[0])
        self.store.add(trial_id, record)
        return record

    def trusted(self, rung: int, ladder: str, records: Mapping[str, RungRecord] | None = None) -> bool:
        """Whether ``rung``'s ranking held at the next level for the trials of ``ladder``
        that reached both (see ``stable``); ``records``: the store's records at ``rung``,
        when the caller has read them already."""
        records = self.store.records(rung) if records is None else records
        here = {trial_id: r.values for trial_id, r in records.items() if r.ladder == ladder}
        later = self.store.records(self.levels[self.levels.index(rung) + 1])
        both = [trial_id for trial_id in here if trial_id in later and later[trial_id].ladder == ladder]
        if len(both) < 2 * self.reduction_factor:
            return False
        directions, keep = list(self.objectives.values()), math.ceil(len(both) / self.reduction_factor)
        top_here = promotion_order(np.array([here[t] for t in both]), directions)[:keep]
        top_later = promotion_order(np.array([later[t].values for t in both]), directions)[:keep]
        return set(top_here) == set(top_later)

    def debug_string(self) -> str:
        apart = f", ranked apart by {', '.join(self.ladder_by)}" if self.ladder_by else ""
        brackets = f", {self.brackets} brackets" if self.brackets > 1 else ""
        stable = ", each rung trusted once its ranking holds at the next" if self.stable else ""
        return (
            f"MOASHA: rungs at epochs {list(self.rungs)}, top 1/{self.reduction_factor:g} by non-dominated rank"
            f"{apart}{brackets}{stable}"
        )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (a replay reads parameters from a table)."""
    return value.item() if hasattr(value, "item") else value
