"""The original write-up's questions, answered from a study's trials.

Every answer is a table of group means (± standard deviation over seeds) with a
Welch t-test where both sides have at least two runs, and sentences that restate
those numbers. The sharing and λ questions use the runs without a user bias,
the model of the original write-up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
from scipy import stats

from mtlstudy._errors import ConfigError
from mtlstudy._schema import BEST_DIRECTION, TENSORBOARD_TAGS
from mtlstudy.analysis._frame import METRIC_NAMES, VALUES, complete_trials, group_label, setting_mask

__all__ = [
    "QuestionAnswer",
    "OriginalAnswers",
    "load_published",
    "answer_original_questions",
    "compare_published",
    "format_published_comparison",
]

#: The five metrics SPEC.md logs (train and test), compared for every question.
SPEC_METRICS: tuple[str, ...] = tuple(TENSORBOARD_TAGS)

#: Metrics of the ranking model, compared for the user-bias question.
RANKING_METRICS: tuple[str, ...] = ("test_mrr", "test_hit_rate", "test_ndcg", "train_factorization_loss")

_TAG_TO_METRIC = {tag: metric for metric, tag in TENSORBOARD_TAGS.items()}
_PUBLISHED_COLUMNS = [
    "shared",
    "lambda_f",
    "lambda_r",
    "metric",
    "tag",
    "published",
    "ours_mean",
    "ours_std",
    "ours_best_mean",
    "ours_best_std",
    "n_runs",
    "difference",
    "relative_difference",
    "differs",
]
_WELCH = "Welch t-test"


@dataclass(frozen=True)
class QuestionAnswer:
    """One question, the comparison table behind its answer, and the answer in words."""

    question: str
    table: pd.DataFrame
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class OriginalAnswers:
    """Answers to the original questions and the published-vs-ours comparison.

    Attributes
    ----------
    questions : tuple of QuestionAnswer
        In the order of the write-up.
    published : pandas.DataFrame
        Published value against ours per setting and metric (see
        :func:`compare_published`).
    published_sentences : tuple of str
    """

    questions: tuple[QuestionAnswer, ...]
    published: pd.DataFrame
    published_sentences: tuple[str, ...]

    @property
    def comparisons(self) -> pd.DataFrame:
        """All question tables in one, with a ``question`` column."""
        return pd.concat(
            [answer.table.assign(question=answer.question) for answer in self.questions], ignore_index=True
        )

    @property
    def sentences(self) -> list[str]:
        """Every generated sentence, questions first."""
        return [*(s for answer in self.questions for s in answer.sentences), *self.published_sentences]


def load_published(path: str | None = None) -> dict:
    """The published runs and questions (``mtlstudy/published_results.json`` by default)."""
    if path is None:
        text = resources.files("mtlstudy").joinpath("published_results.json").read_text(encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    return json.loads(text)


def _fmt(number: float) -> str:
    return f"{number:.4g}"


def _setting(lambda_f: float, lambda_r: float) -> str:
    return f"λ_F = {lambda_f:g}, λ_R = {lambda_r:g}"


def _describe(mean: float, std: float, n: int) -> str:
    return f"{_fmt(mean)} ± {std:.2g} (n={n})" if n >= 2 else f"{_fmt(mean)} (n=1)"


def _compare_groups(
    setting: str,
    groups: dict[str, pd.DataFrame],
    metrics: Sequence[str],
    alpha: float,
) -> tuple[pd.DataFrame, list[str]]:
    """Compare two groups of trials on each metric, final and best.

    ``groups`` maps two labels to their trials (both non-empty). Returns the
    table and one sentence per row.
    """
    (label_a, a), (label_b, b) = groups.items()
    pairs = [(metric, value) for metric in metrics for value in VALUES if f"{value}_{metric}" in a.columns]
    columns = [f"{value}_{metric}" for metric, value in pairs]
    both = pd.concat({label_a: a[columns], label_b: b[columns]}, names=["group"]).astype(float)
    # Mean, sd over seeds (NaN for one run) and runs of every column, per group.
    summary = both.groupby(level="group", sort=False).agg(["mean", "std", "count"])
    rows, sentences = [], []
    for (metric, value), column in zip(pairs, columns):
        (mean_a, std_a, n_a), (mean_b, std_b, n_b) = (
            summary.loc[label, column].to_numpy() for label in (label_a, label_b)
        )
        n_a, n_b = int(n_a), int(n_b)
        if n_a == 0 or n_b == 0:
            continue
        lower_is_better = BEST_DIRECTION[metric] == "min"
        if mean_a == mean_b:
            better = "equal"
        else:
            better = label_a if (mean_a < mean_b) == lower_is_better else label_b
        p_value = np.nan
        if min(n_a, n_b) < 2:
            test = "single run, no test"
        elif std_a == 0 and std_b == 0:
            test = "no spread in either group, no test"
        else:
            test = _WELCH
            xa, xb = (frame[column].dropna().to_numpy(dtype=float) for frame in (a, b))
            p_value = float(stats.ttest_ind(xa, xb, equal_var=False).pvalue)
        rows.append(
            {
                "setting": setting,
                "metric": metric,
                "value": value,
                "group_a": label_a,
                "mean_a": mean_a,
                "std_a": std_a,
                "n_a": n_a,
                "group_b": label_b,
                "mean_b": mean_b,
                "std_b": std_b,
                "n_b": n_b,
                "difference": mean_a - mean_b,
                "better": better,
                "test": test,
                "p_value": p_value,
                "significant": bool(p_value < alpha) if test == _WELCH else None,
            }
        )
        head = (
            f"{setting}, {value} {METRIC_NAMES[metric]}: {label_a} {_describe(mean_a, std_a, n_a)} "
            f"vs {label_b} {_describe(mean_b, std_b, n_b)}"
        )
        if better == "equal":
            verdict = "the means are equal"
        else:
            direction = "lower" if lower_is_better else "higher"
            verdict = f"{better} is {direction} (better) by {_fmt(abs(mean_a - mean_b))}"
        if test == _WELCH:
            level = f"{alpha:.0%}"
            significance = "significant" if p_value < alpha else "not significant"
            test_text = f"Welch t-test p = {p_value:.2g}, {significance} at the {level} level"
        else:
            test_text = test
        sentences.append(f"{head}; {verdict}; {test_text}.")
    return pd.DataFrame(rows), sentences


def _summary_sentence(setting: str, labels: Sequence[str], table: pd.DataFrame, alpha: float) -> str:
    wins = {label: int((table["better"] == label).sum()) for label in labels}
    tested = table[table["test"] == _WELCH]
    text = (
        f"{setting}: {labels[0]} is better on {wins[labels[0]]} and {labels[1]} on {wins[labels[1]]} "
        f"of {len(table)} comparisons (metric × final/best)"
    )
    if len(tested):
        significant = int(tested["significant"].sum())
        text += f"; {significant} of {len(tested)} tested differences are significant at the {alpha:.0%} level"
    else:
        text += "; single runs, so no significance test"
    return text + "."


def _answer(
    setting: str,
    groups: dict[str, pd.DataFrame],
    metrics: Sequence[str],
    alpha: float,
) -> tuple[pd.DataFrame, list[str]]:
    """Table and sentences for one two-group comparison, or why there is none."""
    empty = [label for label, frame in groups.items() if frame.empty]
    if empty:
        missing = " or ".join(empty)
        sentence = f"{setting}: no complete run with {missing} was found, so the study cannot answer this."
        return pd.DataFrame(), [sentence]
    table, sentences = _compare_groups(setting, groups, metrics, alpha)
    return table, [_summary_sentence(setting, list(groups), table, alpha), *sentences]


def _sharing_question(question, plain, lambda_f, lambda_r, alpha) -> QuestionAnswer:
    at = plain[setting_mask(plain, lambda_f, lambda_r)]
    groups = {group_label(True): at[at["shared"]], group_label(False): at[~at["shared"]]}
    table, sentences = _answer(_setting(lambda_f, lambda_r), groups, SPEC_METRICS, alpha)
    return QuestionAnswer(question, table, tuple(sentences))


def _lambda_question(question, plain, alpha) -> QuestionAnswer:
    shared = plain[plain["shared"]]
    high, even = (0.99, 0.01), (0.5, 0.5)
    groups = {
        _setting(*high): shared[setting_mask(shared, *high)],
        _setting(*even): shared[setting_mask(shared, *even)],
    }
    table, sentences = _answer(group_label(True), groups, SPEC_METRICS, alpha)
    if not table.empty:
        sentences.append(
            "The joint loss weights the two losses by λ_F and λ_R, so its values at different λ are not on "
            "one scale."
        )
    return QuestionAnswer(question, table, tuple(sentences))


def _user_bias_question(question, complete, alpha) -> QuestionAnswer:
    with_bias = complete[complete["user_bias"]]
    if with_bias.empty:
        sentence = (
            "No complete run with a user bias was found, so the study cannot say whether it changes the "
            "ranking model."
        )
        return QuestionAnswer(question, pd.DataFrame(), (sentence,))
    tables, sentences = [], []
    configurations = with_bias[["shared", "lambda_f", "lambda_r"]].drop_duplicates()
    for shared, lambda_f, lambda_r in configurations.itertuples(index=False):
        same = complete[(complete["shared"] == shared) & setting_mask(complete, lambda_f, lambda_r)]
        without = same[~same["user_bias"]]
        if without.empty:
            continue
        setting = f"{group_label(bool(shared))}, {_setting(lambda_f, lambda_r)}"
        groups = {"with user bias": same[same["user_bias"]], "without user bias": without}
        table, said = _answer(setting, groups, RANKING_METRICS, alpha)
        tables.append(table)
        sentences += said
    if not tables:
        sentence = (
            "Runs with a user bias were found, but none has a run without it at the same shared flag "
            "and loss weights to compare with."
        )
        return QuestionAnswer(question, pd.DataFrame(), (sentence,))
    return QuestionAnswer(question, pd.concat(tables, ignore_index=True), tuple(sentences))


def compare_published(
    trials: pd.DataFrame, *, published: dict | None = None, rtol: float = 0.05
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The published final values against ours, per setting and metric.

    Ours are the means (and standard deviations over seeds) of the final and of the
    best-epoch values of the complete runs without a user bias at the same shared
    flag and loss weights; "differs" compares the final values, as published.

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export.
    published : dict, optional
        As in ``published_results.json``; the shipped file by default.
    rtol : float
        A value "differs" when ours is off the published one by more than this
        fraction of it.

    Returns
    -------
    table : pandas.DataFrame
        ``shared, lambda_f, lambda_r, metric, tag, published, ours_mean, ours_std,
        ours_best_mean, ours_best_std, n_runs, difference, relative_difference,
        differs`` (``differs`` is None where we have no run).
    sentences : tuple of str
    """
    if not (np.isfinite(rtol) and rtol >= 0):
        raise ConfigError(f"rtol must be a finite number >= 0; got {rtol!r}")
    published = load_published() if published is None else published
    complete = complete_trials(trials)
    plain = complete[~complete["user_bias"]]
    rows, missing = [], []
    for run in published["runs"]:
        shared, lambda_f, lambda_r = bool(run["shared"]), float(run["lambda_f"]), float(run["lambda_r"])
        ours = plain[(plain["shared"] == shared) & setting_mask(plain, lambda_f, lambda_r)]
        if ours.empty:
            missing.append(f"{group_label(shared)}, {_setting(lambda_f, lambda_r)}")
        for tag, metric in _TAG_TO_METRIC.items():
            if tag not in run:
                continue
            values, best = (
                ours[f"{value}_{metric}"].dropna().to_numpy(dtype=float) if len(ours) else np.array([])
                for value in ("final", "best")
            )
            reference = float(run[tag]["value"])
            mean = values.mean() if len(values) else np.nan
            difference = mean - reference
            relative = difference / abs(reference) if reference else np.nan
            rows.append(
                {
                    "shared": shared,
                    "lambda_f": lambda_f,
                    "lambda_r": lambda_r,
                    "metric": metric,
                    "tag": tag,
                    "published": reference,
                    "ours_mean": mean,
                    "ours_std": values.std(ddof=1) if len(values) > 1 else np.nan,
                    "ours_best_mean": best.mean() if len(best) else np.nan,
                    "ours_best_std": best.std(ddof=1) if len(best) > 1 else np.nan,
                    "n_runs": len(values),
                    "difference": difference,
                    "relative_difference": relative,
                    "differs": bool(abs(relative) > rtol) if len(values) else None,
                }
            )
    table = pd.DataFrame(rows, columns=_PUBLISHED_COLUMNS)
    compared = table[table["n_runs"] > 0]
    sentences = []
    if len(compared):
        differing = compared[compared["differs"].astype(bool)]
        text = (
            f"Of {len(compared)} published final values we have runs for, {len(differing)} differ from our mean "
            f"by more than {rtol:.0%}"
        )
        if len(differing):
            text += ": " + "; ".join(
                f"{METRIC_NAMES[row.metric]} at {group_label(row.shared)}, {_setting(row.lambda_f, row.lambda_r)} "
                f"(published {_fmt(row.published)}, ours {_fmt(row.ours_mean)}, {row.relative_difference:+.1%})"
                for row in differing.itertuples()
            )
        sentences.append(text + ".")
    if missing:
        sentences.append("No complete run without a user bias matches " + "; ".join(missing) + ".")
    if "epochs" in plain.columns and len(compared):
        lengths = sorted({int(e) for e in pd.to_numeric(plain["epochs"], errors="coerce").dropna()})
        if lengths and lengths != [200]:
            sentences.append(
                f"The published runs trained for 200 epochs; ours for {', '.join(map(str, lengths))}."
            )
    return table, tuple(sentences)


def format_published_comparison(table: pd.DataFrame) -> str:
    """:func:`compare_published`'s table as plain text, one block per setting."""
    blocks = []
    for (shared, lambda_f, lambda_r), rows in table.groupby(["shared", "lambda_f", "lambda_r"], sort=False):
        runs = int(rows["n_runs"].max())
        lines = [f"{group_label(shared)}, {_setting(lambda_f, lambda_r)} ({runs} run{'s' * (runs != 1)})"]
        lines.append(f"  {'metric':<30}{'published':>10}{'ours, final':>22}{'ours, best epoch':>22}  differs")
        for row in rows.itertuples():
            final = _mean_std(row.ours_mean, row.ours_std)
            best = _mean_std(row.ours_best_mean, row.ours_best_std)
            differs = "-" if row.differs is None else ("yes" if row.differs else "no")
            lines.append(f"  {row.tag:<30}{row.published:>10.4f}{final:>22}{best:>22}  {differs}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _mean_std(mean: float, std: float) -> str:
    if np.isnan(mean):
        return "no run"
    return f"{mean:.4f}" + ("" if np.isnan(std) else f" ± {std:.4f}")


def answer_original_questions(
    trials: pd.DataFrame, *, published: dict | None = None, alpha: float = 0.05, rtol: float = 0.05
) -> OriginalAnswers:
    """Answer the write-up's four questions and compare with its numbers.

    Parameters
    ----------
    trials : pandas.DataFrame
        The study export.
    published : dict, optional
        As in ``published_results.json``; the shipped file by default.
    alpha : float
        Significance level of the Welch t-tests.
    rtol : float
        Relative tolerance of the published-vs-ours "differs" flag.

    Returns
    -------
    OriginalAnswers
        Tables: ``setting, metric, value, group_a, mean_a, std_a, n_a, group_b,
        mean_b, std_b, n_b, difference`` (a - b), ``better, test, p_value,
        significant``; ``significant`` is None where no test ran.
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1); got {alpha!r}")
    published = load_published() if published is None else published
    complete = complete_trials(trials)
    plain = complete[~complete["user_bias"]]
    texts = list(published.get("questions", []))
    texts += [""] * (4 - len(texts))
    questions = (
        _sharing_question(texts[0], plain, 0.99, 0.01, alpha),
        _sharing_question(texts[1], plain, 0.5, 0.5, alpha),
        _lambda_question(texts[2], plain, alpha),
        _user_bias_question(texts[3], complete, alpha),
    )
    table, sentences = compare_published(complete, published=published, rtol=rtol)
    return OriginalAnswers(questions, table, sentences)
