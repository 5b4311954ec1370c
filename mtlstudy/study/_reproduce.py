"""Reproducing the original write-up: its four points, seeded, plus a user-bias point."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from mtlstudy.analysis import compare_published
from mtlstudy.study._export import export_frames
from mtlstudy.study._layout import DEFAULT_DIR, REPORT_DIR, SPEC_FILE
from mtlstudy.study._open import open_study
from mtlstudy.study._report import write_study_report
from mtlstudy.study._run import resume_study, run_study
from mtlstudy.study._spec import resolve_spec

__all__ = ["Reproduction", "reproduce"]


class Reproduction(NamedTuple):
    """What :func:`reproduce` found."""

    trials: pd.DataFrame
    """The study export, one row per trial."""
    comparison: pd.DataFrame
    """Published values beside ours (see :func:`mtlstudy.analysis.compare_published`)."""
    sentences: tuple[str, ...]
    """Where ours and the published values differ, in words."""
    report: Path
    """The study's report folder."""


def reproduce(
    *,
    epochs: int = 200,
    seeds: int = 1,
    dir: str | os.PathLike = DEFAULT_DIR,
    name: str = "reproduce",
    echo: Callable[[str], None] = print,
    **options: Any,
) -> Reproduction:
    """Run (or finish) the ``seed-grid`` study with the user-bias point, ``seeds`` seeds each.

    ``options`` are further study-spec values (``dataset``, ``seed``, ...). Compares
    the outcome with the published numbers and writes the study's report.
    """
    spec = resolve_spec(
        name=name, space="seed-grid", user_bias_point=True, seeds=seeds, epochs=epochs, dir=str(dir), **options
    )
    if spec.files.exists(SPEC_FILE):
        resume_study(name, dir, echo=echo)
    else:
        run_study(spec, echo=echo)
    opened = open_study(name, dir)
    trials, epochs = export_frames(opened)
    comparison, sentences = compare_published(trials)
    report = write_study_report(opened, trials, epochs, spec.study_dir / REPORT_DIR)
    return Reproduction(trials, comparison, sentences, report)
