"""``write_report``: every analysis of a study as figures, CSV tables, JSON and one page."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mtlstudy._errors import ConfigError, StudyError
from mtlstudy._json import jsonable
from mtlstudy.analysis._document import (
    Block,
    Bullets,
    Heading,
    Image,
    Paragraph,
    Table,
    format_cell,
    render_html,
    render_markdown,
)
from mtlstudy.analysis._epochs import best_vs_final
from mtlstudy.analysis._frame import (
    METRIC_NAMES,
    VALUES,
    check_value,
    complete_trials,
    diverged_count,
    group_label,
    objective_columns,
    state_counts,
)
from mtlstudy.analysis._hypervolume import check_reference, hypervolume_history, hypervolume_table, reference_point
from mtlstudy.analysis._pareto import pareto_table
from mtlstudy.analysis._plots import (
    HypervolumePlot,
    draw_epochs,
    draw_hypervolume,
    draw_interactive,
    draw_pareto,
    draw_response,
    draw_stopping,
    draw_tradeoff,
    epoch_plot_data,
    pareto_panels,
    tradeoff_plot_data,
)
from mtlstudy.analysis._questions import OriginalAnswers, answer_original_questions
from mtlstudy.analysis._stopping import EarlyStopping, early_stopping_summary
from mtlstudy.analysis._tradeoff import (
    KNEE_METHOD,
    BudgetAnswer,
    TradeOff,
    best_under_budget,
    check_budget,
    fit_tradeoff,
    weight_phrase,
)

__all__ = ["write_report", "FORMATS"]

#: Output formats of the readable page.
FORMATS: tuple[str, ...] = ("html", "md")

#: Marks a folder as a report, which a later call may replace.
GENERATOR = "mtlstudy.analysis.write_report"

_X_TEXT = {"lambda_f": "λ_F (with λ_R = 1 − λ_F)", "log_ratio": "log10(λ_F / λ_R)"}


def write_report(
    trials: pd.DataFrame,
    epochs: pd.DataFrame,
    out_dir: str | Path,
    *,
    title: str,
    formats: Sequence[str] = FORMATS,
    objective: str = "final",
    mse_budget: float | None = None,
    reference_point: tuple[float, float] | None = None,
    interactive: bool = False,
    rungs: pd.DataFrame | None = None,
    include_stopped: bool = False,
) -> Path:
    """Write a self-contained report of a study into ``out_dir``.

    The folder receives ``index.html`` (figures embedded, readable offline) and/or
    ``report.md``, the figures as PNG under ``figures/``, the tables behind them
    as CSV (``pareto.csv``, ``tradeoff.csv``, ``hypervolume.csv``,
    ``hypervolume_history.csv``, ``epochs_best_vs_final.csv``, ``questions.csv``,
    ``published_vs_ours.csv``) and ``summary.json``. A study that stopped trials
    early also gets an "Early stopping" section, ``figures/early_stopping.png``,
    ``stopping_compute.csv``, ``stopping_rungs.csv``, ``stopping_front.csv`` and
    the key ``early_stopping`` in ``summary.json``. Everything is written to a
    temporary sibling folder first and moved into place at the end, so a failure
    leaves ``out_dir`` as it was.

    Parameters
    ----------
    trials, epochs : pandas.DataFrame
        The study export: one row per trial, and one row per trial and epoch.
    out_dir : str or pathlib.Path
        Must not exist, be empty, or hold an earlier report (which is replaced).
    title : str
        Report title (escaped in the HTML and Markdown).
    formats : sequence of {"html", "md"}
        Which pages to write.
    objective : {"final", "best"}
        Which reading of the metrics the trade-off fit, the knee, the budget
        answer and the epoch figure use (Pareto fronts and hypervolumes are given
        for both).
    mse_budget : float, optional
        Report the λ_F maximising fitted MRR subject to fitted MSE <= budget.
    reference_point : (float, float), optional
        (test MSE, test MRR) bound of the hypervolume; by default the worst
        values among the complete trials, stated in the report.
    interactive : bool
        Also write ``interactive.html`` (plotly, embedded) if plotly is installed.
    rungs : pandas.DataFrame, optional
        The study's rung records under early stopping (see
        :func:`~mtlstudy.analysis.early_stopping_summary`). Without them, a study
        with stopped (``PRUNED``) trials still gets its compute table.
    include_stopped : bool
        Analyse stopped trials too, at the last epoch they trained. By default the
        fronts, hypervolumes and fits use only trials that trained their full budget.

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    ConfigError
        For an invalid argument or an ``out_dir`` that is something else.
    StudyError
        For a trials table without complete trials or required columns, or an
        invalid rungs table.
    """
    formats = _check_formats(formats)
    check_value(objective)
    budget = None if mse_budget is None else check_budget(mse_budget)
    reference = None if reference_point is None else check_reference(reference_point)
    if not isinstance(title, str) or not title.strip():
        raise ConfigError(f"title must be a non-empty string; got {title!r}")
    if not isinstance(epochs, pd.DataFrame):
        raise StudyError(f"epochs must be a pandas DataFrame; got {type(epochs).__name__}")
    analysed = trials.assign(state=trials["state"].replace("PRUNED", "COMPLETE")) if include_stopped else trials
    complete = complete_trials(analysed)
    stopping = early_stopping_summary(trials, rungs, objective)
    target = Path(out_dir)
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A hidden sibling on the same file system, so the final move is a rename.
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        context = {
            "title": title,
            "objective": objective,
            "mse_budget": budget,
            "reference": reference,
            "states": state_counts(trials),
            "diverged": diverged_count(trials),
            "stopping": stopping,
            "include_stopped": include_stopped,
        }
        _write_contents(staging, complete, epochs, formats, interactive, context)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    chosen = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = [item for item in chosen if item not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown report format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    if not chosen:
        raise ConfigError(f"formats must name at least one of {', '.join(FORMATS)}; got {formats!r}")
    return tuple(dict.fromkeys(chosen))


def _is_report(folder: Path) -> bool:
    try:
        return json.loads((folder / "summary.json").read_text(encoding="utf-8")).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ConfigError(f"out_dir {str(target)!r} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not _is_report(target):
        raise ConfigError(
            f"out_dir {str(target)!r} is not empty and holds no earlier report; refusing to overwrite it"
        )


def _move_into_place(staging: Path, target: Path) -> None:
    """Swap the finished folder in; an earlier report is removed only once it is out of the way."""
    if not target.exists():
        staging.rename(target)
        return
    if not any(target.iterdir()):
        target.rmdir()
        staging.rename(target)
        return
    previous = target.with_name(f".{target.name}.previous-{uuid.uuid4().hex[:8]}")
    target.rename(previous)
    try:
        staging.rename(target)
    except BaseException:
        previous.rename(target)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _records(frame: pd.DataFrame) -> list[dict]:
    return [jsonable(record) for record in frame.to_dict(orient="records")]


def _write_contents(
    folder: Path,
    complete: pd.DataFrame,
    epochs: pd.DataFrame,
    formats: tuple[str, ...],
    interactive: bool,
    context: dict,
) -> None:
    objective, budget, reference = context["objective"], context["mse_budget"], context["reference"]
    stopping = context["stopping"]
    figures = folder / "figures"
    figures.mkdir()
    notes: list[str] = []

    pareto = pareto_table(complete)
    hypervolumes = hypervolume_table(complete, reference=reference)
    histories = {value: hypervolume_history(complete, value, reference) for value in VALUES}
    references = {value: reference or reference_point(complete, value) for value in VALUES}
    tradeoff = fit_tradeoff(complete, value=objective)
    answers_to_budget = best_under_budget(tradeoff, budget) if budget is not None else ()
    answers = answer_original_questions(complete)
    notes += tradeoff.notes
    non_finite = int((~np.isfinite(complete[list(objective_columns(objective))]).all(axis=1)).sum())
    if non_finite:
        notes.append(f"{non_finite} complete trial(s) with a non-finite {objective} test MSE or MRR are on no front")
    if context["diverged"]:
        notes.append(f"{context['diverged']} trial(s) diverged (non-finite losses or scores): failed, on no front")

    panels = pareto_panels(complete, pareto)
    images = {
        "pareto": draw_pareto(panels, figures / "pareto.png"),
        "response": draw_response(tradeoff, figures / "lambda_response.png"),
        "tradeoff": draw_tradeoff(
            tradeoff_plot_data(tradeoff, answers_to_budget, budget), figures / "tradeoff.png"
        ),
        "hypervolume": draw_hypervolume(HypervolumePlot(histories, references), figures / "hypervolume.png"),
    }
    if stopping is not None:
        images["stopping"] = draw_stopping(stopping, figures / "early_stopping.png")
    front = pareto[(pareto["value"] == objective) & (pareto["scope"] == "overall")]
    epoch_summary = pd.DataFrame()
    if len(epochs):
        epoch_summary = best_vs_final(epochs)
        plot = epoch_plot_data(epochs, front, objective)
        if plot.labels:
            images["epochs"] = draw_epochs(plot, figures / "epochs_pareto.png")
        else:
            notes.append("no epoch rows were found for the Pareto trials; no epoch figure")
    else:
        notes.append("the epochs table is empty; no epoch figure")
    images = {name: path.relative_to(folder).as_posix() for name, path in images.items()}
    if interactive:
        if not draw_interactive(panels, folder / "interactive.html", context["title"]):
            notes.append("interactive=True, but plotly is not installed: no interactive.html was written")

    pareto.to_csv(folder / "pareto.csv", index=False)
    tradeoff.curves.to_csv(folder / "tradeoff.csv", index=False)
    hypervolumes.to_csv(folder / "hypervolume.csv", index=False)
    pd.concat([history.assign(value=value) for value, history in histories.items()]).to_csv(
        folder / "hypervolume_history.csv", index=False
    )
    epoch_summary.to_csv(folder / "epochs_best_vs_final.csv", index=False)
    answers.comparisons.to_csv(folder / "questions.csv", index=False)
    answers.published.to_csv(folder / "published_vs_ours.csv", index=False)
    if stopping is not None:
        stopping.compute.to_csv(folder / "stopping_compute.csv", index=False)
        stopping.rungs.to_csv(folder / "stopping_rungs.csv", index=False)
        stopping.front.to_csv(folder / "stopping_front.csv", index=False)

    summary = {
        "generator": GENERATOR,
        "title": context["title"],
        "objective": objective,
        "counts": {
            "trials_by_state": context["states"],
            "diverged": context["diverged"],
            "complete": len(complete),
            "complete_by_variant": {
                group_label(bool(shared), bool(bias)): len(group)
                for (shared, bias), group in complete.groupby(["shared", "user_bias"])
            },
            "pareto_front_size": _front_sizes(pareto),
        },
        **({} if stopping is None else {"early_stopping": _stopping_summary(stopping)}),
        "hypervolume": _records(hypervolumes),
        "tradeoff": {"x": tradeoff.x_name, "value": objective, "fits": _records(tradeoff.fits)},
        "knee": {"method": KNEE_METHOD, "per_variant": _records(tradeoff.knees)},
        "mse_budget": {
            "budget": budget,
            "answers": [jsonable(vars(answer)) for answer in answers_to_budget],
        },
        "figures": list(images.values()),
        "notes": notes,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")

    blocks = _blocks(
        complete, pareto, hypervolumes, tradeoff, answers_to_budget, budget, answers, epoch_summary, front,
        images, context, notes,
    )
    if "html" in formats:
        (folder / "index.html").write_text(render_html(context["title"], blocks, folder), encoding="utf-8")
    if "md" in formats:
        (folder / "report.md").write_text(render_markdown(context["title"], blocks), encoding="utf-8")


# --- the page ------------------------------------------------------------------------------


def _front_sizes(pareto: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{value: {scope: trials on that front}}``."""
    counts = pareto.groupby(["value", "scope"]).size()
    return {
        value: {scope: int(counts.get((value, scope), 0)) for scope in ("overall", "shared", "separate")}
        for value in VALUES
    }


def _front_table(front: pd.DataFrame, objective: str) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "#": front["number"],
            "trial": front["trial_id"],
            "variant": [group_label(bool(s), bool(b)) for s, b in zip(front["shared"], front["user_bias"])],
            "λ_F": front["lambda_f"],
            "λ_R": front["lambda_r"],
            "seed": front["seed"],
            f"{objective} test MSE": front["test_mse"],
            f"{objective} test MRR": front["test_mrr"],
        }
    )
    if objective == "best":
        table["MSE epoch"] = front["test_mse_epoch"]
        table["MRR epoch"] = front["test_mrr_epoch"]
    return table.reset_index(drop=True)


def _pareto_blocks(pareto, front, objective, images) -> list[Block]:
    sizes = [
        f"{value} values: {size} trial(s) on the {scope} front"
        for value, by_scope in _front_sizes(pareto).items()
        for scope, size in by_scope.items()
        if size
    ]
    blocks: list[Block] = [
        Heading("Pareto front"),
        Paragraph(
            "A trial is on the front when no other complete trial has a test MSE at least as low and a test MRR "
            "at least as high with one of them strictly better; identical points are all on the front. "
            "'final' reads the last epoch, 'best' each metric's best epoch (MSE and MRR may peak at different "
            "epochs, so a 'best' point is not one model state)."
        ),
        Bullets(tuple(sizes)),
        Image(images["pareto"], "Pareto scatter, final and best values"),
        Table(_front_table(front, objective), f"Trials on the overall front ({objective} values)"),
    ]
    return blocks


def _stopping_summary(stopping: EarlyStopping) -> dict:
    return {
        **stopping.totals,
        "by_variant": _records(stopping.compute.iloc[:-1]),
        "rungs": _records(stopping.rungs),
        "front_objective": stopping.objective,
        "front_trials_behind_at_a_rung": list(stopping.behind),
    }


def _stopping_blocks(stopping: EarlyStopping, images) -> list[Block]:
    totals = stopping.totals
    blocks: list[Block] = [
        Heading("Early stopping"),
        Paragraph(
            f"Early stopping spent {totals['trial_epochs']:,} of {totals['full_budget_epochs']:,} trial-epochs "
            f"({1 - totals['saving']:.0%}); {totals['stopped']} of {totals['trials']} trials were stopped. "
            "Stopped trials are on no front: the fronts, hypervolumes and trade-off fits use only the trials "
            "that trained their full budget."
        ),
        Image(
            images["stopping"],
            "Trial-epochs trained per model variant"
            + ("" if stopping.rungs.empty else ", and trials stopped at each rung"),
        ),
        Table(
            pd.DataFrame(
                {
                    "variant": stopping.compute["variant"],
                    "trials": stopping.compute["trials"],
                    "stopped": stopping.compute["stopped"],
                    "trial-epochs": stopping.compute["trial_epochs"].map("{:,}".format),
                    "full budget": stopping.compute["full_budget_epochs"].map("{:,}".format),
                    "saving": stopping.compute["saving"].map("{:.0%}".format),
                }
            ),
            "Compute per model variant (finished trials: complete or stopped)",
        ),
    ]
    if stopping.rungs.empty:
        return [*blocks, Paragraph("No rung records were given: no rung decisions to show.")]
    rungs = pd.DataFrame(
        {
            "rung (epoch)": stopping.rungs["rung"],
            "reached": stopping.rungs["reached"],
            "stopped there": stopping.rungs["stopped"],
            "stopped (%)": stopping.rungs["fraction_stopped"].map("{:.0%}".format),
        }
    )
    blocks.append(Table(rungs, "Decisions at each rung"))
    if stopping.front.empty:
        return blocks
    table = _promotion_table(stopping.front)
    return [
        *blocks,
        Paragraph(
            f"{len(stopping.behind)} of the {len(table)} trials on the final front ({stopping.objective} values) "
            "were off a rung's own front (layer above 1) when they reached it: judged at that epoch alone they "
            "looked worse than they ended."
        ),
        Table(
            table,
            "Trials on the final front at each rung: arrival position of the trials that reached the rung, and "
            "non-dominated layer among them (1: on that rung's front)",
        ),
    ]


def _promotion_table(front: pd.DataFrame) -> pd.DataFrame:
    """:attr:`EarlyStopping.front` as one row per trial and one column per rung."""
    cells = front.assign(
        cell=[f"arrived {row.order + 1} of {row.reached}, layer {format_cell(row.layer)}" for row in front.itertuples()]
    )
    table = cells.pivot(index=["number", "trial_id", "variant"], columns="rung", values="cell")
    table = table.reindex(front["trial_id"].unique(), level="trial_id").reset_index()
    return table.rename(columns={"number": "#", "trial_id": "trial", **{r: f"epoch {r}" for r in front["rung"]}})


def _hypervolume_blocks(hypervolumes: pd.DataFrame, images) -> list[Block]:
    table = hypervolumes.rename(
        columns={"reference_mse": "reference MSE", "reference_mrr": "reference MRR", "reference_source": "reference"}
    )
    sentences = tuple(
        f"{row.value} values: hypervolume {format_cell(row.hypervolume)} of the overall front against the reference "
        f"point (test MSE {format_cell(row.reference_mse)}, test MRR {format_cell(row.reference_mrr)}; "
        f"{row.reference_source})."
        for row in hypervolumes[hypervolumes["scope"] == "overall"].itertuples()
    )
    return [
        Heading("Hypervolume"),
        Paragraph(
            "The area dominated by the front and bounded by the reference point (exact 2-D computation); "
            "a study compares with another only against the same reference point."
        ),
        Bullets(sentences),
        Table(table, "Hypervolume per value and scope"),
        Image(images["hypervolume"],
              "Hypervolume after each complete trial, in creation order"),
    ]


def _tradeoff_blocks(tradeoff: TradeOff, budget_answers, budget, images) -> list[Block]:
    fits = tuple(
        f"{group_label(bool(row.shared), bool(row.user_bias))}, {METRIC_NAMES[row.metric]}: {row.note} "
        f"({row.n_points} trials, {row.n_distinct} distinct weights)."
        for row in tradeoff.fits.itertuples()
    )
    knees = []
    for row in tradeoff.knees.itertuples():
        if pd.notna(row.x):
            knees.append(
                f"{row.variant}: knee at {weight_phrase(tradeoff.x_name, row.x)}, fitted test MSE "
                f"{format_cell(row.test_mse)}, test MRR {format_cell(row.test_mrr)} "
                f"(distance to the chord {row.distance:.3g})."
            )
        else:
            knees.append(f"{row.variant}: no knee; {row.reason}.")
    blocks: list[Block] = [
        Heading("Trade-off between rating and ranking"),
        Paragraph(
            f"Each objective ({tradeoff.value} values) is fitted per model variant against {_X_TEXT[tradeoff.x_name]}; "
            "the two fits evaluated on one grid trace the MRR-against-MSE curve."
        ),
        Bullets(fits + tuple(tradeoff.notes)),
        Image(images["response"],
              "Test MSE and test MRR against the loss weight, fitted curves with confidence bands"),
        Image(images["tradeoff"],
              "Trade-off traced by the fitted curves, with knee and budget answer"),
        Heading("Knee", 3),
        Paragraph(f"Method: {KNEE_METHOD}."),
        Bullets(tuple(knees)),
        Heading("Best weight under an MSE budget", 3),
    ]
    if budget is None:
        blocks.append(Paragraph("No MSE budget was given."))
    else:
        blocks.append(Bullets(tuple(_budget_sentence(tradeoff, answer) for answer in budget_answers)))
    return blocks


def _budget_sentence(tradeoff: TradeOff, answer: BudgetAnswer) -> str:
    variant = group_label(answer.shared, answer.user_bias)
    if answer.x is None:
        return f"{variant}: none; {answer.reason}."
    return (
        f"{variant}: with fitted {tradeoff.value} test MSE ≤ {format_cell(answer.mse_budget)}, "
        f"the highest fitted test MRR is {format_cell(answer.test_mrr)} at {weight_phrase(tradeoff.x_name, answer.x)} "
        f"(fitted test MSE {format_cell(answer.test_mse)})."
    )


def _epoch_blocks(epoch_summary: pd.DataFrame, front: pd.DataFrame, objective: str, images) -> list[Block]:
    blocks: list[Block] = [Heading("Epochs: best against final")]
    if "epochs" in images:
        blocks.append(Image(images["epochs"],
                            f"Test MSE and test MRR per epoch of the {objective}-value Pareto trials"))
    if epoch_summary.empty:
        blocks.append(Paragraph("No epoch data."))
        return blocks
    shown = epoch_summary[
        epoch_summary["trial_id"].isin(front["trial_id"]) & epoch_summary["metric"].isin(["test_mse", "test_mrr"])
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
    blocks.append(Table(table.reset_index(drop=True), "Best epoch against final epoch, trials on the front "
                        "(all trials and metrics: epochs_best_vs_final.csv)"))
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
    blocks: list[Block] = [
        Heading("The original questions"),
        Paragraph(
            "Answered from the complete trials (runs without a user bias unless the question is about it): "
            "mean ± standard deviation over seeds, Welch t-test where both sides have at least two runs."
        ),
    ]
    for number, answer in enumerate(answers.questions, start=1):
        blocks += [Heading(f"Q{number}. {answer.question}", 3), Bullets(answer.sentences)]
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
        Heading("Published values against this study", 3),
        Bullets(answers.published_sentences or ("No published value could be compared.",)),
        Table(published, "Published final value against our mean final value (runs without a user bias)"),
    ]
    return blocks


def _blocks(
    complete, pareto, hypervolumes, tradeoff, budget_answers, budget, answers, epoch_summary, front, images,
    context, notes,
) -> list[Block]:
    objective = context["objective"]
    states = ", ".join(f"{count} {state}" for state, count in context["states"].items())
    variants = ", ".join(
        f"{len(group)} {group_label(bool(shared), bool(bias))}"
        for (shared, bias), group in complete.groupby(["shared", "user_bias"])
    )
    blocks: list[Block] = [
        Paragraph(
            f"{sum(context['states'].values())} trials ({states}); the analysis uses the {len(complete)} "
            + ("complete or stopped ones, stopped ones at their last epoch" if context["include_stopped"] else "complete ones")
            + f" ({variants}). Trade-off, knee, budget and epoch figure use the {objective} values."
        ),
        *_pareto_blocks(pareto, front, objective, images),
        *(_stopping_blocks(context["stopping"], images) if context["stopping"] is not None else ()),
        *_hypervolume_blocks(hypervolumes, images),
        *_tradeoff_blocks(tradeoff, budget_answers, budget, images),
        *_epoch_blocks(epoch_summary, front, objective, images),
        *_question_blocks(answers),
    ]
    if notes:
        blocks += [Heading("Notes"), Bullets(tuple(notes))]
    return blocks
