"""Real studies: local Ray with 2 CPUs, Optuna on SQLite, tiny synthetic data."""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import optuna
import pandas as pd
import pytest
import ray
import yaml
from click.testing import CliRunner
from ray import tune

from _processes import command_line, descendants
from mtlstudy._dominance import nondominated_ranks
from mtlstudy._schema import EPOCH_METRICS, TENSORBOARD_TAGS
from mtlstudy.cli import main
from mtlstudy.study import (
    EPOCH_COLUMNS, HPARAMS_METRICS, TRIAL_COLUMNS, load_export, load_rungs, resolve_spec, run_study,
)
from mtlstudy.study._lock import lock_owner
from mtlstudy.trainables import train_trial
from mtlstudy.training import HPARAMS_TAG_PREFIX
from tensorboard_events import read_scalars, scalar_events

pytestmark = pytest.mark.slow

DATA = ["--dataset", "synthetic", "--dataset-option", "num_users=40", "--dataset-option", "num_items=50",
        "--embedding-dim", "8", "--checkpoint-every", "1"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _optuna_trials(study_dir, name):
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{study_dir / 'optuna.db'}")
    return study.get_trials(deepcopy=False)


def _ray_trials(study_dir):
    return {t.trial_id: t.status for t in tune.ExperimentAnalysis(str(study_dir / "ray")).trials}


def _mtlstudy(*arguments):
    return [os.path.join(os.path.dirname(sys.executable), "mtlstudy"), *arguments]


def _driver_with_finished_trials(command, study_dir, name, finished):
    """Start a study driver and return it once ``finished`` of its trials are COMPLETE or PRUNED."""
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:  # the study is read only once the driver has created its database
            if (study_dir / "optuna.db").exists() and sum(
                t.state.name in ("COMPLETE", "PRUNED") for t in _optuna_trials(study_dir, name)
            ) >= finished:
                return driver
        except Exception:  # the study is being created
            pass
        time.sleep(0.1)
    driver.kill()
    pytest.fail(f"no trial finished: {driver.communicate()[0]}")


def test_study_completes_and_is_readable(local_ray, tmp_path):
    spec = resolve_spec(
        name="done", trials=3, epochs=2, dataset="synthetic", embedding_dim=8,
        dataset_options={"num_users": 40, "num_items": 50}, dir=str(tmp_path), value="best",
    )
    assert run_study(spec, echo=lambda line: None) == {"COMPLETE": 3}
    study_dir = tmp_path / "done"
    ray_trials = _ray_trials(study_dir)
    optuna_trials = _optuna_trials(study_dir, "done")
    assert sorted(ray_trials.values()) == ["TERMINATED"] * 3
    assert sorted(t.user_attrs["ray_trial_id"] for t in optuna_trials) == sorted(ray_trials)
    assert all(t.state.name == "COMPLETE" for t in optuna_trials)
    assert (study_dir / "study.yaml").exists()
    hparams_tags = {f"{HPARAMS_TAG_PREFIX}{metric}" for metric in HPARAMS_METRICS}
    for trial_id in ray_trials:  # each trial's own TensorBoard events (SPEC.md's tags, and its HParams) and metrics.csv
        assert set(read_scalars(study_dir / "ray" / trial_id)) == {*TENSORBOARD_TAGS.values(), *hparams_tags}
        assert len(pd.read_csv(study_dir / "ray" / trial_id / "metrics.csv")) == 2
    # Ray's own result tables read the study.
    analysis = tune.ExperimentAnalysis(str(study_dir / "ray")).dataframe()
    assert sorted(analysis["trial_id"]) == sorted(ray_trials) and (analysis["epoch"] == 2).all()
    results = tune.Tuner.restore(str(study_dir / "ray"), trainable=train_trial).get_results().get_dataframe()
    assert sorted(results["trial_id"]) == sorted(ray_trials) and "objective_test_mse" in results

    trials = load_export("done", tmp_path)
    assert list(trials.columns) == list(TRIAL_COLUMNS) and len(trials) == 3
    assert trials["number"].tolist() == [0, 1, 2] and set(trials["state"]) == {"COMPLETE"}
    by_number = {t.number: t for t in optuna_trials}
    for row in trials.itertuples():  # value "best": Optuna holds the best-epoch values
        assert by_number[row.number].values == pytest.approx([row.best_test_mse, row.best_test_mrr])
        assert row.lambda_r == pytest.approx(1 - row.lambda_f)
    epochs = load_export("done", tmp_path, epochs=True)
    assert list(epochs.columns) == list(EPOCH_COLUMNS) and len(epochs) == 6

    runner = CliRunner()
    status = runner.invoke(main, ["study", "status", "done", "--dir", str(tmp_path)])
    assert status.exit_code == 0 and "3 COMPLETE (of 3)" in status.output and "Pareto set" in status.output
    listing = runner.invoke(main, ["study", "list", "--dir", str(tmp_path)])
    assert listing.exit_code == 0 and "done: 3/3 trials complete" in listing.output
    out = tmp_path / "trials.parquet"
    exported = runner.invoke(main, ["export", "done", "--dir", str(tmp_path), "--format", "parquet", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    pd.testing.assert_frame_equal(pd.read_parquet(out), trials)
    epoch_csv = runner.invoke(main, ["export", "done", "--dir", str(tmp_path), "--epochs"])
    assert epoch_csv.exit_code == 0
    assert len(pd.read_csv(study_dir / "done-epochs.csv")) == 6
    again = runner.invoke(main, ["study", "run", "--name", "done", "--dir", str(tmp_path), *DATA])
    assert again.exit_code == 2 and "already exists" in again.output

    reported = runner.invoke(main, ["report", "done", "--dir", str(tmp_path), "--mse-budget", "100"])
    assert reported.exit_code == 0, reported.output
    report_dir = study_dir / "report"
    assert {"index.html", "report.md", "pareto.csv", "tradeoff.csv", "summary.json"} <= {
        path.name for path in report_dir.iterdir()
    }
    assert len(list((report_dir / "figures").glob("*.png"))) >= 5
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["counts"]["complete"] == 3
    pareto = pd.read_csv(report_dir / "pareto.csv")
    assert set(pareto["trial_id"]) <= set(trials["trial_id"]) and len(pareto) >= 1


@pytest.mark.parametrize("pack", ["1", "4"])
def test_reproduce_runs_the_seed_grid_compares_and_reports(local_ray, tmp_path, pack):
    result = CliRunner().invoke(
        main, ["reproduce", "--epochs", "2", "--seeds", "2", "--pack", pack, "--dir", str(tmp_path), *DATA]
    )
    assert result.exit_code == 0, result.output
    trials = load_export("reproduce", tmp_path)
    assert len(trials) == 10 and set(trials["state"]) == {"COMPLETE"}
    seeds = trials.groupby(["shared", "lambda_f", "lambda_r", "user_bias"])["seed"].apply(sorted).to_dict()
    assert seeds == {
        (False, 0.5, 0.5, False): [0, 1],
        (False, 0.99, 0.01, False): [0, 1],
        (True, 0.5, 0.5, False): [0, 1],
        (True, 0.99, 0.01, False): [0, 1],
        (True, 0.99, 0.01, True): [0, 1],
    }
    for tag in TENSORBOARD_TAGS.values():  # every metric, published beside ours
        assert result.output.count(tag) == 4
    assert "ours, best epoch" in result.output and "The published runs trained for 200 epochs" in result.output
    assert (tmp_path / "reproduce" / "report" / "index.html").exists()


@pytest.mark.parametrize("interrupt", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "killed"])
def test_interrupted_study_resumes_to_exactly_its_budget(local_ray, tmp_path, interrupt):
    budget = 5
    command = [os.path.join(os.path.dirname(sys.executable), "mtlstudy"), "study", "run", "--name", "cut", "--trials", str(budget),
               "--epochs", "3", "--concurrency", "1", "--dir", str(tmp_path), *DATA]
    study_dir = tmp_path / "cut"
    driver = _driver_with_finished_trials(command, study_dir, "cut", 1)

    # A second launch while the first runs is refused and changes nothing.
    second = CliRunner().invoke(main, ["study", "resume", "cut", "--dir", str(tmp_path)])
    assert second.exit_code == 2 and f"in use by process {driver.pid}" in second.output

    driver.send_signal(interrupt)
    output = driver.communicate(timeout=60)[0]
    if interrupt != signal.SIGKILL:  # Ray Tune stops cleanly and we say how to go on, from any folder
        assert driver.returncode == 130, output
        assert output.count("Error: ") == 1 and "Aborted" not in output and "Traceback" not in output, output
        assert f"continue with `mtlstudy study resume cut --dir {tmp_path}`" in output
    before = _optuna_trials(study_dir, "cut")
    assert sum(t.state.name == "COMPLETE" for t in before) < budget

    resumed = CliRunner().invoke(main, ["study", "resume", "cut", "--dir", str(tmp_path)])
    assert resumed.exit_code == 0, resumed.output
    assert "reconcile:" in resumed.output

    assert set(_ray_trials(study_dir).values()) == {"TERMINATED"}  # the resume's own Ray experiment
    after = _optuna_trials(study_dir, "cut")
    complete = [t for t in after if t.state.name == "COMPLETE"]
    assert not [t for t in after if t.state.name == "RUNNING"]
    names = {t.user_attrs["ray_trial_id"] for t in complete}  # a resumed trial keeps its name and its folder
    assert len(names) == budget and all((study_dir / "ray" / name / "metrics.csv").is_file() for name in names)
    params = [tuple(sorted(t.params.items())) for t in complete]
    assert len(set(params)) == len(params) == budget
    for before_trial in before:  # completed trials were not rerun
        if before_trial.state.name == "COMPLETE":
            assert after[before_trial.number].values == before_trial.values
    trials = load_export("cut", tmp_path)
    assert (trials["state"] == "COMPLETE").sum() == budget and trials["trial_id"].is_unique
    assert lock_owner(study_dir) is None


def _kill_a_driver_after(options, directory, name, finished):
    """Run ``study run`` with ``options`` in a driver process and SIGKILL it once ``finished`` trials are done."""
    command = [os.path.join(os.path.dirname(sys.executable), "mtlstudy"), "study", "run", "--name", name,
               "--dir", str(directory), *options]
    driver = _driver_with_finished_trials(command, directory / name, name, finished)
    driver.kill()
    driver.communicate(timeout=60)


def _history(study_dir, name):
    """(parameters, state, stopped epoch, rung records) of each trial that counts, in creation order."""
    return [
        (t.user_attrs["params"], t.state.name, t.user_attrs.get("stopped_epoch"), t.user_attrs.get("rungs", []))
        for t in _optuna_trials(study_dir, name)
        if t.state.name != "FAIL" and "params" in t.user_attrs  # a driver killed inside an ask leaves one without
    ]


@pytest.mark.parametrize("rule", ["moasha", "moasha+arch", "moasha+arch+stable"])
def test_early_stopping_killed_and_resumed_decides_as_an_uninterrupted_study(local_ray, tmp_path, rule):
    budget = 8
    options = ["--trials", str(budget), "--epochs", "8", "--early-stopping", rule, "--grace-epochs", "1",
               "--reduction-factor", "2", "--concurrency", "1", *DATA]
    whole = CliRunner().invoke(main, ["study", "run", "--name", "es", "--dir", str(tmp_path / "whole"), *options])
    assert whole.exit_code == 0, whole.output
    uninterrupted = _history(tmp_path / "whole" / "es", "es")
    states = [state for _, state, _, _ in uninterrupted]
    assert len(states) == budget and set(states) == {"COMPLETE", "PRUNED"}, states
    assert f"{budget}/{budget} trials complete, {states.count('PRUNED')} of them stopped early" in whole.output

    study_dir = tmp_path / "cut" / "es"
    _kill_a_driver_after(options, tmp_path / "cut", "es", finished=3)
    assert len(_history(study_dir, "es")) < budget or any(s == "RUNNING" for _, s, _, _ in _history(study_dir, "es"))

    resumed = CliRunner().invoke(main, ["study", "resume", "es", "--dir", str(tmp_path / "cut")])
    assert resumed.exit_code == 0, resumed.output
    assert _history(study_dir, "es") == uninterrupted  # same trials, same rung records, same decisions
    # Every trial that ran ended once; the only other kind is an ask the kill interrupted before it got
    # parameters, which never ran and which resume marks FAIL (as _history's filter says).
    ran = [t for t in _optuna_trials(study_dir, "es") if "params" in t.user_attrs]
    assert {t.state.name for t in ran} == {"COMPLETE", "PRUNED"} and len(ran) == budget
    assert all(t.state.name == "FAIL" for t in _optuna_trials(study_dir, "es") if "params" not in t.user_attrs)

    trials = load_export("es", tmp_path / "cut")
    assert trials["trial_id"].is_unique and len(trials) == budget
    assert set(trials["state"]) == {"COMPLETE", "PRUNED"}
    pruned = trials[trials["state"] == "PRUNED"]
    assert (pruned["stopped_epoch"] == pruned["epochs_trained"]).all() and (pruned["stopped_epoch"] < 8).all()
    assert trials.loc[trials["state"] == "COMPLETE", "stopped_epoch"].isna().all()
    rungs = load_rungs("es", tmp_path / "cut")
    levels = {1, 2, 4, 8} if "stable" in rule else {1, 2, 4}  # +stable records the last epoch too
    assert set(rungs["rung"]) <= levels and set(rungs["trial_id"]) == set(trials["trial_id"])
    last_rung = rungs.sort_values("rung").groupby("trial_id").last()
    assert (~last_rung.loc[pruned["trial_id"], "promoted"]).all()
    status = CliRunner().invoke(main, ["study", "status", "es", "--dir", str(tmp_path / "cut")])
    spent = int(trials["epochs_trained"].sum())
    assert f"trial-epochs: {spent:,} spent of {budget * 8:,} without early stopping" in status.output
    listing = CliRunner().invoke(main, ["study", "list", "--dir", str(tmp_path / "cut")])
    assert f"es: {budget}/{budget} trials complete ({len(pruned)} stopped early)" in listing.output
    reported = CliRunner().invoke(main, ["report", "es", "--dir", str(tmp_path / "cut")])
    assert reported.exit_code == 0, reported.output
    summary = json.loads((study_dir / "report" / "summary.json").read_text())
    assert summary["early_stopping"]["stopped"] == len(pruned) and summary["early_stopping"]["trial_epochs"] == spent
    assert "<h2>Early stopping</h2>" in (study_dir / "report" / "index.html").read_text()


def test_packed_early_stopping_killed_and_resumed_ends_like_an_uninterrupted_study(local_ray, tmp_path):
    budget, epochs = 7, 8
    options = ["--trials", str(budget), "--pack", "3", "--epochs", str(epochs), "--early-stopping", "moasha",
               "--grace-epochs", "1", "--reduction-factor", "2", "--concurrency", "1", *DATA]
    whole = CliRunner().invoke(main, ["study", "run", "--name", "pk", "--dir", str(tmp_path / "whole"), *options])
    assert whole.exit_code == 0, whole.output
    uninterrupted = _history(tmp_path / "whole" / "pk", "pk")
    assert len(uninterrupted) == budget and {state for _, state, _, _ in uninterrupted} <= {"COMPLETE", "PRUNED"}
    # Three Ray trials: two packs of three and one of one, each pack of one architecture.
    ray_ids = {t.user_attrs["ray_trial_id"].split("/")[0] for t in _optuna_trials(tmp_path / "whole" / "pk", "pk")}
    assert len(ray_ids) == 3

    study_dir = tmp_path / "cut" / "pk"
    _kill_a_driver_after(options, tmp_path / "cut", "pk", finished=3)
    resumed = CliRunner().invoke(main, ["study", "resume", "pk", "--dir", str(tmp_path / "cut")])
    assert resumed.exit_code == 0, resumed.output
    assert _history(study_dir, "pk") == uninterrupted  # same members, same rung records, same decisions

    trials, whole_trials = load_export("pk", tmp_path / "cut"), load_export("pk", tmp_path / "whole")
    assert len(trials) == budget and trials["trial_id"].str.fullmatch(r"\w+/m[0-2]").all()
    assert (trials["epochs_trained"] == trials["stopped_epoch"].fillna(epochs)).all()
    pd.testing.assert_series_equal(trials["final_test_mse"], whole_trials["final_test_mse"])
    epochs_table = load_export("pk", tmp_path / "cut", epochs=True)
    assert not epochs_table.duplicated(["trial_id", "epoch"]).any()
    assert epochs_table.groupby("trial_id")["epoch"].max().to_dict() == trials.set_index("trial_id")["epochs_trained"].to_dict()
    for trial_id in trials["trial_id"]:  # each member logs SPEC.md's tags, and its HParams, in its own folder
        tags = set(read_scalars(study_dir / "ray" / trial_id))
        assert tags == {*TENSORBOARD_TAGS.values(), *(f"{HPARAMS_TAG_PREFIX}{name}" for name in HPARAMS_METRICS)}


# Epochs of ~0.2 s (batches of 16), so that a driver can be killed in the middle of a trial.
KILLED = ["--trials", "2", "--epochs", "10", "--concurrency", "1", "--checkpoint-every", "2",
          "--dataset", "synthetic", "--batch-size", "16"]


def _epoch_logs(directory, name):
    """(shared, lambda_f) of each complete trial -> (metrics.csv, export epoch rows, TensorBoard (tag, step)
    counts, TensorBoard values)."""
    study_dir = directory / name
    epochs = load_export(name, directory, epochs=True)
    trials = load_export(name, directory)
    logs = {}
    for row in trials[trials["state"] == "COMPLETE"].itertuples():
        trial_dir = study_dir / "ray" / row.trial_id
        rows = epochs.loc[epochs["trial_id"] == row.trial_id, ["epoch", *EPOCH_METRICS]].reset_index(drop=True)
        events = scalar_events(trial_dir)
        logs[(row.shared, row.lambda_f)] = (
            pd.read_csv(trial_dir / "metrics.csv")[["epoch", *EPOCH_METRICS]],
            rows,
            Counter((tag, step) for tag, step, _ in events),
            {(tag, step): value for tag, step, value in events},
        )
    return logs


@pytest.fixture(scope="module")
def uninterrupted_logs(local_ray, tmp_path_factory):
    directory = tmp_path_factory.mktemp("whole")
    result = CliRunner().invoke(main, ["study", "run", "--name", "k", "--dir", str(directory), *KILLED])
    assert result.exit_code == 0, result.output
    logs = _epoch_logs(directory, "k")
    every_epoch_once = Counter({(tag, step): 1 for tag in TENSORBOARD_TAGS.values() for step in range(1, 11)})
    every_epoch_once.update({(f"{HPARAMS_TAG_PREFIX}{name}", 10): 1 for name in HPARAMS_METRICS})  # once, at the end
    assert len(logs) == 2 and all(events == every_epoch_once for _, _, events, _ in logs.values())
    return logs


def _assert_logged_as(logs, expected):
    """``logs`` (see :func:`_epoch_logs`) hold the trials and values of ``expected``, every epoch of every tag once."""
    assert sorted(logs) == sorted(expected)
    for trial, (metrics, rows, events, values) in logs.items():
        expected_metrics, expected_rows, expected_events, expected_values = expected[trial]
        pd.testing.assert_frame_equal(metrics, expected_metrics)
        pd.testing.assert_frame_equal(rows, expected_rows)
        assert events == expected_events and values == expected_values


def _driver_mid_trial(command, study_dir):
    """Start a study driver and return it once its first trial has saved its second checkpoint (epoch 4 of 10);
    Ray saves its experiment state after each checkpoint, so by then that state names one."""
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300  # as _driver_with_finished_trials: a busy machine starts Ray slowly
    while time.monotonic() < deadline:
        if list(study_dir.glob("ray/*/checkpoint_000001/trainer.pt")):
            return driver
        time.sleep(0.02)
    driver.kill()
    pytest.fail(f"no checkpoint was written: {driver.communicate()[0]}")


@pytest.mark.parametrize("cut", ["mid-trial", "mid-trial-corrupt-checkpoint", "just-after-a-trial-finished"])
def test_a_killed_study_resumes_with_every_epoch_logged_exactly_once(local_ray, tmp_path, uninterrupted_logs, cut):
    study_dir = tmp_path / "k"
    command = _mtlstudy("study", "run", "--name", "k", "--dir", str(tmp_path), *KILLED)
    if cut == "just-after-a-trial-finished":
        driver = _driver_with_finished_trials(command, study_dir, "k", 1)
    else:
        driver = _driver_mid_trial(command, study_dir)
    driver.kill()
    driver.communicate(timeout=60)
    assert sum(t.state.name == "COMPLETE" for t in _optuna_trials(study_dir, "k")) < 2
    if cut == "mid-trial-corrupt-checkpoint":
        newest = max(study_dir.glob("ray/*/checkpoint_*/trainer.pt"), key=lambda path: path.parent.name)
        newest.write_bytes(newest.read_bytes()[:1000])

    resumed = CliRunner().invoke(main, ["study", "resume", "k", "--dir", str(tmp_path)])
    assert resumed.exit_code == 0, resumed.output
    if cut == "mid-trial":
        assert "unfinished, resumes from its checkpoint at epoch" in resumed.output
    if cut == "mid-trial-corrupt-checkpoint":
        # Named, then the previous checkpoint if Ray had not deleted it yet, else a fresh start.
        assert re.search(
            rf"checkpoint '{re.escape(str(newest))}'.*; "
            r"(resumes from epoch 1|resumes from its checkpoint at epoch 2)\n",
            resumed.output,
        ), resumed.output
    assert "2/2 trials complete" in resumed.output
    states = Counter(t.state.name for t in _optuna_trials(study_dir, "k"))
    # A trial the killed driver was asking for stays on record as FAIL; nothing is left RUNNING.
    assert states["COMPLETE"] == 2 and set(states) <= {"COMPLETE", "FAIL"}
    assert set(_ray_trials(study_dir).values()) == {"TERMINATED"}
    _assert_logged_as(_epoch_logs(tmp_path, "k"), uninterrupted_logs)


class _Planted:
    """A pickle that creates a file when unpickled, as one planted in a shared study directory might."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _tree(folder):
    """Every file under ``folder`` -> its bytes."""
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _settled(folder, quiet=3.0, limit=120.0):
    """Wait until nothing under ``folder`` has changed for ``quiet`` seconds: a SIGKILLed driver's Ray
    workers write their trials' logs into the study until Ray stops them."""
    deadline, last = time.monotonic() + limit, None
    while time.monotonic() < deadline:
        now = {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}
        if now == last:
            return
        last = now
        time.sleep(quiet)
    pytest.fail(f"{folder} kept changing for {limit:.0f} s after its driver was killed")


@pytest.mark.parametrize("place", ["in-place", "copied", "moved"])
def test_a_killed_study_resumes_from_its_database_and_checkpoints_alone(local_ray, tmp_path, uninterrupted_logs, place):
    first = tmp_path / "first"
    driver = _driver_mid_trial(_mtlstudy("study", "run", "--name", "k", "--dir", str(first), *KILLED), first / "k")
    driver.kill()
    driver.communicate(timeout=60)
    _settled(first / "k")
    # Ray's saved state, pickled or naming this folder, is where code or a path could come from.
    ran = tmp_path / "ran"
    pickles = [path for path in (first / "k").rglob("*.pkl") if path.is_file()]
    assert {"tuner.pkl", "params.pkl"} <= {path.name for path in pickles}
    assert any(path.name.startswith("searcher-state") for path in pickles)
    for path in pickles:
        path.write_bytes(pickle.dumps(_Planted(ran)))
    for path in (first / "k" / "ray").glob("experiment_state*.json"):
        path.write_text("{not json")

    directory = first if place == "in-place" else tmp_path / "second"
    if place == "copied":
        shutil.copytree(first, directory, symlinks=True)
    elif place == "moved":
        shutil.move(first, directory)
    original = _tree(first)
    resumed = CliRunner().invoke(main, ["study", "resume", "k", "--dir", str(directory)])
    assert resumed.exit_code == 0, resumed.output
    assert "unfinished, resumes from its checkpoint at epoch" in resumed.output
    assert not ran.exists()  # nothing was unpickled
    if place != "in-place":  # the original is left as it was (or stays gone)
        assert _tree(first) == original and first.exists() == (place == "copied")
    assert Counter(t.state.name for t in _optuna_trials(directory / "k", "k"))["COMPLETE"] == 2
    _assert_logged_as(_epoch_logs(directory, "k"), uninterrupted_logs)


def _trial_workers(driver_pid):
    """PIDs of the Ray workers that run trials (Ray names them ``ray::ImplicitFunc...``) under the driver ``driver_pid``."""
    return [pid for pid in descendants(driver_pid) if command_line(pid).startswith("ray::ImplicitFunc")]


@pytest.mark.parametrize("max_failures", [0, 1])
def test_a_worker_killed_mid_trial_ends_with_the_exact_budget_and_distinct_trials(local_ray, tmp_path, max_failures):
    budget = 3
    command = _mtlstudy("study", "run", "--name", "w", "--dir", str(tmp_path), *KILLED, "--trials", str(budget),
                        "--concurrency", "2", "--max-failures", str(max_failures), "--sampler", "random")
    study_dir = tmp_path / "w"
    driver = _driver_mid_trial(command, study_dir)
    (worker, *_) = _trial_workers(driver.pid)
    os.kill(worker, signal.SIGKILL)
    output = driver.communicate(timeout=300)[0]
    assert driver.returncode == (1 if max_failures == 0 else 0), output
    assert "Traceback" not in output and "unfinished" not in output, output  # no resume needed

    trials = [t for t in _optuna_trials(study_dir, "w") if "params" in t.user_attrs]
    states = Counter(t.state.name for t in trials)
    assert len(trials) == budget and states == ({"COMPLETE": 2, "FAIL": 1} if max_failures == 0 else {"COMPLETE": 3})
    assert len({tuple(sorted(t.params.items())) for t in trials}) == budget  # distinct, not a running trial's copy
    if max_failures == 0:
        (failed,) = [t for t in trials if t.state.name == "FAIL"]
        assert failed.user_attrs["failure"].startswith("its worker died"), failed.user_attrs["failure"]
        assert f"trial(s) failed: {failed.user_attrs['ray_trial_id']} (its worker died" in output
    else:  # the killed trial went on from its checkpoint, and logged every epoch once
        for trial in trials:
            assert pd.read_csv(study_dir / "ray" / trial.user_attrs["ray_trial_id"] / "metrics.csv")["epoch"].tolist() == list(range(1, 11))


def test_diverged_trials_fail_with_their_reason_and_the_study_exits_1(local_ray, tmp_path):
    options = ["--trials", "2", "--epochs", "3", "--lr", "1e6", "--dir", str(tmp_path), *DATA]
    result = CliRunner().invoke(main, ["study", "run", "--name", "nan", *options])
    assert result.exit_code == 1, result.output
    trials = load_export("nan", tmp_path)
    assert set(trials["state"]) == {"FAIL"} and trials["failure"].str.match(r"diverged at epoch 1: non-finite ").all()
    assert (trials["epochs_trained"] == 1).all()  # stopped at the epoch it diverged
    assert result.output.count("diverged at epoch 1: non-finite ") == 4  # as each ended, and in the summary
    failed = result.output.strip().splitlines()[-1]
    assert failed.startswith("2 trial(s) failed: ")
    for row in trials.itertuples():
        assert f"{row.trial_id} ({row.failure}, logs in {tmp_path / 'nan' / 'ray' / row.trial_id})" in failed
    optuna_trials = _optuna_trials(tmp_path / "nan", "nan")
    assert [t.user_attrs["failure"] for t in optuna_trials] == trials["failure"].tolist()
    status = CliRunner().invoke(main, ["study", "status", "nan", "--dir", str(tmp_path)])
    assert status.exit_code == 0 and "2 FAIL" in status.output


def _x(row):
    """ln(λ_F/λ_R) of an export row: logit(λ_F) on the simplex."""
    return math.log(row["lambda_f"] / row["lambda_r"])


@pytest.mark.parametrize("pack", ["1", "2"])
def test_replicates_extend_and_calibrate_add_fully_trained_trials(local_ray, tmp_path, pack):
    epochs, options = 4, ["--epochs", "4", "--early-stopping", "moasha", "--grace-epochs", "1", "--reduction-factor", "2",
                          "--concurrency", "1"]
    run = CliRunner().invoke(main, ["study", "run", "--name", "ph", "--dir", str(tmp_path), "--trials", "4",
                                    "--replicates", "2", "--pack", pack, *options, *DATA])
    assert run.exit_code == 0, run.output
    trials = load_export("ph", tmp_path)
    search, replicates = trials[trials["role"] == "search"], trials[trials["role"] == "replicate"]
    complete = search[search["state"] == "COMPLETE"]
    front = complete[nondominated_ranks(complete[["final_test_mse", "final_test_mrr"]].to_numpy(), ["min", "max"]) == 0]
    assert sorted(replicates["replicate_of"]) == sorted(front["number"].tolist() * 2)
    assert sorted(replicates["seed"]) == list(range(1, 1 + len(replicates)))  # the search used seed 0
    parents = trials.set_index("number").loc[replicates["replicate_of"]]
    for column in ("shared", "lambda_f", "lambda_r", "user_bias"):
        assert replicates[column].tolist() == parents[column].tolist()
    assert (replicates["state"] == "COMPLETE").all() and (replicates["epochs_trained"] == epochs).all()
    assert replicates["stopped_epoch"].isna().all()
    budget = len(trials)
    assert yaml.safe_load((tmp_path / "ph" / "study.yaml").read_text())["trials"] == budget
    assert f"{budget}/{budget} trials complete" in run.output

    # Sampled trials, then a replicate of every complete search trial (so every variant has measured noise).
    named = complete["number"].tolist()
    extended = CliRunner().invoke(main, ["study", "extend", "ph", "--dir", str(tmp_path), "--trials", "2",
                                         "--replicates", "1", "--replicate-trials", ",".join(map(str, named))])
    assert extended.exit_code == 0, extended.output
    grown = load_export("ph", tmp_path)
    added = grown[~grown["number"].isin(trials["number"])]
    extra, more = added[added["role"] == "search"], added[added["role"] == "replicate"]
    assert len(extra) == 2 and (extra["epochs_trained"] == epochs).all() and extra["number"].max() < more["number"].min()
    assert sorted(more["replicate_of"]) == named and (more["epochs_trained"] == epochs).all()
    assert sorted(more["seed"]) == list(range(1 + len(replicates), 1 + len(replicates) + len(named)))
    budget += 2 + len(named)
    assert yaml.safe_load((tmp_path / "ph" / "study.yaml").read_text())["trials"] == budget == len(grown)

    calibrated = CliRunner().invoke(main, ["calibrate", "ph", "--dir", str(tmp_path), "--trials", "4", "--seed", "1",
                                           "--format", "json"])
    assert calibrated.exit_code == 0, calibrated.output
    coverage = json.loads(calibrated.stdout)
    frame = load_export("ph", tmp_path)
    assert len(frame) == budget + 4
    fresh = frame[frame["role"] == "calibration"]
    fitted = frame[(frame["role"] != "calibration") & (frame["state"] == "COMPLETE")]
    assert (fresh["epochs_trained"] == epochs).all() and not set(fresh["seed"]) & set(grown["seed"])
    assert sorted({point["number"] for point in coverage["points"]}) == sorted(fresh["number"])
    for _, row in fresh.iterrows():
        same = fitted[fitted["shared"] == row["shared"]].apply(_x, axis=1)
        assert same.min() - 1e-9 <= _x(row) <= same.max() + 1e-9
    status = CliRunner().invoke(main, ["study", "status", "ph", "--dir", str(tmp_path)])
    assert f"roles: {len(search) + 2} search, {len(replicates) + len(named)} replicate, 4 calibration" in status.output


def test_a_study_killed_in_its_replicate_phase_resumes_to_every_replicate_once(local_ray, tmp_path):
    options = ["--trials", "3", "--epochs", "3", "--concurrency", "1", "--replicates", "2", "--replicate-trials", "0,1", *DATA]
    study_dir = tmp_path / "rk"
    _kill_a_driver_after(options, tmp_path, "rk", finished=4)  # the search and one replicate
    states = Counter((t.user_attrs.get("role"), t.state.name) for t in _optuna_trials(study_dir, "rk") if "params" in t.user_attrs)
    assert states[("replicate", "COMPLETE")] < 4

    resumed = CliRunner().invoke(main, ["study", "resume", "rk", "--dir", str(tmp_path)])
    assert resumed.exit_code == 0, resumed.output
    trials = load_export("rk", tmp_path)
    replicates = trials[trials["role"] == "replicate"]
    assert len(trials) == 7 and set(trials["state"]) == {"COMPLETE"} and trials["trial_id"].is_unique
    assert replicates["replicate_of"].tolist() == [0, 0, 1, 1] and replicates["seed"].tolist() == [1, 2, 3, 4]
    assert (replicates["epochs_trained"] == 3).all()  # every epoch logged exactly once
    assert yaml.safe_load((study_dir / "study.yaml").read_text())["trials"] == 7
