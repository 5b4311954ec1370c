"""The Ray trainable's loop, with Ray's session API replaced by a recorder (no Ray needed)."""

from __future__ import annotations

import contextlib
import math
import re
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from mtlstudy._runs import FAILURE_KEY, MemoryRungStore, RungRecord
from mtlstudy._schema import EPOCH_METRICS, TENSORBOARD_TAGS
from mtlstudy.trainables import _ray_api, train_pack, train_trial
from tensorboard_events import read_scalars, scalar_events

CONFIG = {
    "dataset": "synthetic",
    "dataset_options": {"num_users": 40, "num_items": 50},
    "embedding_dim": 8,
    "layer_sizes": [24, 8],
    "device": "cpu",
    "epochs": 5,
    "seed": 3,
    "checkpoint_every": 2,
}


class FakeSession:
    """Records reports and keeps the newest checkpoint, as Ray Tune would."""

    def __init__(self, tmp_path, restore_from=None):
        self.trial_dir = tmp_path / "trial"
        self.checkpoints = tmp_path / "checkpoints"
        self.restore_from = restore_from
        self.reports: list[tuple[dict, bool]] = []

    def install(self, monkeypatch):
        monkeypatch.setattr(_ray_api, "trial_dir", lambda uploaded=False: self.trial_dir)
        monkeypatch.setattr(_ray_api, "trial_cpus", lambda: 1)
        monkeypatch.setattr(_ray_api, "trial_id", lambda: "t")
        monkeypatch.setattr(_ray_api, "restored_checkpoint", self._restored)
        monkeypatch.setattr(_ray_api, "report", self._report)
        return self

    @contextlib.contextmanager
    def _restored(self, resumed_from=None):
        yield self.restore_from or (resumed_from and Path(resumed_from))

    def _report(self, metrics, save=None):
        if save is not None:
            target = self.checkpoints / f"epoch-{metrics['epoch']}"
            target.mkdir(parents=True)
            save(target)
        self.reports.append((dict(metrics), save is not None))


def test_reports_every_epoch_and_checkpoints_every_n_and_at_the_end(tmp_path, monkeypatch):
    session = FakeSession(tmp_path).install(monkeypatch)
    train_trial({**CONFIG, "value": "best"})
    assert all(FAILURE_KEY not in metrics for metrics, _ in session.reports)
    assert [m["epoch"] for m, _ in session.reports] == [1, 2, 3, 4, 5]
    assert [saved for _, saved in session.reports] == [False, True, False, True, True]
    last = session.reports[-1][0]
    assert last["objective_test_mse"] == last["best_test_mse"] == min(m["test_mse"] for m, _ in session.reports)
    assert last["objective_test_mrr"] == last["best_test_mrr"]
    assert sorted(read_scalars(session.trial_dir)["eval/MSE"]) == [1, 2, 3, 4, 5]


def test_a_restored_trial_continues_exactly_where_its_checkpoint_stopped(tmp_path, monkeypatch):
    whole = FakeSession(tmp_path / "whole").install(monkeypatch)
    train_trial(CONFIG)
    checkpoint = tmp_path / "saved-at-4"
    shutil.copytree(whole.checkpoints / "epoch-4", checkpoint)

    resumed = FakeSession(tmp_path / "resumed", restore_from=checkpoint).install(monkeypatch)
    train_trial(CONFIG)
    # The checkpoint's epoch is reported again first, so a rung decision there applies to it.
    assert [m["epoch"] for m, _ in resumed.reports] == [4, 5]
    assert resumed.reports[0][0] == whole.reports[3][0]
    assert resumed.reports[1][0]["test_mrr"] == whole.reports[-1][0]["test_mrr"]
    assert resumed.reports[1][0]["objective_test_mse"] == whole.reports[-1][0]["final_test_mse"]


def _logged(trial_dir):
    """The trial's metrics.csv (epoch metrics only) and how often each (tag, step) is in its events."""
    rows = pd.read_csv(trial_dir / "metrics.csv")[["epoch", *EPOCH_METRICS]]
    return rows, Counter((tag, step) for tag, step, _ in scalar_events(trial_dir))


@pytest.mark.parametrize("same_dir", [False, True], ids=["new-dir", "dir-of-the-killed-run"])
def test_a_restored_trial_logs_every_epoch_exactly_once(tmp_path, monkeypatch, same_dir):
    whole = FakeSession(tmp_path / "whole").install(monkeypatch)
    train_trial(CONFIG)
    expected_rows, expected_events = _logged(whole.trial_dir)
    assert set(expected_events.values()) == {1} and len(expected_events) == 5 * len(TENSORBOARD_TAGS)

    resumed = FakeSession(tmp_path / "resumed", restore_from=whole.checkpoints / "epoch-2")
    if same_dir:  # a run killed after epoch 3 left epochs 1-3 behind; its checkpoint holds 1-2
        killed = FakeSession(tmp_path / "killed").install(monkeypatch)
        train_trial({**CONFIG, "epochs": 3})
        shutil.copytree(killed.trial_dir, resumed.trial_dir)
    resumed.install(monkeypatch)
    train_trial(CONFIG)
    rows, events = _logged(resumed.trial_dir)
    pd.testing.assert_frame_equal(rows, expected_rows)
    assert events == expected_events


def test_an_unreadable_checkpoint_restarts_the_trial_from_its_first_epoch(tmp_path, monkeypatch, capsys):
    whole = FakeSession(tmp_path / "whole").install(monkeypatch)
    train_trial(CONFIG)
    checkpoint = tmp_path / "truncated"
    shutil.copytree(whole.checkpoints / "epoch-4", checkpoint)
    state = (checkpoint / "trainer.pt").read_bytes()
    (checkpoint / "trainer.pt").write_bytes(state[: len(state) // 3])

    restarted = FakeSession(tmp_path / "restarted", restore_from=checkpoint).install(monkeypatch)
    train_trial(CONFIG)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "cannot read checkpoint" in lines[0] and "restarts from epoch 1" in lines[0]
    assert [m["epoch"] for m, _ in restarted.reports] == [1, 2, 3, 4, 5]
    assert [m["test_mrr"] for m, _ in restarted.reports] == [m["test_mrr"] for m, _ in whole.reports]
    pd.testing.assert_frame_equal(_logged(restarted.trial_dir)[0], _logged(whole.trial_dir)[0])


def test_a_diverged_trial_stops_with_its_reason_and_no_checkpoint(tmp_path, monkeypatch):
    session = FakeSession(tmp_path).install(monkeypatch)
    train_trial({**CONFIG, "lr": 1e6})
    assert len(session.reports) == 1
    metrics, saved = session.reports[0]
    assert re.fullmatch(rf"diverged at epoch {metrics['epoch']}: non-finite [a-z ]+", metrics[FAILURE_KEY])
    assert not saved
    assert not all(math.isfinite(metrics[key]) for key in EPOCH_METRICS)


def test_a_trial_restored_at_its_last_epoch_reports_once_and_ends(tmp_path, monkeypatch):
    whole = FakeSession(tmp_path / "whole").install(monkeypatch)
    train_trial(CONFIG)
    restored = FakeSession(tmp_path / "again", restore_from=whole.checkpoints / "epoch-5").install(monkeypatch)
    train_trial(CONFIG)
    assert [(m["epoch"], saved) for m, saved in restored.reports] == [(5, True)]


def test_an_unknown_value_is_a_config_error(tmp_path, monkeypatch):
    FakeSession(tmp_path).install(monkeypatch)
    with pytest.raises(ValueError, match=r"value must be 'final' \(last epoch\) or 'best' \(best epoch\), got 'median'"):
        train_trial({**CONFIG, "value": "median"})


MEMBERS = [{"lambda_f": 0.9, "lambda_r": 0.1, "seed": 3}, {"lambda_f": 0.2, "lambda_r": 0.8, "seed": 4}]
METRICS = ("epoch", "test_mse", "test_mrr", "objective_test_mse", "objective_test_mrr")


def _stopping_member_1_at_epoch_2() -> MemoryRungStore:
    store = MemoryRungStore()
    store.add("t/m0", RungRecord(rung=2, values=(1.0, 0.1), order=0, promoted=True))
    store.add("t/m1", RungRecord(rung=2, values=(2.0, 0.0), order=1, promoted=False))
    return store


def test_a_pack_reports_each_member_as_its_lone_trial_and_drops_the_stopped_ones(tmp_path, monkeypatch):
    lone = []
    for k, member in enumerate(MEMBERS):
        session = FakeSession(tmp_path / f"lone-{k}").install(monkeypatch)
        train_trial({**CONFIG, **member})
        lone.append([metrics for metrics, _ in session.reports])
    pack = FakeSession(tmp_path / "pack").install(monkeypatch)
    train_pack({**CONFIG, "members": MEMBERS}, rung_store=_stopping_member_1_at_epoch_2(), rungs=(2,))
    reports = [metrics["members"] for metrics, _ in pack.reports]
    assert [metrics["epoch"] for metrics, _ in pack.reports] == [1, 2, 3, 4, 5]
    for epoch, members in enumerate(reports):
        assert {key: members["0"][key] for key in METRICS} == pytest.approx({key: lone[0][epoch][key] for key in METRICS}, abs=1e-5)
        # Member 1 left at its rung and keeps reporting its last metrics.
        stopped = lone[1][min(epoch, 1)]
        assert {key: members["1"][key] for key in METRICS} == pytest.approx({key: stopped[key] for key in METRICS}, abs=1e-5)
    assert sorted(read_scalars(pack.trial_dir / "m0")["eval/MSE"]) == [1, 2, 3, 4, 5]
    assert sorted(read_scalars(pack.trial_dir / "m1")["eval/MSE"]) == [1, 2]


def test_a_pack_restored_at_a_rung_applies_the_decision_before_training_on(tmp_path, monkeypatch):
    whole = FakeSession(tmp_path / "whole").install(monkeypatch)
    train_pack({**CONFIG, "members": MEMBERS}, rung_store=_stopping_member_1_at_epoch_2(), rungs=(2,))
    restored = FakeSession(tmp_path / "restored", restore_from=whole.checkpoints / "epoch-2").install(monkeypatch)
    train_pack({**CONFIG, "members": MEMBERS}, rung_store=_stopping_member_1_at_epoch_2(), rungs=(2,))
    assert [metrics["epoch"] for metrics, _ in restored.reports] == [2, 3, 4, 5]

    def values(reports):  # timings aside
        return [{k: {key: m[key] for key in METRICS} for k, m in metrics["members"].items()} for metrics, _ in reports]

    assert values(restored.reports) == values(whole.reports[1:])


def test_a_diverged_member_leaves_the_pack_with_its_reason_and_the_others_train_on(tmp_path, monkeypatch):
    lone = FakeSession(tmp_path / "lone").install(monkeypatch)
    train_trial({**CONFIG, **MEMBERS[1]})
    pack = FakeSession(tmp_path / "pack").install(monkeypatch)
    train_pack({**CONFIG, "members": [{**MEMBERS[0], "lambda_f": 1e308}, MEMBERS[1]]})
    last = pack.reports[-1][0]["members"]
    assert re.fullmatch(r"diverged at epoch 1: non-finite [a-z ]+", last["0"][FAILURE_KEY]) and last["0"]["epoch"] == 1
    assert FAILURE_KEY not in last["1"] and last["1"]["epoch"] == 5
    assert last["1"]["test_mrr"] == pytest.approx(lone.reports[-1][0]["test_mrr"], abs=1e-5)
