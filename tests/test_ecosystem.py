"""A finished study read by the tools its users already have (issue 10's "Done when").

Ray's ExperimentAnalysis, Optuna's trials_dataframe, TensorBoard's event reader and
``study status --format json`` must all agree with mtlstudy's own export, and
``mtlstudy dashboard`` must serve it and leave no process behind on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest
import ray
from click.testing import CliRunner
from ray import tune
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from _processes import alive, descendants
from mtlstudy.cli import main
from mtlstudy.study import (
    HPARAMS_METRICS,
    TENSORBOARD_DIR,
    load_export,
    resolve_spec,
    run_name,
    run_study,
)

pytestmark = pytest.mark.slow

NAME = "eco"
EPOCHS = 3


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """A finished 3-trial study on tiny synthetic data (value: final epoch)."""
    parent = tmp_path_factory.mktemp("studies")
    spec = resolve_spec(
        name=NAME, trials=3, epochs=EPOCHS, dataset="synthetic", embedding_dim=8,
        dataset_options={"num_users": 40, "num_items": 50}, dir=str(parent),
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert run_study(spec, echo=lambda line: None) == {"COMPLETE": 3}
    finally:
        ray.shutdown()
    return spec.study_dir


def test_ray_optuna_tensorboard_and_status_agree_with_the_export(study_dir):
    trials = load_export(NAME, study_dir.parent)
    assert len(trials) == 3

    ray_rows = tune.ExperimentAnalysis(str(study_dir / "ray")).dataframe().set_index("trial_id")
    optuna_study = optuna.load_study(study_name=NAME, storage=f"sqlite:///{study_dir / 'optuna.db'}")
    assert optuna_study.metric_names == ["test_mse", "test_mrr"]
    optuna_rows = optuna_study.trials_dataframe().set_index("number")

    names = []
    for row in trials.itertuples():
        ray_row = ray_rows.loc[row.trial_id]
        assert ray_row["epoch"] == EPOCHS
        assert ray_row["final_test_mse"] == pytest.approx(row.final_test_mse)
        assert ray_row["best_test_mrr"] == pytest.approx(row.best_test_mrr)

        optuna_row = optuna_rows.loc[row.number]
        assert optuna_row["values_test_mse"] == pytest.approx(row.final_test_mse)
        assert optuna_row["values_test_mrr"] == pytest.approx(row.final_test_mrr)
        assert optuna_row["user_attrs_lambda_f"] == pytest.approx(row.lambda_f)
        assert optuna_row["user_attrs_lambda_r"] == pytest.approx(row.lambda_r)
        assert optuna_row["user_attrs_shared"] == row.shared and optuna_row["user_attrs_seed"] == row.seed
        assert optuna_row["user_attrs_ray_trial_id"] == row.trial_id

        name = run_name(row.number, row._asdict())
        names.append(name)
        run = study_dir / TENSORBOARD_DIR / name
        assert run.resolve() == (study_dir / "ray" / row.trial_id).resolve()
        accumulator = event_accumulator.EventAccumulator(str(run))
        accumulator.Reload()
        content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
        assert hparams["lambda_f"].number_value == pytest.approx(row.lambda_f)
        assert hparams["shared"].bool_value == row.shared and hparams["seed"].number_value == row.seed
        for metric in HPARAMS_METRICS:
            (event,) = accumulator.Scalars(f"hparams/{metric}")
            assert event.step == EPOCHS and event.value == pytest.approx(getattr(row, metric))
        assert [event.step for event in accumulator.Scalars("eval/MSE")] == list(range(1, EPOCHS + 1))
    assert sorted(os.listdir(study_dir / TENSORBOARD_DIR)) == sorted(names)

    result = CliRunner().invoke(main, ["study", "status", NAME, "--dir", str(study_dir.parent), "--format", "json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["states"] == {"COMPLETE": 3} and status["trial_epochs"] == 3 * EPOCHS
    best = trials.loc[trials["final_test_mse"].idxmin()]
    assert status["best"]["test_mse"]["test_mse"] == pytest.approx(best["final_test_mse"])
    assert {row["trial_id"] for row in status["pareto"]} <= set(trials["trial_id"])


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_dashboard_serves_the_study_and_ctrl_c_leaves_no_process(study_dir):
    command = [os.path.join(os.path.dirname(sys.executable), "mtlstudy"), "dashboard", NAME,
               "--dir", str(study_dir.parent), "--optuna-port", "0", "--tensorboard-port", "0"]
    board = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        urls = {}
        while len(urls) < 2:
            line = board.stdout.readline()
            assert line, f"dashboard ended early (code {board.wait()})"
            if line.startswith(("optuna-dashboard:", "TensorBoard:")):
                tool, url = line.split(": ", 1)
                urls[tool] = url.strip()
        optuna_url, tensorboard_url = urls["optuna-dashboard"], urls["TensorBoard"]
        assert optuna_url.startswith("http://127.0.0.1:") and tensorboard_url.startswith("http://127.0.0.1:")

        (summary,) = _get(f"{optuna_url}api/studies")["study_summaries"]
        assert summary["study_name"] == NAME and summary["directions"] == ["minimize", "maximize"]
        detail = _get(f"{optuna_url}api/studies/{summary['study_id']}")
        assert detail["objective_names"] == ["test_mse", "test_mrr"] and len(detail["trials"]) == 3

        plugins = _get(f"{tensorboard_url}data/plugins_listing")
        deadline = time.monotonic() + 60
        while not plugins["hparams"]["enabled"] and time.monotonic() < deadline:  # TensorBoard loads in the background
            time.sleep(1)
            plugins = _get(f"{tensorboard_url}data/plugins_listing")
        assert plugins["scalars"]["enabled"] and plugins["hparams"]["enabled"]
        assert sorted(_get(f"{tensorboard_url}data/runs")) == sorted(os.listdir(study_dir / TENSORBOARD_DIR))

        servers = descendants(board.pid)
        assert len(servers) >= 2  # optuna-dashboard, TensorBoard (and its data server)
        board.send_signal(signal.SIGINT)
        assert board.wait(timeout=30) == 0
        assert board.stdout.read().splitlines()[-1] == "stopped"
        assert not [pid for pid in servers if alive(pid)]
    finally:  # on a failed check, stop the servers the way a person would
        if board.poll() is None:
            board.send_signal(signal.SIGINT)
            board.wait(timeout=30)
