"""A study joins a Ray cluster that is already running (``--address``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from mtlstudy.study import load_export

pytestmark = pytest.mark.slow

BIN = os.path.dirname(sys.executable)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_cluster():
    """A one-node cluster started with ``ray start --head``, as a user would."""
    port = _free_port()
    start = [os.path.join(BIN, "ray"), "start", "--head", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(start, check=True, capture_output=True, timeout=120)
    yield f"127.0.0.1:{port}"
    subprocess.run([os.path.join(BIN, "ray"), "stop", "--force"], capture_output=True, timeout=120)


def test_study_runs_on_an_existing_cluster(ray_cluster, tmp_path):
    command = [os.path.join(BIN, "mtlstudy"), "study", "run", "--name", "joined", "--trials", "2",
               "--epochs", "2", "--dataset", "synthetic", "--dataset-option", "num_users=40",
               "--dataset-option", "num_items=50", "--address", ray_cluster, "--dir", str(tmp_path)]
    # `ray start` turned on token authentication; a driver given an explicit address
    # must say so to present the token (~/.ray/auth_token), as the README tells users.
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "study joined: 2/2 trials complete" in result.stdout
    trials = load_export("joined", tmp_path)
    assert len(trials) == 2 and set(trials["state"]) == {"COMPLETE"}
