"""Every bad input is one line on stderr, exit code 2, and leaves the directory tree (and the S3 bucket) as it was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from _s3 import BUCKET, s3_keys
from _studies import saved_study
from mtlstudy.cli import main
from mtlstudy.study import list_studies, load_export, open_study, study_status
from mtlstudy.study._searcher import StudySearcher

# (test MSE, test MRR) of the fake study's three trials, each trained for two epochs.
OUTCOMES = [(1.0, 0.10), (0.9, 0.08), (1.2, 0.07)]
LONG = "n" * 300


@pytest.fixture
def runs(tmp_path):
    saved_study(tmp_path / "runs", "s", OUTCOMES, metrics=True)
    (tmp_path / "notes.txt").write_text("not a database\n")
    return tmp_path / "runs"


def _tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of its content (folders: "dir")."""
    return {
        str(path.relative_to(root)): "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
    }


def _delete_database(tmp: Path) -> None:
    (tmp / "runs" / "s" / "optuna.db").unlink()


def _running_trial(tmp: Path) -> None:
    """A trial started and never ended, as a killed driver leaves it."""
    StudySearcher(open_study("s", tmp / "runs").spec).suggest("t9")


def _data_file(name: str, content: bytes):
    def write(tmp: Path) -> None:
        (tmp / name).write_bytes(content)

    return write


SPEC = "{tmp}/spec.yaml"


def _spec_file(text: str):
    def write(tmp: Path) -> None:
        (tmp / "spec.yaml").write_text(f"name: b\n{text}\n", encoding="utf-8")

    return write


def _run(*flags: str) -> list[str]:
    return ["study", "run", "--name", "b", "--dir", "{runs}", *flags]


def _spec_run() -> list[str]:
    return ["study", "run", SPEC, "--dir", "{runs}"]


# (id, setup or None, arguments with {tmp} and {runs} filled in, text the error line must hold)
CASES = [
    # Spec values of the wrong type are errors, never coerced.
    ("epochs-float", _spec_file("epochs: 2.5"), _spec_run(), "epochs must be an integer, got 2.5"),
    ("batch-size-bool", _spec_file("batch_size: true"), _spec_run(), "batch_size must be an integer, got True"),
    ("cpus-string", _spec_file('cpus_per_trial: "one"'), _spec_run(), "cpus_per_trial must be a number, got 'one'"),
    ("lr-string", _spec_file('lr: "fast"'), _spec_run(), "lr must be a number, got 'fast'"),
    ("lr-nan", _spec_file("lr: .nan"), _spec_run(), "lr must be a number, got nan"),
    ("trials-float", _spec_file("trials: 2.0"), _spec_run(), "trials must be an integer, got 2.0"),
    ("concurrency-bool", _spec_file("concurrency: true"), _spec_run(), "concurrency must be an integer, got True"),
    ("embedding-float", _spec_file("embedding_dim: 1.5"), _spec_run(), "embedding_dim must be an integer, got 1.5"),
    ("gpus-string", _spec_file("gpus_per_trial: half"), _spec_run(), "gpus_per_trial must be a number, got 'half'"),
    ("user-bias-string", _spec_file("user_bias: 'yes'"), _spec_run(), "user_bias must be true or false, got 'yes'"),
    ("lambda-log-int", _spec_file("lambda_log: 1"), _spec_run(), "lambda_log must be true or false, got 1"),
    ("options-list", _spec_file("dataset_options: [1, 2]"), _spec_run(), "dataset_options must be a mapping, got [1, 2]"),
    ("storage-int", _spec_file("storage: 5"), _spec_run(), "storage must be a string, got 5"),
    ("cpus-zero", None, _run("--cpus-per-trial", "0"), "cpus_per_trial must be a number > 0, got 0"),
    ("concurrency-zero", None, _run("--concurrency", "0"), "concurrency must be an integer >= 1, got 0"),
    # Replicates, extend and calibrate.
    ("replicates-negative", None, _run("--replicates", "-1"), "replicates must be an integer >= 0, got -1"),
    ("replicates-float", _spec_file("replicates: 1.5"), _spec_run(), "replicates must be an integer, got 1.5"),
    ("replicate-trials-alone", None, _run("--replicate-trials", "1"), "replicate_trials [1] needs replicates >= 1"),
    ("replicate-trials-text", None, _run("--replicates", "1", "--replicate-trials", "1,x"),
     "--replicate-trials takes trial numbers separated by commas, e.g. 3,7,12, got '1,x'"),
    ("replicate-trials-beyond", None, _run("--trials", "4", "--replicates", "1", "--replicate-trials", "2,4"),
     "replicate_trials must be distinct trial numbers from 0 to 3 (the budget is 4), got [2, 4]"),
    ("replicate-trials-string", _spec_file("replicates: 1\nreplicate_trials: '3'"), _spec_run(),
     "replicate_trials must be a list of trial numbers, got '3'"),
    ("replicates-grid", None, _run("--space", "seed-grid", "--replicates", "1"), "replicates need a sampled space"),
    ("extend-nothing", None, ["study", "extend", "s", "--dir", "{runs}"], "got neither"),
    ("extend-trials-zero", None, ["study", "extend", "s", "--dir", "{runs}", "--trials", "0"],
     "trials must be an integer >= 1, got 0"),
    ("extend-replicate-trials-beyond", None,
     ["study", "extend", "s", "--dir", "{runs}", "--replicates", "1", "--replicate-trials", "7"], "from 0 to 2"),
    ("extend-not-ended", _running_trial, ["study", "extend", "s", "--dir", "{runs}", "--trials", "1"],
     "has not ended: 1 trial(s) of phase 0 to run or running; finish it first with `mtlstudy study resume s`"),
    ("extend-deleted-db", _delete_database, ["study", "extend", "s", "--dir", "{runs}", "--trials", "1"],
     "optuna.db' does not exist"),
    ("calibrate-trials-zero", None, ["calibrate", "s", "--dir", "{runs}", "--trials", "0"],
     "trials must be an integer >= 1, got 0"),
    ("calibrate-seed-negative", None, ["calibrate", "s", "--dir", "{runs}", "--seed", "-1"],
     "seed must be an integer from 0 to 4294967295 (a 32-bit seed), got -1"),
    ("run-seed-beyond-32-bits", None, _run("--seed", "4294967296"),
     "seed must be an integer from 0 to 4294967295 (a 32-bit seed), got 4294967296"),
    ("run-seed-beyond-64-bits", _spec_file("seed: 18446744073709551616"), _spec_run(),
     "seed must be an integer from 0 to 4294967295 (a 32-bit seed), got 18446744073709551616"),
    ("train-seed-beyond-32-bits", None, ["train", "--dataset", "synthetic", "--logdir", "{tmp}/runs/t", "--seed", "4294967296"],
     "seed must be an integer from 0 to 4294967295 (a 32-bit seed), got 4294967296"),
    ("calibrate-not-ended", _running_trial, ["calibrate", "s", "--dir", "{runs}"], "has not ended"),
    # Names, in every command that takes one.
    ("run-name-long", None, ["study", "run", "--name", LONG, "--dir", "{runs}"], "(300 characters)"),
    ("run-name-newline", None, ["study", "run", "--name", "b\n", "--dir", "{runs}"], "got 'b\\n'"),
    ("run-name-parent", None, ["study", "run", "--name", "../x", "--dir", "{runs}"], "got '../x'"),
    ("run-name-absolute", None, ["study", "run", "--name", "/tmp/x", "--dir", "{runs}"], "got '/tmp/x'"),
    ("status-name-parent", None, ["study", "status", "../s", "--dir", "{runs}/s"], "got '../s'"),
    ("status-name-absolute", None, ["study", "status", "{runs}/s", "--dir", "{runs}"], "study name must be"),
    ("status-name-long", None, ["study", "status", LONG, "--dir", "{runs}"], "(300 characters)"),
    ("export-name-parent", None, ["export", "../s", "--dir", "{runs}/s"], "got '../s'"),
    ("resume-name-parent", None, ["study", "resume", "../s", "--dir", "{runs}/s"], "got '../s'"),
    ("extend-name-parent", None, ["study", "extend", "../s", "--dir", "{runs}/s", "--trials", "1"], "got '../s'"),
    ("calibrate-no-study", None, ["calibrate", "nope", "--dir", "{runs}"], "no study 'nope'"),
    ("report-name-parent", None, ["report", "../s", "--dir", "{runs}/s"], "got '../s'"),
    ("status-no-study", None, ["study", "status", "nope", "--dir", "{runs}"], "no study 'nope'"),
    # Storage URLs are opened before anything is created.
    ("storage-scheme", None, _run("--storage", "foo://"), "cannot open storage 'foo://'"),
    ("storage-garbage", None, _run("--storage", "garbage"), "got 'garbage'"),
    ("storage-unwritable", None, _run("--storage", "sqlite:////proc/nope/optuna.db"), "sqlite:////proc/nope/optuna.db"),
    ("storage-not-a-database", None, _run("--storage", "sqlite:///{tmp}/notes.txt"), "notes.txt"),
    ("storage-journal-unwritable", None, _run("--storage", "journal:///proc/nope/study.log"), "journal:///proc/nope/study.log"),
    ("status-storage-scheme", None, ["study", "status", "s", "--dir", "{runs}", "--storage", "foo://"], "'foo://'"),
    ("status-storage-missing", None, ["study", "status", "s", "--dir", "{runs}", "--storage", "sqlite:///{tmp}/other.db"],
     "other.db' does not exist"),
    ("export-storage-not-a-database", None, ["export", "s", "--dir", "{runs}", "--storage", "sqlite:///{tmp}/notes.txt"],
     "notes.txt"),
    # A deleted database is reported, never recreated empty.
    ("status-deleted-db", _delete_database, ["study", "status", "s", "--dir", "{runs}"], "optuna.db' does not exist"),
    ("resume-deleted-db", _delete_database, ["study", "resume", "s", "--dir", "{runs}"], "optuna.db' does not exist"),
    ("export-deleted-db", _delete_database, ["export", "s", "--dir", "{runs}"], "optuna.db' does not exist"),
    ("report-deleted-db", _delete_database, ["report", "s", "--dir", "{runs}"], "optuna.db' does not exist"),
    # Outputs into folders that are missing or cannot be written.
    ("export-missing-folder", None, ["export", "s", "--dir", "{runs}", "-o", "{tmp}/missing/s.csv"], "missing/s.csv"),
    ("export-unwritable", None, ["export", "s", "--dir", "{runs}", "-o", "/proc/s.csv"], "/proc/s.csv"),
    ("export-file-as-folder", None, ["export", "s", "--dir", "{runs}", "-o", "{tmp}/notes.txt/s.csv"], "notes.txt/s.csv"),
    ("report-unwritable", None, ["report", "s", "--dir", "{runs}", "-o", "/proc/nope/report"], "/proc/nope/report"),
    ("report-file-as-folder", None, ["report", "s", "--dir", "{runs}", "-o", "{tmp}/notes.txt/report"],
     "notes.txt/report"),
    ("report-reference-beaten-by-none", None, ["report", "s", "--dir", "{runs}", "--reference-point", "-1", "-1"],
     "reference point (MSE -1, MRR -1) is beaten by no trial"),
    # Object-store dirs: the database needs a storage of its own, and the bucket is checked first.
    ("s3-without-storage", None, ["study", "run", "--name", "b", "--dir", f"s3://{BUCKET}/runs", "--dataset", "synthetic"],
     f"a study in 's3://{BUCKET}/runs' needs --storage"),
    ("s3-missing-bucket", None, ["study", "run", "--name", "b", "--dir", "s3://no-such-bucket/runs", "--storage",
                                 "sqlite:///{tmp}/b.db", "--dataset", "synthetic"], "bucket 'no-such-bucket' does not exist"),
    ("s3-endpoint-in-uri", None, ["study", "run", "--name", "b", "--dir", f"s3://{BUCKET}/runs?endpoint_override=x",
                                  "--storage", "sqlite:///{tmp}/b.db"], "set the endpoint with AWS_ENDPOINT_URL"),
    ("s3-status-no-study", None, ["study", "status", "s", "--dir", f"s3://{BUCKET}/runs"],
     f"no study 's' in 's3://{BUCKET}/runs'"),
    ("s3-resume-missing-bucket", None, ["study", "resume", "s", "--dir", "s3://no-such-bucket/runs"],
     "no study 's' in 's3://no-such-bucket/runs'"),
    # Data files.
    ("data-binary", _data_file("bin.data", bytes(range(256)) * 8), ["data", "info", "--data", "{tmp}/bin.data"],
     "bin.data:1:"),
    ("data-carriage-return", _data_file("cr.csv", b"user,it\rem,rating\n1,2,3\n"), ["data", "info", "--data", "{tmp}/cr.csv"],
     "carriage return"),
    ("data-huge-id", _data_file("huge.data", b"1\t1000000000000\t3\t0\n2\t5\t4\t0\n"),
     ["data", "info", "--data", "{tmp}/huge.data", "--no-verify"], "(got '1000000000000')"),
    ("data-one-row", _data_file("one.data", b"1\t1\t3\t0\n"),
     ["train", "--data", "{tmp}/one.data", "--no-verify", "--epochs", "1", "--logdir", "{tmp}/train"], "out of 1"),
    # These start a Ray before they can tell.
    pytest.param("cpus-beyond-the-cluster", None, _run("--cpus-per-trial", "64", "--dataset", "synthetic"),
                 "cpus_per_trial is 64 but", marks=pytest.mark.slow, id="cpus-beyond-the-cluster"),
    pytest.param("dir-unwritable", None, ["study", "run", "--name", "b", "--dir", "/proc/nope", "--dataset", "synthetic"],
                 "cannot create the study directory '/proc/nope/b'", marks=pytest.mark.slow, id="dir-unwritable"),
]


def _case_id(case) -> str:
    return case.id if hasattr(case, "id") else case[0]


@pytest.mark.parametrize(("name", "setup", "arguments", "message"), CASES, ids=[_case_id(case) for case in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(tmp_path, runs, s3_server, name, setup, arguments, message):
    if setup is not None:
        setup(tmp_path)
    before, objects = _tree(tmp_path), s3_keys()
    filled = [argument.format(tmp=tmp_path, runs=runs) for argument in arguments]
    result = CliRunner().invoke(main, filled)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert result.stdout == ""
    assert _tree(tmp_path) == before and s3_keys() == objects


def test_a_trial_before_its_first_epoch_is_read_as_no_epochs(runs):
    (runs / "s" / "ray" / "t2" / "metrics.csv").write_bytes(b"")  # created, nothing written yet
    trials = load_export("s", runs)
    assert trials["epochs_trained"].tolist() == [2, 2, 0] and trials["final_test_mse"].isna().tolist() == [False, False, True]
    assert len(load_export("s", runs, epochs=True)) == 4
    assert study_status("s", runs).trial_epochs == 4
    result = CliRunner().invoke(main, ["report", "s", "--dir", str(runs)])
    assert result.exit_code == 0, result.output


def test_one_broken_study_does_not_hide_the_others(runs):
    saved_study(runs, "t", OUTCOMES, metrics=True)
    (runs / "t" / "optuna.db").unlink()
    healthy, broken = list_studies(runs)
    assert (healthy.name, healthy.problem, healthy.finished) == ("s", None, 3)
    assert broken.name == "t" and "optuna.db' does not exist" in broken.problem
    listing = CliRunner().invoke(main, ["study", "list", "--dir", str(runs), "--format", "json"])
    assert listing.exit_code == 0 and [row["name"] for row in json.loads(listing.output)] == ["s", "t"]
    text = CliRunner().invoke(main, ["study", "list", "--dir", str(runs)])
    assert text.output.splitlines()[1].startswith("t: cannot be read: ")
    assert not (runs / "t" / "optuna.db").exists()
