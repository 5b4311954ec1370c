"""Ray Tune trainables wrapping :class:`mtlstudy.training.Trainer`."""

from __future__ import annotations

from mtlstudy.trainables._trainable import OBJECTIVE_KEYS, TRIAL_OPTIONS, objective_key, train_trial

__all__ = ["OBJECTIVE_KEYS", "TRIAL_OPTIONS", "objective_key", "train_trial"]
