"""mtlstudy: hyperparameter studies of a multi-task (ranking + rating) recommender."""

from __future__ import annotations

from mtlstudy._errors import CheckpointError, ConfigError, DataError, DivergenceError, MtlStudyError, StudyError

__all__ = [
    "MtlStudyError",
    "DataError",
    "ConfigError",
    "StudyError",
    "DivergenceError",
    "CheckpointError",
    "__version__",
]

__version__ = "0.1.0"
