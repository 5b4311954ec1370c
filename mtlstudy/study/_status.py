"""Where studies stand: one study's status and the list of studies, as data first."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtlstudy._errors import MtlStudyError
from mtlstudy._schema import METRIC_NAMES, OBJECTIVES, ROLES
from mtlstudy.analysis import pareto_mask
from mtlstudy.study._database import role_of
from mtlstudy.study._export import trial_records
from mtlstudy.study._layout import DEFAULT_DIR, study_names
from mtlstudy.study._lock import lock_owner
from mtlstudy.study._open import OpenStudy, open_study

__all__ = ["StudyStatus", "StudySummary", "study_status", "list_studies"]


@dataclass(frozen=True)
class StudyStatus:
    """One study's state: trials by state, compute spent, best values and Pareto set.

    Attributes
    ----------
    name, space, sampler, value, early_stopping : str
    epochs, trials, pack : int
        Epochs per trial, the trials the study runs and the trials per Ray trial.
    running_pid : int or None
        The process running the study, if any.
    states : dict of str to int
        Trials by Optuna state (a retried trial counts once, as its newest attempt).
    roles : dict of str to int
        Trials by role (see :data:`~mtlstudy._schema.ROLES`).
    trial_epochs, full_epochs : int
        Epochs trained by all trials, and what they would have trained without early stopping.
    best : dict of str to dict
        Per objective, the best complete trial's ``trial_id`` and its value under the objective's name
        (calibration trials left out).
    pareto : list of dict
        The complete trials on the Pareto front (calibration trials left out), by increasing test MSE: ``trial_id``,
        ``shared``, ``lambda_f``, ``lambda_r``, ``seed`` and the two objective values.
    """

    name: str
    space: str
    sampler: str
    value: str
    early_stopping: str
    epochs: int
    trials: int
    pack: int
    running_pid: int | None
    states: dict[str, int]
    roles: dict[str, int]
    trial_epochs: int
    full_epochs: int
    best: dict[str, dict[str, Any]]
    pareto: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return dataclasses.asdict(self)

    def to_text(self) -> str:
        """The status as a few lines a person reads."""
        state = f"running, process {self.running_pid}" if self.running_pid else "not running"
        states = ", ".join(f"{count} {name}" for name, count in sorted(self.states.items())) or "none"
        share = f" ({self.trial_epochs / self.full_epochs:.0%})" if self.full_epochs else ""
        lines = [
            f"study {self.name} ({state}): space {self.space}, sampler {self.sampler}, {self.value} values, "
            f"{self.epochs} epochs, early stopping {self.early_stopping}"
            + (f", packs of {self.pack} trials" if self.pack > 1 else ""),
            f"trials: {states} (of {self.trials})",
            f"trial-epochs: {self.trial_epochs:,} spent of {self.full_epochs:,} without early stopping{share}",
        ]
        if set(self.roles) - {ROLES[0]}:  # only studies with replicates or calibration trials
            lines.insert(2, "roles: " + ", ".join(f"{count} {role}" for role, count in self.roles.items()))
        for metric, best in self.best.items():
            lines.append(f"best {METRIC_NAMES[metric]} {best[metric]:.4f} (trial {best['trial_id']})")
        if self.pareto:
            lines.append(f"Pareto set ({self.value} test MSE, test MRR), by test MSE:")
            lines += [
                f"  {row['trial_id']}  shared={row['shared']!s:5}  lambda_f={row['lambda_f']:.6g}  "
                f"lambda_r={row['lambda_r']:.6g}  seed={row['seed']}  MSE {row['test_mse']:.4f}  MRR {row['test_mrr']:.4f}"
                for row in self.pareto
            ]
        return "\n".join(lines)


@dataclass(frozen=True)
class StudySummary:
    """One line of :func:`list_studies`: a study's progress and best values, as its
    :class:`StudyStatus` counts them.

    A study that cannot be read has only its ``name`` and the ``problem``.
    """

    name: str
    running: bool = False
    finished: int = 0
    stopped: int = 0
    trials: int = 0
    space: str = ""
    best_test_mse: float | None = None
    best_test_mrr: float | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return dataclasses.asdict(self)

    def to_text(self) -> str:
        """``name: finished/trials trials complete (...), space ..., best ...``."""
        if self.problem is not None:
            return f"{self.name}: cannot be read: {self.problem}"
        best = (
            f", best test MSE {self.best_test_mse:.4f}, best test MRR {self.best_test_mrr:.4f}"
            if self.best_test_mse is not None
            else ""
        )
        return (
            f"{self.name}{' (running)' if self.running else ''}: {self.finished}/{self.trials} trials complete"
            + (f" ({self.stopped} stopped early)" if self.stopped else "")
            + f", space {self.space}{best}"
        )


def study_status(name: str, dir: str | os.PathLike = DEFAULT_DIR, *, storage: str | None = None) -> StudyStatus:
    """Trials by state, compute spent, best values and the current Pareto set of study ``name``."""
    return _status(open_study(name, dir, storage=storage))


def _status(opened: OpenStudy) -> StudyStatus:
    spec = opened.spec
    trials = trial_records(opened)
    states = dict(Counter(trial.state.name for trial, _, _ in trials))
    # Calibration trials only check the trade-off's bands; like the analysis, best values and the front leave them out.
    complete = [
        (trial, params) for trial, params, _ in trials
        if trial.state.name == "COMPLETE" and role_of(trial) != ROLES[2]
    ]
    best: dict[str, dict[str, Any]] = {}
    for index, (metric, direction) in enumerate(OBJECTIVES.items()):
        if complete:
            choose = min if direction == "min" else max
            trial, params = choose(complete, key=lambda item: item[0].values[index])
            best[metric] = {"trial_id": params["trial_id"], metric: trial.values[index]}
    values = np.array([trial.values for trial, _ in complete], dtype=float).reshape(-1, len(OBJECTIVES))
    on_front = pareto_mask(values, list(OBJECTIVES.values()))
    pareto = sorted(
        (
            {key: params[key] for key in ("trial_id", "shared", "lambda_f", "lambda_r", "seed")}
            | dict(zip(OBJECTIVES, trial.values))
            for (trial, params), on in zip(complete, on_front)
            if on
        ),
        key=lambda row: row["test_mse"],
    )
    stopping = spec.early_stopping if spec.early_stopping == "none" else (
        f"{spec.early_stopping}, grace {spec.grace_epochs} epochs, reduction factor {spec.reduction_factor:g}"
    )
    return StudyStatus(
        name=spec.name,
        space=spec.space,
        sampler=spec.sampler,
        value=spec.value,
        early_stopping=stopping,
        epochs=spec.epochs,
        trials=spec.trials,
        pack=spec.pack,
        running_pid=lock_owner(spec.study_dir),
        states=states,
        roles={role: count for role in ROLES if (count := sum(role_of(trial) == role for trial, _, _ in trials))},
        trial_epochs=sum(len(history) for _, _, history in trials),
        full_epochs=len(trials) * spec.epochs,
        best=best,
        pareto=pareto,
    )


def list_studies(dir: str | os.PathLike = DEFAULT_DIR) -> list[StudySummary]:
    """One :class:`StudySummary` per study in ``dir``, by name."""
    summaries = []
    for name in study_names(dir):
        try:
            status = _status(open_study(name, dir))
        except MtlStudyError as error:  # one broken study does not hide the others
            summaries.append(StudySummary(name=name, problem=str(error)))
            continue
        stopped = status.states.get("PRUNED", 0)
        best = {metric: status.best[metric][metric] if metric in status.best else None for metric in OBJECTIVES}
        summaries.append(
            StudySummary(
                name=status.name,
                running=status.running_pid is not None,
                finished=status.states.get("COMPLETE", 0) + stopped,
                stopped=stopped,
                trials=status.trials,
                space=status.space,
                best_test_mse=best["test_mse"],
                best_test_mrr=best["test_mrr"],
            )
        )
    return summaries
