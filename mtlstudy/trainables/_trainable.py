"""The Ray Tune function trainable: one trial = one logged, checkpointed training run."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mtlstudy._errors import CheckpointError
from mtlstudy._history import divergence
from mtlstudy._runs import FAILURE_KEY, RESTORE_KEY, split_config, trial_result
from mtlstudy.trainables import _ray_api
from mtlstudy.training import RunLogger, TrainConfig, Trainer, load_split

__all__ = ["train_trial", "restore", "CHECKPOINT_FILE"]

#: The trainer state's file name inside each checkpoint directory.
CHECKPOINT_FILE = "trainer.pt"


def train_trial(config: Mapping[str, Any]) -> None:
    """Train the model of one trial, reporting and checkpointing as it goes.

    ``config`` holds :class:`TrainConfig` options plus :data:`TRIAL_OPTIONS`:
    ``value`` (``"final"`` or ``"best"``: which value of each metric is reported
    as ``objective_<metric>``), ``checkpoint_every`` (epochs between checkpoints;
    0 = only at the end), ``upload_logs`` (see :func:`_ray_api.trial_dir`), and for a
    resumed trial its name and checkpoint (see :data:`~mtlstudy._runs.RESTORE_KEY`). Every
    epoch reports the epoch's metrics, the run's final and best-so-far values with
    their epochs, and the objectives. TensorBoard events and ``metrics.csv`` go to
    the trial directory, rewritten from the checkpoint's history on a restore; torch
    uses the trial's CPUs.

    A diverged epoch (see :func:`~mtlstudy._history.divergence`) ends the trial: its
    last report carries the reason under :data:`~mtlstudy._runs.FAILURE_KEY` and no
    checkpoint. A checkpoint that cannot be read restarts the trial from its first
    epoch, with one line on the trial's standard error.
    """
    options, train_options = split_config(config)
    train_config = TrainConfig.from_mapping(train_options)
    torch.set_num_threads(_ray_api.trial_cpus())
    trainer = Trainer(train_config, *load_split(train_config)[:2])
    with _ray_api.restored_checkpoint(options[RESTORE_KEY]) as directory:
        if directory is not None:
            restore(trainer, directory / CHECKPOINT_FILE)
    # A restored trial reports its checkpoint's epoch again before training on: Ray sees a
    # finished trial end, and a rung decision taken (or not yet taken) there applies to it.
    report_first = trainer.epoch > 0
    every = options["checkpoint_every"]
    validation = bool(train_config.validation_fraction)
    with RunLogger(_ray_api.trial_dir(options["upload_logs"]), trainer.history, validation) as logger:
        while True:
            if trainer.epoch < train_config.epochs and not report_first:
                logger.log(trainer.train_epoch())
            report_first = False
            metrics = trial_result(trainer.history, options["value"])
            failure = divergence(trainer.history[-1])
            if failure is not None:
                _ray_api.report({**metrics, FAILURE_KEY: failure})
                return
            done = trainer.epoch >= train_config.epochs
            checkpoint = done or (every and trainer.epoch % every == 0)
            save = (lambda directory: trainer.save(directory / CHECKPOINT_FILE)) if checkpoint else None
            _ray_api.report(metrics, save)
            if done:
                return


def restore(trainer: Any, path: Path) -> None:
    """Load ``path`` into ``trainer``; if it cannot be read, say so and keep the fresh trainer."""
    try:
        trainer.load(path)
    except CheckpointError as error:
        print(f"{error}; the trial restarts from epoch 1", file=sys.stderr)
