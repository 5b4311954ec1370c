"""``mtlstudy dashboard``'s refusals, which need no server (the served study: test_ecosystem.py)."""

from __future__ import annotations

import socket
import sys

import pytest
import yaml
from click.testing import CliRunner

from mtlstudy._errors import ConfigError
from mtlstudy.cli import main
from mtlstudy.study import open_dashboard, resolve_spec


@pytest.fixture
def saved_study(tmp_path):
    """A study directory holding only its spec, which is all a refusal reads."""
    spec = resolve_spec(name="board", dir=str(tmp_path))
    spec.study_dir.mkdir()
    (spec.study_dir / "study.yaml").write_text(yaml.safe_dump(spec.to_dict()), encoding="utf-8")
    return spec


def test_missing_tools_get_one_line_saying_how_to_install_them(saved_study, monkeypatch, tmp_path):
    # The tools' scripts are looked up beside the Python that runs mtlstudy, then on PATH.
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    result = CliRunner().invoke(main, ["dashboard", "board", "--dir", saved_study.dir])
    assert result.exit_code == 2
    assert result.output == (
        "Error: the dashboard needs optuna-dashboard and tensorboard, which are not installed: "
        "pip install 'mtlstudy[dashboard]'\n"
    )


def test_a_port_in_use_is_refused_before_anything_starts(saved_study):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"tensorboard_port {port} is in use"):
            open_dashboard("board", saved_study.dir, optuna_port=0, tensorboard_port=port)
    assert not (saved_study.study_dir / "dashboard.log").exists()


@pytest.mark.parametrize(("ports", "message"), [((8080, 8080), "must differ"), ((70000, 0), "from 0 to 65535")])
def test_bad_ports_are_refused(saved_study, ports, message):
    with pytest.raises(ConfigError, match=message):
        open_dashboard("board", saved_study.dir, *ports)
