"""One logged training run: what ``mtlstudy train`` does."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mtlstudy._checks import MAX_THREADS, check_count
from mtlstudy._errors import ConfigError, DivergenceError
from mtlstudy._history import divergence
from mtlstudy._schema import DEFAULT_DIR
from mtlstudy.training._config import TrainConfig
from mtlstudy.training._data import load_split
from mtlstudy.training._logging import RunLogger, write_json
from mtlstudy.training._trainer import Trainer

__all__ = ["train_model", "default_logdir", "format_summary"]


def train_model(
    config: TrainConfig,
    logdir: str | os.PathLike | None = None,
    *,
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Train one model and log every epoch under ``logdir``.

    Writes ``config.json`` (with the data source), ``metrics.csv`` and TensorBoard
    events, and returns the run's final and best-epoch summary (with validation rows,
    best epochs are chosen by the validation metrics; see ``summarize_history``).

    Parameters
    ----------
    config : TrainConfig
    logdir : path, optional
        A new or empty directory; defaults to ``mtlstudy-runs/train-<local time>``.
    threads : int, optional
        Torch CPU threads; torch's default when None.
    progress : bool
        Show a progress bar on stderr.

    Raises
    ------
    DivergenceError
        When an epoch's losses or test metrics are not finite; that epoch is logged first.
    """
    logdir = Path(logdir or default_logdir())
    if (logdir / "metrics.csv").exists():
        raise ConfigError(f"logdir {str(logdir)!r} already holds a run; choose another --logdir")
    if threads is not None:
        torch.set_num_threads(check_count(threads, "threads", 1, MAX_THREADS))
    train, test, dataset = load_split(config, progress=progress)
    trainer = Trainer(config, train, test)
    logdir.mkdir(parents=True, exist_ok=True)
    write_json(
        logdir / "config.json",
        {**config.to_dict(), "data_source": dataset.source, "resolved_device": str(trainer.device)},
    )
    with RunLogger(logdir, validation=bool(config.validation_fraction)) as logger, tqdm(
        total=config.epochs, desc="epochs", unit="epoch", disable=not progress
    ) as bar:
        for _ in range(config.epochs):
            row = trainer.train_epoch()
            logger.log(row)
            failure = divergence(row)
            if failure is not None:
                raise DivergenceError(
                    f"training {failure} (lr {config.lr:g}, lambda_f {config.lambda_f:g}, "
                    f"lambda_r {config.lambda_r:g}); its epochs are logged in {str(logdir)!r}"
                )
            bar.set_postfix(mse=f"{row['test_mse']:.4f}", mrr=f"{row['test_mrr']:.4f}")
            bar.update()
    return trainer.summary()


def default_logdir() -> str:
    """The run directory of a run given none: ``mtlstudy-runs/train-<local time>``."""
    return time.strftime(f"{DEFAULT_DIR}/train-%Y%m%d-%H%M%S")


def format_summary(summary: dict[str, float]) -> str:
    """One line: final and best-epoch test MSE and MRR, saying so when validation metrics chose the best epochs."""
    chosen = "; best epochs chosen by validation MSE and MRR" if "best_val_mse" in summary else ""
    return (
        f"test MSE final {summary['final_test_mse']:.4f}, "
        f"best {summary['best_test_mse']:.4f} (epoch {summary['best_test_mse_epoch']}); "
        f"test MRR final {summary['final_test_mrr']:.4f}, "
        f"best {summary['best_test_mrr']:.4f} (epoch {summary['best_test_mrr_epoch']}){chosen}"
    )
