"""``write_report``: every analysis of a study as figures, CSV tables, JSON and one page."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtlstudy._errors import ConfigError, StudyError
from mtlstudy._json import jsonable
from mtlstudy.analysis import _texts as texts
from mtlstudy.analysis._document import (
    Block,
    Bullets,
    Heading,
    Image,
    Link,
    Paragraph,
    Table,
    format_cell,
    render_html,
    render_markdown,
)
from mtlstudy.analysis._calibration import COVERAGE_CONFIDENCE, CalibrationCoverage, calibration_coverage
from mtlstudy.analysis._epochs import best_vs_final
from mtlstudy.analysis._frame import (
    CALIBRATION,
    METRIC_NAMES,
    REPLICATE,
    VALUES,
    calibration_ids,
    calibration_trials,
    check_value,
    complete_trials,
    diverged_count,
    group_label,
    objective_columns,
    role_counts,
    state_counts,
)
from mtlstudy.analysis._hypervolume import check_reference, hypervolume_history, hypervolume_table, reference_point
from mtlstudy.analysis._pareto import pareto_table
from mtlstudy.analysis._plots import (
    FIGURE_FORMATS,
    HypervolumePlot,
    calibration_plot_data,
    draw_calibration,
    draw_epochs,
    draw_hypervolume,
    draw_interactive,
    draw_pareto,
    draw_response,
    draw_stopping,
    draw_tradeoff,
    epoch_plot_data,
    pareto_panels,
    save_figure,
    tradeoff_plot_data,
)
from mtlstudy.analysis._questions import OriginalAnswers, answer_original_questions
from mtlstudy.analysis._stopping import EarlyStopping, early_stopping_summary
from mtlstudy.analysis._tradeoff import (
    KNEE_METHOD,
    TRADEOFF_COLUMNS,
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

#: The plotly page, written with ``interactive=True``.
INTERACTIVE_PAGE = "interactive.html"

#: Marks a folder as a report, which a later call may replace.
GENERATOR = "mtlstudy.analysis.write_report"

_X_TEXT = {
    "logit_lambda_f": "logit(λ_F) (with λ_R = 1 − λ_F), the scale the simplex space samples",
    "lambda_f": "λ_F (with λ_R = 1 − λ_F)",
    "log_ratio": "log10(λ_F / λ_R), the scale the independent space samples",
}


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
    questions: bool = False,
    figure_formats: Sequence[str] = ("png",),
    provenance: Mapping[str, object] | None = None,
) -> Path:
    """Write a self-contained report of a study into ``out_dir``.

    The folder receives ``index.html`` (figures embedded, readable offline) and/or
    ``report.md``, the figures under ``figures/`` (PNG, and the other
    ``figure_formats``), the tables behind them as CSV (``pareto.csv``,
    ``tradeoff.csv``, ``hypervolume.csv``, ``hypervolume_history.csv``,
    ``epochs_best_vs_final.csv``; with ``questions`` also ``questions.csv`` and
    ``published_vs_ours.csv``) and ``summary.json``. A study that stopped trials
    early also gets an "Early stopping" section, ``figures/early_stopping.png``,
    ``stopping_compute.csv``, ``stopping_rungs.csv``, ``stopping_front.csv`` and
    the key ``early_stopping`` in ``summary.json``. A study with complete
    calibration trials (role ``"calibration"``, which no fit, front or table uses)
    gets a "Calibration" section: the share of them inside the trade-off fit's 95%
    prediction band (:func:`~mtlstudy.analysis.calibration_coverage`),
    ``figures/calibration.png``, ``calibration.csv``, ``calibration_points.csv`` and
    the key ``calibration`` in ``summary.json``. Everything is written to a
    temporary sibling folder first and moved into place at the end, so a failure
    leaves ``out_dir`` as it was.

    Parameters
    ----------
    trials, epochs : pandas.DataFrame
        The study export: one row per trial, and one row per trial and epoch
        (those of calibration trials are left out of the epoch figure and table).
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
    questions : bool
        Add the original write-up's four questions and the published comparison
        (meant for reproduction studies, which train its settings).
    figure_formats : sequence of {"png", "svg", "pdf"}
        Formats of each figure; PNG is always written (the HTML page embeds it).
    provenance : mapping of str to object, optional
        How the study was made (command or spec, sampler, data, versions, dates,
        compute...): shown first, as a table in the given order, and written to
        ``summary.json`` under ``provenance``.

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
    figure_formats = _check_figure_formats(figure_formats)
    check_value(objective)
    budget = None if mse_budget is None else check_budget(mse_budget)
    reference = None if reference_point is None else check_reference(reference_point)
    if not isinstance(title, str) or not title.strip():
        raise ConfigError(f"title must be a non-empty string; got {title!r}")
    if not isinstance(epochs, pd.DataFrame):
        raise StudyError(f"epochs must be a pandas DataFrame; got {type(epochs).__name__}")
    analysed = trials.assign(state=trials["state"].replace("PRUNED", "COMPLETE")) if include_stopped else trials
    complete = complete_trials(analysed)
    calibration = None if calibration_trials(analysed).empty else calibration_coverage(analysed, value=objective)
    epochs = epochs[~epochs["trial_id"].astype(str).isin(calibration_ids(trials))]
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
            "roles": role_counts(trials),
            "calibration": calibration,
            "diverged": diverged_count(trials),
            "stopping": stopping,
            "include_stopped": include_stopped,
            "questions": bool(questions),
            "figure_formats": figure_formats,
            "provenance": dict(provenance or {}),
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


def _check_figure_formats(figure_formats: Sequence[str]) -> tuple[str, ...]:
    chosen = (figure_formats,) if isinstance(figure_formats, str) else tuple(figure_formats)
    unknown = [item for item in chosen if item not in FIGURE_FORMATS]
    if unknown:
        raise ConfigError(f"unknown figure format {unknown[0]!r}; choose from {', '.join(FIGURE_FORMATS)}")
    return tuple(dict.fromkeys(("png", *chosen)))


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


@dataclass(frozen=True)
class ReportContent:
    """Everything a report shows, computed before any page text is written.

    Attributes
    ----------
    title : str
    objective : {"final", "best"}
        The reading of the metrics that the trade-off, knee, budget and epoch figure use.
    states : dict of str to int
        Trials per state, all of them.
    roles : dict of str to int
        Trials per role, all of them (``{"search": n}`` for an export without roles).
    diverged : int
        Trials that failed because their model diverged (on no front).
    include_stopped : bool
        Whether stopped trials were analysed at their last epoch.
    complete : pandas.DataFrame
        The analysed trials.
    pareto, front : pandas.DataFrame
        Every front (:func:`pareto_table`) and the overall ``objective`` front.
    hypervolumes : pandas.DataFrame
    tradeoff : TradeOff
    mse_budget : float or None
    budget_answers : tuple of BudgetAnswer
    answers : OriginalAnswers or None
        The original questions, None unless asked for.
    epoch_summary : pandas.DataFrame
        :func:`best_vs_final` of the epochs table (empty without epochs).
    stopping : EarlyStopping or None
    calibration : CalibrationCoverage or None
        The fresh trials checked against the trade-off's prediction bands, if any.
    images : dict of str to str
        Figure name to its PNG's path relative to the report folder.
    interactive : str or None
        Path of the interactive page, when one was written.
    provenance : dict of str to object
        How the study was made, label to value (empty when not given).
    notes : tuple of str
    """

    title: str
    objective: str
    states: dict[str, int]
    roles: dict[str, int]
    diverged: int
    include_stopped: bool
    complete: pd.DataFrame
    pareto: pd.DataFrame
    front: pd.DataFrame
    hypervolumes: pd.DataFrame
    tradeoff: TradeOff
    mse_budget: float | None
    budget_answers: tuple[BudgetAnswer, ...]
    answers: OriginalAnswers | None
    epoch_summary: pd.DataFrame
    stopping: EarlyStopping | None
    calibration: CalibrationCoverage | None
    images: dict[str, str]
    interactive: str | None
    provenance: dict[str, object]
    notes: tuple[str, ...]


def _write_contents(
    folder: Path,
    complete: pd.DataFrame,
    epochs: pd.DataFrame,
    formats: tuple[str, ...],
    interactive: bool,
    context: dict,
) -> None:
    objective, budget, reference = context["objective"], context["mse_budget"], context["reference"]
    stopping, calibration = context["stopping"], context["calibration"]
    figures = folder / "figures"
    figures.mkdir()
    notes: list[str] = []

    pareto = pareto_table(complete)
    hypervolumes = hypervolume_table(complete, reference=reference)
    histories = {value: hypervolume_history(complete, value, reference) for value in VALUES}
    references = {value: reference or reference_point(complete, value) for value in VALUES}
    tradeoff = fit_tradeoff(complete, value=objective)
    budget_answers = best_under_budget(tradeoff, budget) if budget is not None else ()
    answers = answer_original_questions(complete) if context["questions"] else None
    notes += tradeoff.notes
    non_finite = int((~np.isfinite(complete[list(objective_columns(objective))]).all(axis=1)).sum())
    if non_finite:
        notes.append(f"{non_finite} complete trial(s) with a non-finite {objective} test MSE or MRR are on no front")
    if context["diverged"]:
        notes.append(f"{context['diverged']} trial(s) diverged (non-finite losses or scores): failed, on no front")

    def save(figure, name: str) -> Path:
        return save_figure(figure, figures / f"{name}.png", context["figure_formats"])

    panels = pareto_panels(complete, pareto)
    images = {
        "pareto": save(draw_pareto(panels), "pareto"),
        "response": save(draw_response(tradeoff), "lambda_response"),
        "tradeoff": save(draw_tradeoff(tradeoff_plot_data(tradeoff, budget_answers, budget)), "tradeoff"),
        "hypervolume": save(draw_hypervolume(HypervolumePlot(histories, references)), "hypervolume"),
    }
    if stopping is not None:
        images["stopping"] = save(draw_stopping(stopping), "early_stopping")
    if calibration is not None:
        images["calibration"] = save(draw_calibration(calibration_plot_data(tradeoff, calibration)), "calibration")
    front = pareto[(pareto["value"] == objective) & (pareto["scope"] == "overall")]
    epoch_summary = pd.DataFrame()
    if len(epochs):
        epoch_summary = best_vs_final(epochs)
        plot = epoch_plot_data(epochs, front, objective)
        if plot.labels:
            images["epochs"] = save(draw_epochs(plot), "epochs_pareto")
        else:
            notes.append("no epoch rows were found for the Pareto trials; no epoch figure")
    else:
        notes.append("the epochs table is empty; no epoch figure")
    interactive_page = None
    if interactive:
        if draw_interactive(panels, folder / INTERACTIVE_PAGE, context["title"]):
            interactive_page = INTERACTIVE_PAGE
        else:
            notes.append("interactive=True, but plotly is not installed: no interactive.html was written")

    content = ReportContent(
        title=context["title"],
        objective=objective,
        states=context["states"],
        roles=context["roles"],
        diverged=context["diverged"],
        include_stopped=context["include_stopped"],
        complete=complete,
        pareto=pareto,
        front=front,
        hypervolumes=hypervolumes,
        tradeoff=tradeoff,
        mse_budget=budget,
        budget_answers=budget_answers,
        answers=answers,
        epoch_summary=epoch_summary,
        stopping=stopping,
        calibration=calibration,
        images={name: path.relative_to(folder).as_posix() for name, path in images.items()},
        interactive=interactive_page,
        provenance=context["provenance"],
        notes=tuple(notes),
    )
    pareto.to_csv(folder / "pareto.csv", index=False)
    tradeoff.curves[list(TRADEOFF_COLUMNS)].to_csv(folder / "tradeoff.csv", index=False)
    hypervolumes.to_csv(folder / "hypervolume.csv", index=False)
    pd.concat([history.assign(value=value) for value, history in histories.items()]).to_csv(
        folder / "hypervolume_history.csv", index=False
    )
    epoch_summary.to_csv(folder / "epochs_best_vs_final.csv", index=False)
    if answers is not None:
        answers.comparisons.to_csv(folder / "questions.csv", index=False)
        answers.published.to_csv(folder / "published_vs_ours.csv", index=False)
    if stopping is not None:
        stopping.compute.to_csv(folder / "stopping_compute.csv", index=False)
        stopping.rungs.to_csv(folder / "stopping_rungs.csv", index=False)
        stopping.front.to_csv(folder / "stopping_front.csv", index=False)
    if calibration is not None:
        calibration.table.to_csv(folder / "calibration.csv", index=False)
        calibration.points.to_csv(folder / "calibration_points.csv", index=False)
    summary = _summary(content)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    blocks = _blocks(content)
    if "html" in formats:
        (folder / "index.html").write_text(render_html(content.title, blocks, folder), encoding="utf-8")
    if "md" in formats:
        (folder / "report.md").write_text(render_markdown(content.title, blocks), encoding="utf-8")


def _summary(content: ReportContent) -> dict:
    """``summary.json``: the report's numbers for scripts."""
    stopping, tradeoff, calibration = content.stopping, content.tradeoff, content.calibration
    return {
        "generator": GENERATOR,
        "title": content.title,
        "provenance": jsonable(content.provenance),
        "objective": content.objective,
        "counts": {
            "trials_by_state": content.states,
            "trials_by_role": content.roles,
            "diverged": content.diverged,
            "complete": len(content.complete),
            "complete_by_variant": {
                group_label(bool(shared), bool(bias)): len(group)
                for (shared, bias), group in content.complete.groupby(["shared", "user_bias"])
            },
            "pareto_front_size": _front_sizes(content.pareto),
        },
        **({} if stopping is None else {"early_stopping": _stopping_summary(stopping)}),
        "hypervolume": _records(content.hypervolumes),
        "tradeoff": {"x": tradeoff.x_name, "value": content.objective, "fits": _records(tradeoff.fits)},
        "knee": {"method": KNEE_METHOD, "per_variant": _records(tradeoff.knees)},
        **({} if calibration is None else {"calibration": _calibration_summary(calibration)}),
        "mse_budget": {
            "budget": content.mse_budget,
            "answers": [jsonable(vars(answer)) for answer in content.budget_answers],
        },
        "figures": list(content.images.values()),
        "interactive": content.interactive,
        "notes": list(content.notes),
    }


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


def _pareto_blocks(content: ReportContent) -> list[Block]:
    sizes = [
        texts.PARETO_SIZE.format(value=value, size=size, scope=scope)
        for value, by_scope in _front_sizes(content.pareto).items()
        for scope, size in by_scope.items()
        if size
    ]
    return [
        Heading(texts.PARETO_HEADING),
        Paragraph(texts.PARETO_INTRO),
        Bullets(tuple(sizes)),
        Image(content.images["pareto"], texts.PARETO_FIGURE),
        Table(_front_table(content.front, content.objective), texts.PARETO_TABLE.format(objective=content.objective)),
    ]


def _stopping_summary(stopping: EarlyStopping) -> dict:
    return {
        **stopping.totals,
        "by_variant": _records(stopping.compute.iloc[:-1]),
        "rungs": _records(stopping.rungs),
        "front_objective": stopping.objective,
        "front_trials_behind_at_a_rung": list(stopping.behind),
    }


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
                    "full budget": stopping.compute["full_budget_epochs"].map("{:,}".format),
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
        behind=len(stopping.behind), n_front=len(table), objective=stopping.objective
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
            interval=_interval_phrase(row.lambda_f_lower, row.lambda_f_upper, row.knee_share, texts.KNEE_DRAWS),
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
        Paragraph(texts.TRADEOFF_INTRO.format(value=tradeoff.value, x_text=_X_TEXT[tradeoff.x_name])),
        Bullets(fits + tuple(tradeoff.notes)),
        Image(content.images["response"], texts.TRADEOFF_RESPONSE_FIGURE),
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


def _interval_phrase(low: float | None, high: float | None, share: float, draws: str) -> str:
    """``"95% interval λ_F 0.8 to 0.9 (...)"`` of the joint draws, or that none has one."""
    if low is None or pd.isna(low):
        return texts.INTERVAL_NONE.format(share=share, draws=draws)
    return texts.INTERVAL.format(low=format_cell(low), high=format_cell(high), share=share, draws=draws)


def _budget_sentence(tradeoff: TradeOff, answer: BudgetAnswer) -> str:
    variant = group_label(answer.shared, answer.user_bias)
    if answer.x is None:
        return texts.BUDGET_NOT_MET.format(variant=variant, reason=answer.reason)
    return texts.BUDGET_FOUND.format(
        variant=variant,
        interval=_interval_phrase(answer.lambda_f_lower, answer.lambda_f_upper, answer.feasible_share,
                                  texts.BUDGET_DRAWS),
        value=tradeoff.value,
        budget=format_cell(answer.mse_budget),
        test_mrr=format_cell(answer.test_mrr),
        weight=weight_phrase(tradeoff.x_name, answer.x),
        test_mse=format_cell(answer.test_mse),
    )


def _calibration_summary(calibration: CalibrationCoverage) -> dict:
    return {
        "value": calibration.value,
        "x": calibration.x_name,
        "level": calibration.level,
        "confidence": COVERAGE_CONFIDENCE,
        "coverage": _records(calibration.table),
        "notes": list(calibration.notes),
    }


def _calibration_blocks(calibration: CalibrationCoverage, images: dict[str, str]) -> list[Block]:
    table = calibration.table
    shown = pd.DataFrame(
        {
            "variant": table["variant"],
            "metric": table["metric"].map(METRIC_NAMES),
            "fresh trials": table["n_fresh"],
            "inside": table["n_inside"],
            "coverage": table["coverage"].map("{:.0%}".format),
            f"{COVERAGE_CONFIDENCE:.0%} interval": [
                f"{low:.0%} to {high:.0%}" for low, high in zip(table["ci_lower"], table["ci_upper"])
            ],
        }
    )
    n_fresh = calibration.points["trial_id"].nunique()
    return [
        Heading(texts.CALIBRATION_HEADING),
        Paragraph(texts.CALIBRATION_INTRO.format(n_fresh=n_fresh, level=calibration.level,
                                                 confidence=COVERAGE_CONFIDENCE)),
        Table(shown, texts.CALIBRATION_TABLE.format(level=calibration.level)),
        *([Bullets(calibration.notes)] if calibration.notes else ()),
        Image(images["calibration"], texts.CALIBRATION_FIGURE),
    ]


def _epoch_blocks(content: ReportContent) -> list[Block]:
    blocks: list[Block] = [Heading(texts.EPOCHS_HEADING)]
    if "epochs" in content.images:
        blocks.append(Image(content.images["epochs"], texts.EPOCHS_FIGURE.format(objective=content.objective)))
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


def _blocks(content: ReportContent) -> list[Block]:
    states = ", ".join(f"{count} {state}" for state, count in content.states.items())
    variants = ", ".join(
        f"{len(group)} {group_label(bool(shared), bool(bias))}"
        for (shared, bias), group in content.complete.groupby(["shared", "user_bias"])
    )
    overview = texts.OVERVIEW.format(
        n_trials=sum(content.states.values()),
        states=states,
        n_analysed=len(content.complete),
        analysed=texts.ANALYSED_WITH_STOPPED if content.include_stopped else texts.ANALYSED_COMPLETE,
        variants=variants,
        objective=content.objective,
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
