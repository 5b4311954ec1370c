"""Asynchronous successive halving on two objectives, as a Ray Tune scheduler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from mtlstudy._runs import FAILURE_KEY, RungRecord, RungStore, run_results
from mtlstudy.schedulers._ranking import is_promoted, rung_epochs

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
    ) -> None:
        super().__init__()
        self.store = store
        self.rungs = rung_epochs(grace_epochs, reduction_factor, epochs)
        self.reduction_factor = reduction_factor
        self.objectives = dict(objectives)
        self.time_attr = time_attr
        self.run_results = run_results

    @property
    def supports_buffered_results(self) -> bool:
        # A buffered trial would train past its rung before the decision reached it.
        return False

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        rung = result.get(self.time_attr)
        if rung not in self.rungs:
            return TrialScheduler.CONTINUE
        if FAILURE_KEY in result:  # a diverged trial ends itself and has no values to rank
            return TrialScheduler.CONTINUE
        # Each run still training (at this rung, not failed) is decided on its own, in the order given.
        promoted = [
            self.decide(run_id, rung, values).promoted
            for run_id, values in self.run_results(trial.trial_id, result).items()
            if values.get(self.time_attr) == rung and FAILURE_KEY not in values
        ]
        return TrialScheduler.CONTINUE if any(promoted) else TrialScheduler.STOP

    def decide(self, trial_id: str, rung: int, result: Mapping[str, float]) -> RungRecord:
        """The record of run ``trial_id`` at ``rung``: the stored one, else a new decision, stored."""
        record = self.store.record(trial_id, rung)
        if record is not None:
            return record
        values = tuple(float(result[key]) for key in self.objectives)
        earlier = self.store.records(rung)
        promoted = is_promoted(
            values, [r.values for r in earlier], list(self.objectives.values()), self.reduction_factor
        )
        record = RungRecord(rung=rung, values=values, order=len(earlier), promoted=promoted)
        self.store.add(trial_id, record)
        return record

    def debug_string(self) -> str:
        return f"MOASHA: rungs at epochs {list(self.rungs)}, top 1/{self.reduction_factor:g} by non-dominated rank"

