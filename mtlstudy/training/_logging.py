"""Per-run logs: TensorBoard events under SPEC.md's tags and a CSV of every epoch."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tensorboardX import FileWriter
from tensorboardX.proto.event_pb2 import Event, SessionLog
from tensorboardX.proto.summary_pb2 import Summary
from tensorboardX.summary import hparams as hparams_summaries

from mtlstudy._files import atomic_path
from mtlstudy._schema import EPOCH_METRICS, TENSORBOARD_TAGS

__all__ = ["RunLogger", "METRICS_CSV_COLUMNS", "HPARAMS_TAG_PREFIX", "write_hparams", "write_json"]

#: Prefix of the scalar tags that hold a run's HParams metrics (see :func:`write_hparams`).
HPARAMS_TAG_PREFIX = "hparams/"

#: Columns of ``metrics.csv``, one row per epoch.
METRICS_CSV_COLUMNS: tuple[str, ...] = ("epoch", *EPOCH_METRICS, "train_time_s", "eval_time_s")


class RunLogger:
    """Writes one run's epochs to ``logdir``: TensorBoard events and ``metrics.csv``.

    TensorBoard gets exactly the five tags of SPEC.md with step = epoch, so runs look
    like the original's; ``metrics.csv`` holds every metric. Reopening a logdir (a
    resumed run) keeps the CSV rows of the epochs before ``start_epoch``.

    Parameters
    ----------
    logdir : path
        The run's directory, created if missing.
    start_epoch : int
        Epochs already trained (0 for a new run).
    """

    def __init__(self, logdir: str | os.PathLike, start_epoch: int = 0) -> None:
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._csv_path = self.logdir / "metrics.csv"
        kept = _read_rows(self._csv_path)[:start_epoch] if start_epoch else []
        self._csv_file = self._csv_path.open("w", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=METRICS_CSV_COLUMNS, extrasaction="ignore")
        self._csv.writeheader()
        self._csv.writerows(kept)
        self._events = FileWriter(str(self.logdir))
        if start_epoch:
            # Tells TensorBoard to drop events a killed run logged after its checkpoint.
            self._events.add_event(Event(step=start_epoch + 1, session_log=SessionLog(status=SessionLog.START)))

    def log(self, row: Mapping[str, float]) -> None:
        """Record one epoch's row (as returned by ``Trainer.train_epoch``)."""
        # A hand-built Summary keeps SPEC.md's tags verbatim: SummaryWriter.add_scalar
        # would rewrite their spaces to underscores.
        summary = Summary(
            value=[Summary.Value(tag=tag, simple_value=row[metric]) for metric, tag in TENSORBOARD_TAGS.items()]
        )
        self._events.add_summary(summary, global_step=int(row["epoch"]))
        self._csv.writerow(row)
        self._csv_file.flush()
        self._events.flush()

    def close(self) -> None:
        self._events.close()
        self._csv_file.close()

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_hparams(
    logdir: str | os.PathLike, hparams: Mapping[str, bool | int | float | str], metrics: Mapping[str, float], step: int
) -> None:
    """Record one run's hyperparameters and results for TensorBoard's HParams view.

    Writes an events file of its own into ``logdir`` (the run's directory, beside
    its per-epoch events): the HParams session of ``hparams``, and each of
    ``metrics`` as a scalar tagged ``hparams/<name>`` at ``step`` (the run's last
    epoch). The metrics are written once, not per epoch, so SPEC.md's five tags stay
    the only per-epoch scalars.
    """
    tags = {f"{HPARAMS_TAG_PREFIX}{name}": float(value) for name, value in metrics.items()}
    writer = FileWriter(str(logdir), filename_suffix=".hparams")
    for summary in hparams_summaries(dict(hparams), tags):
        writer.add_summary(summary)
    values = [Summary.Value(tag=tag, simple_value=value) for tag, value in tags.items()]
    writer.add_summary(Summary(value=values), global_step=step)
    writer.close()


def write_json(path: str | os.PathLike, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
