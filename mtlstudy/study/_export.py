"""Reading studies back: the export the analysis module reads, and the rung table."""

from __future__ import annotations

import io
import math
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
from optuna.trial import FrozenTrial

from mtlstudy._errors import ConfigError, StudyError
from mtlstudy._files import atomic_path, output_path
from mtlstudy._history import summarize_history
from mtlstudy._schema import EPOCH_METRICS, OBJECTIVES, PARAM_COLUMNS, RUNG_COLUMNS, epoch_metrics
from mtlstudy.study._database import (
    FAILURE_ATTR,
    PARAMS_ATTR,
    RAY_TRIAL_ID,
    REPLICATE_OF_ATTR,
    STOPPED_EPOCH_ATTR,
    role_of,
    rung_records,
)
from mtlstudy.study._layout import DEFAULT_DIR, RAY_DIR, StudyFiles, local_study_dir
from mtlstudy.study._open import OpenStudy, open_study

__all__ = [
    "load_export",
    "load_rungs",
    "export_study",
    "TrialRecord",
    "trial_records",
    "export_frame",
    "export_frames",
    "rung_frame",
    "TRIAL_COLUMNS",
    "EPOCH_COLUMNS",
    "epoch_columns",
    "RUNG_COLUMNS",
]

#: Columns of the per-trial export, in order.
TRIAL_COLUMNS: tuple[str, ...] = (
    "study",
    "trial_id",
    "number",
    "state",
    "failure",
    "role",
    "replicate_of",
    *PARAM_COLUMNS,
    "epochs",
    "stopped_epoch",
    "epochs_trained",
    *(f"{kind}_{metric}{suffix}" for metric in EPOCH_METRICS for kind, suffix in (("final", ""), ("best", ""), ("best", "_epoch"))),
    "duration_s",
)


def epoch_columns(validation: bool = False) -> tuple[str, ...]:
    """Columns of the per-epoch export, in order; a study with validation rows adds their metrics."""
    return ("trial_id", "number", *PARAM_COLUMNS, "epoch", *epoch_metrics(validation), "epoch_time_s")


#: Columns of the per-epoch export of a study without validation rows, in order.
EPOCH_COLUMNS: tuple[str, ...] = epoch_columns()


class TrialRecord(NamedTuple):
    """One trial of a study as its export reads it."""

    trial: FrozenTrial  # its newest Optuna attempt
    params: dict[str, Any]  # its training parameters, with its ``trial_id``
    history: list[dict]  # its epoch rows, from its metrics.csv


def _history(files: StudyFiles, run_id: str) -> list[dict]:
    """The epoch rows of a trial's ``metrics.csv``; none before its first epoch (no file, an empty or
    header-only one)."""
    content = files.read_bytes(RAY_DIR, run_id, "metrics.csv")
    try:
        return pd.read_csv(io.BytesIO(content)).to_dict("records") if content else []
    except pd.errors.EmptyDataError:
        return []


def trial_records(opened: OpenStudy) -> list[TrialRecord]:
    """The trials of a study by Optuna number; a retried trial appears once, as its newest attempt.

    A trial that a killed driver asked for but never gave parameters never ran and is left out.
    """
    spec = opened.spec
    newest: dict[Any, FrozenTrial] = {}
    for trial in opened.study.get_trials(deepcopy=False):
        if PARAMS_ATTR not in trial.user_attrs:
            continue
        newest[trial.user_attrs.get(RAY_TRIAL_ID) or f"optuna-{trial.number}"] = trial
    records = []
    for ray_id, trial in sorted(newest.items(), key=lambda item: item[1].number):
        params = {**spec.fixed_params(), **trial.user_attrs.get(PARAMS_ATTR, {})}
        records.append(TrialRecord(trial, {"trial_id": str(ray_id), **params}, _history(opened.files, str(ray_id))))
    return records


def load_export(
    name: str, dir: str | os.PathLike = DEFAULT_DIR, *, storage: str | None = None, epochs: bool = False
) -> pd.DataFrame:
    """:func:`export_frame` of study ``name`` in ``dir`` (``storage`` in place of its own)."""
    return export_frame(open_study(name, dir, storage=storage), epochs=epochs)


def export_frame(opened: OpenStudy, epochs: bool = False) -> pd.DataFrame:
    """A study as a DataFrame: one row per trial, or with ``epochs`` one per trial and epoch.

    Trial rows hold :data:`TRIAL_COLUMNS`: ``study`` (its name), ``trial_id`` (Ray's), ``number`` (Optuna's
    creation order), ``state``, ``failure`` (why a FAIL trial failed, e.g. ``"diverged at epoch 3:
    non-finite training loss"``; missing for any other), ``role`` (``"search"``, ``"replicate"`` or
    ``"calibration"``, see :data:`~mtlstudy._schema.ROLES`), ``replicate_of`` (a replicate's parent's
    ``number``; <NA> for any other), the parameters, ``epochs``, ``final_``/``best_``/
    ``best_<m>_epoch`` of every metric (:func:`~mtlstudy._history.summarize_history`
    of the trial's ``metrics.csv``; NaN before its first epoch) and ``duration_s``
    (training plus evaluation seconds). ``epochs`` is what a trial trains unless stopped, ``epochs_trained``
    what the trial trained, and ``stopped_epoch`` the epoch at which early stopping
    ended a PRUNED trial (<NA> for any other). Epoch rows hold :func:`epoch_columns`: with
    validation rows, their metrics too (``val_mse``, ...), which chose each test metric's best epoch.
    """
    trials, epoch_rows = export_frames(opened)
    return epoch_rows if epochs else trials


def export_frames(opened: OpenStudy) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trial rows and the epoch rows of :func:`export_frame`, from one read of the trials' logs."""
    trial_rows, epoch_rows = [], []
    validation = bool(opened.spec.validation_fraction)
    logged = ("epoch", *epoch_metrics(validation))
    for trial, params, history in trial_records(opened):
        base = {
            "trial_id": params["trial_id"],
            "number": trial.number,
            **{key: params[key] for key in PARAM_COLUMNS},
        }
        epoch_rows += [
            {
                **base,
                **{key: row[key] for key in logged},
                "epoch_time_s": row["train_time_s"] + row["eval_time_s"],
            }
            for row in history
        ]
        summary = summarize_history(history)
        trial_rows.append(
            {
                "study": opened.spec.name,
                **base,
                "state": trial.state.name,
                "failure": trial.user_attrs.get(FAILURE_ATTR),
                "role": role_of(trial),
                "replicate_of": trial.user_attrs.get(REPLICATE_OF_ATTR),
                "epochs": params["epochs"],
                "stopped_epoch": trial.user_attrs.get(STOPPED_EPOCH_ATTR),
                "epochs_trained": len(history),
                **{column: summary.get(column, math.nan) for column in TRIAL_COLUMNS if column.startswith(("final_", "best_"))},
                "duration_s": sum(row["train_time_s"] + row["eval_time_s"] for row in history),
            }
        )
    types = {"trial_id": str, "number": int, "shared": bool, "user_bias": bool, "seed": int}
    trials = pd.DataFrame.from_records(trial_rows, columns=list(TRIAL_COLUMNS)).astype(
        {**types, "failure": "str", "role": str, "replicate_of": "Int64", "stopped_epoch": "Int64", "epochs_trained": int}
    )
    return trials, pd.DataFrame.from_records(epoch_rows, columns=list(epoch_columns(validation))).astype(types)


def load_rungs(name: str, dir: str | os.PathLike = DEFAULT_DIR, *, storage: str | None = None) -> pd.DataFrame:
    """:func:`rung_frame` of study ``name`` in ``dir`` (``storage`` in place of its own)."""
    return rung_frame(open_study(name, dir, storage=storage))


def rung_frame(opened: OpenStudy) -> pd.DataFrame:
    """The early-stopping decisions of a study: one row per trial and rung it reached.

    Columns are :data:`RUNG_COLUMNS`: the Ray ``trial_id``, the Optuna ``number``,
    the ``rung`` (an epoch), the objective values there, the trial's arrival
    ``order`` at the rung, whether it was ``promoted`` past it and the ``ladder`` it was
    ranked in. Empty for a study without early stopping.
    """
    records = [
        {"trial_id": params["trial_id"], "number": trial.number, "rung": record.rung,
         **dict(zip(OBJECTIVES, record.values)), "order": record.order, "promoted": record.promoted,
         "ladder": record.ladder}
        for trial, params, _ in trial_records(opened)
        for record in rung_records(trial)
    ]
    frame = pd.DataFrame.from_records(records, columns=list(RUNG_COLUMNS))
    return frame.astype({"trial_id": str, "number": int, "rung": int, "order": int, "promoted": bool, "ladder": str})


def export_study(
    name: str,
    dir: str | os.PathLike = DEFAULT_DIR,
    *,
    output: str | os.PathLike | None = None,
    format: str = "csv",
    epochs: bool = False,
    storage: str | None = None,
) -> Path | None:
    """Write :func:`load_export` to ``output`` (default ``<study dir>/<name>[-epochs].<format>``; for a
    remote study, its local working folder), atomically: a device or fifo ``output`` (``/dev/stdout``)
    is written into as a stream instead (see :func:`~mtlstudy._files.output_path`).

    Returns the file written, or None for a stream: ``output="-"`` writes to standard output, and a
    device or fifo ``output`` is written into.
    """
    if format not in ("csv", "parquet"):
        raise ConfigError(f"format must be 'csv' or 'parquet', got {format!r}")
    frame = load_export(name, dir, storage=storage, epochs=epochs)
    if str(output) == "-":
        if format == "csv":
            frame.to_csv(sys.stdout, index=False)
        else:
            frame.to_parquet(sys.stdout.buffer, index=False)
        return None
    suffix = "-epochs" if epochs else ""
    path = Path(output) if output else local_study_dir(dir, name) / f"{name}{suffix}.{format}"
    try:
        if not output:
            path.parent.mkdir(parents=True, exist_ok=True)  # a remote study's working folder may not exist here
        # A file of the study is never written through a link; one a user names may be a device or fifo.
        with (output_path if output else atomic_path)(path) as target:
            if format == "csv":
                frame.to_csv(target, index=False)
            else:
                frame.to_parquet(target, index=False)
        streamed = target == path
    except OSError as error:
        raise StudyError(f"cannot write the export {str(path)!r}: {error.strerror or error}") from None
    return None if streamed else path
