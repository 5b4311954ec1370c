"""mtlstudy: hyperparameter studies of a multi-task (ranking + rating) recommender."""

from __future__ import annotations

from mtlstudy._errors import ConfigError, DataError, MtlStudyError, StudyError

__all__ = ["MtlStudyError", "DataError", "ConfigError", "StudyError", "__version__"]

__version__ = "0.1.0"
