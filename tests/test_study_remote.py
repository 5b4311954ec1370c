"""Studies in an object store (``--dir s3://bucket/prefix``), against a local S3 server (moto)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter

import boto3
import optuna
import pandas as pd
import pytest
import ray
import yaml
from click.testing import CliRunner

from _s3 import BUCKET, s3_environment, s3_keys
from mtlstudy._errors import ConfigError, StudyError
from mtlstudy._schema import EPOCH_METRICS
from mtlstudy.cli import main
from mtlstudy.study import load_export, open_dashboard, open_study, resolve_spec, study_status
from mtlstudy.study._layout import StudyFiles, local_study_dir, study_names
from mtlstudy.study._reconcile import Reconciled, reconcile
from mtlstudy.study._searcher import StudySearcher
from mtlstudy.study._database import StudyDatabase, open_storage
from mtlstudy.trainables import CHECKPOINT_FILE, split_config
from mtlstudy.training import TrainConfig, Trainer, load_split

DIR = f"s3://{BUCKET}/runs"


def _read(key: str) -> bytes:
    return boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_study_files_read_write_and_list_the_same_on_s3_and_on_a_local_disk(s3_server, tmp_path):
    for files in (StudyFiles(DIR, "s"), StudyFiles(tmp_path, "s")):
        assert not files.exists() and files.read_bytes("study.yaml") is None and files.folders("ray") == []
        files.write_bytes(b"name: s\n", "study.yaml")
        files.write_bytes(b"state", "ray", "t1", "checkpoint_000002", "trainer.pt")
        files.write_bytes(b"", "ray", "t1", "checkpoint_000010", "trainer.pt")
        assert files.exists() and files.read_bytes("study.yaml") == b"name: s\n"
        assert files.folders("ray", "t1", prefix="checkpoint_") == ["checkpoint_000002", "checkpoint_000010"]
        with files.local_file(files.path("ray", "t1", "checkpoint_000002", "trainer.pt")) as local:
            assert local.read_bytes() == b"state"
        with files.local_file(files.path("missing.pt")) as local:
            assert not local.exists()
    assert _read("runs/s/study.yaml") == b"name: s\n" and (tmp_path / "s" / "study.yaml").read_bytes() == b"name: s\n"
    assert StudyFiles(DIR, "s").uri("ray", "t1") == f"{DIR}/s/ray/t1"
    assert StudyFiles(tmp_path, "s").uri("ray", "t1") == str(tmp_path / "s" / "ray" / "t1")
    assert study_names(DIR) == study_names(tmp_path) == ["s"]


def test_the_write_check_leaves_nothing_in_the_study_folder_and_names_a_missing_bucket(s3_server):
    StudyFiles(DIR, "s").check_writable()
    assert not StudyFiles(DIR, "s").exists() and not [key for key in s3_keys() if key.startswith("runs/s")]
    with pytest.raises(StudyError, match="cannot use 's3://nope/runs': bucket 'nope' does not exist"):
        StudyFiles("s3://nope/runs", "s").check_writable()


def test_a_remote_dir_needs_a_storage_and_keeps_its_local_pieces_in_the_cache(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="needs --storage"):
        resolve_spec(name="s", dir=DIR, dataset="synthetic")
    with pytest.raises(ConfigError, match="dir must be s3://bucket or s3://bucket/prefix"):
        resolve_spec(name="s", dir="s3://b/p?endpoint_override=x", storage="sqlite:///x.db", dataset="synthetic")
    spec = resolve_spec(name="s", dir=f"{DIR}/", storage=f"sqlite:///{tmp_path}/s.db", dataset="synthetic")
    assert spec.dir == DIR and spec.study_dir == local_study_dir(DIR, "s") == data_dir / "remote" / BUCKET / "runs" / "s"


def test_reconcile_reads_checkpoints_in_s3_and_resumes_from_the_newest_readable_one(s3_server, tmp_path):
    spec = resolve_spec(name="c", dir=DIR, storage=f"sqlite:///{tmp_path / 'c.db'}", epochs=3, dataset="synthetic",
                        dataset_options={"num_users": 30, "num_items": 40}, embedding_dim=4)
    StudySearcher(spec).suggest("cut")
    files = StudyFiles(DIR, "c")
    config = TrainConfig.from_mapping({
        **split_config(spec.fixed_params())[1], "lambda_f": 0.5, "lambda_r": 0.5,
    })
    trainer = Trainer(config, *load_split(config)[:2])
    states = []
    for epoch in (1, 2):  # two checkpoints in the bucket, as a trial uploads them
        trainer.train_epoch()
        trainer.save(tmp_path / CHECKPOINT_FILE)
        states.append((tmp_path / CHECKPOINT_FILE).read_bytes())
        files.write_bytes(states[-1], "ray", "cut", f"checkpoint_00000{epoch}", CHECKPOINT_FILE)
    assert reconcile(StudyDatabase(spec)) == Reconciled(
        ["Optuna trial 0 (run cut): unfinished, resumes from its checkpoint at epoch 2"],
        {"cut": f"{DIR}/c/ray/cut/checkpoint_000002"},
    )

    files.write_bytes(states[1][:1000], "ray", "cut", "checkpoint_000002", CHECKPOINT_FILE)
    (note,), unfinished = reconcile(StudyDatabase(spec))
    assert f"cannot read checkpoint '{DIR}/c/ray/cut/checkpoint_000002/{CHECKPOINT_FILE}'" in note
    assert note.endswith("resumes from its checkpoint at epoch 1")
    assert unfinished == {"cut": f"{DIR}/c/ray/cut/checkpoint_000001"}
    assert not spec.study_dir.exists()  # read in the bucket, nothing local


# --- Real-Ray studies ----------------------------------------------------------------------------

DATA = ["--dataset", "synthetic", "--dataset-option", "num_users=40", "--dataset-option", "num_items=50",
        "--embedding-dim", "8"]


@pytest.fixture(scope="module")
def s3_ray(s3_endpoint):
    """One local Ray for the module, started with the S3 environment so that its workers reach the server."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in s3_environment(s3_endpoint).items():
            patch.setenv(key, value)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()


def _invoke(*arguments: str):
    result = CliRunner().invoke(main, list(arguments))
    assert result.exit_code == 0, result.output
    return result


def _metrics_csv(name: str, trial_id: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(_read(f"runs/{name}/ray/{trial_id}/metrics.csv")))


@pytest.mark.slow
def test_a_study_in_s3_is_read_back_with_no_local_study_folder(s3_ray, s3_server, tmp_path):
    storage = f"sqlite:///{tmp_path / 'r.db'}"
    _invoke("study", "run", "--name", "r", "--dir", DIR, "--storage", storage, "--trials", "2", "--epochs", "3", *DATA)
    keys = s3_keys("runs/r/")
    assert "runs/r/study.yaml" in keys
    spec = open_study("r", DIR).spec
    assert spec.storage == storage and sorted(os.listdir(spec.study_dir)) == [".lock", "ray-driver.log"]
    shutil.rmtree(spec.study_dir)  # nothing local is read from here on

    assert study_status("r", DIR).states == {"COMPLETE": 2}
    assert "r: 2/2 trials complete" in _invoke("study", "list", "--dir", DIR).output
    trials, epochs = load_export("r", DIR), load_export("r", DIR, epochs=True)
    assert (trials["state"] == "COMPLETE").all() and (trials["epochs_trained"] == 3).all()
    for trial_id in trials["trial_id"]:  # what Ray uploaded: every epoch, and the HParams written at the end
        metrics = _metrics_csv("r", trial_id)
        assert metrics["epoch"].tolist() == [1, 2, 3]
        rows = epochs.loc[epochs["trial_id"] == trial_id, ["epoch", *EPOCH_METRICS]].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows, metrics[["epoch", *EPOCH_METRICS]])
        assert f"runs/r/ray/{trial_id}/events.out.tfevents.mtlstudy.hparams" in keys
    assert not spec.study_dir.exists()

    exported = _invoke("export", "r", "--dir", DIR, "--epochs", "-o", str(tmp_path / "e.csv"))
    assert len(pd.read_csv(tmp_path / "e.csv")) == 6 and not spec.study_dir.exists(), exported.output
    reported = _invoke("report", "r", "--dir", DIR)
    assert (spec.study_dir / "report" / "index.html").is_file(), reported.output  # the default: the working folder
    assert _invoke("study", "resume", "r", "--dir", DIR).output.startswith("reconcile: every trial has ended")

    with open_dashboard("r", DIR, optuna_port=0, tensorboard_port=0) as board:  # TensorBoard reads the bucket
        deadline = time.monotonic() + 60
        while not (runs := _get(f"{board.tensorboard_url}data/runs")) and time.monotonic() < deadline:
            time.sleep(1)  # TensorBoard loads in the background
        assert sorted(runs) == sorted(trials["trial_id"])
        assert _get(f"{board.optuna_url}api/studies")["study_summaries"][0]["study_name"] == "r"


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _driver_mid_trial(name: str, storage: str) -> subprocess.Popen:
    """A study driver, returned once its first trial has saved its second checkpoint in S3 (epoch 4 of 10)."""
    command = [os.path.join(os.path.dirname(sys.executable), "mtlstudy"), "study", "run", "--name", name, "--dir", DIR,
               "--storage", storage, *KILLED]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if any(key.endswith("checkpoint_000001/trainer.pt") for key in s3_keys(f"runs/{name}/ray/")):
            return driver
        time.sleep(0.05)
    driver.kill()
    pytest.fail(f"no checkpoint was written: {driver.communicate()[0]}")


# Epochs of ~0.2 s (batches of 16), so that a driver can be killed in the middle of a trial.
KILLED = ["--trials", "2", "--epochs", "10", "--concurrency", "1", "--checkpoint-every", "2",
          "--dataset", "synthetic", "--batch-size", "16"]


@pytest.mark.slow
@pytest.mark.parametrize("cut", ["mid-trial", "mid-trial-corrupt-checkpoint"])
def test_a_study_in_s3_killed_mid_trial_resumes_with_every_epoch_once(s3_ray, s3_server, tmp_path, cut):
    whole = _invoke("study", "run", "--name", "k", "--dir", str(tmp_path / "local"), *KILLED)
    uninterrupted = load_export("k", tmp_path / "local", epochs=True)

    storage = f"sqlite:///{tmp_path / 'k.db'}"
    driver = _driver_mid_trial("k", storage)
    driver.kill()
    driver.communicate(timeout=60)
    study = optuna.load_study(study_name="k", storage=open_storage(storage))
    assert sum(trial.state.name == "COMPLETE" for trial in study.get_trials()) < 2, whole.output
    shutil.rmtree(open_study("k", DIR).spec.study_dir)  # resumed from another machine: only S3 and the database
    if cut == "mid-trial-corrupt-checkpoint":
        newest = max(key for key in s3_keys("runs/k/ray/") if key.endswith("/trainer.pt"))
        boto3.client("s3").put_object(Bucket=BUCKET, Key=newest, Body=_read(newest)[:1000])

    resumed = _invoke("study", "resume", "k", "--dir", DIR)
    assert "2/2 trials complete" in resumed.output
    if cut == "mid-trial":
        assert "unfinished, resumes from its checkpoint at epoch" in resumed.output
    else:  # named as the object it is, then the previous checkpoint if Ray had not deleted it yet, else a fresh start
        assert re.search(
            rf"checkpoint 's3://{BUCKET}/{re.escape(newest)}'.*; (it restarts from epoch 1|resumes from its checkpoint at epoch 2)\n",
            resumed.output,
        ), resumed.output
    states = Counter(trial.state.name for trial in study.get_trials())
    assert states["COMPLETE"] == 2 and set(states) <= {"COMPLETE", "FAIL"}  # a trial being asked for stays FAIL
    epochs = load_export("k", DIR, epochs=True)
    for trial_id in epochs["trial_id"].unique():
        assert _metrics_csv("k", trial_id)["epoch"].tolist() == list(range(1, 11))
    columns = ["shared", "lambda_f", "epoch", *EPOCH_METRICS]
    pd.testing.assert_frame_equal(  # the same numbers as the uninterrupted study on a local disk
        epochs[columns].sort_values(["lambda_f", "epoch"]).reset_index(drop=True),
        uninterrupted[columns].sort_values(["lambda_f", "epoch"]).reset_index(drop=True),
    )


@pytest.mark.slow
def test_a_study_in_s3_gets_its_replicates_and_its_grown_budget_in_the_bucket(s3_ray, s3_server, tmp_path):
    storage = f"sqlite:///{tmp_path / 'p.db'}"
    _invoke("study", "run", "--name", "p", "--dir", DIR, "--storage", storage, "--trials", "2", "--epochs", "2",
            "--replicates", "1", *DATA)
    trials = load_export("p", DIR)
    replicates = trials[trials["role"] == "replicate"]
    assert len(replicates) >= 1 and (replicates["epochs_trained"] == 2).all() and (replicates["seed"] > 0).all()
    assert yaml.safe_load(_read("runs/p/study.yaml"))["trials"] == len(trials) == 2 + len(replicates)
