"""Training: configuration, the trainer, per-run logs and a whole logged run."""

from __future__ import annotations

from mtlstudy.training._config import TrainConfig
from mtlstudy.training._data import load_split
from mtlstudy.training._history import summarize_history
from mtlstudy.training._logging import HPARAMS_TAG_PREFIX, METRICS_CSV_COLUMNS, RunLogger, write_hparams, write_json
from mtlstudy.training._run import format_summary, train_model
from mtlstudy.training._trainer import Trainer, resolve_device

__all__ = [
    "HPARAMS_TAG_PREFIX",
    "METRICS_CSV_COLUMNS",
    "RunLogger",
    "TrainConfig",
    "Trainer",
    "format_summary",
    "load_split",
    "resolve_device",
    "summarize_history",
    "train_model",
    "write_hparams",
    "write_json",
]
