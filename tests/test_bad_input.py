"""Every bad input is one line on stderr, exit code 2, and leaves the directory tree (and the S3 bucket) as it was.

A data set far larger than MovieLens-100K is no error: it gets one warning line, and runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from _s3 import BUCKET, s3_keys
from _studies import saved_study
from mtlstudy import DataSizeWarning
from mtlstudy.cli import main
from mtlstudy.data import check_dataset
from mtlstudy.study import list_studies, load_export, open_study, study_status
from mtlstudy.study._searcher import StudySearcher

# (test MSE, test MRR) of the fake study's three trials, each trained for two epochs.
OUTCOMES = [(1.0, 0.10), (0.9, 0.08), (1.2, 0.07)]
LONG = "n" * 300
MEGABYTE = "x" * 1_000_000
HUGE = str(2**64)  # beyond every integer option, and beyond a 64-bit integer
#: A file that not even root can read (procfs keeps it write-only), where chmod 000 does not stop root.
WRITE_ONLY = Path("/proc/sys/vm/drop_caches")
#: The longest error line a bad value may give: it quotes a bounded part of the value, whatever its size.
LONGEST_LINE = 1_100


@pytest.fixture(scope="module")
def saved_runs(tmp_path_factory):
    """The fake study, saved once per module (the study's folder is all it is)."""
    runs = tmp_path_factory.mktemp("saved") / "runs"
    saved_study(runs, "s", OUTCOMES, metrics=True)
    return runs


@pytest.fixture
def runs(tmp_path, saved_runs):
    shutil.copytree(saved_runs, tmp_path / "runs")
    (tmp_path / "notes.txt").write_text("not a database\n")
    return tmp_path / "runs"


def _tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of its content (folders: "dir"; a fifo, or a file this
    process cannot read: its mode, so that listing the tree never blocks or fails)."""
    return {str(path.relative_to(root)): _content(path) for path in sorted(root.rglob("*"))}


def _content(path: Path) -> str:
    if path.is_dir():
        return "dir"
    if not path.is_file() or not os.access(path, os.R_OK):
        return f"mode {path.lstat().st_mode:o}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _delete_database(tmp: Path) -> None:
    (tmp / "runs" / "s" / "optuna.db").unlink()


def _running_trial(tmp: Path) -> None:
    """A trial started and never ended, as a killed driver leaves it."""
    StudySearcher(open_study("s", tmp / "runs").spec).suggest("t9")


def _data_file(name: str, content: bytes):
    def write(tmp: Path) -> None:
        (tmp / name).write_bytes(content)

    return write


def _fifo(name: str):
    def make(tmp: Path) -> None:
        os.mkfifo(tmp / name)

    return make


def _unreadable(name: str):
    """``name``: a file this process cannot read; for root, which reads past chmod 000, a link to :data:`WRITE_ONLY`."""

    def make(tmp: Path) -> None:
        path = tmp / name
        if os.geteuid() != 0:
            path.write_text("name: b\n")
            path.chmod(0)
        elif WRITE_ONLY.exists() and not os.access(WRITE_ONLY, os.R_OK):
            path.symlink_to(WRITE_ONLY)
        else:
            pytest.skip(f"root reads a file despite chmod 000, and {WRITE_ONLY} (write-only even for root) is missing")

    return make


def _both(*setups):
    def make(tmp: Path) -> None:
        for setup in setups:
            setup(tmp)

    return make


SPEC = "{tmp}/spec.yaml"


def _spec_file(text: str, name: str = "spec.yaml"):
    """Spec file ``name`` holding ``name: b`` and ``text`` (``{tmp}`` in it: the test's folder)."""

    def write(tmp: Path) -> None:
        (tmp / name).write_text(f"name: b\n{text.replace('{tmp}', str(tmp))}\n", encoding="utf-8")

    return write


def _bomb() -> str:
    """A "billion laughs": nine levels of nine aliases of the level below, 9**9 items once expanded."""
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"l{k}: &l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, 9)]
    return "dataset_options:\n" + "\n".join(f"  {level}" for level in levels)


def _run(*flags: str) -> list[str]:
    return ["study", "run", "--name", "b", "--dir", "{runs}", *flags]


def _spec_run(spec: str = SPEC) -> list[str]:
    return ["study", "run", spec, "--dir", "{runs}"]


def _train(*flags: str) -> list[str]:
    return ["train", "--dataset", "synthetic", "--logdir", "{tmp}/train", *flags]


def _train_on(data: str) -> list[str]:
    return ["train", "--data", data, "--no-verify", "--logdir", "{tmp}/train"]


def _synthetic(*options: str) -> list[str]:
    return _run("--dataset", "synthetic", *(item for option in options for item in ("--dataset-option", option)))


def _replay(*flags: str) -> list[str]:
    return ["stopping", "replay", "s", "--dir", "{runs}", "--grace-epochs", "1", *flags]


def _limit(name: str, low: int, high: int, value: object) -> str:
    return f"{name} must be an integer from {low} to {high}, got {value}"


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
    ("cpus-zero", None, _run("--cpus-per-trial", "0"), "cpus_per_trial must be a number > 0 and <= 1024, got 0"),
    ("concurrency-zero", None, _run("--concurrency", "0"), _limit("concurrency", 1, 100000, 0)),
    # Numbers at their type's limits and beyond: sizes that would overflow or exhaust memory have a limit.
    ("run-epochs-huge", None, _run("--epochs", HUGE), _limit("epochs", 1, 100000, HUGE)),
    ("run-epochs-exponent", None, _run("--epochs", "1e308"),
     "Invalid value for '--epochs': '1e308' is not a valid integer"),
    ("run-epochs-inf", _spec_file("epochs: .inf"), _spec_run(), "epochs must be an integer, got inf"),
    ("run-trials-huge", None, _run("--trials", HUGE), _limit("trials", 1, 100000, HUGE)),
    ("run-concurrency-huge", _spec_file(f"concurrency: {HUGE}"), _spec_run(), _limit("concurrency", 1, 100000, HUGE)),
    ("run-embedding-1e8", None, _run("--embedding-dim", "100000000"), _limit("embedding_dim", 1, 4096, 100000000)),
    ("run-batch-size-1e308", _spec_file("batch_size: 1.0e+308"), _spec_run(),
     "batch_size must be an integer, got 1e+308"),
    ("run-batch-size-huge", None, _run("--batch-size", HUGE), _limit("batch_size", 1, 10000000, HUGE)),
    ("run-pack-huge", None, _run("--pack", HUGE), f"pack must be an integer from 1 to 1024 or 'auto', got {HUGE}"),
    ("run-seeds-1e9", None, _run("--space", "seed-grid", "--seeds", "1000000000"),
     _limit("seeds", 1, 100000, 1000000000)),
    ("run-seeds-beyond-32-bits", None, _run("--space", "seed-grid", "--seed", "4294967295", "--seeds", "2"),
     "seed + seeds - 1 must be an integer from 0 to 4294967295 (a 32-bit seed), got 4294967296"),
    ("run-replicates-huge", None, _run("--replicates", HUGE), _limit("replicates", 0, 100000, HUGE)),
    ("run-grace-epochs-huge", None, _run("--grace-epochs", HUGE), _limit("grace_epochs", 1, 100000, HUGE)),
    ("run-checkpoint-every-negative", None, _run("--checkpoint-every", "-1"),
     "checkpoint_every must be an integer >= 0, got -1"),
    ("run-max-failures-negative", None, _run("--max-failures", "-1"), "max_failures must be an integer >= 0, got -1"),
    ("run-seed-5000-digits", _spec_file("seed: " + "9" * 5000), _spec_run(), "Exceeds the limit (4300 digits)"),
    ("run-lr-zero", None, _run("--lr", "0"), "lr must be a number > 0, got 0.0"),
    ("run-lr-inf", _spec_file("lr: .inf"), _spec_run(), "lr must be a number, got inf"),
    ("run-lr-beyond-float", _spec_file("lr: 1" + "0" * 400), _spec_run(), "lr must be a number, got 1000"),
    ("run-cpus-inf", None, _run("--cpus-per-trial", "inf"), "cpus_per_trial must be a number, got inf"),
    ("run-cpus-1e308", None, _run("--cpus-per-trial", "1e308"),
     "cpus_per_trial must be a number > 0 and <= 1024, got 1e+308"),
    ("run-gpus-negative", None, _run("--gpus-per-trial", "-1"), "gpus_per_trial must be a number >= 0, got -1.0"),
    ("run-gpus-nan", _spec_file("gpus_per_trial: .nan"), _spec_run(), "gpus_per_trial must be a number, got nan"),
    ("run-reduction-factor-inf", None, _run("--reduction-factor", "inf"), "reduction_factor must be a number, got inf"),
    ("run-lambda-range-nan", None, _run("--lambda-f-range", "nan", "1"),
     "lambda_f_range must satisfy 0 <= low < high < inf, got [nan, 1.0]"),
    ("run-lambda-range-beyond-float", _spec_file("lambda_r_range: [0, 1" + "0" * 400 + "]"), _spec_run(),
     "lambda_r_range must satisfy 0 <= low < high < inf, got [0, 1000"),
    ("run-validation-fraction-nan", None, _run("--validation-fraction", "nan"),
     "validation_fraction must be a number in [0, 1), got nan"),
    ("run-validation-fraction-one", None, _run("--validation-fraction", "1"),
     "validation_fraction must be a number in [0, 1), got 1.0"),
    ("run-seed-negative", None, _run("--seed", "-1"),
     "seed must be an integer from 0 to 4294967295 (a 32-bit seed), got -1"),
    ("train-epochs-huge", None, _train("--epochs", HUGE), _limit("epochs", 1, 100000, HUGE)),
    ("train-embedding-1e8", None, _train("--embedding-dim", "100000000"), _limit("embedding_dim", 1, 4096, 100000000)),
    ("train-batch-size-zero", None, _train("--batch-size", "0"), _limit("batch_size", 1, 10000000, 0)),
    ("train-k-huge", None, _train("--k", HUGE), _limit("k", 1, 100000, HUGE)),
    ("train-threads-huge", None, _train("--threads", HUGE), _limit("threads", 1, 1024, HUGE)),
    ("train-lr-nan", None, _train("--lr", "nan"), "lr must be a finite number > 0, got nan"),
    ("train-lambda-f-inf", None, _train("--lambda-f", "inf"), "lambda_f must be a finite number >= 0, got inf"),
    ("train-test-fraction-nan", None, _train("--test-fraction", "nan"), "test_fraction must lie in (0, 1), got nan"),
    ("train-test-fraction-one", None, _train("--test-fraction", "1"), "test_fraction must lie in (0, 1), got 1.0"),
    ("train-validation-fraction-inf", None, _train("--validation-fraction", "inf"),
     "validation_fraction must be a number in [0, 1), got inf"),
    ("train-split-seed-huge", None, _train("--split-seed", HUGE),
     f"split_seed must be an integer from 0 to 4294967295 (a 32-bit seed), got {HUGE}"),
    ("replay-orders-huge", None, _replay("--orders", HUGE), _limit("orders", 1, 100000, HUGE)),
    ("replay-concurrency-huge", None, _replay("--concurrency", HUGE), _limit("concurrency", 1, 100000, HUGE)),
    ("replay-reduction-factor-nan", None, _replay("--reduction-factor", "nan"),
     "reduction_factor must be a number, got nan"),
    ("calibrate-trials-huge", None, ["calibrate", "s", "--dir", "{runs}", "--trials", HUGE],
     _limit("trials", 1, 100000, HUGE)),
    ("extend-trials-huge", None, ["study", "extend", "s", "--dir", "{runs}", "--trials", HUGE],
     _limit("trials", 1, 100000, HUGE)),
    ("extend-replicates-huge", None, ["study", "extend", "s", "--dir", "{runs}", "--replicates", HUGE],
     _limit("replicates", 0, 100000, HUGE)),
    ("reproduce-seeds-huge", None, ["reproduce", "--dir", "{runs}", "--seeds", HUGE], _limit("seeds", 1, 100000, HUGE)),
    ("dashboard-port-beyond", None, ["dashboard", "s", "--dir", "{runs}", "--optuna-port", "65536"],
     "Invalid value for '--optuna-port': 65536 is not in the range 0<=x<=65535"),
    ("dashboard-port-negative", None, ["dashboard", "s", "--dir", "{runs}", "--tensorboard-port", "-1"],
     "Invalid value for '--tensorboard-port': -1 is not in the range 0<=x<=65535"),
    ("report-reference-nan", None, ["report", "s", "--dir", "{runs}", "--reference-point", "nan", "0.5"],
     "reference_point must be two finite numbers (MSE, MRR); got (nan, 0.5)"),
    ("report-mse-budget-inf", None, ["report", "s", "--dir", "{runs}", "--mse-budget", "inf"],
     "mse_budget must be a finite number >= 0; got inf"),
    # Synthetic data: a draw that would need many GiB is refused with its limit.
    ("synthetic-users-x-items", None, _synthetic("num_users=100000", "num_items=100000"),
     "synthetic data of num_users=100000, num_items=100000 and rank=4 needs about 298 GiB to draw "
     "(dense num_users x num_items arrays); at most 4 GiB is allowed"),
    ("synthetic-rank-1e8", None, _synthetic("rank=100000000"), "and rank=100000000 needs about 522 GiB to draw"),
    ("synthetic-seed-64-bits", None, _synthetic(f"seed={HUGE}"),
     f"seed must be an integer from 0 to 4294967295 (a 32-bit seed), got {HUGE}"),
    ("synthetic-density-nan", None, _synthetic("density=.nan"), "density must be a number in (0, 1], got nan"),
    ("synthetic-noise-inf", None, _synthetic("noise=.inf"), "noise must be a finite number >= 0, got inf"),
    ("synthetic-option-python-tag", None, _synthetic("num_users=!!python/object/apply:os.system [ls]"),
     "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("synthetic-option-nested", None, _synthetic("rank=" + "[" * 500), "values nest too deeply"),
    # Text with control characters: refused where it would name a file, or break a line that quotes it.
    ("run-name-tab", None, ["study", "run", "--name", "b\tc", "--dir", "{runs}"], "got 'b\\tc'"),
    ("run-dataset-newline", None, _run("--dataset", "synthetic\n"),
     "dataset must be text without control characters (newline, tab, NUL, escape), got '\\n' at character 10"),
    ("run-sampler-escape", None, _run("--sampler", "tpe\x1b"), "unknown sampler 'tpe\\x1b'"),
    ("run-space-newline", None, _run("--space", "simplex\n"), "unknown search space 'simplex\\n'"),
    ("run-early-stopping-nul", None, _run("--early-stopping", "none\x00"), "unknown early_stopping 'none\\x00'"),
    ("run-value-newline", None, _run("--value", "final\n"), "Invalid value for '--value': 'final\\n' is not one of"),
    ("run-dir-newline", None, ["study", "run", "--name", "b", "--dir", "{tmp}/a\nb"],
     "dir must be text without control characters"),
    ("run-storage-newline", None, _run("--storage", "sqlite:///{tmp}/a\nb.db"),
     "storage must be text without control characters"),
    ("run-address-escape", None, _run("--address", "auto\x1b"), "address must be text without control characters"),
    ("run-data-tab", None, _run("--data", "{tmp}/a\tb.data"), "data must be text without control characters"),
    ("spec-name-newline", _data_file("spec.yaml", b'name: "b\\n"\n'), _spec_run(), "got 'b\\n'"),
    ("status-storage-nul", None, ["study", "status", "s", "--dir", "{runs}", "--storage", "sqlite:///{tmp}/x\x00.db"],
     "storage must be text without control characters"),
    ("train-data-newline", None, _train_on("{tmp}/a\nb.data"), "data file must be text without control characters"),
    ("train-device-escape", None, _train("--device", "cpu\x1b"),
     "Invalid value for '--device': 'cpu\\x1b' is not one of"),
    ("replay-rule-newline", None, _replay("--rule", "moasha\n"), "unknown early_stopping 'moasha\\n'"),
    # Files that are not regular files are refused by their type, before anything opens them.
    ("info-data-fifo", _fifo("f.data"), ["data", "info", "--data", "f.data"],
     "data file 'f.data' must be a regular file, got a fifo"),
    ("info-data-dev-zero", None, ["data", "info", "--data", "/dev/zero"],
     "data file '/dev/zero' must be a regular file, got a character device"),
    ("info-data-missing", None, ["data", "info", "--data", "none.data"],
     "data file 'none.data' cannot be read: No such file or directory"),
    ("info-data-folder", None, ["data", "info", "--data", "{tmp}"], "is a directory"),
    ("info-data-unreadable", _unreadable("locked.data"), ["data", "info", "--data", "locked.data"],
     "File 'locked.data' is not readable"),
    ("train-data-fifo", _fifo("f.data"), _train_on("f.data"), "data file 'f.data' must be a regular file, got a fifo"),
    ("train-data-dev-zero", None, _train_on("/dev/zero"),
     "data file '/dev/zero' must be a regular file, got a character device"),
    ("run-data-missing", None, _run("--data", "none.data"), "data file 'none.data' cannot be read: No such file or directory"),
    ("run-data-fifo", _fifo("f.data"), _run("--data", "f.data"), "data file 'f.data' must be a regular file, got a fifo"),
    ("run-data-unreadable", _unreadable("locked.data"), _run("--data", "locked.data"), "File 'locked.data' is not readable"),
    ("spec-data-unreadable", _both(_unreadable("locked.data"), _spec_file("data: locked.data")), _spec_run(),
     "data file 'locked.data' cannot be read: Permission denied"),
    ("run-data-folder", _spec_file("data: ."), _spec_run(), "data file '.' must be a regular file, got a directory"),
    ("run-data-dev-zero", _spec_file("data: /dev/zero"), _spec_run(), "got a character device"),
    ("spec-fifo", _fifo("spec.yaml"), _spec_run("spec.yaml"), "study spec 'spec.yaml' must be a regular file, got a fifo"),
    ("spec-dev-zero", None, _spec_run("/dev/zero"), "study spec '/dev/zero' must be a regular file, got a character device"),
    ("spec-folder", None, _spec_run("{tmp}"), "is a directory"),
    ("spec-missing", None, _spec_run("none.yaml"), "File 'none.yaml' does not exist"),
    ("spec-unreadable", _unreadable("spec.yaml"), _spec_run("spec.yaml"), "File 'spec.yaml' is not readable"),
    ("storage-journal-dev-zero", None, _run("--storage", "journal:///dev/zero"),
     "storage '/dev/zero' must be a regular file, got a character device"),
    ("storage-sqlite-fifo", _fifo("f.db"), _run("--storage", "sqlite:///f.db"), "storage 'f.db' must be a regular file, got a fifo"),
    ("status-storage-journal-fifo", _fifo("f.log"), ["study", "status", "s", "--dir", "{runs}", "--storage", "journal://f.log"],
     "storage 'f.log' must be a regular file, got a fifo"),
    # YAML's features: duplicate keys, aliases, tags and several documents are refused, each on one line.
    ("spec-key-twice", _spec_file("epochs: 2\nepochs: 3"), _spec_run(),
     "found the key 'epochs' twice (line 3, column 1)"),
    ("spec-nested-key-twice", _spec_file("dataset_options: {seed: 1, seed: 2}"), _spec_run(),
     "found the key 'seed' twice"),
    ("spec-key-twice-spelled-apart", _spec_file("batch-size: 2\nbatch_size: 3"), _spec_run(),
     "study spec key 'batch_size' is given twice, as 'batch-size' and 'batch_size'"),
    ("spec-renamed-key-twice", _spec_file("objective: final\nvalue: best"), _spec_run(),
     "study spec key 'value' is given twice, as 'objective' and 'value'"),
    ("spec-alias", _spec_file("epochs: &e 3\ngrace_epochs: *e"), _spec_run(),
     "found the alias *e; a study spec takes no aliases"),
    ("spec-merge-key", _spec_file("base: &b {epochs: 3}\n<<: *b"), _spec_run(), "found the alias *b"),
    ("spec-billion-laughs", _spec_file(_bomb()), _spec_run(), "found the alias *l0"),
    ("spec-python-tag", _spec_file("seed: !!python/object/apply:os.system [ls]"), _spec_run(),
     "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system' "
     "(line 2, column 7)"),
    ("spec-custom-tag", _spec_file("seed: !mine 3"), _spec_run(),
     "could not determine a constructor for the tag '!mine'"),
    ("spec-binary-tag", _spec_file("seed: !!binary aGVsbG8="), _spec_run(),
     "seed must be an integer from 0 to 4294967295 (a 32-bit seed), got b'hello'"),
    ("spec-date", _spec_file("seed: 2001-12-14"), _spec_run(), "got datetime.date(2001, 12, 14)"),
    ("spec-two-documents", _spec_file("epochs: 2\n---\nepochs: 3"), _spec_run(),
     "expected a single document in the stream but found another document (line 3, column 1)"),
    ("spec-nested-deep", _spec_file("lr: " + "[" * 500 + "]" * 500), _spec_run(), "values nest too deeply"),
    ("spec-not-utf8", _data_file("spec.yaml", b"name: b\nsampler: \xff\n"), _spec_run(), "can't decode byte 0xff"),
    ("spec-list", _data_file("spec.yaml", b"- name: b\n"), _spec_run(), "must be a mapping, got list"),
    ("spec-toml-key-twice", _data_file("spec.toml", b'name = "b"\nname = "c"\n'), _spec_run("{tmp}/spec.toml"),
     "Cannot overwrite a value"),
    ("spec-toml-nan", _data_file("spec.toml", b'name = "b"\nlr = nan\n'), _spec_run("{tmp}/spec.toml"),
     "lr must be a number, got nan"),
    ("spec-dir-mapping", _spec_file("dir: {a: 1}"), ["study", "run", SPEC], "dir must be a string, got {'a': 1}"),
    # A huge value is quoted in part: a megabyte never makes a megabyte of message.
    ("spec-sampler-megabyte", _spec_file(f"sampler: {MEGABYTE}"), _spec_run(), "(1000000 characters); choose one of"),
    ("spec-data-megabyte", _spec_file(f"data: /{MEGABYTE}"), _spec_run(), "(1000001 characters) cannot be read"),
    ("spec-key-long", _spec_file("k" * 1000 + ": 1"), _spec_run(), "unknown study spec key(s) ['kkkk"),
    ("spec-many-keys", _spec_file("\n".join(f"k{i}: {i}" for i in range(2000))), _spec_run(),
     "unknown study spec key(s) ['k0', 'k1', 'k10', 'k100', 'k1000', 'k1001', ...]"),
    ("run-epochs-megabyte", None, _run("--epochs", MEGABYTE), "characters left out"),
    # Replicates, extend and calibrate.
    ("replicates-negative", None, _run("--replicates", "-1"), _limit("replicates", 0, 100000, -1)),
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
     _limit("trials", 1, 100000, 0)),
    ("extend-replicate-trials-beyond", None,
     ["study", "extend", "s", "--dir", "{runs}", "--replicates", "1", "--replicate-trials", "7"], "from 0 to 2"),
    ("extend-not-ended", _running_trial, ["study", "extend", "s", "--dir", "{runs}", "--trials", "1"],
     "has not ended: 1 trial(s) of phase 0 to run or running; finish it first with `mtlstudy study resume s`"),
    ("extend-deleted-db", _delete_database, ["study", "extend", "s", "--dir", "{runs}", "--trials", "1"],
     "optuna.db' does not exist"),
    ("calibrate-trials-zero", None, ["calibrate", "s", "--dir", "{runs}", "--trials", "0"],
     _limit("trials", 1, 100000, 0)),
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
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    tmp_path, runs, s3_server, monkeypatch, request, name, setup, arguments, message
):
    import ray

    if request.node.get_closest_marker("slow") is None:  # the others are refused before Ray starts
        monkeypatch.setattr(ray, "init", lambda *args, **kwargs: pytest.fail("Ray was started"))
    monkeypatch.chdir(tmp_path)  # relative paths are short in messages, and anything written lands in the tree
    if setup is not None:
        setup(tmp_path)
    before, objects = _tree(tmp_path), s3_keys()
    filled = [argument.format(tmp=tmp_path, runs=runs) for argument in arguments]
    result = CliRunner().invoke(main, filled)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert len(lines[0]) <= LONGEST_LINE
    assert result.stdout == ""
    assert _tree(tmp_path) == before and s3_keys() == objects


def test_the_matrix_covers_120_bad_inputs():
    assert len(CASES) >= 120 and len({_case_id(case) for case in CASES}) == len(CASES)


def _ratings(rows) -> bytes:
    return "".join(f"{user}\t{item}\t3\t0\n" for user, item in rows).encode()


@pytest.mark.parametrize(
    ("rows", "described"),
    [
        # 1,000 ratings of ids up to 20,000: the evaluation's dense users x items tables take 3 GiB.
        ([(k * 20 + 1, k * 20 + 1) for k in range(1000)], "19981 users x 19981 items, and 1 ratings of one user"),
        # One user who rated 40,000 items: their 2,000 test items are ranked against every item at once.
        ([(1, item) for item in range(1, 40_001)] + [(2, 1)], "2 users x 40000 items, and 40000 ratings of one user"),
    ],
    ids=["dense-tables", "one-busy-user"],
)
def test_a_data_set_far_larger_than_movielens_gets_one_warning_line_and_runs(tmp_path, rows, described):
    (tmp_path / "big.data").write_bytes(_ratings(rows))
    result = CliRunner().invoke(main, ["data", "info", "--data", str(tmp_path / "big.data"), "--no-verify"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Warning: ") and described in lines[0], result.stderr
    assert "x MovieLens-100K's" in lines[0] and f"ratings: {len(rows)}" in result.stdout


def test_a_data_set_of_movielens_size_gets_no_warning(tmp_path):
    (tmp_path / "small.data").write_bytes(_ratings((k % 900 + 1, k % 1600 + 1) for k in range(1600)))
    result = CliRunner().invoke(main, ["data", "info", "--data", str(tmp_path / "small.data"), "--no-verify"])
    assert result.exit_code == 0 and result.stderr == "", result.output


def test_large_synthetic_data_is_warned_about_before_a_study_starts(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("mtlstudy.study.run_study", lambda spec, echo: started.append(spec) or {})
    options = ["--dataset-option", "num_users=6000", "--dataset-option", "num_items=6000"]
    result = CliRunner().invoke(main, ["study", "run", "--dir", str(tmp_path), "--dataset", "synthetic", *options])
    assert result.exit_code == 0 and len(started) == 1, result.output
    assert result.stderr.splitlines() == [
        "Warning: synthetic data of 6000 users and 6000 items: every evaluation of a model holds about 0.3 GiB "
        "(6000 users x 6000 items, and 300 ratings of one user), 22x MovieLens-100K's: expect epochs far slower "
        "than README's, or to run out of memory"
    ]
    with pytest.warns(DataSizeWarning, match="synthetic data of 6000 users"):
        check_dataset("synthetic", None, {"num_users": 6000, "num_items": 6000})


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
