"""mtlstudy: hyperparameter studies of a multi-task (ranking + rating) recommender."""

from __future__ import annotations

import os

from mtlstudy._errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DataSizeWarning,
    DivergenceError,
    MtlStudyError,
    StudyError,
    StudyInterrupted,
)

__all__ = [
    "MtlStudyError",
    "DataError",
    "ConfigError",
    "StudyError",
    "StudyInterrupted",
    "DivergenceError",
    "CheckpointError",
    "DataSizeWarning",
    "__version__",
]

__version__ = "0.1.0"

# A local Ray (a study without --address) serves on 127.0.0.1 only. Ray reads this documented
# variable once, when it is first imported, and otherwise binds every interface; so it is set
# here, before any mtlstudy module imports ray. A driver that joins a cluster finds its node by
# host, not by this setting.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
