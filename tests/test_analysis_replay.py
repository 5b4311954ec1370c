"""Judging replayed early-stopping outcomes against the full study, on hand-made tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mtlstudy._errors import ConfigError
from mtlstudy.analysis import ReplayOutcome, replay_summary

EPOCHS = 10

# Final (test MSE, test MRR) of four trials: a and b on the front, c and d dominated by a.
# The reference is the worst of each, (1.2, 0.06). Swept by MSE, the front's area is
# b's strip [0.9, 1.0] x (0.08 - 0.06) = 0.002 plus a's [1.0, 1.2] x (0.10 - 0.06) = 0.008: 0.010.
FINAL = {"a": (1.0, 0.10), "b": (0.9, 0.08), "c": (1.2, 0.07), "d": (1.1, 0.06)}
# Best values: c moves onto the front, left of b: it adds [0.8, 0.9] x (0.07 - 0.06) = 0.001 to 0.010.
BEST = {"a": (1.0, 0.10), "b": (0.9, 0.08), "c": (0.8, 0.07), "d": (1.2, 0.06)}


def _trials() -> pd.DataFrame:
    """The full study's export: trials a, b, c, d (numbers 0-3), each trained ``EPOCHS`` epochs."""
    ids = list(FINAL)
    return pd.DataFrame({
        "trial_id": ids, "number": range(len(ids)), "state": "COMPLETE", "shared": True, "lambda_f": 0.5,
        "lambda_r": 0.5, "user_bias": False, "seed": 0, "epochs": EPOCHS,
        "final_test_mse": [FINAL[i][0] for i in ids], "final_test_mrr": [FINAL[i][1] for i in ids],
        "best_test_mse": [BEST[i][0] for i in ids], "best_test_mrr": [BEST[i][1] for i in ids],
    })


def _outcome(
    stopped: dict[str, int], rule: str = "r", order: int = 0, wall_s: float = 10.0, setting: str = ""
) -> ReplayOutcome:
    """Rule ``rule`` stopping ``stopped`` (trial id -> epochs trained); every other trial trains all epochs."""
    trained = {trial_id: stopped.get(trial_id, EPOCHS) for trial_id in FINAL}
    return ReplayOutcome(rule, order, trained, wall_s=wall_s, full_wall_s=20.0, setting=setting)


@pytest.mark.parametrize(
    ("stopped", "kept"),
    [
        ({}, 1.0),
        ({"a": 2}, 0.6),  # b's box alone: [0.9, 1.2] x 0.02 = 0.006; c and d lie on the reference's edges
        ({"b": 2}, 0.8),  # a's box alone: [1.0, 1.2] x 0.04 = 0.008
        ({"c": 2}, 1.0),  # dominated: the front is unchanged
        ({"d": 4}, 1.0),
        ({"a": 2, "b": 4}, 0.0),  # c and d alone span no area above the reference
    ],
)
def test_hypervolume_kept_is_the_kept_front_s_area_over_the_full_one(stopped, kept):
    replay = replay_summary(_trials(), [_outcome(stopped)])
    (row,) = replay.outcomes.to_dict("records")
    assert row["hypervolume"] == pytest.approx(kept)
    assert replay.reference == (1.2, 0.06) and replay.front == (0, 1)


def test_front_trials_stopped_are_counted_with_their_epoch():
    replay = replay_summary(_trials(), [_outcome({"a": 2, "c": 4})])
    (row,) = replay.outcomes.to_dict("records")
    assert row["front_stopped"] == 1  # c is stopped too, but is not on the front
    assert row["stopped"] == {0: 2, 2: 4}  # by trial number
    assert row["trial_epochs"] == pytest.approx((2 + EPOCHS + 4 + EPOCHS) / (4 * EPOCHS))
    assert row["wall"] == pytest.approx(0.5)
    (rule,) = replay.summary.to_dict("records")
    assert rule["front_stopped_at"] == {2: 1}


def test_the_summary_aggregates_each_rule_over_its_orders():
    outcomes = [
        _outcome({"a": 2}, order=0, wall_s=8.0),  # hypervolume 0.6, 32 of 40 trial-epochs
        _outcome({"b": 4}, order=1, wall_s=12.0),  # 0.8, 34 of 40
        _outcome({"c": 2}, order=2, wall_s=16.0),  # 1.0, 32 of 40, no front trial stopped
        _outcome({}, rule="keep"),
    ]
    replay = replay_summary(_trials(), outcomes, concurrency=3, arrivals="3 arrival orders (seed 0)")
    rules = {row["rule"]: row for row in replay.summary.to_dict("records")}
    assert list(rules) == ["r", "keep"]
    r, keep = rules["r"], rules["keep"]
    assert r["orders"] == 3 and keep["orders"] == 1
    assert (r["hypervolume_mean"], r["hypervolume_min"], r["hypervolume_max"]) == pytest.approx((0.8, 0.6, 1.0))
    trial_epochs = (r["trial_epochs_mean"], r["trial_epochs_min"], r["trial_epochs_max"])
    assert trial_epochs == pytest.approx((98 / 120, 0.8, 0.85))
    assert (r["wall_mean"], r["wall_min"], r["wall_max"]) == pytest.approx((0.6, 0.4, 0.8))
    assert r["front_stopped_mean"] == pytest.approx(2 / 3) and r["front_stopped_max"] == 1
    assert r["front_stopped_at"] == {2: 1, 4: 1}
    assert keep["hypervolume_mean"] == keep["trial_epochs_mean"] == 1.0 and keep["front_stopped_at"] == {}
    assert (replay.concurrency, replay.arrivals, replay.trials) == (3, "3 arrival orders (seed 0)", 4)


def test_to_dict_is_json_and_to_text_names_each_rule():
    outcomes = [_outcome({"a": 2}, rule="moasha", setting="r=2, η=2"),
                _outcome({"b": 4}, rule="moasha", order=1, setting="r=2, η=2"),
                _outcome({}, rule="moasha+arch", setting="r=2, η=2")]
    replay = replay_summary(_trials(), outcomes)
    values = json.loads(json.dumps(replay.to_dict()))
    assert set(values) == {"value", "trials", "concurrency", "arrivals", "reference", "front", "rules", "outcomes"}
    assert [(row["rule"], row["setting"]) for row in values["rules"]] == [("moasha", "r=2, η=2"), ("moasha+arch", "r=2, η=2")]
    assert [row["stopped"] for row in values["outcomes"]] == [{"0": 2}, {"1": 4}, {}]
    assert values["reference"] == [1.2, 0.06] and values["front"] == [0, 1]
    text = replay.to_text()
    assert "moasha (r=2, η=2)" in text and "moasha+arch (r=2, η=2)" in text
    assert "0.700 (0.600–0.800)" in text  # the first rule's hypervolume kept: mean (min–max)
    assert "trial(s) 0, 1" in text


def test_best_values_define_the_fronts_with_value_best():
    trials, outcome = _trials(), _outcome({"c": 2})
    final, best = replay_summary(trials, [outcome]), replay_summary(trials, [outcome], "best")
    assert final.front == (0, 1) and best.front == (0, 1, 2)
    assert best.reference == (1.2, 0.06) and best.value == "best"
    # c is dominated by its final values, but its best ones hold 0.001 of the front's 0.011.
    assert final.outcomes["hypervolume"][0] == pytest.approx(1.0)
    assert best.outcomes["hypervolume"][0] == pytest.approx(10 / 11)
    assert best.outcomes["front_stopped"][0] == 1


def test_an_unknown_value_is_a_config_error():
    with pytest.raises(ConfigError, match="'last'"):
        replay_summary(_trials(), [_outcome({})], "last")
