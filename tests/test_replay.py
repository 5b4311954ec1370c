"""Early-stopping rules and their replay on finished studies made without Ray."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from ray.tune.schedulers import TrialScheduler

from _studies import saved_study
from mtlstudy._errors import ConfigError
from mtlstudy._runs import MemoryRungStore
from mtlstudy._schema import EPOCH_METRICS
from mtlstudy.cli import main
from mtlstudy.schedulers import MOASHAScheduler, rung_epochs
from mtlstudy.study import StudySpec, replay_stopping
from mtlstudy.study._layout import RAY_DIR
from mtlstudy.study._spec import EARLY_STOPPING, check_rungs

GRACE, ETA = 2, 2
SPEC_OPTIONS = {"grace_epochs": GRACE, "reduction_factor": ETA}
OBJECTIVES = {"objective_test_mse": "min", "objective_test_mrr": "max"}
MOASHA_RULES = [
    "moasha", "moasha+arch", "moasha+brackets", "moasha+bsf", "moasha+stable",
    "moasha+arch+brackets", "moasha+arch+bsf", "moasha+arch+stable", "moasha+brackets+bsf", "moasha+brackets+stable",
    "moasha+bsf+stable", "moasha+arch+brackets+bsf", "moasha+arch+brackets+stable", "moasha+arch+bsf+stable",
    "moasha+brackets+bsf+stable", "moasha+arch+brackets+bsf+stable",
]


def alternating_architectures(trial, spec) -> dict:
    """The search space of these studies: shared embeddings in even-numbered trials, separate in odd ones."""
    return {"shared": trial.number % 2 == 0, "lambda_f": 0.5, "lambda_r": 0.5}


SPACE = f"{__name__}:alternating_architectures"


def _study(dir: Path, curves: list[list[tuple[float, float]]], seconds: list[float] | None = None, **options) -> Path:
    """Study "s" in ``dir`` whose trial t<k> reports the (test MSE, test MRR) of ``curves[k]``
    at each epoch, each epoch lasting ``seconds[k]`` (default 1 s); returns ``dir``."""
    spec = saved_study(dir, "s", [curve[-1] for curve in curves], metrics=True, epochs=len(curves[0]),
                       space=SPACE, **{**SPEC_OPTIONS, **options})
    for k, curve in enumerate(curves):
        rows = [
            {"epoch": epoch, **{metric: 0.5 for metric in EPOCH_METRICS}, "test_mse": mse, "test_mrr": mrr,
             "train_time_s": seconds[k] if seconds else 1.0, "eval_time_s": 0.0}
            for epoch, (mse, mrr) in enumerate(curve, start=1)
        ]
        pd.DataFrame(rows).to_csv(spec.study_dir / RAY_DIR / f"t{k}" / "metrics.csv", index=False)
    return dir


def _outcomes(replay, rule: str) -> list[dict]:
    """One rule's outcome rows, in order."""
    return [row for row in replay.outcomes.to_dict("records") if row["rule"] == rule]


def _random_curves(trials: int = 6, epochs: int = 8, seed: int = 4) -> list[list[tuple[float, float]]]:
    """Noisy learning curves: test MSE falling and test MRR rising, at trial-specific rates."""
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(trials):
        mse = 1.0 + rng.uniform(0, 0.5) - np.cumsum(rng.uniform(0, 0.1, epochs))
        mrr = 0.05 + np.cumsum(rng.uniform(0, 0.02, epochs))
        curves.append([(round(a, 4), round(b, 4)) for a, b in zip(mse, mrr)])
    return curves


RANDOM_CURVES = _random_curves()


@pytest.fixture(scope="module")
def random_study(tmp_path_factory) -> Path:
    """Six trials of eight epochs with noisy curves that cross (read only: tests share it)."""
    return _study(tmp_path_factory.mktemp("random"), RANDOM_CURVES)


def _tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of its content (folders: "dir")."""
    return {
        str(path.relative_to(root)): "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
    }


def _replay_cli(dir: Path, *arguments: str):
    return CliRunner().invoke(main, ["stopping", "replay", "s", "--dir", str(dir), *arguments])


def _assert_one_error(result, message: str) -> None:
    """Exit code 2, nothing on stdout, and on stderr one ``Error:`` line holding ``message``
    (after click's usage lines, for a value click itself refuses)."""
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(("Usage:", "Try '"))]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr


# --- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", MOASHA_RULES)
def test_each_rule_builds_moasha_with_its_options(rule):
    spec = StudySpec(epochs=20, grace_epochs=GRACE, reduction_factor=ETA, early_stopping=rule)
    scheduler = spec.make_scheduler(MemoryRungStore())
    options = set(rule.split("+")[1:])
    assert isinstance(scheduler, MOASHAScheduler)
    assert scheduler.rungs == rung_epochs(GRACE, ETA, 20) == (2, 4, 8, 16)
    assert scheduler.reduction_factor == ETA
    prefix = "best_" if "bsf" in options else "objective_"
    assert scheduler.objectives == {f"{prefix}test_mse": "min", f"{prefix}test_mrr": "max"}
    assert scheduler.ladder_by == (("shared",) if "arch" in options else ())
    # One bracket per rung start, plus the one that never stops a trial.
    assert scheduler.brackets == (5 if "brackets" in options else 1)
    assert scheduler.stable == ("stable" in options)
    assert scheduler.levels == ((2, 4, 8, 16, 20) if "stable" in options else scheduler.rungs)


def test_the_registry_holds_none_and_every_moasha_option_set_in_order():
    assert list(EARLY_STOPPING) == ["none", *MOASHA_RULES]
    assert StudySpec(early_stopping="none").make_scheduler(MemoryRungStore()) is None


def test_plain_moasha_is_unchanged():
    scheduler = StudySpec(epochs=60, grace_epochs=5, reduction_factor=3, early_stopping="moasha").make_scheduler(
        MemoryRungStore()
    )
    assert (scheduler.rungs, scheduler.objectives) == ((5, 15, 45), OBJECTIVES)
    assert (scheduler.ladder_by, scheduler.brackets) == ((), 1)
    assert scheduler.ladder({"shared": False, "seed": 3}) == ("", 0)


@pytest.mark.parametrize("rule", MOASHA_RULES)
def test_early_stopping_needs_a_rung_below_the_epochs(rule):
    with pytest.raises(ConfigError, match="grace_epochs 5 and epochs 5"):
        check_rungs(StudySpec(epochs=5, grace_epochs=5, early_stopping=rule))
    assert check_rungs(StudySpec(epochs=6, grace_epochs=5, early_stopping=rule)).epochs == 6
    assert check_rungs(StudySpec(epochs=5, grace_epochs=5, early_stopping="none")).epochs == 5


# --- replays decide as the scheduler does --------------------------------------------------------


def _fed_by_hand(curves: list[list[tuple[float, float]]]) -> dict[int, int]:
    """Trial number -> epoch stopped at, feeding each trial's epochs in turn to a fresh scheduler (one at a time)."""
    scheduler = MOASHAScheduler(
        MemoryRungStore(), epochs=len(curves[0]), grace_epochs=GRACE, reduction_factor=ETA, objectives=OBJECTIVES
    )
    stopped = {}
    for k, curve in enumerate(curves):
        for epoch, (mse, mrr) in enumerate(curve, start=1):
            result = {"epoch": epoch, "objective_test_mse": mse, "objective_test_mrr": mrr}
            if scheduler.on_trial_result(None, SimpleNamespace(trial_id=f"t{k}"), result) == TrialScheduler.STOP:
                stopped[k] = epoch
                break
    return stopped


def test_a_recorded_replay_one_at_a_time_stops_what_the_scheduler_stops(random_study):
    expected = _fed_by_hand(RANDOM_CURVES)
    assert set(expected.values()) == {2, 4}, "the curves should have trials stopped at both rungs"
    replay = replay_stopping("s", random_study, rules=["moasha"], concurrency=1, orders="recorded")
    (outcome,) = _outcomes(replay, "moasha")
    assert outcome["stopped"] == expected
    epochs = len(RANDOM_CURVES[0])
    trained = sum(expected.values()) + epochs * (len(RANDOM_CURVES) - len(expected))
    assert outcome["trial_epochs"] == pytest.approx(trained / (epochs * len(RANDOM_CURVES)))
    # One at a time, epochs of 1 s: the wall time is the trial-epochs too.
    assert outcome["wall"] == pytest.approx(outcome["trial_epochs"])


def test_with_two_at_a_time_rungs_are_reached_in_simulated_time(tmp_path):
    # Four epochs, one rung at epoch 2 (eta 2: the top ceil(n/2) of n continue). At the rung,
    # t0 (1.0, 0.10) dominates t1 (1.1, 0.09), which dominates t2 (1.2, 0.08).
    curves = [[(1.0, 0.10)] * 4, [(1.1, 0.09)] * 4, [(1.2, 0.08)] * 4]
    _study(tmp_path, curves, seconds=[1.0, 4.0, 1.0])
    # One at a time: t1 arrives second (1 of 2 continues: it stops), t2 third and last (2 of 3: it stops).
    (alone,) = _outcomes(replay_stopping("s", tmp_path, rules=["moasha"], concurrency=1, orders="recorded"), "moasha")
    assert alone["stopped"] == {1: 2, 2: 2}
    assert alone["trial_epochs"] == pytest.approx(8 / 12)
    assert alone["wall"] == pytest.approx((4 + 2 * 4 + 2) / (4 + 4 * 4 + 4))
    # Two at a time: t0 and t1 start at 0 s; t0 reaches the rung at 2 s and ends at 4 s, when t2
    # starts. t2 reaches the rung at 6 s, second: it stops. t1, 4 s an epoch, reaches it at 8 s,
    # third, second best of three: it continues, and ends at 16 s, as in the full study.
    (paired,) = _outcomes(replay_stopping("s", tmp_path, rules=["moasha"], concurrency=2, orders="recorded"), "moasha")
    assert paired["stopped"] == {2: 2}
    assert paired["trial_epochs"] == pytest.approx(10 / 12)
    assert paired["wall"] == pytest.approx(1.0)


# Trial 0 (shared embeddings) holds (1.0, 0.10) throughout. Trial 1 (separate embeddings) is
# dominated by it at the rung at epoch 2, and again at 4, then ends at (0.8, 0.12), alone on the
# front. With eta 2 the second of two arrivals at a rung continues only if it ranks first.
LATE_BLOOMER = [[(1.0, 0.10)] * 6, [(1.5, 0.05)] * 4 + [(0.8, 0.12)] * 2]
# Trial 1's evaluation at epoch 2 is a bad outlier; its best values so far dominate trial 0's there.
NOISY_RUNG = [[(1.0, 0.10)] * 6, [(0.9, 0.11), (1.5, 0.05)] + [(0.8, 0.12)] * 4]


@pytest.mark.parametrize(
    ("curves", "keeper", "stoppers"),
    [
        (LATE_BLOOMER, "moasha+arch", ["moasha", "moasha+bsf"]),  # alone on its architecture's ladder
        (NOISY_RUNG, "moasha+bsf", ["moasha"]),  # ranked by its best values so far
    ],
    ids=["arch", "bsf"],
)
def test_a_rule_keeps_the_trial_that_ends_on_the_front_where_moasha_stops_it(tmp_path, curves, keeper, stoppers):
    _study(tmp_path, curves)
    replay = replay_stopping("s", tmp_path, rules=[*stoppers, keeper], concurrency=1, orders="recorded")
    assert replay.front == (1,)
    for rule in stoppers:
        (stopped,) = _outcomes(replay, rule)
        # Only trial 0 trains to the end, and it is the reference point itself: no area is kept.
        assert (stopped["stopped"], stopped["front_stopped"], stopped["hypervolume"]) == ({1: 2}, 1, 0.0)
    (kept,) = _outcomes(replay, keeper)
    assert (kept["stopped"], kept["front_stopped"], kept["hypervolume"]) == ({}, 0, 1.0)
    at = {row["rule"]: row["front_stopped_at"] for row in replay.summary.to_dict("records")}
    assert at == {**{rule: {2: 1} for rule in stoppers}, keeper: {}}


def test_the_rule_none_keeps_everything(random_study):
    replay = replay_stopping("s", random_study, rules=["none", "moasha"], concurrency=2, orders=3)
    for row in _outcomes(replay, "none"):
        assert (row["stopped"], row["trial_epochs"], row["wall"], row["hypervolume"]) == ({}, 1.0, 1.0, 1.0)
    assert any(row["stopped"] for row in _outcomes(replay, "moasha"))  # the same orders do stop trials


# --- arrival orders -------------------------------------------------------------------------------


def test_seeded_orders_are_reproducible_and_the_seed_matters(random_study):
    def replay(seed: int):
        return replay_stopping("s", random_study, rules=["moasha", "moasha+arch"], concurrency=2, orders=4, seed=seed)

    first, again, other = replay(0), replay(0), replay(1)
    assert first.to_dict() == again.to_dict()
    for rule in ("moasha", "moasha+arch"):
        rows = _outcomes(first, rule)
        assert [row["order"] for row in rows] == [0, 1, 2, 3]
        assert [row["stopped"] for row in rows] != [row["stopped"] for row in _outcomes(other, rule)]
    assert first.summary["orders"].tolist() == [4, 4]
    assert first.arrivals == "4 arrival orders (seed 0)" and other.arrivals == "4 arrival orders (seed 1)"
    # Orders are permutations of one study: who is stopped differs between them.
    assert len({json.dumps(row["stopped"]) for row in _outcomes(first, "moasha")}) > 1


# --- the command ------------------------------------------------------------------------------------


def test_json_output_is_the_replay_s_dict(random_study):
    result = _replay_cli(random_study, "--rule", "moasha", "--rule", "none", "--orders", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    values = json.loads(result.stdout)
    assert set(values) == {"value", "trials", "concurrency", "arrivals", "reference", "front", "rules", "outcomes"}
    replay = replay_stopping("s", random_study, rules=["moasha", "none"], orders=2)
    assert values == json.loads(json.dumps(replay.to_dict()))
    assert (values["trials"], values["concurrency"], len(values["outcomes"])) == (6, 2, 4)
    text = _replay_cli(random_study, "--rule", "moasha", "--rule", "none", "--orders", "2")
    assert text.exit_code == 0 and text.stdout.strip() == replay.to_text()


@pytest.fixture
def figures(tmp_path) -> Path:
    folder = tmp_path / "figures"
    folder.mkdir()
    return folder


def test_the_figure_is_a_png(random_study, figures):
    result = _replay_cli(random_study, "--rule", "moasha", "--orders", "2", "--figure", str(figures / "out.png"))
    assert result.exit_code == 0, result.output
    assert (figures / "out.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [path.name for path in figures.iterdir()] == ["out.png"]  # no staging file left


def test_a_figure_of_unknown_format_is_refused_and_nothing_is_written(random_study, figures):
    before = _tree(random_study)
    result = _replay_cli(random_study, "--rule", "moasha", "--orders", "2", "--figure", str(figures / "out.txt"))
    _assert_one_error(result, "out.txt")
    assert list(figures.iterdir()) == [] and _tree(random_study) == before  # no out.txt, no staging file


def test_a_figure_in_a_missing_folder_is_refused_before_the_replay(random_study, figures):
    result = _replay_cli(random_study, "--figure", str(figures / "no" / "out.png"))
    _assert_one_error(result, "names a folder that does not exist")
    assert list(figures.iterdir()) == []


def test_a_front_with_no_area_is_reported_as_unmeasured_not_a_crash(small_study, figures):
    # Two trials that trade off span the default reference point (worst MSE, worst MRR): the front has no area,
    # so no fraction of it can be kept.
    result = _replay_cli(small_study, "--rule", "moasha", "--orders", "1", "--figure", str(figures / "out.png"))
    assert result.exit_code == 0, result.output
    assert "nan (nan–nan)" in result.output and (figures / "out.png").exists()


@pytest.fixture(scope="module")
def small_study(tmp_path_factory) -> Path:
    """Two trials of four epochs, copied by each test that changes it."""
    return _study(tmp_path_factory.mktemp("small"), [[(1.0, 0.10)] * 4, [(0.9, 0.08)] * 4])


def _stopped_trial(dir: Path) -> None:
    shutil.rmtree(dir / "s")
    saved_study(dir, "s", [(1.0, 0.10), (0.9, 0.08, 2)], metrics=True, epochs=4, early_stopping="moasha",
                **SPEC_OPTIONS)


def _epochs_of_t1(change):
    """A setup that rewrites trial 1's metrics.csv with ``change(rows)``."""

    def setup(dir: Path) -> None:
        path = dir / "s" / RAY_DIR / "t1" / "metrics.csv"
        change(pd.read_csv(path)).to_csv(path, index=False)

    return setup


def _without_epoch_2(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["epoch"] != 2]


def _epoch_4_as_5(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(epoch=rows["epoch"].replace(4, 5))


@pytest.mark.parametrize(
    ("setup", "arguments", "message"),
    [
        (_stopped_trial, [], "trial(s) 1 (PRUNED) did not"),
        (_epochs_of_t1(_without_epoch_2), [], "trial 1's metrics.csv lacks epoch(s) [2]"),
        (_epochs_of_t1(_epoch_4_as_5), [], "lacks epoch(s) [4] and holds epoch(s) [5]"),  # four rows, but not epochs 1 to 4
        (None, ["--rule", "moasha+fast"], "unknown early_stopping 'moasha+fast'"),
        (None, ["--rule", "moasha+bsf+arch"], "'moasha+bsf+arch'"),  # options go in their order
        (None, ["--grace-epochs", "4"], "got grace_epochs 4 and epochs 4"),
        (None, ["--grace-epochs", "0"], "grace_epochs must be an integer from 1 to 100000, got 0"),
        (None, ["--concurrency", "0"], "concurrency must be an integer from 1 to 100000, got 0"),
        (None, ["--orders", "0"], "orders must be an integer from 1 to 100000, got 0"),
        (None, ["--orders", "abc"], "'abc'"),
        (None, ["--reduction-factor", "1"], "reduction_factor must be a number >= 2, got 1.0"),
        (None, ["--seed", "-1"], "seed must be an integer from 0 to 4294967295 (a 32-bit seed), got -1"),
    ],
    ids=["stopped-trial", "missing-epoch", "misnumbered-epoch", "unknown-rule", "options-out-of-order",
         "grace-at-epochs", "grace-0", "concurrency-0", "orders-0", "orders-abc", "reduction-factor-1",
         "seed-negative"],
)
def test_bad_input_is_one_error_line_exit_2_and_changes_nothing(small_study, tmp_path, setup, arguments, message):
    dir = tmp_path / "runs"
    shutil.copytree(small_study, dir)
    if setup is not None:
        setup(dir)
    before = _tree(tmp_path)
    _assert_one_error(_replay_cli(dir, *arguments), message)
    assert _tree(tmp_path) == before


def test_a_missing_study_is_one_error_line(tmp_path):
    dir = tmp_path / "runs"
    dir.mkdir()
    result = CliRunner().invoke(main, ["stopping", "replay", "nope", "--dir", str(dir)])
    _assert_one_error(result, "no study 'nope'")
    assert list(dir.iterdir()) == []
