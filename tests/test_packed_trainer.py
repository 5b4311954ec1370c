"""A packed member is the lone trial it stands for: same numbers, drops, checkpoints."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from mtlstudy import ConfigError
from mtlstudy._schema import EPOCH_METRICS
from mtlstudy.training import PackedTrainer, auto_pack_size
from _training_fixtures import epoch_metrics, small_config, trained


def _members(**overrides):
    """Three members with their own task weights and seeds."""
    return [
        small_config(lambda_f=0.9, lambda_r=0.1, seed=1, **overrides),
        small_config(lambda_f=0.2, lambda_r=0.8, seed=5, **overrides),
        small_config(lambda_f=0.5, lambda_r=0.5, seed=7, **overrides),
    ]


def _train(pack, epochs):
    for _ in range(epochs):
        pack.train_epoch()
    return pack


def _assert_close(packed_history, lone_history):
    packed, lone = epoch_metrics(packed_history), epoch_metrics(lone_history)
    assert [row["epoch"] for row in packed] == [row["epoch"] for row in lone]
    for packed_row, lone_row in zip(packed, lone):
        assert packed_row == pytest.approx(lone_row, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("shared", [True, False])
def test_every_member_equals_its_lone_trainer(split, shared):
    configs = _members(shared=shared, user_bias=True)
    pack = _train(PackedTrainer(configs, *split), 3)
    for member, config in enumerate(configs):
        _assert_close(pack.histories[member], trained(config, split, 3).history)
    rows = pack.train_epoch()
    assert sorted(rows) == [0, 1, 2]
    assert set(rows[0]) == set(trained(configs[0], split, 1).history[0])


def test_members_left_behind_still_equal_their_lone_trainers(split):
    configs = _members(shared=False)
    pack = _train(PackedTrainer(configs, *split), 2)
    pack.drop(1)
    _train(pack, 2)
    assert pack.members == (0, 2)
    assert pack.epoch == 4
    assert pack.net.size == 2  # the stacks shrank
    assert all(len(state["exp_avg"]) == 2 for state in pack.optimizer.state.values())
    assert len(pack.histories[1]) == 2
    _assert_close(pack.histories[1], trained(configs[1], split, 2).history)
    for member in (0, 2):
        _assert_close(pack.histories[member], trained(configs[member], split, 4).history)
    assert pack.summary(1)["final_test_mrr"] == pack.histories[1][-1]["test_mrr"]


def test_restored_pack_continues_bit_for_bit(split, tmp_path):
    configs = _members(shared=False, user_bias=True)
    pack = _train(PackedTrainer(configs, *split), 2)
    pack.drop(0)
    _train(pack, 1)
    pack.save(tmp_path / "pack.pt")
    _train(pack, 2)

    restored = PackedTrainer(configs, *split)
    restored.load(tmp_path / "pack.pt")
    assert restored.members == (1, 2) and restored.epoch == 3
    _train(restored, 2)
    assert [epoch_metrics(history) for history in restored.histories] == [epoch_metrics(history) for history in pack.histories]
    for name, value in pack.net.state_dict().items():
        assert torch.equal(value, restored.net.state_dict()[name]), name
    for (_, ours), (_, theirs) in zip(sorted(pack.optimizer.state_dict()["state"].items()),
                                      sorted(restored.optimizer.state_dict()["state"].items())):
        assert all(torch.equal(ours[key], theirs[key]) for key in ours)


def test_restore_refuses_a_pack_of_other_configurations(split, tmp_path):
    PackedTrainer(_members(), *split).save(tmp_path / "pack.pt")
    with pytest.raises(ConfigError, match="different training configurations"):
        PackedTrainer(_members(lr=0.01), *split).load(tmp_path / "pack.pt")


@pytest.mark.parametrize(
    "second, field",
    [
        ({"shared": False}, "shared"),
        ({"lr": 0.01}, "lr"),
        ({"embedding_dim": 8, "layer_sizes": (24, 16)}, "embedding_dim"),
        ({"epochs": 9}, "epochs"),
        ({"user_bias": True}, "user_bias"),
    ],
)
def test_members_that_disagree_beyond_lambdas_and_seed_are_refused(split, second, field):
    with pytest.raises(ConfigError, match=rf"agree on {field}: member 0 has .*, member 1 has"):
        PackedTrainer([small_config(), small_config(seed=4, **second)], *split)


def test_empty_pack_and_unknown_member_are_refused(split):
    with pytest.raises(ConfigError, match="at least one member"):
        PackedTrainer([], *split)
    pack = PackedTrainer(_members(), *split)
    pack.drop(2)
    for member in (2, 3):
        with pytest.raises(ConfigError, match=rf"member {member} is not training"):
            pack.drop(member)


@pytest.mark.slow
def test_packed_and_lone_final_metrics_are_equally_distributed(split):
    # Member k is lone trial k up to float rounding, so across seeds the two samples
    # must coincide: each seed's difference is tiny next to the spread between seeds.
    epochs, seeds = 60, (0, 1, 2)
    configs = [small_config(seed=seed, lambda_f=0.5, lambda_r=0.5, epochs=epochs) for seed in seeds]
    pack = _train(PackedTrainer(configs, *split), epochs)
    lone = [trained(config, split, epochs).history[-1] for config in configs]
    for metric in EPOCH_METRICS:
        packed_values = [pack.histories[member][-1][metric] for member in range(len(seeds))]
        lone_values = [row[metric] for row in lone]
        spread = statistics.stdev(lone_values)
        if metric in ("test_mse", "test_mrr"):
            assert spread > 0, metric  # the seeds differ, so the comparison means something
        differences = [abs(p - q) for p, q in zip(packed_values, lone_values)]
        assert max(differences) <= 1e-3 * spread + 1e-7, (metric, differences, spread)


@pytest.mark.parametrize("device, results", [("cpu", "h200-cpu"), ("cuda", "h200-cuda")])
def test_auto_pack_size_is_the_best_pack_the_benchmark_measured(device, results):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "packing" / results / "results.json"
    rows = [row for row in json.loads(path.read_text(encoding="utf-8"))["rows"] if row["device"] == device]
    best = max(rows, key=lambda row: row["trial_epochs_per_s"])
    assert auto_pack_size(device) == (1 if best["K"] == "Trainer" else best["K"])
