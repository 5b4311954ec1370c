"""Study phases without Ray: choosing replicates, drawing calibration trials, making them, handing them out."""

from __future__ import annotations

import json
import math

import optuna
import pandas as pd
import pytest
from click.testing import CliRunner
from ray.tune.search import Searcher

from _studies import saved_study
from mtlstudy._errors import ConfigError, StudyError
from mtlstudy.analysis import CalibrationCoverage
from mtlstudy.cli import main
from mtlstudy.study import calibrate_study, extend_study, resolve_spec, study_status
from mtlstudy.study import _phases
from mtlstudy.study._phases import (
    add_phases,
    budget,
    calibration_draws,
    calibration_phase,
    enter_phase,
    plan_phase,
    replicate_parents,
    replicate_phase,
    unused_seeds,
)
from mtlstudy.study._database import PARAMS_ATTR, RAY_TRIAL_ID, StudyDatabase
from mtlstudy.study._searcher import StudySearcher

# (test MSE, test MRR) of the fake study's trials: 0, 2 and 4 are the Pareto front, 3 fails.
OUTCOMES = [(1.0, 0.10), (1.1, 0.09), (0.9, 0.08), None, (1.2, 0.12), (1.3, 0.05)]


def _study(tmp_path, space="simplex", outcomes=OUTCOMES):
    """A finished study ``p`` made without Ray; returns its spec."""
    return saved_study(tmp_path, "p", outcomes, space=space)


def _trials(spec):
    return [t for t in StudyDatabase(spec).latest().values()]


def _numbers(trials):
    return [t.number for t in trials]


def test_replicates_go_to_the_pareto_front_or_to_the_complete_search_trials_named(tmp_path):
    trials = _trials(_study(tmp_path))
    assert _numbers(replicate_parents(trials, None)[0]) == [0, 2, 4]
    parents, refused = replicate_parents(trials, [5, 3, 9, 1])
    assert _numbers(parents) == [5, 1]
    assert refused == {3: "is FAIL", 9: "does not exist"}


def test_unused_seeds_come_after_the_highest_seed_used(tmp_path):
    trials = _trials(_study(tmp_path))
    assert unused_seeds(trials, 3) == [1, 2, 3]  # every trial of the study used seed 0
    assert unused_seeds([], 2) == [0, 1]


def _x(params):
    """ln(λ_F/λ_R) from training parameters."""
    return math.log(params["lambda_f"] / params["lambda_r"])


@pytest.mark.parametrize("space", ["simplex", "independent"])
def test_calibration_draws_lie_between_the_trials_of_their_flag_on_the_sampling_scale(tmp_path, space):
    trials = [t for t in _trials(_study(tmp_path, space)) if t.state.name == "COMPLETE"]
    draws = calibration_draws(trials, 60, seed=3)
    assert draws == calibration_draws(trials, 60, seed=3) and draws != calibration_draws(trials, 60, seed=4)
    flags = sorted({t.user_attrs["shared"] for t in trials})
    # Split evenly, flag by flag (so that packs hold trials of one flag).
    assert [draw["shared"] for draw in draws] == sorted(flags * (len(draws) // len(flags)))
    for flag in flags:
        xs = [_x(t.user_attrs) for t in trials if t.user_attrs["shared"] == flag]
        # The simplex samples logit(λ_F) = ln(λ_F/λ_R); the independent space each λ on a log scale.
        drawn = [d["lambda_f_logit"] if space == "simplex" else _x(d) for d in draws if d["shared"] == flag]
        assert all(min(xs) - 1e-9 <= x <= max(xs) + 1e-9 for x in drawn)
        if max(xs) > min(xs):  # uniform between them: about half below the middle
            assert 0.25 < sum(x < (min(xs) + max(xs)) / 2 for x in drawn) / len(drawn) < 0.75


def test_calibration_needs_a_complete_trial():
    with pytest.raises(StudyError, match="no complete trial"):
        calibration_draws([], 3, 0)


def test_a_replicate_phase_makes_waiting_replicates_once_that_only_its_searcher_hands_out(tmp_path):
    spec = _study(tmp_path)
    database = StudyDatabase(spec)
    add_phases(database.study, [replicate_phase(2, [1, 3])])
    enter_phase(database.study, 1)
    notes = plan_phase(database, spec, 1)
    assert notes == ["phase 1: trial 3 is FAIL, not replicated", "phase 1: 2 replicate(s) of trial(s) 1, seeds 1 to 2"]
    assert plan_phase(database, spec, 1)[-1] == notes[-1]  # planned once: a second call makes nothing new
    assert budget(database.study) == len(OUTCOMES) + 2
    waiting = [t for t in database.orphans() if PARAMS_ATTR in t.user_attrs]
    parent = next(t for t in database.study.get_trials() if t.number == 1)
    assert len(waiting) == 2 and [t.user_attrs["seed"] for t in waiting] == [1, 2]
    for trial in waiting:
        assert trial.user_attrs["role"] == "replicate" and trial.user_attrs["replicate_of"] == 1
        assert trial.params == parent.params  # Optuna sees the same point
        assert trial.user_attrs[PARAMS_ATTR] == {**parent.user_attrs[PARAMS_ATTR], "seed": trial.user_attrs["seed"]}
    # The study's own searcher samples new trials and leaves the replicates waiting.
    grown = resolve_spec(spec.study_dir / "study.yaml", trials=budget(database.study) + 1)
    search = StudySearcher(grown)
    assert "seed" not in search.suggest("new")  # the spec's seed
    newest = database.study.get_trials()[-1]
    assert (newest.user_attrs[RAY_TRIAL_ID], newest.user_attrs["role"]) == ("new", "search")
    replicate = StudySearcher(grown, "replicate")
    assert [replicate.suggest("r1")["seed"], replicate.suggest("r2")["seed"]] == [1, 2]
    assert replicate.suggest("r3") == Searcher.FINISHED


def test_a_calibration_phase_gets_unseen_seeds_and_draws_between_the_trials(tmp_path):
    spec = _study(tmp_path)
    database = StudyDatabase(spec)
    add_phases(database.study, [calibration_phase(4, 0)])
    assert budget(database.study) == len(OUTCOMES) + 4
    plan_phase(database, spec, 1)
    made = [t for t in database.orphans() if PARAMS_ATTR in t.user_attrs]
    assert [t.user_attrs["role"] for t in made] == ["calibration"] * 4
    assert [t.user_attrs["seed"] for t in made] == [1, 2, 3, 4]
    expected = calibration_draws(_trials(spec), 4, 0)
    assert [t.params for t in made] == expected
    for trial in made:
        assert trial.user_attrs[PARAMS_ATTR]["lambda_r"] == pytest.approx(1 - trial.user_attrs[PARAMS_ATTR]["lambda_f"])


def test_extend_and_calibrate_refuse_a_study_that_has_not_ended_and_change_nothing(tmp_path):
    spec = _study(tmp_path)
    database = StudyDatabase(spec)
    database.study.enqueue_trial({})  # stands in for the trial a killed driver was running
    trial = database.study.ask()
    trial.set_user_attr(PARAMS_ATTR, {"seed": 0})
    trial.set_user_attr(RAY_TRIAL_ID, "t9")
    before = len(database.study.get_trials())
    with pytest.raises(StudyError, match=r"not ended: 1 trial\(s\) of phase 0 .*mtlstudy study resume p"):
        extend_study("p", tmp_path, trials=2)
    with pytest.raises(StudyError, match="not ended"):
        calibrate_study("p", tmp_path, trials=2)
    assert len(database.study.get_trials()) == before and "phases" not in database.study.user_attrs


def test_a_grid_study_gets_neither_more_sampled_trials_nor_replicates_nor_calibration(tmp_path):
    _study(tmp_path, "seed-grid", OUTCOMES[:4])
    with pytest.raises(StudyError, match="its 4 points have all been sampled, got trials 2"):
        extend_study("p", tmp_path, trials=2)
    with pytest.raises(ConfigError, match="replicates need a sampled space"):
        extend_study("p", tmp_path, replicates=1)
    with pytest.raises(StudyError, match="there are no loss weights between its points"):
        calibrate_study("p", tmp_path, trials=2)


def test_extend_refuses_trials_that_cannot_be_replicated(tmp_path):
    _study(tmp_path)
    with pytest.raises(StudyError, match="trial 3: it is FAIL; only complete search trials can be replicated"):
        extend_study("p", tmp_path, replicates=1, replicate_trials=[0, 3])
    with pytest.raises(ConfigError, match="got neither"):
        extend_study("p", tmp_path)


def test_status_counts_trials_by_role_once_there_are_others_than_search(tmp_path):
    spec = _study(tmp_path)
    runner = CliRunner()
    plain = runner.invoke(main, ["study", "status", "p", "--dir", str(tmp_path)])
    assert plain.exit_code == 0 and "roles:" not in plain.output
    database = StudyDatabase(spec)
    add_phases(database.study, [replicate_phase(1, None)])
    plan_phase(database, spec, 1)
    status = study_status("p", tmp_path)
    assert status.roles == {"search": 6, "replicate": 3}
    text = runner.invoke(main, ["study", "status", "p", "--dir", str(tmp_path)]).output
    assert "roles: 6 search, 3 replicate" in text


def test_a_replicate_phase_with_no_trial_to_replicate_plans_none_and_keeps_the_budget(tmp_path):
    spec = _study(tmp_path)
    database = StudyDatabase(spec)
    add_phases(database.study, [replicate_phase(3, [3])])
    assert plan_phase(database, spec, 1) == ["phase 1: trial 3 is FAIL, not replicated", "phase 1: no replicate trials"]
    assert budget(database.study) == len(OUTCOMES) and not database.orphans()


def test_calibrate_prints_the_coverage_table_or_json(monkeypatch):
    table = pd.DataFrame({"variant": ["shared embeddings"], "metric": ["test_mse"], "n_fresh": [12], "n_inside": [11],
                          "coverage": [11 / 12], "ci_lower": [0.615], "ci_upper": [0.998]})
    coverage = CalibrationCoverage(value="final", x_name="logit_lambda_f", level=0.95, confidence=0.95, table=table,
                                   points=pd.DataFrame({"number": [7], "inside": [True]}), notes=("a note",))
    calls = []

    def calibrate_study(name, dir, trials, seed, echo):
        calls.append((name, dir, trials, seed))
        echo("training")
        return coverage

    monkeypatch.setattr("mtlstudy.study.calibrate_study", calibrate_study)
    text = CliRunner().invoke(main, ["calibrate", "s", "--dir", "d", "--trials", "3", "--seed", "4"])
    assert text.exit_code == 0 and calls == [("s", "d", 3, 4)]
    lines = text.stdout.splitlines()
    assert lines[:2] == ["training", "coverage of the 95% prediction bands (final values, x = logit_lambda_f):"]
    assert "shared embeddings test_mse       12        11  0.916667" in lines[3] and lines[-1] == "a note"
    as_json = CliRunner().invoke(main, ["calibrate", "s", "--dir", "d", "--format", "json"])
    assert as_json.exit_code == 0 and as_json.stderr == "training\n"  # progress stays off the JSON
    parsed = json.loads(as_json.stdout)
    assert parsed["table"] == table.to_dict("records") and parsed["points"] == [{"number": 7, "inside": True}]
    assert (parsed["value"], parsed["x"], parsed["level"], parsed["notes"]) == ("final", "logit_lambda_f", 0.95, ["a note"])


def test_a_phase_planned_by_a_killed_driver_gets_the_rest_of_its_trials_once(tmp_path, monkeypatch):
    spec = _study(tmp_path)
    database = StudyDatabase(spec)
    add_phases(database.study, [replicate_phase(2, None)])
    ask_trial, made = _phases.ask_trial, []

    def killed_at_the_third(study, spec, fixed, attrs, overrides):
        if len(made) == 2:  # enqueued, then killed before its ask
            study.enqueue_trial(dict(fixed))
            raise KeyboardInterrupt
        made.append(fixed)
        return ask_trial(study, spec, fixed, attrs, overrides)

    monkeypatch.setattr(_phases, "ask_trial", killed_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        plan_phase(database, spec, 1)
    monkeypatch.setattr(_phases, "ask_trial", ask_trial)
    plan_phase(database, spec, 1)
    waiting = [t for t in database.orphans() if PARAMS_ATTR in t.user_attrs]
    flag = {t.number: t.user_attrs["shared"] for t in database.study.get_trials()}
    parents = sorted([0, 2, 4], key=flag.get)  # the front, flag by flag
    assert [(t.user_attrs["replicate_of"], t.user_attrs["seed"]) for t in waiting] == [
        (parent, 1 + 2 * k + j) for k, parent in enumerate(parents) for j in range(2)
    ]
    assert not database.study.get_trials(states=(optuna.trial.TrialState.WAITING,))
