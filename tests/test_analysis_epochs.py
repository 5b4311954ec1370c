"""The epoch view and best-vs-final summary."""

from __future__ import annotations

import pandas as pd
import pytest

from _analysis_fixtures import make_export
from mtlstudy import StudyError
from mtlstudy._schema import EPOCH_METRICS
from mtlstudy.analysis import best_vs_final, epoch_view


def small_epochs():
    return pd.DataFrame(
        {
            "trial_id": ["a"] * 4 + ["b"] * 2,
            "epoch": [1, 2, 3, 4, 1, 2],
            "test_mse": [1.0, 0.8, 0.8, 0.9, 0.7, 0.6],
            "test_mrr": [0.01, 0.03, 0.02, 0.03, 0.05, 0.04],
        }
    )


def test_best_epoch_follows_the_metric_direction_and_ties_go_to_the_first():
    view = epoch_view(small_epochs())
    a_mse = view[(view["trial_id"] == "a") & (view["metric"] == "test_mse")]
    assert a_mse["epoch"].tolist() == [1, 2, 3, 4]
    assert a_mse["best_epoch"].unique().tolist() == [2]  # 0.8 at epochs 2 and 3
    assert a_mse["is_best"].tolist() == [False, True, False, False]
    assert (a_mse["final_epoch"] == 4).all() and (a_mse["final_value"] == 0.9).all()
    a_mrr = view[(view["trial_id"] == "a") & (view["metric"] == "test_mrr")]
    assert a_mrr["best_epoch"].iloc[0] == 2 and a_mrr["best_value"].iloc[0] == 0.03


def test_best_vs_final_one_row_per_trial_and_metric():
    summary = best_vs_final(small_epochs())
    assert len(summary) == 4
    row = summary[(summary["trial_id"] == "b") & (summary["metric"] == "test_mrr")].iloc[0]
    assert (row["best_epoch"], row["final_epoch"]) == (1, 2)
    assert row["final_minus_best"] == pytest.approx(-0.01)


def test_rows_out_of_order_and_trial_filter():
    shuffled = small_epochs().sample(frac=1.0, random_state=0)
    view = epoch_view(shuffled, trial_ids=["b"])
    assert set(view["trial_id"]) == {"b"}
    assert view[view["metric"] == "test_mse"]["epoch"].tolist() == [1, 2]


def test_agrees_with_the_trials_export():
    trials, epochs = make_export(lambdas=(0.2, 0.9), seeds=(0,), n_epochs=12)
    summary = best_vs_final(epochs)
    complete = trials[trials["state"] == "COMPLETE"].set_index("trial_id")
    for row in summary.itertuples():
        assert row.best_value == pytest.approx(complete.loc[row.trial_id, f"best_{row.metric}"])
        assert row.best_epoch == complete.loc[row.trial_id, f"best_{row.metric}_epoch"]
        assert row.final_value == pytest.approx(complete.loc[row.trial_id, f"final_{row.metric}"])
    assert list(dict.fromkeys(summary["metric"])) == list(EPOCH_METRICS)
    assert {"shared", "lambda_f", "seed"} <= set(summary.columns)


def test_missing_columns_raise_study_error():
    with pytest.raises(StudyError, match="trial_id, epoch"):
        epoch_view(pd.DataFrame({"trial_id": ["a"], "loss": [1.0]}))
    with pytest.raises(StudyError, match="DataFrame"):
        epoch_view([1, 2, 3])
