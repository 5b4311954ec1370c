"""Adding phases to a study that has ended: more sampled trials, replicates, calibration trials."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mtlstudy._checks import MAX_COUNT, check_count, check_seed
from mtlstudy._errors import ConfigError, StudyError
from mtlstudy.study._database import StudyDatabase
from mtlstudy.study._export import export_frame
from mtlstudy.study._layout import DEFAULT_DIR, RAY_LOG_FILE
from mtlstudy.study._lock import lock_owner, study_lock
from mtlstudy.study._open import OpenStudy, open_study
from mtlstudy.study._phases import (
    add_phases,
    calibration_draws,
    calibration_phase,
    current_phase,
    replicate_parents,
    replicate_phase,
    running,
    sampled_phase,
    study_phases,
    trials_left,
    trials_with_params,
)
from mtlstudy.study._ray_log import ray_log_to
from mtlstudy.study._run import run_phases
from mtlstudy.study._session import check_local_gpus, ray_session
from mtlstudy.study._spec import StudySpec

if TYPE_CHECKING:
    from mtlstudy.analysis import CalibrationCoverage

__all__ = ["extend_study", "calibrate_study"]


def extend_study(
    name: str,
    dir: str | os.PathLike = DEFAULT_DIR,
    *,
    trials: int | None = None,
    replicates: int | None = None,
    replicate_trials: Sequence[int] | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, int]:
    """Add ``trials`` sampled trials and then ``replicates`` retrains of chosen trials to an ended study.

    The sampled trials come from the study's sampler, as ``study run`` would have sampled them, and
    train every epoch (no early stopping). The replicates retrain the Pareto-front search
    trials, or ``replicate_trials`` (Optuna numbers), each ``replicates`` times with seeds the
    study never used. The study's budget grows by what is added. Returns the trial counts by
    Optuna state, as :func:`~mtlstudy.study.run_study` does.

    Raises
    ------
    ConfigError
        For a count below 1, nothing to add, or ``replicate_trials`` without ``replicates``.
    StudyError
        If the study runs, has not ended (resume it first), samples a grid and ``trials`` is given,
        or a named trial is not a complete search trial.
    """
    if trials is not None:
        check_count(trials, "trials", 1, MAX_COUNT)
    if trials is None and not replicates:
        raise ConfigError("extend adds trials (--trials M), replicates (--replicates N) or both; got neither")
    opened = open_study(name, dir, check=True, replicates=replicates, replicate_trials=replicate_trials)
    spec = opened.spec
    if trials is not None and spec.search_space.grid is not None:
        raise StudyError(
            f"space {spec.space!r} is a grid: its {spec.trials} points have all been sampled, got trials {trials}"
        )
    phases = [sampled_phase(trials)] if trials is not None else []
    if replicates:
        phases.append(replicate_phase(replicates, spec.replicate_trials))

    def check(database: StudyDatabase) -> None:
        if replicate_trials is not None:  # named now, so a typo fails before anything runs
            _, refused = replicate_parents(trials_with_params(database), spec.replicate_trials)
            if refused:
                raise StudyError(
                    "cannot replicate " + "; ".join(f"trial {number}: it {why}" for number, why in refused.items())
                    + "; only complete search trials can be replicated"
                )

    return _add_and_run(opened, phases, check, echo)


def calibrate_study(
    name: str,
    dir: str | os.PathLike = DEFAULT_DIR,
    *,
    trials: int = 12,
    seed: int = 0,
    echo: Callable[[str], None] = print,
) -> CalibrationCoverage:
    """Train ``trials`` fresh calibration trials between the study's trials, and check the trade-off bands with them.

    The trials' loss weights are drawn with ``seed`` (see :func:`~mtlstudy.study._phases.calibration_draws`),
    split evenly between the shared flags the study has, and each trial gets a seed the study never
    used. They train every epoch. Returns
    :func:`~mtlstudy.analysis.calibration_coverage` of the study's export (all its calibration
    trials), at the study's ``value``.

    Raises
    ------
    ConfigError
        For ``trials`` below 1 or ``seed`` below 0.
    StudyError
        If the study runs, has not ended, samples a grid or has no complete trial, or if the
        calibration trials did not all finish (``study resume`` finishes them, ``report`` then shows the coverage).
    """
    check_count(trials, "trials", 1, MAX_COUNT)
    check_seed(seed)
    opened = open_study(name, dir, check=True)
    spec = opened.spec
    if spec.search_space.grid is not None:
        raise StudyError(
            f"space {spec.space!r} is a grid: there are no loss weights between its points to calibrate at"
        )

    def check(database: StudyDatabase) -> None:
        calibration_draws(trials_with_params(database), trials, seed)  # raises when there is nothing to draw between

    _add_and_run(opened, [calibration_phase(trials, seed)], check, echo)
    left = _left(opened.database)
    if left:
        raise StudyError(
            f"study {name!r} has {left}; `mtlstudy study resume {name}` finishes it and "
            f"`mtlstudy report {name}` then shows the coverage"
        )
    # Imported here: the analysis imports matplotlib.
    from mtlstudy.analysis import calibration_coverage

    return calibration_coverage(export_frame(opened), value=spec.value)


def _add_and_run(
    opened: OpenStudy,
    phases: Sequence[Mapping[str, Any]],
    check: Callable[[StudyDatabase], None],
    echo: Callable[[str], None],
) -> dict[str, int]:
    """Check the study has ended and ``check`` passes, append ``phases`` and run them.

    Checked before the lock is taken too, so that a refusal leaves the study as it was.
    """
    spec = opened.spec
    check_local_gpus(spec)
    owner = lock_owner(spec.study_dir)
    if owner is not None:
        raise StudyError(f"study {spec.name!r} is in use by process {owner}")
    database = opened.database  # a missing one is an error: never add to a new, empty database
    _check_ended(spec, database)
    opened.files.refuse_links_out()
    check(database)
    spec.study_dir.mkdir(parents=True, exist_ok=True)  # a remote study's working folder may be gone
    with study_lock(spec.study_dir):
        _check_ended(spec, database)  # another driver may have started since
        add_phases(database.study, phases)
        with ray_log_to(spec.study_dir / RAY_LOG_FILE), ray_session(spec):
            return run_phases(spec, echo, {})


def _check_ended(spec: StudySpec, database: StudyDatabase) -> None:
    left = _left(database)
    if left:
        raise StudyError(f"study {spec.name!r} has {left}; finish it first with `mtlstudy study resume {spec.name}`")


def _left(database: StudyDatabase) -> str | None:
    """What is left of the study's phases, in words; None when they have all ended."""
    index = current_phase(database.study)
    left = trials_left(database, index) + running(database)
    due = len(study_phases(database.study)) - 1 - index
    if not left and not due:
        return None
    return f"not ended: {left} trial(s) of phase {index} to run or running" + (f", {due} phase(s) due" if due else "")
