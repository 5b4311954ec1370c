"""Reports of studies: the study's export handed to :func:`mtlstudy.analysis.write_report`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mtlstudy._errors import ConfigError, StudyError
from mtlstudy.analysis import FORMATS, write_report
from mtlstudy.study._store import load_export, load_rungs

__all__ = ["report_study", "write_study_report", "REPORT_DIR"]

#: Default report folder inside a study directory.
REPORT_DIR = "report"


def report_study(
    name: str,
    dir: str | os.PathLike = "./mtlstudy-runs",
    output: str | os.PathLike | None = None,
    *,
    formats: Sequence[str] = FORMATS,
    objective: str = "final",
    mse_budget: float | None = None,
    reference_point: tuple[float, float] | None = None,
    interactive: bool = False,
    include_stopped: bool = False,
    storage: str | None = None,
) -> Path:
    """Write the report of study ``name`` into ``output`` (default ``<dir>/<name>/report``).

    See :func:`mtlstudy.analysis.write_report` for the files and options. A
    ``reference_point`` that no trial beats in both objectives is refused (ConfigError):
    every hypervolume against it would be 0, which compares nothing.
    """
    trials = load_export(name, dir, storage=storage)
    if reference_point is not None:
        _check_reference(trials, objective, tuple(reference_point), include_stopped)
    epochs = load_export(name, dir, storage=storage, epochs=True)
    return write_study_report(
        name,
        trials,
        epochs,
        output if output is not None else Path(dir) / name / REPORT_DIR,
        rungs=load_rungs(name, dir, storage=storage),
        formats=formats,
        objective=objective,
        mse_budget=mse_budget,
        reference_point=reference_point,
        interactive=interactive,
        include_stopped=include_stopped,
    )


def _check_reference(trials: pd.DataFrame, objective: str, reference: tuple[float, float], include_stopped: bool) -> None:
    states = ("COMPLETE", "PRUNED") if include_stopped else ("COMPLETE",)
    analysed = trials[trials["state"].isin(states)]
    mse, mrr = analysed[f"{objective}_test_mse"], analysed[f"{objective}_test_mrr"]
    if analysed.empty or ((mse < reference[0]) & (mrr > reference[1])).any():
        return
    raise ConfigError(
        f"reference point (MSE {reference[0]:g}, MRR {reference[1]:g}) is beaten by no trial, so every hypervolume "
        f"would be 0; choose one that trials beat, such as MSE {mse.max():.4g} and MRR {mrr.min():.4g}, or leave it "
        "out for the worst values seen"
    )


def write_study_report(
    name: str, trials: pd.DataFrame, epochs: pd.DataFrame, output: str | os.PathLike, **options: Any
) -> Path:
    """:func:`mtlstudy.analysis.write_report` of study ``name``'s exports, titled after it."""
    try:
        return write_report(trials, epochs, output, title=f"mtlstudy study {name}", **options)
    except OSError as error:
        raise StudyError(f"cannot write the report into {str(output)!r}: {error.strerror or error}") from None
