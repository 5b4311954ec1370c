"""Studies whose Optuna storage is not the default SQLite file: PostgreSQL and a journal file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from click.testing import CliRunner

from _postgres import postgres_ctl
from mtlstudy.cli import main
from mtlstudy.study import load_export, study_status
from mtlstudy.study._database import open_storage

pytestmark = pytest.mark.slow

BIN = os.path.dirname(sys.executable)
BUDGET = 3
OPTIONS = ["--trials", str(BUDGET), "--epochs", "3", "--concurrency", "1", "--checkpoint-every", "1",
           "--dataset", "synthetic", "--dataset-option", "num_users=40", "--dataset-option", "num_items=50",
           "--embedding-dim", "8"]


def _finished(url: str, name: str) -> int:
    try:
        trials = optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(deepcopy=False)
    except KeyError:  # the driver has not created the study yet
        return 0
    return sum(trial.state.name == "COMPLETE" for trial in trials)


def _driver_after_one_trial(name: str, url: str, runs) -> subprocess.Popen:
    """A driver process running study ``name``, once a trial of it is complete."""
    command = [os.path.join(BIN, "mtlstudy"), "study", "run", "--name", name, "--storage", url, "--dir", str(runs), *OPTIONS]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while _finished(url, name) < 1:
        if driver.poll() is not None or time.monotonic() > deadline:
            driver.kill()
            pytest.fail(f"no trial finished: {driver.communicate()[0]}")
        time.sleep(0.2)
    return driver


def _killed_after_one_trial(name: str, url: str, runs) -> None:
    """Run study ``name`` in a driver process and SIGKILL it once a trial is complete."""
    driver = _driver_after_one_trial(name, url, runs)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=60)


def _killed_and_resumed(name: str, url: str, runs) -> None:
    _killed_after_one_trial(name, url, runs)
    assert _finished(url, name) < BUDGET
    resumed = CliRunner().invoke(main, ["study", "resume", name, "--dir", str(runs)])
    assert resumed.exit_code == 0, resumed.output
    trials = optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(deepcopy=False)
    complete = [trial for trial in trials if trial.state.name == "COMPLETE"]
    assert len(complete) == BUDGET and not [trial for trial in trials if trial.state.name == "RUNNING"]
    assert len({tuple(sorted(trial.params.items())) for trial in complete}) == BUDGET
    export = load_export(name, runs)
    assert sorted(export["trial_id"]) == sorted(trial.user_attrs["ray_trial_id"] for trial in complete)
    assert study_status(name, runs).states == {"COMPLETE": BUDGET}
    assert not (runs / name / "optuna.db").exists()  # everything went to the storage asked for


def test_postgresql_study_killed_and_resumed(postgres_url, tmp_path):  # noqa: F811
    _killed_and_resumed("pg", postgres_url, tmp_path / "runs")


def test_a_postgresql_restart_during_a_study_is_waited_out(postgres_url, tmp_path):
    runs = tmp_path / "runs"
    driver = _driver_after_one_trial("restart", postgres_url, runs)
    postgres_ctl(postgres_url, "stop")  # every connection dropped; the driver has two trials to record
    try:
        lines = []
        for line in driver.stdout:  # down until the driver finds it so
            lines.append(line)
            if "did not answer" in line:
                break
    finally:
        postgres_ctl(postgres_url, "start")
    output = "".join(lines) + driver.communicate(timeout=300)[0]
    assert driver.returncode == 0, output
    assert "trying again for up to 60 s" in output, output
    assert "Traceback" not in output and "Error: " not in output, output
    assert study_status("restart", runs).states == {"COMPLETE": BUDGET}


def test_journal_file_study_killed_and_resumed(tmp_path):
    (tmp_path / "shared").mkdir()
    _killed_and_resumed("journal", f"journal://{tmp_path / 'shared' / 'study.log'}", tmp_path / "runs")
