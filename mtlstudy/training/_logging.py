"""Per-run logs: TensorBoard events under SPEC.md's tags and a CSV of every epoch."""

from __future__ import annotations

import csv
import json
import os
import struct
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tensorboardX.proto.event_pb2 import Event
from tensorboardX.proto.summary_pb2 import Summary
from tensorboardX.record_writer import masked_crc32c
from tensorboardX.summary import hparams as hparams_summaries

from mtlstudy._files import atomic_path, open_to_write
from mtlstudy._schema import TENSORBOARD_TAGS, VALIDATION_TAGS, epoch_metrics

__all__ = [
    "RunLogger",
    "METRICS_CSV_COLUMNS",
    "metrics_csv_columns",
    "EVENTS_FILE",
    "HPARAMS_FILE",
    "HPARAMS_TAG_PREFIX",
    "write_hparams",
    "write_json",
]

#: Prefix of the scalar tags that hold a run's HParams metrics (see :func:`write_hparams`).
HPARAMS_TAG_PREFIX = "hparams/"


def metrics_csv_columns(validation: bool = False) -> tuple[str, ...]:
    """Columns of ``metrics.csv``, one row per epoch; with ``validation``, a run with validation rows'."""
    return ("epoch", *epoch_metrics(validation), "train_time_s", "eval_time_s")


#: Columns of ``metrics.csv`` of a run without validation rows.
METRICS_CSV_COLUMNS: tuple[str, ...] = metrics_csv_columns()
#: The name of a run's one TensorBoard event file.
EVENTS_FILE = "events.out.tfevents.mtlstudy"
#: The name of a run's HParams event file (see :func:`write_hparams`).
HPARAMS_FILE = "events.out.tfevents.mtlstudy.hparams"


class RunLogger:
    """Writes one run's epochs to ``logdir``: TensorBoard events and ``metrics.csv``.

    TensorBoard gets exactly the five tags of SPEC.md with step = epoch, so runs look
    like the original's, and a run with validation rows the
    :data:`~mtlstudy._schema.VALIDATION_TAGS` too; ``metrics.csv`` holds every metric. Both files are written
    from their start: a resumed run passes the epochs it already trained (they live
    in its checkpoint) and they are written again first. So the logs hold every epoch
    exactly once whatever directory a resumed run is given and whatever a killed run
    left there, and the event file's fixed name (:data:`EVENTS_FILE`) makes a copy of
    the directory replace the old file instead of adding a second one. A symbolic link
    in place of either file is refused (UnsafePathError), never written through.

    Parameters
    ----------
    logdir : path
        The run's directory, created if missing.
    history : sequence of mappings
        The rows of the epochs already trained (``Trainer.history``); empty for a new run.
    validation : bool
        Whether the run evaluates validation rows (``validation_fraction`` > 0).
    """

    def __init__(
        self, logdir: str | os.PathLike, history: Sequence[Mapping[str, float]] = (), validation: bool = False
    ) -> None:
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._tags = {**TENSORBOARD_TAGS, **VALIDATION_TAGS} if validation else TENSORBOARD_TAGS
        self._csv_file = open_to_write(self.logdir / "metrics.csv", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=metrics_csv_columns(validation), extrasaction="ignore")
        self._csv.writeheader()
        self._events = _EventFile(self.logdir / EVENTS_FILE)
        for row in history:
            self.log(row)

    def log(self, row: Mapping[str, float]) -> None:
        """Record one epoch's row (as returned by ``Trainer.train_epoch``)."""
        # A hand-built Summary keeps SPEC.md's tags verbatim: SummaryWriter.add_scalar
        # would rewrite their spaces to underscores.
        summary = Summary(
            value=[Summary.Value(tag=tag, simple_value=row[metric]) for metric, tag in self._tags.items()]
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


class _EventFile:
    """A TensorBoard event file at a fixed path, written from its start.

    tensorboardX's ``FileWriter`` names each file by time and host, so a rewritten
    log would sit beside the old one and TensorBoard would read both; its
    ``RecordWriter`` would open a link at the path. The file is TFRecords: each
    event's length, its masked CRC-32C, the event, and the event's masked CRC-32C.
    """

    def __init__(self, path: Path) -> None:
        self._records = open_to_write(path, "wb")
        self.add_event(Event(wall_time=time.time(), file_version="brain.Event:2"))

    def add_event(self, event: Event) -> None:
        data = event.SerializeToString()
        header = struct.pack("<Q", len(data))
        self._records.write(header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data)))

    def add_summary(self, summary: Summary, global_step: int) -> None:
        self.add_event(Event(wall_time=time.time(), step=global_step, summary=summary))

    def flush(self) -> None:
        self._records.flush()
        os.fsync(self._records.fileno())

    def close(self) -> None:
        self._records.close()


def write_hparams(
    logdir: str | os.PathLike, hparams: Mapping[str, bool | int | float | str], metrics: Mapping[str, float], step: int
) -> None:
    """Record one run's hyperparameters and results for TensorBoard's HParams view.

    Writes an events file of its own into ``logdir`` (the run's directory, beside
    its per-epoch events): the HParams session of ``hparams``, and each of
    ``metrics`` as a scalar tagged ``hparams/<name>`` at ``step`` (the run's last
    epoch). The metrics are written once, not per epoch, so SPEC.md's five tags stay
    the only per-epoch scalars. The file has a fixed name (:data:`HPARAMS_FILE`), so
    writing a run's HParams again (a resumed study ending a trial twice) replaces them.
    """
    tags = {f"{HPARAMS_TAG_PREFIX}{name}": float(value) for name, value in metrics.items()}
    Path(logdir).mkdir(parents=True, exist_ok=True)
    events = _EventFile(Path(logdir) / HPARAMS_FILE)
    for summary in hparams_summaries(dict(hparams), tags):
        events.add_summary(summary, global_step=0)
    values = [Summary.Value(tag=tag, simple_value=value) for tag, value in tags.items()]
    events.add_summary(Summary(value=values), global_step=step)
    events.close()


def write_json(path: str | os.PathLike, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
