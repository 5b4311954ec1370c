"""A study joins a Ray cluster that is already running (``--address``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

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
    """A one-node cluster started with ``ray start --head``, as a user would, stopped on its own.

    ``ray stop`` would stop every Ray on the machine; instead the cluster runs in its own
    process group (``ray start`` and every process it spawns), on its own ports and temp
    dir, and teardown signals that group only.
    """
    port = _free_port()
    # A short temp dir: Ray's Unix sockets live under it and socket paths are limited to 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="mtl-ray-", dir="/tmp")
    start = [os.path.join(BIN, "ray"), "start", "--head", f"--port={port}", "--num-cpus=2",
             f"--temp-dir={temp_dir}", f"--ray-client-server-port={_free_port()}",
             f"--dashboard-agent-listen-port={_free_port()}", f"--metrics-export-port={_free_port()}",
             "--include-dashboard=false", "--disable-usage-stats"]
    starter = subprocess.Popen(start, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, error = starter.communicate(timeout=120)
        assert starter.returncode == 0, error.decode()
        yield f"127.0.0.1:{port}"
    finally:
        _stop_group(starter.pid)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _stop_group(group: int, grace_s: float = 10.0) -> None:
    """SIGTERM process group ``group``, then SIGKILL what is left after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


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
