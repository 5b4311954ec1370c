"""Validation rows (``validation_fraction``): held out of the training rows, evaluated every epoch, and
the only rows that choose best epochs and early-stopping decisions; test rows are reported, never read
for a decision."""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mtlstudy import ConfigError
from mtlstudy._history import summarize_history
from mtlstudy._runs import MemoryRungStore, trial_result
from mtlstudy._schema import EPOCH_METRICS, TENSORBOARD_TAGS, VALIDATION_METRICS, VALIDATION_TAGS, epoch_metrics
from mtlstudy.cli import main
from mtlstudy.data import Interactions, make_synthetic, random_train_test_split, random_validation_split
from mtlstudy.analysis import best_vs_final
from mtlstudy.study import epoch_columns, load_export, resolve_spec
from mtlstudy.study._layout import RAY_DIR
from mtlstudy.trainables import train_pack, train_trial
from mtlstudy.training import (
    METRICS_CSV_COLUMNS,
    PackedTrainer,
    TrainConfig,
    load_split,
    metrics_csv_columns,
    validation_split,
)
from _studies import saved_study
from _training_fixtures import small_config, trained
from tensorboard_events import read_scalars
from test_trainable import CONFIG, FakeSession

SYNTHETIC = ["--dataset", "synthetic", "--batch-size", "64", "--device", "cpu"]


def _numbered_rows() -> Interactions:
    """Synthetic interactions whose timestamp is the row number, so a split's rows can be named."""
    data = make_synthetic(num_users=60, num_items=80, seed=2)
    return Interactions.from_arrays(data.user_ids, data.item_ids, data.ratings, np.arange(len(data)))


# The split.


def test_the_validation_rows_are_a_seeded_share_of_the_training_rows_and_leave_the_test_rows_alone():
    train, test = random_train_test_split(_numbered_rows(), 0.1, 123)
    fit, validation = random_validation_split(train, 0.2, 123)
    fit_rows, validation_rows, test_rows = (set(part.timestamps.tolist()) for part in (fit, validation, test))
    assert not fit_rows & validation_rows and not validation_rows & test_rows and not fit_rows & test_rows
    assert fit_rows | validation_rows == set(train.timestamps.tolist())
    assert len(validation) == len(train) - int(0.8 * len(train))
    assert (fit.num_users, fit.num_items) == (validation.num_users, validation.num_items) == (train.num_users, train.num_items)

    again = random_validation_split(train, 0.2, 123)
    assert all(np.array_equal(a.timestamps, b.timestamps) for a, b in zip((fit, validation), again))
    assert set(random_validation_split(train, 0.2, 124)[1].timestamps.tolist()) != validation_rows


def test_a_run_with_validation_rows_has_the_test_rows_of_one_without(monkeypatch):
    data = SimpleNamespace(interactions=_numbered_rows(), source="synthetic")
    monkeypatch.setattr("mtlstudy.training._data.load_dataset", lambda *args, **kwargs: data)
    off, on = small_config(), small_config(validation_fraction=0.25)
    (train_off, test_off, _), (train_on, test_on, _) = load_split(off), load_split(on)
    assert np.array_equal(test_off.timestamps, test_on.timestamps)
    assert np.array_equal(train_off.timestamps, train_on.timestamps)
    assert validation_split(off, train_off) == (train_off, None)
    fit, validation = validation_split(on, train_on)
    assert np.array_equal(validation.timestamps, random_validation_split(train_on, 0.25, on.split_seed)[1].timestamps)


@pytest.mark.parametrize("fraction", [-0.1, 1, 1.5, "0.1", True, math.nan])
def test_a_bad_fraction_is_refused_where_it_enters(fraction):
    with pytest.raises(ConfigError, match=r"validation_fraction must be a number in \[0, 1\), got "):
        TrainConfig(validation_fraction=fraction)


# Training with validation rows.


def test_both_trainers_evaluate_the_validation_rows_every_epoch_and_a_member_equals_its_lone_trial(split):
    configs = [small_config(validation_fraction=0.2), small_config(validation_fraction=0.2, seed=5, lambda_f=0.5)]
    lone = [trained(config, split, 3) for config in configs]
    pack = PackedTrainer(configs, *split)
    for _ in range(3):
        pack.train_epoch()
    for member, trainer in enumerate(lone):
        assert set(epoch_metrics(True)) <= set(trainer.history[-1])
        assert all(math.isfinite(row[metric]) for row in trainer.history for metric in VALIDATION_METRICS.values())
        for ours, theirs in zip(pack.histories[member], trainer.history):
            for metric in epoch_metrics(True):
                assert ours[metric] == pytest.approx(theirs[metric], rel=1e-5, abs=1e-7), metric
    # Held-out rows are not trained on: the run differs from one that trains on every training row.
    assert lone[0].history[-1]["train_mse"] != trained(small_config(), split, 3).history[-1]["train_mse"]


def test_without_validation_rows_an_epoch_reports_what_it_always_did(split):
    trainer = trained(small_config(), split, 2)
    assert not set(VALIDATION_METRICS.values()) & set(trainer.history[-1])
    assert "validation_fraction" not in trainer.config.to_dict()
    assert METRICS_CSV_COLUMNS == metrics_csv_columns(False) == ("epoch", *EPOCH_METRICS, "train_time_s", "eval_time_s")


def test_train_logs_validation_metrics_to_metrics_csv_and_tensorboard(tmp_path):
    logdir = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["train", *SYNTHETIC, "--epochs", "3", "--validation-fraction", "0.1", "--logdir", str(logdir)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-2].endswith("best epochs chosen by validation MSE and MRR")
    with (logdir / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == metrics_csv_columns(True) and [row["epoch"] for row in rows] == ["1", "2", "3"]
    scalars = read_scalars(logdir)
    assert set(scalars) == {*TENSORBOARD_TAGS.values(), *VALIDATION_TAGS.values()}
    assert float(rows[2]["val_mse"]) == pytest.approx(scalars["validation/MSE"][3], rel=1e-6)


def test_a_trial_reports_validation_metrics_and_test_objectives_at_the_validation_best_epoch(tmp_path, monkeypatch):
    session = FakeSession(tmp_path).install(monkeypatch)
    train_trial({**CONFIG, "value": "best", "validation_fraction": 0.2})
    reports = [metrics for metrics, _ in session.reports]
    last = reports[-1]
    for test_metric, chooser in (("test_mse", min), ("test_mrr", max)):
        val_metric = VALIDATION_METRICS[test_metric]
        chosen = chooser(reports, key=lambda row: row[val_metric])
        assert last[f"best_{test_metric}_epoch"] == chosen["epoch"]
        assert last[f"objective_{test_metric}"] == last[f"best_{test_metric}"] == chosen[test_metric]
        assert last[f"best_{val_metric}"] == chosen[val_metric]
    with (session.trial_dir / "metrics.csv").open() as handle:
        assert tuple(next(csv.reader(handle))) == metrics_csv_columns(True)


def test_a_packed_trial_reports_each_members_validation_metrics(tmp_path, monkeypatch):
    session = FakeSession(tmp_path).install(monkeypatch)
    members = [{"lambda_f": 0.9, "lambda_r": 0.1, "seed": 1}, {"lambda_f": 0.2, "lambda_r": 0.8, "seed": 2}]
    train_pack({**CONFIG, "validation_fraction": 0.2, "members": members})
    last = session.reports[-1][0]["members"]
    for member in ("0", "1"):
        assert set(VALIDATION_METRICS.values()) <= set(last[member]) and "best_val_mrr_epoch" in last[member]
        with (session.trial_dir / f"m{member}" / "metrics.csv").open() as handle:
            assert tuple(next(csv.reader(handle))) == metrics_csv_columns(True)


# Test metrics never decide.


def _reversed_test_metrics(history):
    """``history`` with every test metric that has a validation counterpart negated: its best epoch becomes its worst."""
    return [{**row, **{metric: -row[metric] for metric in VALIDATION_METRICS}} for row in history]


@pytest.fixture(scope="module")
def histories(split):
    """Epoch rows of small runs with validation rows, and of the same runs without them."""
    def run(config):
        return trained(config, split, 6).history

    configs = [small_config(seed=seed, lambda_f=lambda_f, lambda_r=1 - lambda_f, epochs=6)
               for seed, lambda_f in ((1, 0.9), (2, 0.5), (3, 0.1), (4, 0.7), (5, 0.3), (6, 0.99))]
    return {
        "on": [run(TrainConfig(**{**config.to_dict(), "validation_fraction": 0.2})) for config in configs],
        "off": [run(config) for config in configs],
    }


def _best_epochs(history):
    summary = summarize_history(history)
    return {metric: summary[f"best_{metric}_epoch"] for metric in VALIDATION_METRICS}


def test_best_epochs_ignore_the_test_metrics_with_validation_rows_and_read_them_without(histories):
    for history in histories["on"]:
        assert _best_epochs(_reversed_test_metrics(history)) == _best_epochs(history)
        summary = summarize_history(history)
        for metric, val_metric in VALIDATION_METRICS.items():
            epoch = summary[f"best_{val_metric}_epoch"]
            assert summary[f"best_{metric}_epoch"] == epoch and summary[f"best_{metric}"] == history[epoch - 1][metric]
    # Without validation rows the same scrambling moves best epochs: the check above can fail.
    assert any(_best_epochs(_reversed_test_metrics(history)) != _best_epochs(history) for history in histories["off"])


def test_the_epoch_export_and_the_epoch_view_carry_the_validation_metrics_and_their_best_epochs(tmp_path, histories):
    spec = saved_study(tmp_path, outcomes=[(1.0, 0.1)], epochs=6, validation_fraction=0.2)
    history = histories["on"][0]
    path = spec.study_dir / RAY_DIR / "t0" / "metrics.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame(history).to_csv(path, index=False)

    epochs = load_export("s", tmp_path, epochs=True)
    assert list(epochs.columns) == list(epoch_columns(validation=True))
    trial = load_export("s", tmp_path).iloc[0]
    view = best_vs_final(epochs).set_index("metric")
    summary = summarize_history(history)
    for metric, val_metric in VALIDATION_METRICS.items():
        chosen = summary[f"best_{val_metric}_epoch"]
        assert view.loc[metric, "best_epoch"] == trial[f"best_{metric}_epoch"] == chosen
        assert view.loc[metric, "best_value"] == pytest.approx(history[chosen - 1][metric])
    # The view reads test alone once the validation columns are gone, and then some best epoch moves.
    alone = best_vs_final(epochs.drop(columns=list(VALIDATION_METRICS.values()))).set_index("metric")
    assert any(alone.loc[m, "best_epoch"] != view.loc[m, "best_epoch"] for m in VALIDATION_METRICS)


def test_trial_result_reports_test_objectives_but_the_rung_values_are_validation_values(tmp_path, histories):
    history = histories["on"][0]
    for value in ("final", "best"):
        result, scrambled = trial_result(history, value), trial_result(_reversed_test_metrics(history), value)
        assert result["objective_test_mse"] == result[f"{value}_test_mse"]  # Optuna is told test values
        spec = _spec(tmp_path, validation_fraction=0.2, value=value)
        for best_so_far in (False, True):
            keys = spec.rung_objectives(best_so_far)
            assert all(key.split("_", 1)[1] in VALIDATION_METRICS.values() for key in keys)
            assert [result[key] for key in keys] == [scrambled[key] for key in keys]


def _spec(tmp, **options):
    options = {"early_stopping": "moasha", **options}
    return resolve_spec(name="v", dataset="synthetic", epochs=6, grace_epochs=2, reduction_factor=3, dir=str(tmp), **options)


def _rung_decisions(spec, histories):
    """Each trial's decision at the rung (epoch 2) of ``spec``'s scheduler, fed the trials in order."""
    scheduler = spec.make_scheduler(MemoryRungStore())
    return [
        scheduler.on_trial_result(None, SimpleNamespace(trial_id=f"t{k}", config={}), trial_result(history[:2], spec.value))
        for k, history in enumerate(histories)
    ]


@pytest.mark.parametrize("rule, value", [("moasha", "final"), ("moasha", "best"), ("moasha+bsf", "final")])
def test_rung_decisions_ignore_the_test_metrics_with_validation_rows_and_read_them_without(tmp_path, histories, rule, value):
    on = _spec(tmp_path, validation_fraction=0.2, value=value, early_stopping=rule)
    decisions = _rung_decisions(on, histories["on"])
    assert decisions == _rung_decisions(on, [_reversed_test_metrics(history) for history in histories["on"]])
    assert "STOP" in decisions and "CONTINUE" in decisions
    off = _spec(tmp_path, value=value, early_stopping=rule)
    reversed_off = [_reversed_test_metrics(history) for history in histories["off"]]
    assert _rung_decisions(off, histories["off"]) != _rung_decisions(off, reversed_off)


# The option in a study and on the command line.


def test_a_study_saves_and_passes_the_fraction_only_when_it_is_set(tmp_path):
    on, off = _spec(tmp_path, validation_fraction=0.2), _spec(tmp_path)
    assert on.to_dict()["validation_fraction"] == on.fixed_params()["validation_fraction"] == 0.2
    assert "validation_fraction" not in off.to_dict() and "validation_fraction" not in off.fixed_params()
    assert type(on).from_saved(on.to_dict()) == on
    assert off.rung_objectives() == {"objective_test_mse": "min", "objective_test_mrr": "max"}
    assert on.rung_objectives() == {"final_val_mse": "min", "final_val_mrr": "max"}


def _tree(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*"))}


_BAD = [
    ("-0.1", "validation_fraction must be a number in [0, 1), got -0.1"),
    ("1", "validation_fraction must be a number in [0, 1), got 1.0"),
    ("abc", "validation_fraction must be a number in [0, 1), got 'abc'"),
    ("nan", "validation_fraction must be a number in [0, 1), got nan"),
    ("1e-20", "a validation fraction of 1e-20 leaves no validation ratings out of"),
    ("0.99999999", "a validation fraction of 0.99999999 leaves no training ratings out of"),
]


@pytest.mark.parametrize("command", ["train", "study run"])
@pytest.mark.parametrize("fraction, message", _BAD)
def test_a_bad_fraction_is_one_line_exit_2_and_writes_nothing(tmp_path, command, fraction, message):
    before = _tree(tmp_path)
    arguments = (
        ["train", *SYNTHETIC, "--epochs", "1", "--logdir", str(tmp_path / "run")] if command == "train"
        else ["study", "run", "--name", "b", "--dir", str(tmp_path / "runs"), "--dataset", "synthetic", "--epochs", "2"]
    )
    result = CliRunner().invoke(main, [*arguments, "--validation-fraction", fraction])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert result.stdout == "" and _tree(tmp_path) == before
