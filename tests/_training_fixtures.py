"""Small synthetic runs shared by the trainer's and the packed trainer's tests (``split``: conftest)."""

from __future__ import annotations

from mtlstudy._schema import EPOCH_METRICS
from mtlstudy.training import TrainConfig, Trainer


def small_config(**overrides) -> TrainConfig:
    return TrainConfig(**{"dataset": "synthetic", "device": "cpu", "batch_size": 64, "epochs": 4, **overrides})


def epoch_metrics(history):
    """The epoch and metric values of each row of a history (timings left out)."""
    return [{key: row[key] for key in ("epoch", *EPOCH_METRICS)} for row in history]


def trained(config, split, epochs) -> Trainer:
    """A lone Trainer after ``epochs`` epochs."""
    trainer = Trainer(config, *split)
    for _ in range(epochs):
        trainer.train_epoch()
    return trainer
