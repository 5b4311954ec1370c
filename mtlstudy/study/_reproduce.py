"""Reproducing the original write-up: its four points, seeded, plus a user-bias point."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from mtlstudy.study._run import SPEC_FILE, resume_study, run_study
from mtlstudy.study._spec import resolve_spec
from mtlstudy.study._store import load_export

__all__ = ["reproduce"]


def reproduce(
    epochs: int = 200,
    seeds: int = 1,
    dir: str | os.PathLike = "./mtlstudy-runs",
    name: str = "reproduce",
    **options: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run (or finish) the ``seed-grid`` study with the user-bias point, ``seeds`` seeds each.

    ``options`` are further study-spec values (``dataset``, ``seed``, ...). Returns
    the per-trial and per-epoch exports (see :func:`load_export`) for the
    published-vs-ours comparison.
    """
    spec = resolve_spec(
        name=name, space="seed-grid", user_bias_point=True, seeds=seeds, epochs=epochs, dir=str(dir), **options
    )
    if (spec.study_dir / SPEC_FILE).exists():
        resume_study(name, dir)
    else:
        run_study(spec)
    return load_export(name, dir), load_export(name, dir, epochs=True)
