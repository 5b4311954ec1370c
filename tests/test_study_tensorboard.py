"""The study's TensorBoard view: readable run names, and HParams read back by TensorBoard's own reader."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from _studies import saved_study
from mtlstudy.study import HPARAMS_METRICS, run_name
from mtlstudy.study._database import StudyDatabase
from mtlstudy.study._tensorboard import TensorBoardView
from mtlstudy.training import RunLogger, write_hparams


def test_run_name_reads_as_number_variant_lambda_and_seed():
    assert run_name(7, {"shared": True, "lambda_f": 0.989995, "seed": 0}) == "0007-shared-lf0.990-s0"
    assert run_name(12, {"shared": False, "lambda_f": 0.5, "seed": 3}) == "0012-separate-lf0.500-s3"


def _hparams_session(logdir):
    accumulator = event_accumulator.EventAccumulator(str(logdir))
    accumulator.Reload()
    contents = accumulator.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(contents["_hparams_/session_start_info"]).session_start_info
    experiment = plugin_data_pb2.HParamsPluginData.FromString(contents["_hparams_/experiment"]).experiment
    return accumulator, start, experiment


def test_hparams_sit_beside_the_epoch_scalars_and_add_none_per_epoch(tmp_path):
    with RunLogger(tmp_path) as logger:
        for epoch in (1, 2, 3):
            logger.log({"epoch": epoch, "train_factorization_loss": 0.5, "train_mse": 1.0, "train_joint_loss": 0.6,
                        "test_mse": 1.0 + epoch, "test_mrr": 0.1 * epoch, "test_hit_rate": 0.2, "test_ndcg": 0.3})
    metrics = {name: 0.25 + index for index, name in enumerate(HPARAMS_METRICS)}
    write_hparams(tmp_path, {"shared": True, "lambda_f": 0.99, "seed": 4, "space": "simplex"}, metrics, step=3)

    accumulator, start, experiment = _hparams_session(tmp_path)
    assert start.hparams["shared"].bool_value is True
    assert start.hparams["lambda_f"].number_value == pytest.approx(0.99)
    assert start.hparams["seed"].number_value == 4 and start.hparams["space"].string_value == "simplex"
    assert [info.name.tag for info in experiment.metric_infos] == [f"hparams/{name}" for name in HPARAMS_METRICS]
    for name, value in metrics.items():  # each metric once, at the run's last epoch
        events = accumulator.Scalars(f"hparams/{name}")
        assert [(event.step, event.value) for event in events] == [(3, pytest.approx(value))]
    per_epoch = {tag for tag in accumulator.Tags()["scalars"] if len(accumulator.Scalars(tag)) == 3}
    assert per_epoch == {
        "training/Factorization Loss", "training/MSE", "training/Joint Loss", "eval/MSE", "eval/Mean Reciprocal Rank",
    }


def test_the_view_links_each_trial_by_its_newest_optuna_number_and_records_its_hparams(tmp_path):
    spec = saved_study(tmp_path, "view")
    study = StudyDatabase(spec).study
    params = {"shared": True, "lambda_f": 0.75, "lambda_r": 0.25, "seed": 1}
    first = study.ask()
    first.set_user_attr("ray_trial_id", "abc123")
    trial_dir = spec.study_dir / "ray" / "abc123"
    ray_trial = SimpleNamespace(trial_id="abc123", path=str(trial_dir), config={**spec.fixed_params(), **params})
    view = TensorBoardView(spec)

    view.on_trial_start(0, [ray_trial], ray_trial)
    assert [link.name for link in (spec.study_dir / "tensorboard").iterdir()] == ["0000-shared-lf0.750-s1"]

    # A resume retries a failed trial under a new Optuna trial: the run is renamed, not doubled.
    study.tell(first, state=optuna.trial.TrialState.FAIL)
    study.ask().set_user_attr("ray_trial_id", "abc123")
    view.on_trial_start(0, [ray_trial], ray_trial)
    (link,) = (spec.study_dir / "tensorboard").iterdir()
    assert link.name == "0001-shared-lf0.750-s1" and link.resolve() == trial_dir.resolve()

    ray_trial.last_result = {"epoch": 2, **{name: 0.5 for name in HPARAMS_METRICS}}
    view.on_trial_complete(0, [ray_trial], ray_trial)
    accumulator, start, _ = _hparams_session(link)
    assert start.hparams["lambda_r"].number_value == pytest.approx(0.25)
    assert start.hparams["epochs"].number_value == 2 and start.hparams["user_bias"].bool_value is False
    assert accumulator.Scalars("hparams/best_test_ndcg")[0].value == pytest.approx(0.5)
