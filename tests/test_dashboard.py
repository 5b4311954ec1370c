"""``mtlstudy dashboard``'s refusals, which need no server, and its servers ending with a killed
``mtlstudy dashboard`` (the served study: test_ecosystem.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from _processes import alive, descendants
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


@pytest.mark.slow  # starts both servers (TensorBoard takes seconds)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_servers_end_when_the_dashboard_is_killed(empty_study):
    command = [os.path.join(os.path.dirname(sys.executable), "mtlstudy"), "dashboard", "board",
               "--dir", empty_study.dir, "--optuna-port", "0", "--tensorboard-port", "0"]
    board = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    servers = []
    try:
        for line in board.stdout:  # once both answer, it names them
            if line.startswith("TensorBoard:"):
                break
        servers = descendants(board.pid)
        assert len(servers) >= 2  # optuna-dashboard, TensorBoard (and its data server)
        board.kill()  # SIGKILL: the dashboard cannot stop its servers itself
        board.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in servers if alive(pid)]
    finally:
        board.kill()
        for pid in servers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
