"""The report's page as blocks (:mod:`._document`), section by section, from its :class:`ReportContent`."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from mtlstudy.analysis._calibration import CalibrationCoverage
from mtlstudy.analysis._frame import CALIBRATION, METRIC_NAMES, REPLICATE, group_label
from mtlstudy.analysis._questions import OriginalAnswers
from mtlstudy.analysis._stopping import EarlyStopping
from mtlstudy.analysis._tradeoff import KNEE_METHOD, BudgetAnswer, TradeOff, weight_phrase
from mtlstudy.analysis.report import _texts as texts
from mtlstudy.analysis.report._content import ReportContent
from mtlstudy.analysis.report._document import Block, Bullets, Heading, Image, Link, Paragraph, Table, format_cell

__all__ = ["report_blocks"]

_X_TEXT = {
    "logit_lambda_f": "logit(λ_F) (with λ_R = 1 − λ_F), the scale the simplex space samples",
    "lambda_f": "λ_F (with λ_R = 1 − λ_F)",
    "log_ratio": "log10(λ_F / λ_R), the scale the independent space samples",
}


def report_blocks(content: ReportContent) -> list[Block]:
    """The report's page: provenance, overview, then a section per analysis, then the notes."""
    states = ", ".join(f"{count} {state}" for state, count in content.states.items())
    variants = ", ".join(f"{count} {variant}" for variant, count in content.variant_counts.items())
    overview = texts.OVERVIEW.format(
        n_trials=sum(content.states.values()),
        states=states,
        n_analysed=len(content.complete),
        analysed=texts.ANALYSED_WITH_STOPPED if content.include_stopped else texts.ANALYSED_COMPLETE,
        variants=variants,
        value=content.value,
    )
    if content.roles.get(REPLICATE):
        overview += " " + texts.ROLES_REPLICATES.format(n_replicates=content.roles[REPLICATE])
    if content.roles.get(CALIBRATION):
        overview += " " + texts.ROLES_CALIBRATION.format(n_calibration=content.roles[CALIBRATION])
    blocks: list[Block] = [
        *_provenance_blocks(content.provenance),
        Paragraph(overview),
        *([Link(texts.INTERACTIVE_LINK, content.interactive)] if content.interactive else ()),
        *_pareto_blocks(content),
        *(_stopping_blocks(content.stopping, content.images) if content.stopping is not None else ()),
        *_hypervolume_blocks(content),
        *_tradeoff_blocks(content),
        *(_calibration_blocks(content.calibration, content.images) if content.calibration is not None else ()),
        *_epoch_blocks(content),
        *(_question_blocks(content.answers) if content.answers is not None else ()),
    ]
    if content.notes:
        blocks += [Heading(texts.NOTES_HEADING), Bullets(content.notes)]
    return blocks


def _front_table(front: pd.DataFrame, value: str) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "#": front["number"],
            "trial": front["trial_id"],
            "variant": [group_label(bool(s), bool(b)) for s, b in zip(front["shared"], front["user_bias"])],
            "λ_F": front["lambda_f"],
            "λ_R": front["lambda_r"],
            "seed": front["seed"],
            f"{value} test MSE": front["test_mse"],
            f"{value} test MRR": front["test_mrr"],
        }
    )
    if value == "best":
        table["MSE epoch"] = front["test_mse_epoch"]
        table["MRR epoch"] = front["test_mrr_epoch"]
    return table.reset_index(drop=True)


def _pareto_blocks(content: ReportContent) -> list[Block]:
    sizes = [
        texts.PARETO_SIZE.format(value=value, size=size, scope=scope)
        for value, by_scope in content.front_sizes.items()
        for scope, size in by_scope.items()
        if size
    ]
    return [
        Heading(texts.PARETO_HEADING),
        Paragraph(texts.PARETO_INTRO),
        Bullets(tuple(sizes)),
        Image(content.images["pareto"], texts.PARETO_FIGURE),
        Table(_front_table(content.front, content.value), texts.PARETO_TABLE.format(value=content.value)),
    ]


def _stopping_blocks(stopping: EarlyStopping, images: dict[str, str]) -> list[Block]:
    totals = stopping.totals
    blocks: list[Block] = [
        Heading(texts.STOPPING_HEADING),
        Paragraph(texts.STOPPING_INTRO.format(**totals, spent=1 - totals["saving"])),
        Image(
            images["stopping"],
            texts.STOPPING_FIGURE + ("" if stopping.rungs.empty else texts.STOPPING_FIGURE_RUNGS),
        ),
        Table(
            pd.DataFrame(
                {
                    "variant": stopping.compute["variant"],
                    "trials": stopping.compute["trials"],
                    "stopped": stopping.compute["stopped"],
                    "trial-epochs": stopping.compute["trial_epochs"].map("{:,}".format),
                    "without early stopping": stopping.compute["full_epochs"].map("{:,}".format),
                    "saving": stopping.compute["saving"].map("{:.0%}".format),
                }
            ),
            texts.STOPPING_COMPUTE_TABLE,
        ),
    ]
    if stopping.rungs.empty:
        return [*blocks, Paragraph(texts.STOPPING_NO_RUNGS)]
    rungs = pd.DataFrame(
        {
            "rung (epoch)": stopping.rungs["rung"],
            "reached": stopping.rungs["reached"],
            "stopped there": stopping.rungs["stopped"],
            "stopped (%)": stopping.rungs["fraction_stopped"].map("{:.0%}".format),
        }
    )
    blocks.append(Table(rungs, texts.STOPPING_RUNG_TABLE))
    if stopping.front.empty:
        return blocks
    table = _promotion_table(stopping.front)
    behind = texts.STOPPING_BEHIND.format(
        behind=len(stopping.behind), n_front=len(table), value=stopping.value
    )
    return [*blocks, Paragraph(behind), Table(table, texts.STOPPING_PROMOTION_TABLE)]


def _promotion_table(front: pd.DataFrame) -> pd.DataFrame:
    """:attr:`EarlyStopping.front` as one row per trial and one column per rung."""
    cells = front.assign(
        cell=[
            texts.STOPPING_CELL.format(order=row.order + 1, reached=row.reached, layer=format_cell(row.layer))
            for row in front.itertuples()
        ]
    )
    table = cells.pivot(index=["number", "trial_id", "variant"], columns="rung", values="cell")
    table = table.reindex(front["trial_id"].unique(), level="trial_id").reset_index()
    return table.rename(columns={"number": "#", "trial_id": "trial", **{r: f"epoch {r}" for r in front["rung"]}})


def _hypervolume_blocks(content: ReportContent) -> list[Block]:
    hypervolumes = content.hypervolumes
    table = hypervolumes.rename(
        columns={"reference_mse": "reference MSE", "reference_mrr": "reference MRR", "reference_source": "reference"}
    )
    sentences = tuple(
        texts.HYPERVOLUME_SENTENCE.format(
            value=row.value,
            hypervolume=format_cell(row.hypervolume),
            reference_mse=format_cell(row.reference_mse),
            reference_mrr=format_cell(row.reference_mrr),
            source=row.reference_source,
        )
        for row in hypervolumes[hypervolumes["scope"] == "overall"].itertuples()
    )
    return [
        Heading(texts.HYPERVOLUME_HEADING),
        Paragraph(texts.HYPERVOLUME_INTRO),
        Bullets(sentences),
        Table(table, texts.HYPERVOLUME_TABLE),
        Image(content.images["hypervolume"], texts.HYPERVOLUME_FIGURE),
    ]


def _tradeoff_blocks(content: ReportContent) -> list[Block]:
    tradeoff = content.tradeoff
    fits = tuple(
        (texts.TRADEOFF_FIT_MEASURED if row.noise_source == "replicates" else texts.TRADEOFF_FIT).format(
            variant=group_label(bool(row.shared), bool(row.user_bias)),
            metric=METRIC_NAMES[row.metric],
            note=row.note,
            n_points=row.n_points,
            n_distinct=row.n_distinct,
            replicate_groups=row.replicate_groups,
        )
        for row in tradeoff.fits.itertuples()
    )
    knees = tuple(
        texts.KNEE_FOUND.format(
            variant=row.variant,
            weight=weight_phrase(tradeoff.x_name, row.x),
            interval=_interval_phrase(tradeoff, row.lambda_f_lower, row.lambda_f_upper, row.knee_share,
                                      texts.KNEE_DRAWS),
            test_mse=format_cell(row.test_mse),
            test_mrr=format_cell(row.test_mrr),
            distance=f"{row.distance:.3g}",
        )
        if pd.notna(row.x)
        else texts.KNEE_NONE.format(variant=row.variant, reason=row.reason)
        for row in tradeoff.knees.itertuples()
    )
    blocks: list[Block] = [
        Heading(texts.TRADEOFF_HEADING),
        Paragraph(texts.TRADEOFF_INTRO.format(value=tradeoff.value, x_text=_X_TEXT[tradeoff.x_name],
                                              level=tradeoff.level)),
        Bullets(fits + tuple(tradeoff.notes)),
        Image(content.images["response"], texts.TRADEOFF_RESPONSE_FIGURE.format(level=tradeoff.level)),
        Image(content.images["tradeoff"], texts.TRADEOFF_CURVE_FIGURE),
        Heading(texts.KNEE_HEADING, 3),
        Paragraph(texts.KNEE_METHOD.format(method=KNEE_METHOD)),
        Bullets(knees),
        Heading(texts.BUDGET_HEADING, 3),
    ]
    if content.mse_budget is None:
        blocks.append(Paragraph(texts.BUDGET_NONE_GIVEN))
    else:
        blocks.append(Bullets(tuple(_budget_sentence(tradeoff, answer) for answer in content.budget_answers)))
    return blocks


def _interval_phrase(tradeoff: TradeOff, low: float | None, high: float | None, share: float, draws: str) -> str:
    """``"95% interval λ_F 0.8 to 0.9 (...)"`` (at the trade-off's level) of the joint draws, or that none has one."""
    if low is None or pd.isna(low):
        return texts.INTERVAL_NONE.format(share=share, draws=draws)
    return texts.INTERVAL.format(level=tradeoff.level, low=format_cell(low), high=format_cell(high), share=share,
                                 draws=draws)


def _budget_sentence(tradeoff: TradeOff, answer: BudgetAnswer) -> str:
    variant = group_label(answer.shared, answer.user_bias)
    if answer.x is None:
        return texts.BUDGET_NOT_MET.format(variant=variant, reason=answer.reason)
    return texts.BUDGET_FOUND.format(
        variant=variant,
        interval=_interval_phrase(tradeoff, answer.lambda_f_lower, answer.lambda_f_upper, answer.feasible_share,
                                  texts.BUDGET_DRAWS),
        value=tradeoff.value,
        budget=format_cell(answer.mse_budget),
        test_mrr=format_cell(answer.test_mrr),
        weight=weight_phrase(tradeoff.x_name, answer.x),
        test_mse=format_cell(answer.test_mse),
    )


def _calibration_blocks(calibration: CalibrationCoverage, images: dict[str, str]) -> list[Block]:
    table = calibration.table
    shown = pd.DataFrame(
        {
            "variant": table["variant"],
            "metric": table["metric"].map(METRIC_NAMES),
            "fresh trials": table["n_fresh"],
            "inside": table["n_inside"],
            "coverage": table["coverage"].map("{:.0%}".format),
            f"{calibration.confidence:.0%} interval": [
                f"{low:.0%} to {high:.0%}" for low, high in zip(table["ci_lower"], table["ci_upper"])
            ],
        }
    )
    n_fresh = calibration.points["trial_id"].nunique()
    return [
        Heading(texts.CALIBRATION_HEADING),
        Paragraph(texts.CALIBRATION_INTRO.format(n_fresh=n_fresh, level=calibration.level,
                                                 confidence=calibration.confidence)),
        Table(shown, texts.CALIBRATION_TABLE.format(level=calibration.level)),
        *([Bullets(calibration.notes)] if calibration.notes else ()),
        Image(images["calibration"], texts.CALIBRATION_FIGURE),
    ]


def _epoch_blocks(content: ReportContent) -> list[Block]:
    blocks: list[Block] = [Heading(texts.EPOCHS_HEADING)]
    if "epochs" in content.images:
        blocks.append(Image(content.images["epochs"], texts.EPOCHS_FIGURE.format(value=content.value)))
    epoch_summary = content.epoch_summary
    if epoch_summary.empty:
        blocks.append(Paragraph(texts.EPOCHS_NONE))
        return blocks
    shown = epoch_summary[
        epoch_summary["trial_id"].isin(content.front["trial_id"])
        & epoch_summary["metric"].isin(["test_mse", "test_mrr"])
    ]
    table = pd.DataFrame(
        {
            "trial": shown["trial_id"],
            "metric": shown["metric"].map(METRIC_NAMES),
            "best epoch": shown["best_epoch"],
            "best value": shown["best_value"],
            "final epoch": shown["final_epoch"],
            "final value": shown["final_value"],
            "final − best": shown["final_minus_best"],
        }
    )
    blocks.append(Table(table.reset_index(drop=True), texts.EPOCHS_TABLE))
    return blocks


_QUESTION_COLUMNS = {
    "setting": "setting",
    "metric": "metric",
    "value": "value",
    "group_a": "A",
    "mean_a": "mean A",
    "std_a": "sd A",
    "n_a": "n A",
    "group_b": "B",
    "mean_b": "mean B",
    "std_b": "sd B",
    "n_b": "n B",
    "better": "better",
    "test": "test",
    "p_value": "p",
}


def _question_blocks(answers: OriginalAnswers) -> list[Block]:
    blocks: list[Block] = [Heading(texts.QUESTIONS_HEADING), Paragraph(texts.QUESTIONS_INTRO)]
    for number, answer in enumerate(answers.questions, start=1):
        blocks += [
            Heading(texts.QUESTION_HEADING.format(number=number, question=answer.question), 3),
            Bullets(answer.sentences),
        ]
        if not answer.table.empty:
            table = answer.table[list(_QUESTION_COLUMNS)].rename(columns=_QUESTION_COLUMNS)
            table["metric"] = table["metric"].map(METRIC_NAMES)
            blocks.append(Table(table))
    published = pd.DataFrame(
        {
            "variant": [group_label(bool(shared)) for shared in answers.published["shared"]],
            "λ_F": answers.published["lambda_f"],
            "λ_R": answers.published["lambda_r"],
            "metric": answers.published["metric"].map(METRIC_NAMES),
            "published": answers.published["published"],
            "ours (mean)": answers.published["ours_mean"],
            "sd": answers.published["ours_std"],
            "runs": answers.published["n_runs"],
            "relative difference": answers.published["relative_difference"],
            "differs": answers.published["differs"],
        }
    )
    blocks += [
        Heading(texts.PUBLISHED_HEADING, 3),
        Bullets(answers.published_sentences or (texts.PUBLISHED_NONE,)),
        Table(published, texts.PUBLISHED_TABLE),
    ]
    return blocks


def _provenance_blocks(provenance: dict[str, object]) -> list[Block]:
    if not provenance:
        return []
    rows = pd.DataFrame(
        {"item": list(provenance), "value": [_provenance_text(value) for value in provenance.values()]}
    )
    return [Heading(texts.PROVENANCE_HEADING), Table(rows, texts.PROVENANCE_TABLE)]


def _provenance_text(value: object) -> str:
    """One table cell: mappings as ``key=value`` pairs, sequences comma-separated."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={_provenance_text(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_provenance_text(item) for item in value)
    return format_cell(value)
