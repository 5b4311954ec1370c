"""The README's Python examples run as written (on small synthetic data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _analysis_fixtures import make_export, with_roles
from mtlstudy.analysis import hypervolume_table
from mtlstudy.data import make_synthetic, random_train_test_split

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block(marker: str) -> str:
    """The README's one Python example that mentions ``marker``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    (block,) = [block for block in blocks if marker in block]
    return block


def test_the_python_example_runs(monkeypatch, capsys):
    block = _python_block("load_export")
    trials, _ = with_roles(*make_export(lambdas=(0.1, 0.5, 0.9, 0.99), seeds=(0, 1), n_epochs=12))
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


def test_the_packed_training_example_runs(monkeypatch, capsys):
    split = random_train_test_split(make_synthetic(num_users=60, num_items=80, seed=1), 0.1, 123)
    monkeypatch.setattr("mtlstudy.training.load_split", lambda config: (*split, None))
    exec(compile(_python_block("PackedTrainer"), str(README), "exec"), {})
    final_mrr, dropped_at = capsys.readouterr().out.split()
    assert 0 < float(final_mrr) <= 1 and dropped_at == "10"
