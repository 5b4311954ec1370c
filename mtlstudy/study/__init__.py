"""Multi-objective studies (test MSE vs test MRR) with Ray Tune and Optuna."""

from __future__ import annotations

from mtlstudy.study._run import open_spec, resume_study, run_study
from mtlstudy.study._spec import SAMPLERS, StudySpec, load_spec, resolve_spec

__all__ = ["SAMPLERS", "StudySpec", "load_spec", "open_spec", "resolve_spec", "resume_study", "run_study"]
