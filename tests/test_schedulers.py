"""MOASHA: rungs, non-dominated ranking, promotion and replayed decisions (no Ray needed)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from ray.tune.schedulers import TrialScheduler

from mtlstudy._runs import FAILURE_KEY, PACK_KEY, MemoryRungStore
from mtlstudy.schedulers import (
    MOASHAScheduler,
    crowding_distances,
    is_promoted,
    nondominated_ranks,
    promotion_order,
    rung_epochs,
)

DIRECTIONS = ("min", "max")  # (test MSE, test MRR)
OBJECTIVES = {"objective_test_mse": "min", "objective_test_mrr": "max"}


def _ranks_by_peeling(values: np.ndarray) -> list[int]:
    """Front index by the definition: remove the non-dominated set, repeat."""
    points = values * np.array([1.0, -1.0])
    ranks, left, front = [-1] * len(points), set(range(len(points))), 0
    while left:
        current = [i for i in left
                   if not any((points[j] <= points[i]).all() and (points[j] < points[i]).any() for j in left)]
        for i in current:
            ranks[i] = front
        left -= set(current)
        front += 1
    return ranks


@pytest.mark.parametrize(
    ("grace", "factor", "epochs", "rungs"),
    [(5, 3, 200, (5, 15, 45, 135)), (5, 3, 60, (5, 15, 45)), (1, 2, 9, (1, 2, 4, 8)), (2, 2.5, 30, (2, 5, 12)), (5, 3, 6, (5,))],
)
def test_rungs_are_r_times_powers_of_eta_below_the_budget(grace, factor, epochs, rungs):
    assert rung_epochs(grace, factor, epochs) == rungs


def test_sort_and_sweep_ranks_equal_the_definition_ties_included():
    rng = np.random.default_rng(0)
    for _ in range(300):
        values = rng.integers(0, 5, size=(rng.integers(1, 16), 2)).astype(float)
        assert nondominated_ranks(values, DIRECTIONS).tolist() == _ranks_by_peeling(values)


def test_non_finite_rows_rank_after_every_front():
    values = np.array([[1.0, 0.1], [np.nan, 0.3], [2.0, 0.05], [0.5, np.inf]])
    assert nondominated_ranks(values, DIRECTIONS).tolist() == [0, 2, 1, 2]


def test_crowding_keeps_the_ends_of_a_front_and_favours_sparse_parts():
    front = np.array([[1.0, 0.10], [1.1, 0.11], [1.2, 0.12], [2.0, 0.13], [3.0, 0.14]])
    ranks = nondominated_ranks(front, DIRECTIONS)
    distances = crowding_distances(front, DIRECTIONS, ranks)
    assert np.isinf(distances[[0, 4]]).all()
    assert distances[3] > distances[2] > 0 and distances[3] > distances[1]
    assert promotion_order(front, DIRECTIONS).tolist()[:2] == [0, 4]


def test_the_first_arrival_continues_and_a_dominated_one_stops():
    assert is_promoted([5.0, 0.01], [], DIRECTIONS, 3)
    assert not is_promoted([2.0, 0.05], [[1.0, 0.10]], DIRECTIONS, 3)
    assert is_promoted([0.9, 0.12], [[1.0, 0.10]], DIRECTIONS, 3)


def test_top_one_over_eta_by_front_then_crowding():
    earlier = [[1.0, 0.10], [1.5, 0.05], [2.0, 0.04]]  # front 0, 1, 2
    # Four trials, eta 2: the best two continue. A newcomer on the first front is one of them.
    assert is_promoted([0.9, 0.09], earlier, DIRECTIONS, 2)
    # Dominated by the first two, it ranks third: stopped with eta 2, kept with ceil(4/1.5) = 3 places.
    assert not is_promoted([1.6, 0.045], earlier, DIRECTIONS, 2)
    assert is_promoted([1.6, 0.045], earlier, DIRECTIONS, 1.5)


def test_about_one_in_eta_of_many_arrivals_continue():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(90, 2))
    earlier: list[list[float]] = []
    promoted = 0
    for value in values:
        promoted += is_promoted(value, earlier, DIRECTIONS, 3)
        earlier.append(list(value))
    assert 20 <= promoted <= 45  # asynchronous: early arrivals are judged against few


def _trial(trial_id: str) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id)


def _result(epoch: int, mse: float, mrr: float) -> dict:
    return {"epoch": epoch, "objective_test_mse": mse, "objective_test_mrr": mrr}


def test_scheduler_stops_a_dominated_trial_at_a_rung_only():
    scheduler = MOASHAScheduler(MemoryRungStore(), epochs=20, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES)
    assert scheduler.rungs == (2, 4, 8, 16)
    assert scheduler.on_trial_result(None, _trial("a"), _result(2, 1.0, 0.10)) == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, _trial("b"), _result(3, 9.0, 0.01)) == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, _trial("b"), _result(2, 2.0, 0.05)) == TrialScheduler.STOP
    records = scheduler.store.records(2).values()
    assert [(r.order, r.promoted, r.values) for r in records] == [(0, True, (1.0, 0.10)), (1, False, (2.0, 0.05))]
    assert not scheduler.supports_buffered_results


def test_a_resumed_scheduler_replays_recorded_decisions_and_decides_the_rest_alike():
    arrivals = [("a", 2, 1.0, 0.10), ("b", 2, 2.0, 0.05), ("c", 2, 0.8, 0.12), ("a", 4, 0.9, 0.11),
                ("d", 2, 1.1, 0.02), ("c", 4, 0.7, 0.13), ("e", 2, 0.5, 0.01)]

    def decisions(cut: int | None) -> list[tuple[str, str]]:
        store = MemoryRungStore()
        scheduler = MOASHAScheduler(store, epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES)
        made = []
        for index, (trial_id, epoch, mse, mrr) in enumerate(arrivals):
            if index == cut:  # a new driver: a fresh scheduler on the same records ...
                scheduler = MOASHAScheduler(store, epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES)
                # ... to which the interrupted trial reports its last rung again, from an earlier checkpoint.
                replayed = arrivals[index - 1]
                again = scheduler.on_trial_result(None, _trial(replayed[0]), _result(*replayed[1:]))
                assert again == made[-1][1]
            made.append((trial_id, scheduler.on_trial_result(None, _trial(trial_id), _result(epoch, mse, mrr))))
        return made

    uninterrupted = decisions(None)
    assert [decision for _, decision in uninterrupted].count(TrialScheduler.STOP) >= 2
    for cut in range(1, len(arrivals)):
        assert decisions(cut) == uninterrupted


def test_a_recorded_decision_wins_over_new_values():
    scheduler = MOASHAScheduler(MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES)
    scheduler.on_trial_result(None, _trial("a"), _result(2, 1.0, 0.10))
    assert scheduler.on_trial_result(None, _trial("b"), _result(2, 2.0, 0.05)) == TrialScheduler.STOP
    assert scheduler.on_trial_result(None, _trial("b"), _result(2, 0.1, 0.50)) == TrialScheduler.STOP


def test_a_diverged_trial_is_not_ranked_and_ends_itself():
    scheduler = MOASHAScheduler(MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES)
    diverged = {**_result(2, math.nan, math.nan), FAILURE_KEY: "diverged at epoch 2: non-finite training loss"}
    assert scheduler.on_trial_result(None, _trial("a"), diverged) == TrialScheduler.CONTINUE
    assert scheduler.store.records(2) == {}


def _packed(members: dict[int, dict], flattened: bool = False) -> dict:
    """A packed trial's result at epoch 2, as reported or as Ray flattens it for schedulers."""
    if not flattened:
        return {"epoch": 2, PACK_KEY: {str(member): values for member, values in members.items()}}
    flat = {f"{PACK_KEY}/{member}/{key}": value for member, values in members.items() for key, value in values.items()}
    return {"epoch": 2, **flat}


@pytest.mark.parametrize("flattened", [False, True])
def test_each_member_of_a_pack_at_the_rung_is_decided_on_its_own_in_member_order(flattened):
    scheduler = MOASHAScheduler(MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES)
    scheduler.on_trial_result(None, _trial("a"), _result(2, 1.0, 0.10))
    members = {
        3: _result(1, 0.1, 0.90),  # left the pack at epoch 1: not at this rung
        1: _result(2, 0.5, 0.20),  # dominates every other: continues
        2: {**_result(2, math.nan, math.nan), FAILURE_KEY: "diverged"},  # failed: not ranked
        0: _result(2, 2.0, 0.05),  # dominated by "a": stops
    }
    assert scheduler.on_trial_result(None, _trial("p"), _packed(members, flattened)) == TrialScheduler.CONTINUE
    store = scheduler.store
    assert [(r.order, r.values, r.promoted) for r in store.records(2).values()] == [
        (0, (1.0, 0.10), True),
        (1, (2.0, 0.05), False),
        (2, (0.5, 0.20), True),
    ]
    assert store.record("p/m0", 2).order == 1 and store.record("p/m1", 2).order == 2
    assert store.record("p/m2", 2) is None and store.record("p/m3", 2) is None and store.record("p", 2) is None


def test_a_pack_stops_when_none_of_its_members_continues():
    scheduler = MOASHAScheduler(MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES)
    scheduler.on_trial_result(None, _trial("a"), _result(2, 1.0, 0.10))
    dominated = _packed({0: _result(2, 2.0, 0.05), 1: _result(2, 3.0, 0.01)})
    assert scheduler.on_trial_result(None, _trial("p"), dominated) == TrialScheduler.STOP
    failed = _packed({0: {**_result(2, math.nan, math.nan), FAILURE_KEY: "diverged"}})
    assert scheduler.on_trial_result(None, _trial("q"), failed) == TrialScheduler.STOP
    assert scheduler.store.record("q/m0", 2) is None


def test_the_scheduler_reads_a_result_s_runs_through_the_function_it_is_given():
    seen = []

    def two_runs(ray_trial_id, result):
        seen.append((ray_trial_id, result["epoch"]))
        return {f"{ray_trial_id}/x": _result(2, 2.0, 0.05), f"{ray_trial_id}/y": _result(2, 0.5, 0.20)}

    scheduler = MOASHAScheduler(
        MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES, run_results=two_runs
    )
    assert scheduler.on_trial_result(None, _trial("t"), {"epoch": 3}) == TrialScheduler.CONTINUE  # not a rung
    assert scheduler.on_trial_result(None, _trial("t"), {"epoch": 2}) == TrialScheduler.CONTINUE
    assert seen == [("t", 2)]
    assert [(r.order, r.promoted) for r in (scheduler.store.record(run, 2) for run in ("t/x", "t/y"))] == [
        (0, True),
        (1, True),
    ]
    assert scheduler.store.record("t", 2) is None


def test_equal_values_are_ranked_by_arrival():
    earlier = [[1.0, 0.1]] * 3
    assert not is_promoted([1.0, 0.1], earlier, DIRECTIONS, 2)  # fourth of four equals; two continue
    assert is_promoted([1.0, 0.1], earlier[:1], DIRECTIONS, 1)


# --- ladders and brackets ---------------------------------------------------------------------


def _configured(trial_id: str, **config) -> SimpleNamespace:
    """A Ray trial with a config, which is what a ladder is read from."""
    return SimpleNamespace(trial_id=trial_id, config=config)


def _report(scheduler: MOASHAScheduler, trial_id: str, epoch: int, mse: float, mrr: float, **config) -> str:
    """The decision on trial ``trial_id``, trained with ``config``, reporting (mse, mrr) at ``epoch``."""
    return scheduler.on_trial_result(None, _configured(trial_id, **config), _result(epoch, mse, mrr))


def _params(seed: int, shared: bool = True) -> dict:
    """A trial's training parameters (those a bracket is hashed from), plus one that is not."""
    return {"shared": shared, "lambda_f": 0.5, "lambda_r": 0.5, "user_bias": False, "seed": seed, "lr": 0.01}


def _bracketed(brackets: int, *, epochs: int = 20, **options) -> MOASHAScheduler:
    """Rungs 2, 4, 8, 16 at the default 20 epochs."""
    return MOASHAScheduler(
        MemoryRungStore(), epochs=epochs, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES,
        brackets=brackets, **options,
    )


def _bracket_of(scheduler: MOASHAScheduler, config: dict) -> int:
    ladder = scheduler.ladder(config)
    return scheduler.brackets - 1 if ladder is None else int(ladder[0].rpartition("bracket=")[2])


def _in_bracket(scheduler: MOASHAScheduler, bracket: int, count: int = 1, shared: bool = True) -> list[dict]:
    """``count`` parameter sets (differing by seed) that ``scheduler`` puts in ``bracket``."""
    configs = (_params(seed, shared) for seed in range(1000))
    return [config for config in configs if _bracket_of(scheduler, config) == bracket][:count]


def test_ladder_by_ranks_each_architecture_apart():
    scheduler = MOASHAScheduler(
        MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES, ladder_by=("shared",)
    )
    assert _report(scheduler, "a", 2, 1.0, 0.10, shared=True) == TrialScheduler.CONTINUE
    # Dominated by "a", but first on its own ladder: with eta 2 the top ceil(1/2) = 1 of 1 continues.
    assert _report(scheduler, "b", 2, 2.0, 0.05, shared=False) == TrialScheduler.CONTINUE
    # Dominated by a trial of its own architecture: second of two on its ladder, one continues.
    assert _report(scheduler, "c", 2, 3.0, 0.01, shared=False) == TrialScheduler.STOP
    assert _report(scheduler, "d", 2, 1.5, 0.08, shared=True) == TrialScheduler.STOP
    # The order stays global at the rung; the ladder says whom each was ranked against.
    assert [(r.order, r.ladder, r.promoted) for r in scheduler.store.records(2).values()] == [
        (0, "shared=True", True), (1, "shared=False", True), (2, "shared=False", False), (3, "shared=True", False)
    ]


def test_without_ladder_by_every_trial_shares_one_ladder():
    scheduler = MOASHAScheduler(MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES)
    _report(scheduler, "a", 2, 1.0, 0.10, shared=True)
    assert _report(scheduler, "b", 2, 2.0, 0.05, shared=False) == TrialScheduler.STOP
    assert {r.ladder for r in scheduler.store.records(2).values()} == {""}


def test_a_ladder_reads_numpy_values_as_the_python_ones_they_hold():
    # A replay reads parameters from a table, a live study from a config: both must land on one ladder.
    scheduler = _bracketed(3, ladder_by=("shared", "seed"))
    (config,) = _in_bracket(scheduler, 0)
    seed = config["seed"]
    from_table = {**config, "shared": np.bool_(True), "seed": np.int64(seed), "lambda_f": np.float64(0.5)}
    assert scheduler.ladder(from_table) == scheduler.ladder(config) == (f"shared=True,seed={seed},bracket=0", 0)


def test_brackets_spread_trials_by_their_parameters_alone():
    scheduler = _bracketed(5)
    seen = {_bracket_of(scheduler, _params(seed)) for seed in range(200)}
    assert seen == set(range(5))
    # Neither other config keys nor the trial id (not in the config) move a trial to another bracket.
    config = _params(3)
    assert scheduler.ladder({**config, "lr": 0.5, "batch_size": 64}) == scheduler.ladder(config)


@pytest.mark.parametrize(("brackets", "first_rungs"), [(5, [0, 1, 2, 3]), (3, [0, 2])])
def test_bracket_k_of_b_starts_at_rung_round_k_times_rungs_over_b_minus_1(brackets, first_rungs):
    scheduler = _bracketed(brackets, ladder_by=("shared",))
    assert scheduler.rungs == (2, 4, 8, 16)
    for bracket, first in enumerate(first_rungs):
        (config,) = _in_bracket(scheduler, bracket, shared=False)
        assert scheduler.ladder(config) == (f"shared=False,bracket={bracket}", first)
    (last,) = _in_bracket(scheduler, brackets - 1)
    assert scheduler.ladder(last) is None


def test_the_last_bracket_never_stops_a_trial_and_leaves_no_record():
    scheduler = _bracketed(5)
    (leader,), (last,) = _in_bracket(scheduler, 0), _in_bracket(scheduler, 4)
    for rung in scheduler.rungs:
        _report(scheduler, "a", rung, 0.1, 0.90, **leader)
        assert _report(scheduler, "z", rung, 9.0, 0.01, **last) == TrialScheduler.CONTINUE
        assert scheduler.store.record("z", rung) is None
        assert [r.ladder for r in scheduler.store.records(rung).values()] == ["bracket=0"]


def test_a_bracket_decides_from_its_first_rung_on():
    scheduler = _bracketed(5)
    leader, follower = _in_bracket(scheduler, 2, count=2)  # bracket 2 of 5 starts at rung index 2: epoch 8
    for rung in (2, 4):
        _report(scheduler, "a", rung, 1.0, 0.10, **leader)
        assert _report(scheduler, "b", rung, 2.0, 0.05, **follower) == TrialScheduler.CONTINUE
        assert scheduler.store.records(rung) == {}
    _report(scheduler, "a", 8, 1.0, 0.10, **leader)
    assert _report(scheduler, "b", 8, 2.0, 0.05, **follower) == TrialScheduler.STOP
    assert [(r.order, r.ladder, r.promoted) for r in scheduler.store.records(8).values()] == [
        (0, "bracket=2", True), (1, "bracket=2", False)
    ]


def test_a_trial_in_another_bracket_is_not_a_rival():
    scheduler = _bracketed(5)
    (first,), (second,) = _in_bracket(scheduler, 0), _in_bracket(scheduler, 1)  # bracket 1 starts at epoch 4
    _report(scheduler, "a", 4, 1.0, 0.10, **first)
    assert _report(scheduler, "b", 4, 2.0, 0.05, **second) == TrialScheduler.CONTINUE
    assert (scheduler.store.record("b", 4).order, scheduler.store.record("b", 4).ladder) == (1, "bracket=1")


def test_a_pack_s_members_are_ranked_on_their_own_ladders():
    scheduler = MOASHAScheduler(
        MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES, ladder_by=("shared",)
    )
    _report(scheduler, "a", 2, 1.0, 0.10, shared=True)
    # The pack's own "shared" is what its members share; member 1 overrides it.
    pack = _configured("p", shared=True, lr=0.01, **{PACK_KEY: [{"lambda_f": 0.1}, {"shared": False}]})
    result = _packed({0: _result(2, 2.0, 0.05), 1: _result(2, 2.0, 0.05)})
    assert scheduler.on_trial_result(None, pack, result) == TrialScheduler.CONTINUE
    store = scheduler.store
    # Equal values: member 0 is dominated by "a" on the shared ladder, member 1 is alone on its own.
    assert (store.record("p/m0", 2).ladder, store.record("p/m0", 2).promoted) == ("shared=True", False)
    assert (store.record("p/m1", 2).ladder, store.record("p/m1", 2).promoted) == ("shared=False", True)


def test_a_pack_s_members_are_bracketed_by_their_own_parameters():
    scheduler = _bracketed(5)
    (early,), (never,) = _in_bracket(scheduler, 0), _in_bracket(scheduler, 4)
    _report(scheduler, "a", 2, 1.0, 0.10, **early)
    pack = _configured("p", **{PACK_KEY: [early, never]})
    result = _packed({0: _result(2, 2.0, 0.05), 1: _result(2, 2.0, 0.05)})
    # Member 1 is in the last bracket: it continues, so the pack does, though member 0 stops.
    assert scheduler.on_trial_result(None, pack, result) == TrialScheduler.CONTINUE
    assert scheduler.store.record("p/m0", 2).promoted is False
    assert scheduler.store.record("p/m1", 2) is None


@pytest.mark.parametrize("brackets", [0, -1, 1.5, True, "2"])
def test_brackets_must_be_a_positive_integer(brackets):
    with pytest.raises(ValueError, match="brackets must be an integer >= 1"):
        _bracketed(brackets)


# --- stable: a rung trusted once its ranking holds at the next level --------------------------


def _stable(**options) -> MOASHAScheduler:
    """Rungs 2, 4, 8 and the last epoch 10, eta 2: a rung needs 4 trials at it and the next level."""
    return MOASHAScheduler(
        MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES, stable=True,
        **options,
    )


# At rung 2, "a" and "b" lead and "c" and "d" trail; at rung 4 the leaders lead on (held) or the
# trailing "d" has overtaken everyone (crossed).
_AT_2 = {"a": (1.0, 0.10), "b": (1.1, 0.09), "c": (2.0, 0.05), "d": (2.1, 0.04)}
_HELD = {"a": (0.9, 0.11), "b": (1.0, 0.10), "c": (1.9, 0.06), "d": (2.0, 0.05)}
_CROSSED = {"a": (0.9, 0.11), "b": (1.0, 0.10), "c": (1.9, 0.06), "d": (0.5, 0.20)}


def _climb(scheduler: MOASHAScheduler, later: dict, **config) -> list[str]:
    """Every trial of ``_AT_2`` at rung 2, then at rung 4 with ``later``; the decisions at rung 2."""
    decisions = [_report(scheduler, trial_id, 2, *values, **config) for trial_id, values in _AT_2.items()]
    for trial_id, values in later.items():
        _report(scheduler, trial_id, 4, *values, **config)
    return decisions


def test_stable_lets_every_trial_past_a_rung_it_has_no_evidence_for():
    scheduler = _stable()
    assert _climb(scheduler, {}) == [TrialScheduler.CONTINUE] * 4
    assert [r.promoted for r in scheduler.store.records(2).values()] == [True] * 4
    # The same arrivals without the check stop all but the first: each is dominated by one before it.
    plain = MOASHAScheduler(MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES)
    assert [_report(plain, t, 2, *v) for t, v in _AT_2.items()].count(TrialScheduler.STOP) == 3


def test_stable_trusts_a_rung_whose_ranking_held_and_stops_there():
    scheduler = _stable()
    _climb(scheduler, _HELD)
    assert scheduler.trusted(2, "")
    assert _report(scheduler, "e", 2, 3.0, 0.01) == TrialScheduler.STOP
    assert not scheduler.trusted(4, "")  # no trial has reached rung 8 yet


def test_stable_distrusts_a_rung_whose_ranking_crossed():
    scheduler = _stable()
    _climb(scheduler, _CROSSED)
    assert not scheduler.trusted(2, "")
    assert _report(scheduler, "e", 2, 3.0, 0.01) == TrialScheduler.CONTINUE


def test_stable_needs_two_eta_trials_at_both_levels():
    scheduler = _stable()
    _climb(scheduler, dict(list(_HELD.items())[:3]))
    assert not scheduler.trusted(2, "")
    _report(scheduler, "d", 4, *_HELD["d"])
    assert scheduler.trusted(2, "")


def test_stable_checks_the_last_rung_against_the_last_epoch_which_it_records():
    scheduler = _stable()
    for trial_id, (mse, mrr) in _HELD.items():
        _report(scheduler, trial_id, 8, mse, mrr)
        assert _report(scheduler, trial_id, 10, mse, mrr) == TrialScheduler.CONTINUE
    assert [r.promoted for r in scheduler.store.records(10).values()] == [True] * 4
    assert scheduler.trusted(8, "")
    assert _report(scheduler, "e", 8, 3.0, 0.01) == TrialScheduler.STOP
    # Without the check the last epoch is no level: nothing is recorded there.
    plain = MOASHAScheduler(MemoryRungStore(), epochs=10, grace_epochs=2, reduction_factor=2, objectives=OBJECTIVES)
    _report(plain, "a", 10, 1.0, 0.1)
    assert plain.store.records(10) == {}


def test_stable_weighs_the_evidence_of_a_trials_own_ladder_only():
    scheduler = _stable(ladder_by=("shared",))
    _climb(scheduler, _HELD, shared=True)
    assert scheduler.trusted(2, "shared=True") and not scheduler.trusted(2, "shared=False")
    assert _report(scheduler, "e", 2, 3.0, 0.01, shared=False) == TrialScheduler.CONTINUE
    assert _report(scheduler, "f", 2, 3.0, 0.01, shared=True) == TrialScheduler.STOP
