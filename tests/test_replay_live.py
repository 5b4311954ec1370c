"""A replay against live studies: local Ray with 2 CPUs, tiny synthetic data."""

from __future__ import annotations

import optuna
import pytest
import ray
from click.testing import CliRunner

from mtlstudy.cli import main
from mtlstudy.study import replay_stopping

pytestmark = pytest.mark.slow

DATA = ["--dataset", "synthetic", "--dataset-option", "num_users=40", "--dataset-option", "num_items=50",
        "--embedding-dim", "8", "--sampler", "random", "--seed", "3", "--trials", "8", "--epochs", "8",
        "--concurrency", "1"]
RUNGS = ["--grace-epochs", "1", "--reduction-factor", "2"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def full_study(local_ray, tmp_path_factory):
    """A study whose 8 trials all trained every epoch, one at a time."""
    folder = tmp_path_factory.mktemp("full")
    ran = CliRunner().invoke(main, ["study", "run", "--name", "full", "--dir", str(folder), *DATA])
    assert ran.exit_code == 0, ran.output
    return folder


def _trials(folder, name):
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / name / 'optuna.db'}")
    return sorted(study.get_trials(deepcopy=False), key=lambda trial: trial.number)


@pytest.mark.parametrize("rule", ["moasha", "moasha+arch", "moasha+bsf", "moasha+stable"])
def test_a_replay_stops_the_trials_a_live_study_stopped_at_the_same_rungs(full_study, tmp_path, rule):
    live = CliRunner().invoke(
        main, ["study", "run", "--name", "live", "--dir", str(tmp_path), *DATA, *RUNGS, "--early-stopping", rule]
    )
    assert live.exit_code == 0, live.output
    full, stopped = _trials(full_study, "full"), _trials(tmp_path, "live")
    # One trial at a time and a seeded random sampler: the live study trained the same trials, in the same order.
    assert [t.user_attrs["params"] for t in stopped] == [t.user_attrs["params"] for t in full]
    live_stops = {t.number: t.user_attrs["stopped_epoch"] for t in stopped if t.state.name == "PRUNED"}
    assert live_stops, "the live study stopped no trial, so it checks nothing"

    replay = replay_stopping("full", full_study, rules=[rule], grace_epochs=1, reduction_factor=2,
                             concurrency=1, orders="recorded")
    (outcome,) = replay.outcomes.to_dict("records")
    assert outcome["stopped"] == live_stops
