"""``mtlstudy dashboard``'s refusals, which need no server (the served study: test_ecosystem.py)."""

from __future__ import annotations

import socket
import sys

import pytest
from click.testing import CliRunner

from _studies import saved_study
from mtlstudy._errors import ConfigError
from mtlstudy.cli import main
from mtlstudy.study import open_dashboard


@pytest.fixture
def empty_study(tmp_path):
    """A study without trials, which is all a refusal reads."""
    return saved_study(tmp_path, "board")


def test_missing_tools_get_one_line_saying_how_to_install_them(empty_study, monkeypatch, tmp_path):
    # The tools' scripts are looked up beside the Python that runs mtlstudy, then on PATH.
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    result = CliRunner().invoke(main, ["dashboard", "board", "--dir", empty_study.dir])
    assert result.exit_code == 2
    assert result.output == (
        "Error: the dashboard needs optuna-dashboard and tensorboard, which are not installed: "
        "pip install 'mtlstudy[dashboard]'\n"
    )


def test_a_port_in_use_is_refused_before_anything_starts(empty_study):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"tensorboard_port {port} is in use"):
            open_dashboard("board", empty_study.dir, optuna_port=0, tensorboard_port=port)
    assert not (empty_study.study_dir / "dashboard.log").exists()


@pytest.mark.parametrize(("ports", "message"), [((8080, 8080), "must differ"), ((70000, 0), "from 0 to 65535")])
def test_bad_ports_are_refused(empty_study, ports, message):
    with pytest.raises(ConfigError, match=message):
        open_dashboard("board", empty_study.dir, optuna_port=ports[0], tensorboard_port=ports[1])
