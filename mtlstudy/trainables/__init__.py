"""Ray Tune trainables wrapping :class:`mtlstudy.training.Trainer`."""

from __future__ import annotations

from mtlstudy.trainables._trainable import (
    CHECKPOINT_FILE,
    FAILURE_KEY,
    OBJECTIVE_KEYS,
    TRIAL_OPTIONS,
    objective_key,
    train_trial,
    trial_result,
)

__all__ = [
    "CHECKPOINT_FILE",
    "FAILURE_KEY",
    "OBJECTIVE_KEYS",
    "TRIAL_OPTIONS",
    "objective_key",
    "train_trial",
    "trial_result",
]
