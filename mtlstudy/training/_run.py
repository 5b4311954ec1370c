"""One logged training run: what ``mtlstudy train`` does."""

from __future__ import annotations

import os
from pathlib import Path

from tqdm.auto import tqdm

from mtlstudy.training._config import TrainConfig
from mtlstudy.training._data import load_split
from mtlstudy.training._logging import RunLogger, write_json
from mtlstudy.training._trainer import Trainer

__all__ = ["train_model", "format_summary"]


def train_model(config: TrainConfig, logdir: str | os.PathLike, progress: bool = True) -> dict[str, float]:
    """Train one model and log every epoch under ``logdir``.

    Writes ``config.json`` (with the data source), ``metrics.csv`` and TensorBoard
    events, and returns the run's final and best-epoch summary.
    """
    train, test, dataset = load_split(config, progress=progress)
    trainer = Trainer(config, train, test)
    logdir = Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    write_json(
        logdir / "config.json",
        {**config.to_dict(), "data_source": dataset.source, "resolved_device": str(trainer.device)},
    )
    with RunLogger(logdir) as logger, tqdm(
        total=config.epochs, desc="epochs", unit="epoch", disable=not progress
    ) as bar:
        for _ in range(config.epochs):
            row = trainer.train_epoch()
            logger.log(row)
            bar.set_postfix(mse=f"{row['test_mse']:.4f}", mrr=f"{row['test_mrr']:.4f}")
            bar.update()
    return trainer.summary()


def format_summary(summary: dict[str, float]) -> str:
    """One line: final and best-epoch test MSE and MRR."""
    return (
        f"test MSE final {summary['final_test_mse']:.4f}, "
        f"best {summary['best_test_mse']:.4f} (epoch {summary['best_test_mse_epoch']}); "
        f"test MRR final {summary['final_test_mrr']:.4f}, "
        f"best {summary['best_test_mrr']:.4f} (epoch {summary['best_test_mrr_epoch']})"
    )
