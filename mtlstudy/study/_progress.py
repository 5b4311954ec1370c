"""What a running study shows: a live progress bar, or plain lines when output is not a terminal."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import numpy as np
from ray import tune
from tqdm import tqdm

from mtlstudy._runs import FAILURE_KEY, objective_key, trial_name, trial_runs
from mtlstudy._schema import OBJECTIVES
from mtlstudy.analysis import hypervolume_2d
from mtlstudy.study._spec import StudySpec

__all__ = ["StudyProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``seconds`` as ``1h02m``, ``3m05s`` or ``42s`` (``?`` when unknown)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class StudyProgress(tune.Callback):
    """Shows trials done / running / budget, trial-epochs, ETA and the hypervolume so far.

    Updated on every epoch result, at most once per ``interval`` seconds, and
    after every trial that ends, which also gets a line of its own. On a terminal
    (``live``) the status is a progress bar redrawn in place; otherwise it is a
    plain line through ``echo``.

    The ETA divides the trial-epochs left in the budget by the rate of this run
    (a resumed study counts only what it trains itself); under early stopping it
    is an upper bound. The hypervolume is that of the fully trained trials' objective
    values, against the worst of them on each objective.

    Parameters
    ----------
    spec : StudySpec
        The study: its trial budget and epochs per trial.
    echo : callable
        Receives each line of text.
    live : bool, optional
        Draw a progress bar [default: whether standard output is a terminal].
    interval : float, optional
        Least seconds between two status updates [0.5 live, else 30].
    """

    def __init__(
        self, spec: StudySpec, echo: Callable[[str], None], live: bool | None = None, interval: float | None = None
    ) -> None:
        self.budget = spec.trials
        self.epochs = spec.epochs
        self.echo = echo
        self.live = live
        self.interval = interval

    def setup(self, **info) -> None:
        # Here rather than in __init__: Ray pickles callbacks with the experiment, and a
        # resumed study sets up the unpickled one, in its own process and terminal.
        live = sys.stdout.isatty() if self.live is None else self.live
        self._interval = self.interval if self.interval is not None else (0.5 if live else 30.0)
        self._started = time.monotonic()
        self._trained = 0  # epochs trained by this run, for the ETA's rate
        self._epochs: dict[str, int] = {}  # run id -> its newest epoch (Ray updates last_result after us)
        self._shown = -math.inf
        self._bar = tqdm(total=self.budget * self.epochs, bar_format="{bar:20}| {desc}", file=sys.stdout) if live else None

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        for run_id, (_, values) in trial_runs(trial.trial_id, trial.config, result).items():
            if values.get("epoch") == result["epoch"]:  # trained this epoch (not a member that left)
                self._trained += 1
                self._epochs[run_id] = result["epoch"]
        if time.monotonic() - self._shown >= self._interval:
            self._show(trials)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        done = sum(len(_runs(t)) for t in trials if t.status == "TERMINATED" and t is not trial)
        for run_id, (config, result) in _runs(trial).items():
            done += 1
            epoch = result.get("epoch", self.epochs)
            outcome = result.get(FAILURE_KEY) or (
                (f"stopped at epoch {epoch}: " if epoch < self.epochs else "")
                + f"test MSE {result.get(objective_key('test_mse'), math.nan):.4f}, "
                f"test MRR {result.get(objective_key('test_mrr'), math.nan):.4f}"
            )
            self._write(
                f"[{done}/{self.budget}] trial {run_id}: shared={config.get('shared')}, "
                f"lambda_f={config.get('lambda_f', math.nan):.4g}, "
                f"lambda_r={config.get('lambda_r', math.nan):.4g}, seed={config.get('seed')}: {outcome}"
            )
        self._show(trials, finished=trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._write(f"trial {trial_name(trial.trial_id, trial.config)} failed")
        self._show(trials)

    def on_experiment_end(self, trials, **info) -> None:
        if self._bar is not None:
            self._bar.close()

    def status(self, trials, finished=None) -> str:
        """The one-line status of ``trials`` (Ray's trial list; ``finished`` counts as terminated)."""
        ended = [run for t in trials if t.status in ("TERMINATED", "ERROR") or t is finished for run in _runs(t).values()]
        running = sum(len(_runs(t)) for t in trials if t.status == "RUNNING" and t is not finished)
        epochs = self._epochs_done(trials)
        elapsed = time.monotonic() - self._started
        left = max(self.budget * self.epochs - epochs, 0)
        eta = left * elapsed / self._trained if self._trained else math.inf
        hypervolume = _hypervolume([result for _, result in ended if result.get("epoch") == self.epochs])
        return (
            f"trials {len(ended)}/{self.budget} done, {running} running | "
            f"epochs {epochs}/{self.budget * self.epochs} | elapsed {format_duration(elapsed)}, "
            f"ETA {format_duration(eta)} | hypervolume {hypervolume:.4g}"
        )

    def _epochs_done(self, trials) -> int:
        """Epochs trained by ``trials`` so far, in this run and (for a resumed study) before it."""
        return sum(
            max(self._epochs.get(run_id, 0), result.get("epoch", 0)) for t in trials for run_id, (_, result) in _runs(t).items()
        )

    def _show(self, trials, finished=None) -> None:
        self._shown = time.monotonic()
        line = self.status(trials, finished)
        if self._bar is None:
            self.echo(line)
            return
        self._bar.n = self._epochs_done(trials)
        self._bar.set_description_str(line)

    def _write(self, line: str) -> None:
        if self._bar is None:
            self.echo(line)
            return
        with self._bar.external_write_mode():
            self.echo(line)


def _runs(trial) -> dict[str, tuple[dict, dict]]:
    """The runs of a Ray trial (itself, or a pack's members) with their configs and last results."""
    return trial_runs(trial.trial_id, trial.config, trial.last_result)


def _hypervolume(results: list[dict]) -> float:
    """Hypervolume of the results' objectives against their worst values (0 for fewer than two)."""
    points = np.array([[result[objective_key(metric)] for metric in OBJECTIVES] for result in results])
    if len(points) < 2:
        return 0.0
    directions = list(OBJECTIVES.values())
    reference = [column.max() if direction == "min" else column.min() for column, direction in zip(points.T, directions)]
    return hypervolume_2d(points, reference, directions)
