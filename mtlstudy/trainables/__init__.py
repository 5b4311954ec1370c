"""Ray Tune trainables: one trial per :class:`~mtlstudy.training.Trainer`, or a pack of trials
per :class:`~mtlstudy.training.PackedTrainer`.

What they report, and how their runs are named, is the run protocol of :mod:`mtlstudy._runs`.
"""

from __future__ import annotations

from mtlstudy.trainables._packed import PACK_CHECKPOINT_FILE, saved_histories, train_pack
from mtlstudy.trainables._trainable import CHECKPOINT_FILE, TRIAL_OPTIONS, split_config, train_trial

__all__ = [
    "CHECKPOINT_FILE",
    "PACK_CHECKPOINT_FILE",
    "TRIAL_OPTIONS",
    "saved_histories",
    "split_config",
    "train_pack",
    "train_trial",
]
