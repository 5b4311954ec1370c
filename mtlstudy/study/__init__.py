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

from mtlstudy.study._dashboard import Dashboard, open_dashboard
from mtlstudy.study._export import (
    EPOCH_COLUMNS,
    epoch_columns,
    RUNG_COLUMNS,
    TRIAL_COLUMNS,
    export_study,
    load_export,
    load_rungs,
)
from mtlstudy.study._extend import calibrate_study, extend_study
from mtlstudy.study._layout import DEFAULT_DIR, TENSORBOARD_DIR
from mtlstudy.study._open import OpenStudy, open_study
from mtlstudy.study._replay import RECORDED_ORDER, replay_stopping
from mtlstudy.study._report import report_study
from mtlstudy.study._reproduce import Reproduction, reproduce
from mtlstudy.study._run import resume_study, run_study
from mtlstudy.study._spec import (
    EARLY_STOPPING,
    MOASHA_OPTIONS,
    SAMPLERS,
    StudySpec,
    load_spec,
    parse_key_values,
    parse_trial_numbers,
    resolve_spec,
)
from mtlstudy.study._status import StudyStatus, StudySummary, list_studies, study_status
from mtlstudy.study._tensorboard import HPARAMS, HPARAMS_METRICS, run_name

__all__ = [
    "DEFAULT_DIR",
    "EARLY_STOPPING",
    "MOASHA_OPTIONS",
    "RECORDED_ORDER",
    "Dashboard",
    "EPOCH_COLUMNS",
    "epoch_columns",
    "HPARAMS",
    "HPARAMS_METRICS",
    "OpenStudy",
    "RUNG_COLUMNS",
    "Reproduction",
    "SAMPLERS",
    "StudyStatus",
    "StudySummary",
    "StudySpec",
    "TENSORBOARD_DIR",
    "TRIAL_COLUMNS",
    "calibrate_study",
    "export_study",
    "extend_study",
    "list_studies",
    "load_export",
    "load_rungs",
    "load_spec",
    "open_dashboard",
    "open_study",
    "parse_key_values",
    "parse_trial_numbers",
    "replay_stopping",
    "report_study",
    "reproduce",
    "resolve_spec",
    "resume_study",
    "run_name",
    "run_study",
    "study_status",
]
