"""Opening a saved study: its spec read and checked once, resolved in full only by commands that train."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from _studies import saved_study
from mtlstudy._errors import ConfigError
from mtlstudy.cli import main
from mtlstudy.study import StudySpec, open_study, study_status
from mtlstudy.study import _open, _spec

OUTCOMES = [(1.0, 0.10), (0.9, 0.08), (1.2, 0.07), (0.95, 0.09)]


def test_every_spec_field_has_exactly_one_validator():
    assert set(_spec._VALIDATORS) == {field.name for field in dataclasses.fields(StudySpec)}


def _counted(monkeypatch, module, name: str) -> list:
    """The calls of ``module.name`` from now on."""
    calls: list = []
    original = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *args, **kwargs: calls.append(args) or original(*args, **kwargs))
    return calls


def test_one_report_reads_and_checks_the_spec_once_and_never_resolves_it(tmp_path, monkeypatch):
    saved_study(tmp_path, "s", OUTCOMES, metrics=True)
    reads = _counted(monkeypatch, _open, "load_spec")
    checks, resolutions = _counted(monkeypatch, _spec, "_checked_fields"), _counted(monkeypatch, _spec, "_validated")
    result = CliRunner().invoke(main, ["report", "s", "--dir", str(tmp_path), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert (len(reads), len(checks), len(resolutions)) == (1, 1, 0)


def test_a_saved_spec_is_read_as_saved_and_resolved_as_a_whole_only_to_train(tmp_path):
    spec = saved_study(tmp_path, "s", OUTCOMES)
    path = spec.study_dir / "study.yaml"
    # Each value is fine on its own; together they are not (the first rung is past the budget).
    path.write_text(path.read_text().replace("early_stopping: none", "early_stopping: moasha"))
    assert study_status("s", tmp_path).states == {"COMPLETE": 4}
    with pytest.raises(ConfigError, match="grace_epochs must be below epochs"):
        open_study("s", tmp_path, check=True)


def test_a_saved_spec_is_still_checked_field_by_field(tmp_path):
    spec = saved_study(tmp_path, "s", OUTCOMES)
    path = spec.study_dir / "study.yaml"
    path.write_text(path.read_text().replace("epochs: 2", "epochs: two"))
    with pytest.raises(ConfigError, match="epochs must be an integer, got 'two'"):
        open_study("s", tmp_path)
