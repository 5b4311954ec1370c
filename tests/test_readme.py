"""The README's Python example runs as written (on a small synthetic study)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _analysis_fixtures import make_export
from mtlstudy.analysis import hypervolume_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_python_example_runs(monkeypatch, capsys):
    (block,) = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    trials, _ = make_export(lambdas=(0.1, 0.5, 0.9, 0.99), seeds=(0, 1), n_epochs=12)
    loaded = []

    def load_export(name, *args, **kwargs):
        loaded.append(name)
        return trials

    monkeypatch.setattr("mtlstudy.study.load_export", load_export)
    exec(compile(block, str(README), "exec"), {})
    assert loaded == ["lambda-sweep"]
    output = capsys.readouterr().out
    assert "hypervolume" in output and "final_test_mse" in output and "variant" in output
    value = float(re.search(r"hypervolume (\S+)", output).group(1))
    table = hypervolume_table(trials, values=("final",))
    overall = table.loc[table["scope"] == "overall", "hypervolume"].item()
    assert value > 0 and value == pytest.approx(overall)  # the report's own number
