"""The live progress of a study, driven with stand-ins for Ray's trials."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mtlstudy.study import resolve_spec
from mtlstudy.study._progress import StudyProgress, format_duration


def _trial(trial_id, status, epoch=None, mse=None, mrr=None):
    result = None if epoch is None else {"epoch": epoch, "objective_test_mse": mse, "objective_test_mrr": mrr}
    config = {"shared": True, "lambda_f": 0.9, "lambda_r": 0.1, "seed": 0}
    return SimpleNamespace(trial_id=trial_id, status=status, last_result=result, config=config)


@pytest.fixture
def progress(tmp_path):
    lines = []
    spec = resolve_spec(name="p", trials=4, epochs=10, dir=str(tmp_path))
    tracker = StudyProgress(spec, lines.append, live=False, interval=0.0)
    tracker.setup()
    return tracker, lines


@pytest.mark.parametrize(
    ("seconds", "text"), [(42.2, "42s"), (185, "3m05s"), (3720, "1h02m"), (float("inf"), "?")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_plain_lines_count_trials_epochs_and_hypervolume(progress):
    tracker, lines = progress
    first = _trial("a", "RUNNING")
    tracker.on_trial_result(0, [first], first, {"epoch": 1})
    assert lines[-1].startswith("trials 0/4 done, 1 running | epochs 1/40 | elapsed ")

    done = [_trial("a", "TERMINATED", 10, 1.0, 0.4), _trial("b", "TERMINATED", 10, 2.0, 0.2)]
    finishing = _trial("c", "RUNNING", 10, 1.5, 0.3)
    running = _trial("d", "RUNNING", 4)
    tracker.on_trial_complete(0, [*done, finishing, running], finishing)
    trial_line, status = lines[-2:]
    assert trial_line.startswith("[3/4] trial c: shared=True, lambda_f=0.9") and "test MSE 1.5000" in trial_line
    assert "trials 3/4 done, 1 running | epochs 34/40" in status
    # a dominates c; against the worst values seen, (2.0, 0.2), a's box is 1.0 x 0.2.
    assert status.endswith("hypervolume 0.2")


def test_a_trial_stopped_early_counts_as_done_but_not_in_the_hypervolume(progress):
    tracker, lines = progress
    trials = [_trial("a", "TERMINATED", 10, 1.0, 0.2), _trial("b", "TERMINATED", 3, 0.5, 0.9)]
    tracker.on_trial_complete(0, trials, trials[1])
    assert "stopped at epoch 3" in lines[-2]
    assert "trials 2/4 done, 0 running | epochs 13/40" in lines[-1] and lines[-1].endswith("hypervolume 0")


def test_updates_are_throttled(tmp_path):
    lines = []
    tracker = StudyProgress(resolve_spec(name="p", trials=2, epochs=5, dir=str(tmp_path)), lines.append, live=False, interval=60)
    tracker.setup()
    trial = _trial("a", "RUNNING")
    for epoch in (1, 2, 3):
        tracker.on_trial_result(0, [trial], trial, {"epoch": epoch})
    assert len(lines) == 1 and "epochs 1/10" in lines[0]
