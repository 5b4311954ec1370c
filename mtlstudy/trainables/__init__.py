"""Ray Tune trainables: one trial per :class:`~mtlstudy.training.Trainer`, or a pack of trials
per :class:`~mtlstudy.training.PackedTrainer`."""

from __future__ import annotations

from mtlstudy.trainables._packed import (
    PACK_CHECKPOINT_FILE,
    PACK_KEY,
    member_results,
    member_run_id,
    ray_trial_of,
    run_result,
    saved_histories,
    train_pack,
    trial_runs,
)
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
    "PACK_CHECKPOINT_FILE",
    "PACK_KEY",
    "TRIAL_OPTIONS",
    "member_results",
    "member_run_id",
    "objective_key",
    "ray_trial_of",
    "run_result",
    "saved_histories",
    "train_pack",
    "train_trial",
    "trial_result",
    "trial_runs",
]
