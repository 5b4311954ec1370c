"""Writes that stay inside a study and never replace what is not a regular file: a link planted in a
study is refused with one line, ``export -o`` writes into a fifo or a device, and a killed report's
staging folder goes with the next report."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import threading

import pandas
import pytest
from click.testing import CliRunner

from _studies import saved_study
from mtlstudy._errors import UnsafePathError
from mtlstudy._schema import EPOCH_METRICS
from mtlstudy.cli import main
from mtlstudy.study._layout import SPEC_FILE, StudyFiles
from mtlstudy.training import RunLogger

ROW = {"epoch": 1, **dict.fromkeys(EPOCH_METRICS, 0.5)}


@pytest.fixture
def study(tmp_path):
    saved_study(tmp_path / "runs", "s", [(0.9, 0.1), (0.8, 0.2)], metrics=True)
    return tmp_path / "runs"


def _one_error_line(result, *parts: str) -> None:
    assert result.exit_code == 2, result.output
    (line,) = result.output.splitlines()
    assert line.startswith("Error: ") and all(part in line for part in parts), line


def test_a_link_in_place_of_study_yaml_is_refused_and_its_target_untouched(study, tmp_path):
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text("theirs")
    spec_file = study / "s" / SPEC_FILE
    spec_file.unlink()
    spec_file.symlink_to(elsewhere)
    with pytest.raises(UnsafePathError, match=f"'{spec_file}': it is a symbolic link"):
        StudyFiles(study, "s").write_bytes(b"name: s\n", SPEC_FILE)
    assert elsewhere.read_text() == "theirs" and spec_file.is_symlink()


@pytest.mark.parametrize("name", ["metrics.csv", "events.out.tfevents.mtlstudy"])
def test_a_resumed_runs_logger_refuses_a_link_in_place_of_its_logs(tmp_path, name):
    """A resumed trial rewrites its logs from their start: never through a link planted in its folder."""
    logdir, elsewhere = tmp_path / "trial", tmp_path / "passwd"
    with RunLogger(logdir, history=[ROW]):
        pass
    elsewhere.write_text("root:x:0:0\n")
    (logdir / name).unlink()
    (logdir / name).symlink_to(elsewhere)
    with pytest.raises(UnsafePathError, match=f"'{logdir / name}': it is a symbolic link"):
        RunLogger(logdir, history=[ROW])
    assert elsewhere.read_text() == "root:x:0:0\n"


def test_export_into_a_fifo_is_a_stream_and_the_fifo_stays(study, tmp_path):
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = CliRunner().invoke(main, ["export", "s", "--dir", str(study), "-o", str(fifo)])
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert received[0].startswith("study,trial_id,") and len(received[0].splitlines()) == 3
    assert result.output == ""  # no path to name: the rows went into the fifo
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_export_into_a_device_writes_into_it_and_a_full_one_is_one_line(study):
    assert CliRunner().invoke(main, ["export", "s", "--dir", str(study), "-o", "/dev/null"]).exit_code == 0
    full = CliRunner().invoke(main, ["export", "s", "--dir", str(study), "-o", "/dev/full"])
    _one_error_line(full, "cannot write the export '/dev/full'", "No space left on device")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode) and stat.S_ISCHR(os.lstat("/dev/full").st_mode)


def _no_space(*args, **kwargs):
    """A write that fails as one on a full disk does, naming no file (as a write into an open file)."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_under_a_study_file_is_one_line_naming_it(study, monkeypatch):
    monkeypatch.setattr(pandas.DataFrame, "to_csv", _no_space)
    full = CliRunner().invoke(main, ["export", "s", "--dir", str(study)])
    _one_error_line(full, f"no space left on device writing '{study / 's' / 's.csv'}'", "free some space")
    assert sorted(p.name for p in (study / "s").iterdir()) == sorted(["optuna.db", SPEC_FILE, "ray"])


def test_a_full_disk_that_no_writer_named_is_still_one_line(study, monkeypatch):
    monkeypatch.setattr(pandas.DataFrame, "to_csv", _no_space)
    _one_error_line(CliRunner().invoke(main, ["export", "s", "--dir", str(study), "-o", "-"]),
                    "no space left on device; free some space")


def test_export_to_dev_stdout_writes_the_rows_to_standard_output(study, tmp_path):
    command = [os.path.join(os.path.dirname(sys.executable), "mtlstudy"), "export", "s", "--dir", str(study),
               "-o", "/dev/stdout"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("study,trial_id,") and len(done.stdout.splitlines()) == 3


def test_the_default_export_is_a_study_file_a_link_there_is_refused(study, tmp_path):
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("theirs")
    (study / "s" / "s.csv").symlink_to(elsewhere)
    _one_error_line(CliRunner().invoke(main, ["export", "s", "--dir", str(study)]), f"'{study / 's' / 's.csv'}'",
                    "symbolic link")
    assert elsewhere.read_text() == "theirs"


def test_a_killed_reports_staging_folder_goes_with_the_next_report(study):
    report = study / "s" / "report"
    script = (
        "import os, signal, sys\n"
        "from mtlstudy._files import atomic_path\n"
        "with atomic_path(sys.argv[1]) as staging:\n"
        "    staging.mkdir(); (staging / 'index.html').write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert subprocess.run([sys.executable, "-c", script, str(report)]).returncode == -signal.SIGKILL
    assert [p.name for p in (study / "s").glob(".report.*.part")]
    result = CliRunner().invoke(main, ["report", "s", "--dir", str(study)])
    assert result.exit_code == 0, result.output
    assert not [p.name for p in (study / "s").iterdir() if p.name.startswith(".report.")]
    assert (report / "index.html").is_file()


@pytest.mark.parametrize("command", [["study", "resume", "s"], ["study", "extend", "s", "--trials", "1"]])
def test_a_link_out_of_the_study_in_place_of_a_trial_folder_is_refused_before_anything_runs(study, tmp_path, command):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    trial = next((study / "s" / "ray").iterdir())
    (study / "s" / "tensorboard").mkdir(exist_ok=True)
    (study / "s" / "tensorboard" / "inside").symlink_to(trial, target_is_directory=True)  # the study's own kind of link
    StudyFiles(study, "s").refuse_links_out()
    moved = trial.rename(tmp_path / trial.name)
    trial.symlink_to(elsewhere, target_is_directory=True)
    before = sorted(os.listdir(study / "s"))
    result = CliRunner().invoke(main, [*command, "--dir", str(study)])
    _one_error_line(result, f"'{trial}' is a symbolic link to '{elsewhere}', outside the study's folder")
    assert not os.listdir(elsewhere) and sorted(os.listdir(study / "s")) == before and moved.is_dir()
