"""The original questions, answered on constructed exports with known numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from _analysis_fixtures import make_export, make_trials
from mtlstudy import ConfigError
from mtlstudy._schema import TENSORBOARD_TAGS
from mtlstudy.analysis import answer_original_questions, compare_published, load_published


def run(shared, lambda_f, seed, mse, mrr, user_bias=False, **metrics):
    row = {
        "shared": shared,
        "lambda_f": lambda_f,
        "lambda_r": round(1 - lambda_f, 10),
        "seed": seed,
        "user_bias": user_bias,
        "mse": mse,
        "mrr": mrr,
    }
    for metric in TENSORBOARD_TAGS:
        if metric not in ("test_mse", "test_mrr"):
            value = metrics.get(metric, 0.5)
            row[f"final_{metric}"] = row[f"best_{metric}"] = value
    return row


@pytest.fixture
def constructed():
    rows = []
    shared_mrr, separate_mrr = [0.046, 0.047, 0.048], [0.064, 0.065, 0.063]
    for seed in range(3):
        rows.append(run(True, 0.99, seed, 1.01 + 0.001 * seed, shared_mrr[seed]))
        rows.append(run(False, 0.99, seed, 0.907 + 0.001 * seed, separate_mrr[seed]))
    rows.append(run(True, 0.5, 0, 0.9066, 0.0201))
    rows.append(run(False, 0.5, 0, 0.9077, 0.0640))
    return make_trials(rows), shared_mrr, separate_mrr


def test_sharing_at_099_uses_welch_and_states_the_numbers(constructed):
    trials, shared_mrr, separate_mrr = constructed
    answers = answer_original_questions(trials)
    q1 = answers.questions[0]
    assert "0.99" in q1.question
    row = q1.table[(q1.table["metric"] == "test_mrr") & (q1.table["value"] == "final")].iloc[0]
    assert row["mean_a"] == pytest.approx(np.mean(shared_mrr))
    assert row["std_a"] == pytest.approx(np.std(shared_mrr, ddof=1))
    assert (row["n_a"], row["n_b"]) == (3, 3)
    assert row["better"] == "separate embeddings"
    expected_p = stats.ttest_ind(shared_mrr, separate_mrr, equal_var=False).pvalue
    assert row["test"] == "Welch t-test" and row["p_value"] == pytest.approx(expected_p)
    assert bool(row["significant"])
    sentence = next(s for s in q1.sentences if "final test MRR" in s)
    assert "0.047 ± 0.001 (n=3)" in sentence and "0.064 ± 0.001 (n=3)" in sentence
    assert "separate embeddings is higher (better) by 0.017" in sentence
    assert f"p = {expected_p:.2g}" in sentence
    # identical train values on both sides: no spread, no test
    flat = q1.table[q1.table["metric"] == "train_mse"].iloc[0]
    assert flat["test"] == "no spread in either group, no test" and flat["better"] == "equal"
    assert len(q1.table) == 10  # 5 SPEC metrics x final/best


def test_single_runs_get_no_test(constructed):
    trials, *_ = constructed
    q2 = answer_original_questions(trials).questions[1]
    assert (q2.table["test"] == "single run, no test").all()
    assert q2.table["p_value"].isna().all()
    mse = next(s for s in q2.sentences if "final test MSE" in s)
    assert "shared embeddings 0.9066 (n=1) vs separate embeddings 0.9077 (n=1)" in mse
    assert "shared embeddings is lower (better) by 0.0011" in mse and mse.endswith("single run, no test.")
    assert "single runs, so no significance test" in q2.sentences[0]


def test_shared_lambda_question_compares_the_two_settings(constructed):
    trials, *_ = constructed
    q3 = answer_original_questions(trials).questions[2]
    row = q3.table[(q3.table["metric"] == "test_mse") & (q3.table["value"] == "final")].iloc[0]
    assert row["group_a"] == "λ_F = 0.99, λ_R = 0.01" and row["group_b"] == "λ_F = 0.5, λ_R = 0.5"
    assert row["better"] == "λ_F = 0.5, λ_R = 0.5"
    assert any("not on one scale" in s for s in q3.sentences)


def test_no_user_bias_run_is_said_plainly(constructed):
    trials, *_ = constructed
    q4 = answer_original_questions(trials).questions[3]
    assert q4.table.empty
    assert q4.sentences == ("No complete run with a user bias was found, so the study cannot say whether it "
                            "changes the ranking model.",)


def test_user_bias_runs_are_compared_at_the_same_settings():
    trials, _ = make_export(lambdas=(0.5, 0.99), seeds=(0, 1, 2), n_epochs=5)
    q4 = answer_original_questions(trials).questions[3]
    assert set(q4.table["setting"]) == {
        "shared embeddings, λ_F = 0.5, λ_R = 0.5",
        "shared embeddings, λ_F = 0.99, λ_R = 0.01",
    }
    assert set(q4.table["metric"]) == {"test_mrr", "test_hit_rate", "test_ndcg", "train_factorization_loss"}
    assert (q4.table["group_a"] == "with user bias").all()


def test_missing_setting_is_reported_not_invented():
    trials = make_trials([run(True, 0.99, 0, 1.0, 0.04)])
    answers = answer_original_questions(trials)
    assert answers.questions[0].table.empty
    assert "no complete run with separate embeddings was found" in answers.questions[0].sentences[0]
    assert "no complete run with shared embeddings or separate embeddings" in answers.questions[1].sentences[0]


def test_published_comparison_flags_differences():
    published = load_published()
    rows = []
    for run_ in published["runs"][:2]:  # ours exist for the first two settings only
        values = {metric: run_[tag]["value"] for metric, tag in TENSORBOARD_TAGS.items()}
        values["test_mrr"] *= 1.10  # 10 % off: differs
        rows.append(
            run(run_["shared"], run_["lambda_f"], 0, values.pop("test_mse"), values.pop("test_mrr"), **values)
        )
    table, sentences = compare_published(make_trials(rows))
    assert len(table) == 20
    ours = table[table["n_runs"] > 0]
    assert len(ours) == 10
    assert ours.set_index(["shared", "metric"])["differs"].to_dict() == {
        (shared, metric): metric == "test_mrr" for shared in (False, True) for metric in TENSORBOARD_TAGS
    }
    assert table.loc[table["n_runs"] == 0, "differs"].isna().all()
    assert sentences[0].startswith("Of 10 published final values we have runs for, 2 differ")
    assert "+10.0%" in sentences[0]
    assert "No complete run without a user bias matches" in sentences[1]
    assert "trained for 200 epochs; ours for 10" in sentences[2]


def test_answers_collect_tables_and_sentences(constructed):
    trials, *_ = constructed
    answers = answer_original_questions(trials)
    assert len(answers.questions) == 4
    assert set(answers.comparisons["question"]) == {q.question for q in answers.questions if not q.table.empty}
    assert answers.sentences[-len(answers.published_sentences):] == list(answers.published_sentences)
    with pytest.raises(ConfigError, match="alpha"):
        answer_original_questions(trials, alpha=2)
    with pytest.raises(ConfigError, match="rtol"):
        compare_published(trials, rtol=-1)


def test_lambda_matching_tolerates_float_noise():
    rows = [run(s, 0.99 + 1e-9, seed, 1.0, 0.05) for s in (True, False) for seed in (0, 1)]
    q1 = answer_original_questions(make_trials(rows)).questions[0]
    assert not q1.table.empty and (q1.table["n_a"] == 2).all()


def test_question_tables_are_dataframes(constructed):
    trials, *_ = constructed
    for answer in answer_original_questions(trials).questions:
        assert isinstance(answer.table, pd.DataFrame)


def test_published_without_runs_gives_an_empty_table_with_columns(constructed):
    trials, *_ = constructed
    table, sentences = compare_published(trials, published={"runs": []})
    assert table.empty and "differs" in table.columns and sentences == ()
