"""Running and resuming a study: Ray Tune drives trials, Optuna (in a database) samples them."""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Callable

import yaml
from ray.tune.schedulers import TrialScheduler

from mtlstudy._errors import StudyError, StudyInterrupted
from mtlstudy.study._database import StudyDatabase, open_storage
from mtlstudy.study._layout import DEFAULT_DIR, RAY_LOG_FILE, SPEC_FILE
from mtlstudy.study._lock import lock_owner, study_lock
from mtlstudy.study._open import open_study
from mtlstudy.study._phases import (
    add_phases,
    budget,
    current_phase,
    enter_phase,
    plan_phase,
    replicate_phase,
    running,
    study_phases,
    trials_left,
)
from mtlstudy.study._ray_log import ray_log_to
from mtlstudy.study._reconcile import reconcile
from mtlstudy.study._session import check_local_gpus, ray_session
from mtlstudy.study._spec import StudySpec
from mtlstudy.study._tuner import fit, new_tuner, study_scheduler

__all__ = ["run_study", "resume_study", "run_phases"]


def run_study(spec: StudySpec, echo: Callable[[str], None] = print, scheduler: TrialScheduler | None = None) -> dict[str, int]:
    """Create study ``spec.name`` and run its trials; returns trial counts by Optuna state.

    The last lines echoed say how many trials completed and name each failed one, with
    why it failed and where its logs are (a retried trial counts by its last attempt).

    Refused (StudyError) if the study directory exists: a running study holds its
    lock, an interrupted one is continued by :func:`resume_study`. ``scheduler``, a
    Ray Tune scheduler, replaces the one ``spec.early_stopping`` names (to compare
    schedulers, for example); a trial it stops early is recorded as PRUNED. With
    ``spec.replicates``, the replicates follow the search (see :mod:`mtlstudy.study._phases`).
    A study that ends before its budget is met (Ctrl-C, SIGTERM) raises StudyInterrupted,
    which names the command that resumes it.
    """
    check_local_gpus(spec)
    files, study_dir = spec.files, spec.study_dir
    files.check_writable()  # a missing bucket fails before anything exists
    if spec.storage is not None:
        open_storage(spec.storage)  # a bad URL or an unwritable database, too
    owner = lock_owner(study_dir)
    if owner is not None:
        raise StudyError(f"study {spec.name!r} is in use by process {owner}")
    if files.exists():
        raise _exists(spec)
    with ray_log_to(study_dir / RAY_LOG_FILE), ray_session(spec):
        try:
            # A remote study's local folder is only its working folder, which an earlier study of the name may have left.
            study_dir.mkdir(parents=True, exist_ok=files.remote)
        except FileExistsError:
            raise _exists(spec) from None
        except OSError as error:
            raise StudyError(f"cannot create the study directory {str(study_dir)!r}: {error.strerror}") from None
        with study_lock(study_dir):
            files.write_bytes(yaml.safe_dump(spec.to_dict(), sort_keys=False).encode(), SPEC_FILE)
            if spec.replicates:
                add_phases(StudyDatabase(spec).study, [replicate_phase(spec.replicates, spec.replicate_trials)])
            counts = fit(spec, new_tuner(spec, echo, study_scheduler(spec, scheduler)), echo)
            return run_phases(spec, echo, counts)


def _exists(spec: StudySpec) -> StudyError:
    return StudyError(f"study {spec.name!r} already exists in {spec.dir!r}; continue it with `{_resume(spec)}` or choose another name")


def _resume(spec: StudySpec) -> str:
    """The command that continues study ``spec``, to paste into a shell from any folder."""
    return f"mtlstudy study resume {spec.name} --dir {shlex.quote(str(spec.dir))}"


def resume_study(name: str, dir: str | os.PathLike = DEFAULT_DIR, echo: Callable[[str], None] = print) -> dict[str, int]:
    """Continue an interrupted study until its trial budget is met, and run the phases still due.

    Reconciles the Optuna database with the trials' checkpoints first (see
    :func:`~mtlstudy.study._reconcile.reconcile`) and reports what it changed. Then the phase
    the study was in goes on in a new Ray experiment, which runs its unfinished trials from
    their checkpoints and then the trials it has left to start, and the phases after it run
    (see :func:`run_phases`). Nothing is read from Ray's saved state, which Ray pickles: what
    the study directory holds runs no code, and a study moved or copied to another ``dir``
    resumes there. Interrupted again, it raises StudyInterrupted, as :func:`run_study` does.
    """
    opened = open_study(name, dir, check=True)
    spec = opened.spec
    check_local_gpus(spec)
    opened.files.refuse_links_out()
    database = opened.database  # a missing one is an error: never resume into a new, empty database
    spec.study_dir.mkdir(parents=True, exist_ok=True)  # a remote study's working folder may be gone
    with study_lock(spec.study_dir):
        with ray_log_to(spec.study_dir / RAY_LOG_FILE), ray_session(spec):
            notes, unfinished = reconcile(database)
            for line in notes:
                echo(f"reconcile: {line}")
            return run_phases(spec, echo, {}, unfinished)


def run_phases(
    spec: StudySpec, echo: Callable[[str], None], counts: dict[str, int], unfinished: dict[str, str | None] | None = None
) -> dict[str, int]:
    """Run the study's phases after the newest one, each once the one before it has ended; returns
    the trial counts by Optuna state after the last run (``counts``: those of the run before), or
    raises StudyInterrupted, naming the command that resumes it, if the budget is not met.

    Called inside the study's lock and Ray. The newest phase has ended when no trial runs and
    it has no trial left to start. ``unfinished`` (a resume; see :func:`~mtlstudy.study._reconcile.reconcile`)
    names the trials a killed driver left running: the newest phase is planned again (which
    makes only the trials a killed driver did not) and gets a new Ray experiment for them and
    the trials it has left, if any. Otherwise trials left mean the run was interrupted, and the
    study stops there, to be resumed.
    """
    database = StudyDatabase(spec)
    study = database.study
    phases, index = study_phases(study), current_phase(study)
    start_over = unfinished is not None
    if start_over and index:  # a driver killed while it planned the phase left some of its trials unmade
        for line in plan_phase(database, spec, index):
            echo(line)
        phases = study_phases(study)
    while unfinished or not running(database):
        if not unfinished and not trials_left(database, index):
            if index + 1 == len(phases):
                break
            index += 1
            enter_phase(study, index)
            for line in plan_phase(database, spec, index):
                echo(line)
            phases = study_phases(study)
            if not trials_left(database, index):  # e.g. no trial to replicate
                continue
        elif not start_over:
            break
        start_over = False
        spec = _with_budget(spec, budget(study))
        role, scheduler = phases[index]["role"], study_scheduler(spec) if index == 0 else None
        # The phase's own budget: a later phase's known size is no trial for this one to sample.
        phase_spec = dataclasses.replace(spec, trials=budget(study, index))
        trials = len(unfinished or {}) + trials_left(database, index)
        counts = fit(phase_spec, new_tuner(phase_spec, echo, scheduler, role, trials, unfinished), echo)
        unfinished = None
    _with_budget(spec, budget(study))
    if running(database) or trials_left(database, index):
        raise StudyInterrupted(f"study {spec.name} was interrupted before its budget was met; continue with `{_resume(spec)}`")
    return counts


def _with_budget(spec: StudySpec, trials: int) -> StudySpec:
    """``spec`` with the budget ``trials``, written to the study's spec file if it holds another."""
    files = spec.files
    saved = yaml.safe_load(files.read_bytes(SPEC_FILE))
    if saved.get("trials") != trials:
        files.write_bytes(yaml.safe_dump({**saved, "trials": trials}, sort_keys=False).encode(), SPEC_FILE)
    return dataclasses.replace(spec, trials=trials)
