"""The searcher without Ray: ask/tell through Optuna's public API, stopped trials, seeding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from ray.tune.search import Searcher

from mtlstudy._runs import FAILURE_KEY
from mtlstudy.study import load_export, resolve_spec
from mtlstudy.study._database import FAILURE_ATTR, StudyDatabase
from mtlstudy.study._searcher import StudySearcher, TrialErrors, stopped_as_dominated
from mtlstudy.trainables import CHECKPOINT_FILE, split_config
from mtlstudy.training import TrainConfig, Trainer, load_split

DIRECTIONS = [optuna.study.StudyDirection.MINIMIZE, optuna.study.StudyDirection.MAXIMIZE]


def _spec(tmp_path, **options):
    defaults = dict(name="s", dir=str(tmp_path), epochs=10, dataset="synthetic", trials=40)
    spec = resolve_spec(**{**defaults, **options})
    spec.study_dir.mkdir(parents=True, exist_ok=True)
    return spec


def _result(epoch: int, mse: float, mrr: float) -> dict:
    return {"epoch": epoch, "objective_test_mse": mse, "objective_test_mrr": mrr}


def _error(spec, searcher, trial_id, error_file=None):
    """Ray's news of a trial that failed with an error: to the searcher, then to the callbacks, with the trial."""
    searcher.on_trial_complete(trial_id, None, error=True)
    trial = types.SimpleNamespace(trial_id=trial_id, config={}, last_result={}, error_file=error_file)
    TrialErrors(spec).on_trial_error(0, [trial], trial)


def test_suggest_and_complete_tell_optuna_complete_pruned_and_fail(tmp_path):
    spec = _spec(tmp_path)
    searcher = StudySearcher(spec)
    params = [searcher.suggest(f"ray-{k}") for k in range(4)]
    assert all(0 < p["lambda_f"] < 1 and p["lambda_r"] == pytest.approx(1 - p["lambda_f"]) for p in params)
    searcher.on_trial_complete("ray-0", _result(10, 1.0, 0.1))
    searcher.on_trial_complete("ray-1", _result(4, 2.0, 0.05))
    _error(spec, searcher, "ray-2")
    searcher.on_trial_complete("ray-0", _result(10, 9.0, 0.9))  # told once only
    trials = searcher.database.study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING]
    assert trials[0].values == [1.0, 0.1] and trials[1].user_attrs["stopped_epoch"] == 4
    assert [t.user_attrs["ray_trial_id"] for t in trials] == ["ray-0", "ray-1", "ray-2", "ray-3"]
    assert trials[3].user_attrs["params"] == params[3]


def test_diverged_and_errored_trials_are_fail_with_the_reason_recorded(tmp_path):
    spec = _spec(tmp_path)
    searcher = StudySearcher(spec)
    for k in range(5):
        searcher.suggest(f"ray-{k}")
    diverged = "diverged at epoch 3: non-finite training loss"
    searcher.on_trial_complete("ray-0", {**_result(3, float("nan"), float("nan")), FAILURE_KEY: diverged})
    # With value "best" the values can be finite from earlier epochs: the reason still decides.
    searcher.on_trial_complete("ray-1", {**_result(3, 1.0, 0.1), FAILURE_KEY: diverged})
    _error(spec, searcher, "ray-2")  # Ray wrote no error file
    searcher.on_trial_complete("ray-3", _result(10, 1.0, 0.1))
    died = tmp_path / "error.txt"  # as Ray writes it when a trial's worker process is killed
    died.write_text("Failure # 1 (occurred at 2026-12-08_00-17-37)\nThe actor died unexpectedly before finishing this task.\n"
                    "\tclass_name: ImplicitFunc\nThe actor is dead because its worker process has died. Worker exit type: "
                    "SYSTEM_ERROR Worker exit detail: Worker unexpectedly exits with a connection error code 2.\n")
    _error(spec, searcher, "ray-4", str(died))
    trials = searcher.database.study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * 3 + [TrialState.COMPLETE, TrialState.FAIL]
    assert [t.user_attrs.get(FAILURE_ATTR) for t in trials] == [
        diverged, diverged, "the trial raised an error", None, "its worker died (exit type SYSTEM_ERROR)"
    ]


def test_the_next_trial_depends_on_the_seed_and_the_history_only(tmp_path):
    first = StudySearcher(_spec(tmp_path / "a"))
    second = StudySearcher(_spec(tmp_path / "b"))
    for k in range(3):
        assert first.suggest(f"x{k}") == second.suggest(f"y{k}")
        first.on_trial_complete(f"x{k}", _result(10, 1.0 + k, 0.1))
        second.on_trial_complete(f"y{k}", _result(10, 1.0 + k, 0.1))
    # A new searcher (a resumed driver) on the same database carries on alike.
    assert StudySearcher(_spec(tmp_path / "a")).suggest("x3") == second.suggest("y3")
    other_seed = StudySearcher(_spec(tmp_path / "c", seed=1))
    assert other_seed.suggest("z0") != StudySearcher(_spec(tmp_path / "d")).suggest("w0")


def test_stopped_trials_are_shown_as_no_better_than_the_worst_complete_one():
    distributions = {"x": optuna.distributions.FloatDistribution(0, 1)}

    def trial(state, values=None):
        return optuna.trial.create_trial(state=state, values=values, params={"x": 0.5}, distributions=distributions)

    history = [trial(TrialState.COMPLETE, [1.0, 0.2]), trial(TrialState.PRUNED), trial(TrialState.COMPLETE, [2.0, 0.3]),
               trial(TrialState.RUNNING), trial(TrialState.WAITING)]
    shown = stopped_as_dominated(history, DIRECTIONS)
    assert [t.state for t in shown] == [TrialState.COMPLETE] * 3 + [TrialState.RUNNING]
    assert shown[1].values == [2.0, 0.2]  # worst MSE and worst MRR of the complete trials
    assert stopped_as_dominated(history[1:2], DIRECTIONS) == []


@pytest.mark.parametrize(("sampler", "complete_seen"), [("gp", 12), ("nsga2", 12), ("tpe", 4)])
def test_samplers_of_complete_trials_only_see_stopped_trials_as_complete(tmp_path, monkeypatch, sampler, complete_seen):
    searcher = StudySearcher(_spec(tmp_path, sampler=sampler))
    for k in range(12):  # 4 complete, 8 stopped
        searcher.suggest(f"t{k}")
        searcher.on_trial_complete(f"t{k}", _result(10 if k % 3 == 0 else 3, 1.0 + k / 10, 0.1 - k / 200))
    seen: list[int] = []

    class Recorder(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, distribution):
            seen.append(len(study.get_trials(states=(TrialState.COMPLETE,))))
            return super().sample_independent(study, trial, name, distribution)

    monkeypatch.setattr(type(searcher.spec), "make_sampler", lambda spec, history=0: Recorder(seed=history))
    params = searcher.suggest("next")
    assert seen[0] == complete_seen
    trials = searcher.database.study.get_trials()
    assert trials[-1].state == TrialState.RUNNING and trials[-1].user_attrs["params"] == params
    assert sum(t.state == TrialState.PRUNED for t in trials) == 8


def test_the_study_describes_itself_to_optunas_own_tools(tmp_path):
    spec = _spec(tmp_path, sampler="random")
    searcher = StudySearcher(spec)
    for k in range(3):
        params = searcher.suggest(f"t{k}")
        searcher.on_trial_complete(f"t{k}", _result(10, 1.0 + k, 0.1 + k / 100))
    study = optuna.load_study(study_name="s", storage=spec.storage_url)
    assert study.metric_names == ["test_mse", "test_mrr"]
    assert study.user_attrs["spec"]["name"] == "s" and set(study.user_attrs["versions"]) == {
        "mtlstudy", "ray", "optuna", "torch"}

    frame = study.trials_dataframe()
    assert {"values_test_mse", "values_test_mrr", "user_attrs_lambda_f", "user_attrs_lambda_r", "user_attrs_shared",
            "user_attrs_seed", "user_attrs_epochs"} <= set(frame.columns)
    assert frame["values_test_mse"].tolist() == [1.0, 2.0, 3.0]
    assert frame["user_attrs_lambda_f"].iloc[-1] == params["lambda_f"] and (frame["user_attrs_epochs"] == 10).all()

    figure = optuna.visualization.plot_pareto_front(study)
    assert (figure.layout.xaxis.title.text, figure.layout.yaxis.title.text) == ("test_mse", "test_mrr")

    listing = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "optuna"), "trials", "--study-name", "s",
         "--storage", spec.storage_url, "-f", "json"],
        capture_output=True, text=True, timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    assert [row["values"]["test_mse"] for row in rows] == [1.0, 2.0, 3.0]


def test_trials_a_dead_driver_left_behind_are_run_once_not_lost_or_doubled(tmp_path):
    from mtlstudy.study._reconcile import reconcile

    spec = _spec(tmp_path)
    first = StudySearcher(spec)
    started = first.suggest("started")
    unstarted = first.suggest("unstarted")  # asked, but Ray never started it
    first.database.study.ask()  # the driver died inside the next ask, before any attribute
    notes, unfinished = reconcile(StudyDatabase(spec))
    assert unfinished == {"started": None, "unstarted": None}
    assert notes == [
        "Optuna trial 0 (run started): unfinished, resumes from epoch 1",
        "Optuna trial 1 (run unstarted): unfinished, resumes from epoch 1",
        "Optuna trial 2: asked but never started, marked FAIL",
    ]

    # Each runs once more, as a new Ray trial under its own name, and is told as itself.
    resumed = StudySearcher(spec, unfinished=unfinished)
    assert resumed.suggest("new-1") == {**started, "trial": "started"}
    assert resumed.suggest("new-2") == {**unstarted, "trial": "unstarted"}
    resumed.on_trial_complete("new-2", {"epoch": spec.epochs, "objective_test_mse": 1.0, "objective_test_mrr": 0.1})
    trials = resumed.database.study.get_trials()
    assert [t.state for t in trials] == [TrialState.RUNNING, TrialState.COMPLETE, TrialState.FAIL]
    assert trials[1].values == [1.0, 0.1] and len(trials) == 3
    assert [t.user_attrs.get("ray_trial_id") for t in trials[:2]] == ["started", "unstarted"]
    # The next new trial is the one the dead driver was asking for: the failed ask does not count.
    replacement = resumed.suggest("new-3")
    uninterrupted = StudySearcher(_spec(tmp_path / "whole"))
    assert [uninterrupted.suggest(name) for name in ("a", "b", "c")] == [started, unstarted, replacement]

    # The export lists the trials that ran, by name, not the ask that never got parameters.
    (spec.study_dir / "study.yaml").write_text(yaml.safe_dump(spec.to_dict()))
    assert list(load_export("s", tmp_path)["trial_id"]) == ["started", "unstarted", "new-3"]


def test_a_grid_space_runs_every_point_once_across_drivers(tmp_path):
    spec = _spec(tmp_path, space="seed-grid", seeds=2, user_bias_point=True, trials=None)
    points = []
    for k in range(spec.trials):  # a new searcher (driver) for every other trial
        searcher = StudySearcher(spec)
        params = searcher.suggest(f"t{k}")
        points.append((params["shared"], params["lambda_f"], params["user_bias"], params["seed"]))
        if k % 3:
            searcher.on_trial_complete(f"t{k}", _result(10, 1.0, 0.1))
    assert len(points) == 10 and len(set(points)) == 10


def _pack_result(members: dict[int, tuple[int, float, float]]) -> dict:
    return {"epoch": max(e for e, _, _ in members.values()), "members": {str(k): _result(*v) for k, v in members.items()}}


@pytest.mark.parametrize("space", ["simplex", "independent"])
def test_a_pack_is_asked_as_trials_sharing_the_flag_and_the_budget_counts_trials(tmp_path, space):
    spec = _spec(tmp_path, space=space, trials=10, pack=4)
    searcher = StudySearcher(spec)
    packs = [searcher.suggest(f"ray-{k}") for k in range(4)]
    assert [len(p["members"]) for p in packs[:3]] == [4, 4, 2] and packs[3] == StudySearcher.FINISHED
    assert all(len({m["shared"] for m in pack["members"]}) == 1 for pack in packs[:3])
    assert len({m["lambda_f"] for pack in packs[:3] for m in pack["members"]}) == 10
    trials = searcher.database.study.get_trials()
    assert [t.user_attrs["ray_trial_id"] for t in trials[:5]] == ["ray-0/m0", "ray-0/m1", "ray-0/m2", "ray-0/m3", "ray-1/m0"]
    assert [t.user_attrs["params"] for t in trials[4:8]] == packs[1]["members"]
    # Members are told one by one from the pack's result: complete, stopped at a rung, or never reported.
    searcher.on_trial_complete("ray-0", _pack_result({0: (10, 1.0, 0.1), 1: (4, 2.0, 0.05), 2: (10, 1.5, 0.2)}))
    states = [t.state for t in searcher.database.study.get_trials()[:4]]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE, TrialState.FAIL]
    _error(spec, searcher, "ray-1")
    assert {t.state for t in searcher.database.study.get_trials()[4:8]} == {TrialState.FAIL}


def test_packs_are_asked_like_a_resumed_driver_would(tmp_path):
    first = StudySearcher(_spec(tmp_path / "a", trials=9, pack=3))
    second = StudySearcher(_spec(tmp_path / "b", trials=9, pack=3))
    assert first.suggest("x0") == second.suggest("y0")
    first.on_trial_complete("x0", _pack_result({k: (10, 1.0 + k, 0.1) for k in range(3)}))
    second.on_trial_complete("y0", _pack_result({k: (10, 1.0 + k, 0.1) for k in range(3)}))
    assert StudySearcher(_spec(tmp_path / "a", trials=9, pack=3)).suggest("x1") == second.suggest("y1")


def test_a_grid_pack_ends_where_the_architecture_changes_and_nothing_is_lost(tmp_path):
    spec = _spec(tmp_path, space="seed-grid", seeds=2, user_bias_point=True, trials=None, pack=4)
    searcher = StudySearcher(spec)
    packs = []
    while (pack := searcher.suggest(f"ray-{len(packs)}")) != StudySearcher.FINISHED:
        packs.append(pack["members"])
    architectures = [{(m["shared"], m["user_bias"]) for m in members} for members in packs]
    assert all(len(a) == 1 for a in architectures) and all(len(members) <= 4 for members in packs)
    points = sorted((m["shared"], m["lambda_f"], m["user_bias"], m["seed"]) for members in packs for m in members)
    assert len(points) == spec.trials == 10 and len(set(points)) == 10


def _checkpoints(spec, ray_id, epochs):
    """A trial directory holding the trainer state after each of ``epochs`` epochs, as checkpoint_00000<k>."""
    config = TrainConfig.from_mapping({
        **split_config(spec.fixed_params())[1], "lambda_f": 0.5, "lambda_r": 0.5,
    })
    trainer = Trainer(config, *load_split(config)[:2])
    paths = []
    for epoch in range(1, epochs + 1):
        trainer.train_epoch()
        paths.append(spec.study_dir / "ray" / ray_id / f"checkpoint_{epoch:06d}")
        paths[-1].mkdir(parents=True)
        trainer.save(paths[-1] / CHECKPOINT_FILE)
    return trainer, paths


@pytest.mark.parametrize("optuna_state", ["RUNNING", "COMPLETE"])
def test_reconcile_finishes_a_running_trial_whose_final_checkpoint_holds_its_last_epoch(tmp_path, optuna_state):
    from mtlstudy.study._reconcile import reconcile

    spec = _spec(tmp_path, epochs=2, dataset_options={"num_users": 30, "num_items": 40}, embedding_dim=4)
    searcher = StudySearcher(spec)
    searcher.suggest("done")
    trainer, (first, final) = _checkpoints(spec, "done", 2)
    summary = trainer.summary()
    if optuna_state == "COMPLETE":  # the searcher told Optuna before the driver died
        searcher.on_trial_complete("done", {"epoch": 2, "objective_test_mse": summary["final_test_mse"],
                                            "objective_test_mrr": summary["final_test_mrr"]})
    # A resumed trial numbers its checkpoints from 0 again: epochs, not names, tell the newest.
    final.rename(first.with_name("checkpoint_000000"))
    notes, unfinished = reconcile(StudyDatabase(spec))
    assert unfinished == {}
    assert notes == (
        ["Optuna trial 0 (run done): finished per its final checkpoint, marked COMPLETE"]
        if optuna_state == "RUNNING" else ["every trial has ended, nothing to resume"]
    )
    (trial,) = searcher.database.study.get_trials()
    assert trial.state == TrialState.COMPLETE
    assert trial.values == [summary["final_test_mse"], summary["final_test_mrr"]]


def test_reconcile_resumes_from_the_newest_readable_checkpoint_and_names_unreadable_ones(tmp_path):
    from mtlstudy.study._reconcile import Reconciled, reconcile

    spec = _spec(tmp_path, epochs=3, dataset_options={"num_users": 30, "num_items": 40}, embedding_dim=4)
    StudySearcher(spec).suggest("cut")
    database = StudyDatabase(spec)
    _, (first, second) = _checkpoints(spec, "cut", 2)
    assert reconcile(database) == Reconciled(
        ["Optuna trial 0 (run cut): unfinished, resumes from its checkpoint at epoch 2"], {"cut": str(second)}
    )
    state = (second / CHECKPOINT_FILE).read_bytes()
    (second / CHECKPOINT_FILE).write_bytes(state[: len(state) // 2])
    (note,), unfinished = reconcile(database)
    assert f"cannot read checkpoint '{second / CHECKPOINT_FILE}'" in note
    assert note.endswith("resumes from its checkpoint at epoch 1") and unfinished == {"cut": str(first)}

    for path in (first, second):
        (path / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    (note,), unfinished = reconcile(database)
    assert f"refused checkpoint '{second / CHECKPOINT_FILE}'" in note and note.endswith("; resumes from epoch 1")
    assert unfinished == {"cut": None}


def test_a_resumed_pack_runs_its_members_in_their_places_and_tells_each_of_them(tmp_path):
    from mtlstudy.study._reconcile import reconcile

    spec = _spec(tmp_path, trials=3, pack=3)
    pack = StudySearcher(spec).suggest("a")
    notes, unfinished = reconcile(StudyDatabase(spec))
    assert unfinished == {"a": None} and len(notes) == 3
    resumed = StudySearcher(spec, unfinished=unfinished)
    assert resumed.suggest("b") == {**pack, "trial": "a"}
    assert resumed.suggest("c") == Searcher.FINISHED  # the budget is spent
    values = {"epoch": spec.epochs, "objective_test_mse": 1.0, "objective_test_mrr": 0.1}
    resumed.on_trial_complete("b", {"members": {str(member): {**values, "objective_test_mse": member} for member in range(3)}})
    trials = resumed.database.study.get_trials()
    assert [t.values[0] for t in trials] == [0, 1, 2]
    assert [t.user_attrs["ray_trial_id"] for t in trials] == ["a/m0", "a/m1", "a/m2"]


@pytest.mark.parametrize("dies", ["after-enqueue", "inside-ask"])
def test_a_pack_whose_driver_died_while_asking_it_is_asked_again_alike(tmp_path, monkeypatch, dies):
    from mtlstudy.study._reconcile import reconcile

    expected = StudySearcher(_spec(tmp_path / "whole", trials=6, pack=3))
    packs = [expected.suggest("a"), expected.suggest("b")]
    spec = _spec(tmp_path / "cut", trials=6, pack=3)
    cut = StudySearcher(spec)
    assert cut.suggest("a") == packs[0]
    ask, asked = optuna.Study.ask, []

    def dying_ask(study, *args, **kwargs):
        asked.append(1)
        if len(asked) == 3 and dies == "after-enqueue":  # the third member's flag is enqueued, not asked
            raise KeyboardInterrupt
        trial = ask(study, *args, **kwargs)
        if len(asked) == 3:  # asked, before its parameters were recorded
            raise KeyboardInterrupt
        return trial

    monkeypatch.setattr(optuna.Study, "ask", dying_ask)
    with pytest.raises(KeyboardInterrupt):
        cut.suggest("b")
    monkeypatch.setattr(optuna.Study, "ask", ask)
    reconcile(StudyDatabase(spec))
    assert StudySearcher(spec).suggest("c") == packs[1]


def test_a_failed_trials_replacement_never_repeats_a_running_trials_seed(tmp_path):
    # Two workers: a and b run, a's worker dies, and the next ask must not be b again.
    spec = _spec(tmp_path, sampler="random")
    searcher = StudySearcher(spec)
    searcher.suggest("a")
    running = searcher.suggest("b")
    _error(spec, searcher, "a")
    replacement = searcher.suggest("c")
    assert replacement != running
    assert [t.state for t in searcher.database.study.get_trials()] == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING]
