"""Early stopping in the analysis: the summary's numbers, and its section of the report."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from _analysis_fixtures import make_export, make_trials, stop_early
from mtlstudy import ConfigError, StudyError
from mtlstudy.analysis import early_stopping_summary, hypervolume_table, pareto_table, write_report
from mtlstudy._schema import RUNG_COLUMNS

STOPPING_CSVS = ["stopping_compute.csv", "stopping_front.csv", "stopping_rungs.csv"]


def small_study() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four finished trials with a budget of 9 epochs and rungs at epochs 3 and 6.

    t2 would dominate the final front but was stopped at epoch 3; t3 was stopped at 6.
    """
    trials = make_trials(
        [
            {"mse": 0.90, "mrr": 0.06, "epochs_trained": 9},
            {"mse": 0.95, "mrr": 0.08, "epochs_trained": 9, "shared": False},
            {"mse": 0.80, "mrr": 0.10, "state": "PRUNED", "epochs_trained": 3, "stopped_epoch": 3},
            {"mse": 1.00, "mrr": 0.04, "state": "PRUNED", "epochs_trained": 6, "stopped_epoch": 6, "shared": False},
            {"mse": float("nan"), "mrr": float("nan"), "state": "FAIL", "epochs_trained": 1},
        ]
    ).assign(epochs=9)
    trials["stopped_epoch"] = trials["stopped_epoch"].astype("Int64")
    rungs = pd.DataFrame(
        [
            ("t0", 0, 3, 0.95, 0.05, 0, True, ""),
            ("t1", 1, 3, 0.96, 0.06, 1, True, ""),
            ("t2", 2, 3, 0.97, 0.04, 2, False, ""),
            ("t3", 3, 3, 0.94, 0.07, 3, True, ""),
            ("t0", 0, 6, 0.93, 0.055, 0, True, ""),
            ("t1", 1, 6, 0.92, 0.07, 1, True, ""),
            ("t3", 3, 6, 0.99, 0.03, 2, False, ""),
        ],
        columns=list(RUNG_COLUMNS),
    )
    return trials, rungs


def test_summary_of_a_small_study():
    trials, rungs = small_study()
    stopping = early_stopping_summary(trials, rungs)
    assert stopping.value == "final"
    assert stopping.compute.to_dict("list") == {
        "variant": ["separate embeddings", "shared embeddings", "all variants"],
        "trials": [2, 2, 4],
        "stopped": [1, 1, 2],
        "trial_epochs": [15, 12, 27],
        "full_epochs": [18, 18, 36],
        "saving": pytest.approx([1 - 15 / 18, 1 - 12 / 18, 0.25]),
    }
    assert stopping.totals == {
        "trials": 4, "stopped": 2, "trial_epochs": 27, "full_epochs": 36, "saving": 0.25
    }
    assert stopping.rungs.to_dict("list") == {
        "rung": [3, 6], "reached": [4, 3], "stopped": [1, 1], "fraction_stopped": [0.25, pytest.approx(1 / 3)]
    }
    # The front is t0 and t1 (t2 was stopped). At epoch 3, t3 dominates both; at epoch 6, t1 dominates t0.
    front = stopping.front
    assert front[["trial_id", "rung", "order", "reached", "promoted"]].values.tolist() == [
        ["t0", 3, 0, 4, True], ["t0", 6, 0, 3, True], ["t1", 3, 1, 4, True], ["t1", 6, 1, 3, True]
    ]
    assert front["layer"].tolist() == [2, 2, 2, 1]
    assert front["variant"].tolist() == ["shared embeddings"] * 2 + ["separate embeddings"] * 2
    assert stopping.behind == ("t0", "t1")


def test_records_at_the_last_epoch_are_no_rung():
    # +stable records the values of every trial that reaches its last epoch; it decides nothing there.
    trials, rungs = small_study()
    last = pd.DataFrame([("t0", 0, 9, 0.90, 0.06, 0, True, ""), ("t1", 1, 9, 0.95, 0.08, 1, True, "")],
                        columns=list(RUNG_COLUMNS))
    stopping = early_stopping_summary(trials, pd.concat([rungs, last], ignore_index=True))
    expected = early_stopping_summary(trials, rungs)
    pd.testing.assert_frame_equal(stopping.rungs, expected.rungs)
    pd.testing.assert_frame_equal(stopping.front, expected.front)


def test_a_front_trial_is_placed_among_its_own_ladder_at_a_rung():
    trials, rungs = small_study()
    # Ranked apart by architecture: t0 and t2 are shared, t1 and t3 separate (order still counts every arrival).
    rungs["ladder"] = rungs["trial_id"].map({"t0": "shared=True", "t2": "shared=True",
                                             "t1": "shared=False", "t3": "shared=False"})
    front = early_stopping_summary(trials, rungs).front
    assert front[["trial_id", "rung", "ladder", "order", "reached"]].values.tolist() == [
        ["t0", 3, "shared=True", 0, 2], ["t0", 6, "shared=True", 0, 1],
        ["t1", 3, "shared=False", 0, 2], ["t1", 6, "shared=False", 0, 2],
    ]
    # At epoch 3, t0 dominates t2 in the shared ladder and t3 dominates t1 in the separate one (all four
    # together, t3 would put t0 on layer 2 too); at epoch 6, t0 is alone, and t1 dominates t3.
    assert front["layer"].tolist() == [1, 1, 2, 1]


def test_the_front_reads_the_asked_value_and_a_non_finite_value_has_no_layer():
    trials, rungs = small_study()
    trials.loc[trials["trial_id"] == "t0", "best_test_mse"] = 0.99  # t1 dominates t0 on best values
    rungs.loc[(rungs["trial_id"] == "t1") & (rungs["rung"] == 3), "test_mse"] = float("nan")
    front = early_stopping_summary(trials, rungs, value="best").front
    assert front[["trial_id", "rung"]].values.tolist() == [["t1", 3], ["t1", 6]]
    assert front["layer"].isna().tolist() == [True, False]


def test_no_stopping_and_no_rungs_is_none():
    trials = make_trials([{"mse": 0.9}, {"mse": 0.8, "mrr": 0.01}])  # an export from before early stopping
    assert early_stopping_summary(trials) is None
    assert early_stopping_summary(trials, pd.DataFrame(columns=list(RUNG_COLUMNS))) is None


def test_stopped_trials_without_rung_records_give_the_compute_only():
    trials, _ = small_study()
    stopping = early_stopping_summary(trials, None)
    assert stopping.totals["trial_epochs"] == 27
    assert stopping.rungs.empty and stopping.front.empty and stopping.behind == ()


def test_rungs_where_every_trial_was_promoted():
    trials, rungs = small_study()
    trials["state"] = trials["state"].replace("PRUNED", "COMPLETE")
    trials["epochs_trained"] = 9
    rungs["promoted"] = True
    stopping = early_stopping_summary(trials, rungs)
    assert stopping.totals == {"trials": 4, "stopped": 0, "trial_epochs": 36, "full_epochs": 36, "saving": 0}
    assert stopping.rungs["stopped"].tolist() == [0, 0]


def test_promoted_read_back_from_csv_text():
    trials, rungs = small_study()
    rungs["promoted"] = rungs["promoted"].map({True: "True", False: "False"})
    assert early_stopping_summary(trials, rungs).rungs["stopped"].tolist() == [1, 1]


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda t, r: (t, r, "median"), ConfigError, "'median'"),
        (lambda t, r: (t, r.to_dict(), "final"), StudyError, "rungs must be a pandas DataFrame"),
        (lambda t, r: (t, r.drop(columns="order"), "final"), StudyError, "order"),
        (lambda t, r: (t, pd.concat([r, r.iloc[[4]]]), "final"), StudyError, "'t0' at rung 6"),
        (lambda t, r: (t, r.assign(rung=r["rung"].astype(float).where(r.index > 0)), "final"), StudyError,
         "wrong type"),
        (lambda t, r: (t.drop(columns="epochs_trained"), r, "final"), StudyError, "epochs_trained"),
        (lambda t, r: (t.assign(epochs_trained=t["epochs_trained"].where(t.index > 0)), r, "final"), StudyError,
         "'t0'"),
        (lambda t, r: (t.assign(state="PRUNED"), r, "final"), StudyError, "no complete trial"),
    ],
)
def test_bad_input(change, error, match):
    trials, rungs, value = change(*small_study())
    with pytest.raises(error, match=match):
        early_stopping_summary(trials, rungs, value)


# --- the report ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped_export():
    trials, epochs = make_export(lambdas=(0.1, 0.5, 0.9, 0.99), seeds=(0, 1), n_epochs=12)
    trials, epochs, rungs = stop_early(trials, epochs, rungs=(3, 6))
    # A stopped trial whose values would dominate every complete one.
    pruned = trials.index[trials["state"] == "PRUNED"][0]
    trials.loc[pruned, ["final_test_mse", "final_test_mrr", "best_test_mse", "best_test_mrr"]] = [0.1, 0.9, 0.1, 0.9]
    return trials, epochs, rungs


@pytest.fixture(scope="module")
def stopped_report(tmp_path_factory, stopped_export):
    trials, epochs, rungs = stopped_export
    return write_report(trials, epochs, tmp_path_factory.mktemp("reports") / "r", title="t", rungs=rungs)


def test_a_stopped_trial_never_enters_a_front(stopped_export, stopped_report):
    trials = stopped_export[0]
    pruned = set(trials.loc[trials["state"] == "PRUNED", "trial_id"])
    assert not pruned & set(pareto_table(trials)["trial_id"])
    assert not pruned & set(pd.read_csv(stopped_report / "pareto.csv")["trial_id"])
    n_complete = int((trials["state"] == "COMPLETE").sum())
    assert set(hypervolume_table(trials).query("scope == 'overall'")["n_trials"]) == {n_complete}


def test_report_with_rungs_has_the_section_tables_and_summary(stopped_export, stopped_report):
    trials, _, rungs = stopped_export
    stopping = early_stopping_summary(trials, rungs)
    summary = json.loads((stopped_report / "summary.json").read_text(encoding="utf-8"))
    assert summary["early_stopping"] == {
        **stopping.totals,
        "by_variant": stopping.compute.iloc[:-1].to_dict("records"),
        "rungs": stopping.rungs.to_dict("records"),
        "front_value": "final",
        "front_trials_behind_at_a_rung": list(stopping.behind),
    } == stopping.to_dict()
    assert summary["counts"]["trials_by_state"]["PRUNED"] == stopping.totals["stopped"]
    assert "figures/early_stopping.png" in summary["figures"]
    pd.testing.assert_frame_equal(pd.read_csv(stopped_report / "stopping_compute.csv"), stopping.compute)
    pd.testing.assert_frame_equal(pd.read_csv(stopped_report / "stopping_rungs.csv"), stopping.rungs)
    assert len(pd.read_csv(stopped_report / "stopping_front.csv")) == len(stopping.front)

    totals = stopping.totals
    sentence = (
        f"Early stopping spent {totals['trial_epochs']} of {totals['full_epochs']} trial-epochs "
        f"({1 - totals['saving']:.0%}); {totals['stopped']} of {totals['trials']} trials were stopped."
    )
    page = (stopped_report / "index.html").read_text(encoding="utf-8")
    assert page.index("<h2>Pareto front</h2>") < page.index("<h2>Early stopping</h2>") < page.index(
        "<h2>Hypervolume</h2>"
    )
    assert sentence in page and "Decisions at each rung" in page and "epoch 6" in page
    markdown = (stopped_report / "report.md").read_text(encoding="utf-8")
    assert "## Early stopping" in markdown and "(figures/early_stopping.png)" in markdown


def test_report_without_stopping_has_none_of_it(tmp_path):
    trials, epochs = make_export(lambdas=(0.1, 0.5, 0.9), seeds=(0,), n_epochs=6, user_bias_lambdas=())
    out = write_report(trials, epochs, tmp_path / "r", title="t", rungs=None)
    assert "early_stopping" not in json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert not [name for name in STOPPING_CSVS if (out / name).exists()]
    assert not (out / "figures" / "early_stopping.png").exists()
    assert "Early stopping" not in (out / "index.html").read_text(encoding="utf-8")


def test_report_with_a_bad_rungs_table_writes_nothing(tmp_path, stopped_export):
    trials, epochs, rungs = stopped_export
    with pytest.raises(StudyError, match="order"):
        write_report(trials, epochs, tmp_path / "r", title="t", rungs=rungs.drop(columns="order"))
    assert list(tmp_path.iterdir()) == []


def test_report_including_stopped_trials_puts_them_on_the_front(tmp_path, stopped_export):
    trials, epochs, rungs = stopped_export
    dominating = trials.loc[(trials["state"] == "PRUNED") & (trials["final_test_mse"] == 0.1), "trial_id"].iloc[0]
    report = write_report(trials, epochs, tmp_path / "r", title="t", rungs=rungs, include_stopped=True)
    front = pd.read_csv(report / "pareto.csv")
    overall = front[(front["value"] == "final") & (front["scope"] == "overall")]
    assert overall["trial_id"].astype(str).tolist() == [dominating]
    assert "stopped ones at their last epoch" in (report / "index.html").read_text(encoding="utf-8")
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["counts"]["trials_by_state"]["PRUNED"] >= 1  # the states are still reported as they are
