"""Training: configuration, the trainer, per-run logs and a whole logged run."""

from __future__ import annotations

from mtlstudy.training._config import TrainConfig
from mtlstudy.training._data import load_split, validation_split
from mtlstudy.training._logging import (
    EVENTS_FILE,
    HPARAMS_TAG_PREFIX,
    METRICS_CSV_COLUMNS,
    RunLogger,
    metrics_csv_columns,
    write_hparams,
    write_json,
)
from mtlstudy.training._packed import PACK_MEMBER_FIELDS, PackedTrainer, auto_pack_size, load_pack_checkpoint
from mtlstudy.training._run import default_logdir, format_summary, train_model
from mtlstudy.training._trainer import Trainer, load_checkpoint, resolve_device

__all__ = [
    "EVENTS_FILE",
    "HPARAMS_TAG_PREFIX",
    "METRICS_CSV_COLUMNS",
    "PACK_MEMBER_FIELDS",
    "PackedTrainer",
    "RunLogger",
    "TrainConfig",
    "Trainer",
    "auto_pack_size",
    "default_logdir",
    "format_summary",
    "load_checkpoint",
    "load_pack_checkpoint",
    "load_split",
    "metrics_csv_columns",
    "resolve_device",
    "train_model",
    "validation_split",
    "write_hparams",
    "write_json",
]
