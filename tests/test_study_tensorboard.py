"""The study's TensorBoard view: readable run names, and HParams read back by TensorBoard's own reader."""

from __future__ import annotations

import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from mtlstudy.study import HPARAMS_METRICS, run_name
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
