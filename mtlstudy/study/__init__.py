"""Multi-objective studies (test MSE vs test MRR) with Ray Tune and Optuna.

A study is a spec (:func:`resolve_spec`, YAML/TOML file plus overrides) run by
:func:`run_study` in ``<dir>/<name>``: the Optuna database (SQLite by default), Ray's
results and checkpoints, each trial's TensorBoard events and ``metrics.csv``, and a
``tensorboard/`` view naming each trial's run with :func:`run_name`.
:func:`open_dashboard` serves a study in optuna-dashboard and TensorBoard.
:func:`extend_study` adds sampled trials or replicates (retrains with new seeds) to a study
that has ended, and :func:`calibrate_study` checks its trade-off bands against fresh trials.
"""

from __future__ import annotations

from mtlstudy._lazy import lazy_exports

#: Public name -> the module that defines it, imported when the name is first read (see :mod:`mtlstudy._lazy`).
_EXPORTS = {
    "Dashboard": "._dashboard",
    "open_dashboard": "._dashboard",
    "EPOCH_COLUMNS": "._export",
    "epoch_columns": "._export",
    "RUNG_COLUMNS": "._export",
    "TRIAL_COLUMNS": "._export",
    "export_study": "._export",
    "load_export": "._export",
    "load_rungs": "._export",
    "calibrate_study": "._extend",
    "extend_study": "._extend",
    "DEFAULT_DIR": "._layout",
    "TENSORBOARD_DIR": "._layout",
    "OpenStudy": "._open",
    "open_study": "._open",
    "RECORDED_ORDER": "._replay",
    "replay_stopping": "._replay",
    "report_study": "._report",
    "Reproduction": "._reproduce",
    "reproduce": "._reproduce",
    "resume_study": "._run",
    "run_study": "._run",
    "EARLY_STOPPING": "._spec",
    "MOASHA_OPTIONS": "._spec",
    "SAMPLERS": "._spec",
    "StudySpec": "._spec",
    "load_spec": "._spec",
    "parse_key_values": "._spec",
    "parse_trial_numbers": "._spec",
    "resolve_spec": "._spec",
    "StudyStatus": "._status",
    "StudySummary": "._status",
    "list_studies": "._status",
    "study_status": "._status",
    "HPARAMS": "._tensorboard",
    "HPARAMS_METRICS": "._tensorboard",
    "run_name": "._tensorboard",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
