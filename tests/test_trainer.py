"""The trainer is seeded, reproducible, resumable bit for bit, and actually learns."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from mtlstudy import CheckpointError, ConfigError
from mtlstudy._history import divergence
from mtlstudy._schema import EPOCH_METRICS
from mtlstudy.training import TrainConfig, Trainer, load_checkpoint
from _training_fixtures import epoch_metrics, small_config, trained


def test_same_seed_same_numbers_other_seed_other_numbers(split):
    first = trained(small_config(seed=7), split, 3)
    second = trained(small_config(seed=7), split, 3)
    third = trained(small_config(seed=8), split, 3)
    assert epoch_metrics(first.history) == epoch_metrics(second.history)
    assert epoch_metrics(first.history) != epoch_metrics(third.history)
    for name, value in first.net.state_dict().items():
        assert torch.equal(value, second.net.state_dict()[name])


@pytest.mark.parametrize("shared", [True, False])
def test_restore_continues_exactly_where_the_run_stopped(split, tmp_path, shared):
    config = small_config(seed=1, shared=shared, user_bias=True)
    uninterrupted = trained(config, split, 4)
    interrupted = trained(config, split, 2)
    interrupted.save(tmp_path / "state.pt")
    resumed = Trainer(config, *split)
    resumed.load(tmp_path / "state.pt")
    assert resumed.epoch == 2
    for _ in range(2):
        resumed.train_epoch()
    assert epoch_metrics(resumed.history) == epoch_metrics(uninterrupted.history)


def test_restore_refuses_a_checkpoint_of_another_configuration(split, tmp_path):
    trained(small_config(lambda_f=0.5, lambda_r=0.5), split, 1).save(tmp_path / "state.pt")
    with pytest.raises(ConfigError, match="different training configuration"):
        Trainer(small_config(), *split).load(tmp_path / "state.pt")


def test_epoch_row_holds_every_metric_and_losses_combine(split):
    row = trained(small_config(lambda_f=0.7, lambda_r=0.3), split, 1).history[0]
    assert set(EPOCH_METRICS) <= set(row)
    assert all(math.isfinite(row[key]) for key in EPOCH_METRICS)
    # Joint loss is the weighted sum of the task losses, batch by batch and so on average.
    expected = 0.7 * row["train_factorization_loss"] + 0.3 * row["train_mse"]
    assert row["train_joint_loss"] == pytest.approx(expected, rel=1e-5)
    assert 0 < row["test_mrr"] <= 1 and 0 <= row["test_hit_rate"] <= 1


def test_training_learns_both_tasks(split):
    trainer = trained(small_config(epochs=30, lambda_f=0.5, lambda_r=0.5), split, 30)
    first, last = trainer.history[0], trainer.history[-1]
    assert last["train_mse"] < 0.5 * first["train_mse"]
    assert last["train_factorization_loss"] < first["train_factorization_loss"]
    assert last["test_mrr"] > first["test_mrr"]
    summary = trainer.summary()
    assert summary["best_test_mse"] == min(row["test_mse"] for row in trainer.history)
    assert summary["final_test_mrr"] == last["test_mrr"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"lambda_f": -0.1}, "lambda_f"),
        ({"lambda_r": math.inf}, "lambda_r"),
        ({"lambda_f": math.nan}, "lambda_f"),
        ({"lambda_f": 0.0, "lambda_r": 0.0}, "both 0"),
        ({"epochs": 0}, "epochs"),
        ({"device": "tpu"}, "device"),
        ({"lr": 0.0}, "lr"),
    ],
)
def test_invalid_configuration_names_the_bad_value(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**overrides)


def test_from_mapping_round_trips_and_rejects_unknown_keys():
    config = TrainConfig(shared=False, layer_sizes=(96, 32), dataset_options={"seed": 2})
    assert TrainConfig.from_mapping(config.to_dict()) == config
    with pytest.raises(ConfigError, match="lambda_x"):
        TrainConfig.from_mapping({"lambda_x": 1.0})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_the_cpu_path_in_quality(split):
    cpu = trained(small_config(seed=2, device="cpu"), split, 3).history[-1]
    cuda = trained(small_config(seed=2, device="cuda"), split, 3).history[-1]
    assert cuda["test_mse"] == pytest.approx(cpu["test_mse"], rel=0.2)


def test_a_too_large_learning_rate_diverges_to_nan_metrics_never_mrr_above_one(split):
    row = trained(small_config(lr=1e6), split, 1).history[0]
    assert all(math.isnan(row[key]) for key in EPOCH_METRICS)
    assert divergence(row) == "diverged at epoch 1: non-finite training loss"
    assert divergence(trained(small_config(), split, 1).history[0]) is None
    assert divergence({**row, "train_factorization_loss": 0.1, "train_mse": 0.1, "train_joint_loss": 0.1}) == (
        "diverged at epoch 1: non-finite rating predictions"
    )


class _Payload:
    """Pickles to a call that creates a file: what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_that_would_run_code_is_refused_unrun(split, tmp_path):
    marker = tmp_path / "ran"
    with (tmp_path / "evil.pt").open("wb") as handle:
        pickle.dump({"model": _Payload(marker)}, handle, protocol=2)
    torch.save({"model": _Payload(marker)}, tmp_path / "evil-torch.pt")
    for name in ("evil.pt", "evil-torch.pt"):
        with pytest.raises(CheckpointError, match="refused checkpoint .*could run code"):
            Trainer(small_config(), *split).load(tmp_path / name)
    assert not marker.exists()


def test_truncated_missing_or_foreign_checkpoints_are_one_checkpoint_error(split, tmp_path):
    trained(small_config(), split, 1).save(tmp_path / "state.pt")
    data = (tmp_path / "state.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    cases = [("truncated.pt", "cannot read"), ("missing.pt", "cannot read"), ("foreign.pt", "not a trainer state")]
    for name, message in cases:
        with pytest.raises(CheckpointError, match=f"{message}.*{name}|{name}.*{message}"):
            load_checkpoint(tmp_path / name)
    assert epoch_metrics(load_checkpoint(tmp_path / "state.pt")["history"]) == epoch_metrics(trained(small_config(), split, 1).history)
