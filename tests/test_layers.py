"""Which layers an import loads: each module is imported alone, in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _loaded_by(module: str) -> set[str]:
    """Every module in ``sys.modules`` after importing ``module`` and reading each of its public names
    (a package imports its modules when their names are first read) in a fresh interpreter."""
    code = (
        f"import importlib, json, sys; m = importlib.import_module({module!r}); "
        "[getattr(m, name) for name in getattr(m, '__all__', ())]; print(json.dumps(sorted(sys.modules)))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout.splitlines()[-1]))


def _packages(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The ``names`` of which some module (or submodule) is among ``modules``."""
    return [name for name in names if any(m == name or m.startswith(f"{name}.") for m in modules)]


@pytest.mark.parametrize(
    ("module", "heavy"),
    [
        ("mtlstudy.analysis", ("torch", "ray")),
        ("mtlstudy._runs", ("torch", "ray", "pandas")),
        ("mtlstudy._history", ("torch", "ray", "pandas")),
    ],
)
def test_a_light_layer_loads_no_heavy_package(module, heavy):
    loaded = _loaded_by(module)
    assert module in loaded
    assert _packages(loaded, heavy) == []


def test_the_schedulers_and_the_trainables_do_not_import_each_other():
    schedulers = _loaded_by("mtlstudy.schedulers")
    assert {"mtlstudy.schedulers", "mtlstudy._runs"} <= schedulers
    assert _packages(schedulers, ("mtlstudy.trainables", "mtlstudy.training", "torch")) == []
    trainables = _loaded_by("mtlstudy.trainables")
    assert {"mtlstudy.trainables", "mtlstudy._runs"} <= trainables
    assert _packages(trainables, ("mtlstudy.schedulers",)) == []
