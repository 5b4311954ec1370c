"""Reports of studies: the study's export and provenance handed to :func:`mtlstudy.analysis.write_report`."""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from mtlstudy._errors import ConfigError, StudyError
from mtlstudy.analysis import FORMATS, check_reference, write_report
from mtlstudy.data import ML100K_SHA256
from mtlstudy.study._export import export_frames, rung_frame
from mtlstudy.study._layout import DEFAULT_DIR, REPORT_DIR
from mtlstudy.study._open import OpenStudy, open_study
from mtlstudy.study._spec import StudySpec
from mtlstudy.study._storage_url import hide_password

__all__ = ["report_study", "write_study_report", "study_provenance"]

#: The space of reproduction studies, whose reports answer the original questions.
REPRODUCTION_SPACE = "seed-grid"


def report_study(
    name: str,
    dir: str | os.PathLike = DEFAULT_DIR,
    output: str | os.PathLike | None = None,
    *,
    formats: Sequence[str] = FORMATS,
    value: str = "final",
    mse_budget: float | None = None,
    reference_point: tuple[float, float] | None = None,
    interactive: bool = False,
    include_stopped: bool = False,
    questions: bool = False,
    figure_formats: Sequence[str] = ("png",),
    storage: str | None = None,
) -> Path:
    """Write the report of study ``name`` into ``output`` (default ``<dir>/<name>/report``; for a
    remote study, ``report`` in its local working folder).

    The original questions are answered for reproduction studies (space
    ``seed-grid``) and wherever ``questions`` is set. See
    :func:`mtlstudy.analysis.write_report` for the files and the other options. A
    ``reference_point`` that no trial beats in both objectives is refused (ConfigError):
    every hypervolume against it would be 0, which compares nothing.
    """
    opened = open_study(name, dir, storage=storage)
    trials, epochs = export_frames(opened)
    if reference_point is not None:
        _check_reference(trials, value, check_reference(reference_point), include_stopped)
    return write_study_report(
        opened,
        trials,
        epochs,
        output if output is not None else opened.spec.study_dir / REPORT_DIR,
        rungs=rung_frame(opened),
        formats=formats,
        value=value,
        mse_budget=mse_budget,
        reference_point=reference_point,
        interactive=interactive,
        include_stopped=include_stopped,
        questions=questions,
        figure_formats=figure_formats,
    )


def _check_reference(trials: pd.DataFrame, value: str, reference: tuple[float, float], include_stopped: bool) -> None:
    states = ("COMPLETE", "PRUNED") if include_stopped else ("COMPLETE",)
    analysed = trials[trials["state"].isin(states)]
    mse, mrr = analysed[f"{value}_test_mse"], analysed[f"{value}_test_mrr"]
    if analysed.empty or ((mse < reference[0]) & (mrr > reference[1])).any():
        return
    raise ConfigError(
        f"reference point (MSE {reference[0]:g}, MRR {reference[1]:g}) is beaten by no trial, so every hypervolume "
        f"would be 0; choose one that trials beat, such as MSE {mse.max():.4g} and MRR {mrr.min():.4g}, or leave it "
        "out for the worst values seen"
    )


def write_study_report(
    opened: OpenStudy,
    trials: pd.DataFrame,
    epochs: pd.DataFrame,
    output: str | os.PathLike,
    *,
    questions: bool = False,
    **options: Any,
) -> Path:
    """:func:`mtlstudy.analysis.write_report` of a study's exports, titled after it, with its provenance.

    The original questions are answered for ``seed-grid`` studies or with ``questions``.
    """
    spec = opened.spec
    try:
        return write_report(
            trials,
            epochs,
            output,
            title=f"mtlstudy study {spec.name}",
            questions=questions or spec.space == REPRODUCTION_SPACE,
            provenance=study_provenance(spec, opened.study, trials),
            **options,
        )
    except OSError as error:
        raise StudyError(f"cannot write the report into {str(output)!r}: {error.strerror or error}") from None


def study_provenance(spec: StudySpec, study: optuna.Study, trials: pd.DataFrame) -> dict[str, object]:
    """How a study was made, for its report: spec, data and its checksum, versions, dates and compute.

    The spec and the versions are those the study recorded when it was created
    (its Optuna user attributes ``spec`` and ``versions``), else the spec file. A storage
    password that a study made before passwords were masked recorded is masked here.
    """
    recorded = study.user_attrs.get("spec") or spec.to_dict()
    if recorded.get("storage"):
        recorded = {**recorded, "storage": hide_password(recorded["storage"])}
    runs = study.get_trials(deepcopy=False)
    started = min((t.datetime_start for t in runs if t.datetime_start), default=None)
    finished = max((t.datetime_complete for t in runs if t.datetime_complete), default=None)
    trained = trials["epochs_trained"] if "epochs_trained" in trials.columns else trials["epochs"]
    return {
        "study": spec.name,
        "spec": {key: value for key, value in recorded.items() if value not in (None, {}, [])},
        "space": spec.space,
        "sampler": spec.sampler,
        "epochs per trial": spec.epochs,
        "trials": f"{len(trials)} of a budget of {spec.trials}",
        "seeds": sorted({int(seed) for seed in pd.to_numeric(trials["seed"], errors="coerce").dropna()}),
        "data": spec.data or spec.dataset,
        "data sha256": _data_checksum(spec),
        "versions": study.user_attrs.get("versions", "not recorded by this study"),
        "started": _when(started),
        "finished": _when(finished),
        "wall time": str(finished - started).split(".")[0] if started and finished else "–",
        "trial-epochs spent": int(pd.to_numeric(trained, errors="coerce").fillna(0).sum()),
        "report written": _when(datetime.datetime.now(datetime.timezone.utc)),
    }


def _data_checksum(spec: StudySpec) -> str:
    if spec.dataset == "ml-100k":
        return f"{ML100K_SHA256} (of the ratings rows, checked on every load)"
    if spec.data and Path(spec.data).is_file():
        return f"{hashlib.sha256(Path(spec.data).read_bytes()).hexdigest()} (of {spec.data})"
    return "none: generated from the spec's seed and dataset options"


def _when(moment: datetime.datetime | None) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "–"
