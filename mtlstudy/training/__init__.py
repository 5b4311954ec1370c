"""Training: configuration, the trainer, per-run logs and a whole logged run."""

from __future__ import annotations

from mtlstudy._lazy import lazy_exports

#: Public name -> the module that defines it, imported when the name is first read (see :mod:`mtlstudy._lazy`).
_EXPORTS = {
    "TrainConfig": "._config",
    "load_split": "._data",
    "validation_split": "._data",
    "EVENTS_FILE": "._logging",
    "HPARAMS_TAG_PREFIX": "._logging",
    "METRICS_CSV_COLUMNS": "._logging",
    "RunLogger": "._logging",
    "metrics_csv_columns": "._logging",
    "write_hparams": "._logging",
    "write_json": "._logging",
    "PACK_MEMBER_FIELDS": "._packed",
    "PackedTrainer": "._packed",
    "auto_pack_size": "._packed",
    "load_pack_checkpoint": "._packed",
    "default_logdir": "._run",
    "format_summary": "._run",
    "train_model": "._run",
    "Trainer": "._trainer",
    "load_checkpoint": "._trainer",
    "resolve_device": "._trainer",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
