"""What a report shows, computed once from the study export before anything is drawn or written."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtlstudy._checks import check_value
from mtlstudy._errors import ConfigError, StudyError
from mtlstudy.analysis._calibration import CalibrationCoverage, calibration_coverage
from mtlstudy.analysis._epochs import best_vs_final
from mtlstudy.analysis._frame import (
    VALUES,
    calibration_ids,
    calibration_trials,
    complete_trials,
    diverged_count,
    group_label,
    objective_columns,
    role_counts,
    state_counts,
)
from mtlstudy.analysis._hypervolume import check_reference, hypervolume_history, hypervolume_table, reference_point
from mtlstudy.analysis._pareto import pareto_table
from mtlstudy.analysis._questions import OriginalAnswers, answer_original_questions
from mtlstudy.analysis._stopping import EarlyStopping, early_stopping_summary
from mtlstudy.analysis._tradeoff import (
    BAND_LEVEL,
    BudgetAnswer,
    TradeOff,
    best_under_budget,
    check_budget,
    fit_tradeoff,
)
from mtlstudy.analysis.report._plots import (
    EpochPlot,
    HypervolumePlot,
    ReportFigures,
    calibration_plot_data,
    epoch_plot_data,
    pareto_panels,
    tradeoff_plot_data,
)

__all__ = ["ReportContent", "report_content", "INTERACTIVE_PAGE"]

#: The plotly page, written with ``interactive=True``.
INTERACTIVE_PAGE = "interactive.html"


@dataclass(frozen=True)
class ReportContent:
    """Everything a report shows, computed before any figure is drawn or page written.

    Attributes
    ----------
    title : str
    value : {"final", "best"}
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
        Every front (:func:`~mtlstudy.analysis.pareto_table`) and the overall ``value`` front.
    hypervolumes : pandas.DataFrame
    tradeoff : TradeOff
    mse_budget : float or None
    budget_answers : tuple of BudgetAnswer
    answers : OriginalAnswers or None
        The original questions, None unless asked for.
    epoch_summary : pandas.DataFrame
        :func:`~mtlstudy.analysis.best_vs_final` of the epochs table (empty without epochs).
    stopping : EarlyStopping or None
    calibration : CalibrationCoverage or None
        The fresh trials checked against the trade-off's prediction bands, if any.
    figures : ReportFigures
        The data of each figure.
    interactive : str or None
        Path of the interactive page, when the report has one.
    provenance : dict of str to object
        How the study was made, label to value (empty when not given).
    notes : tuple of str
    """

    title: str
    value: str
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
    figures: ReportFigures
    interactive: str | None
    provenance: dict[str, object]
    notes: tuple[str, ...]

    @property
    def images(self) -> dict[str, str]:
        """Figure name to the path of its PNG relative to the report folder (see :meth:`ReportFigures.images`)."""
        return self.figures.images()

    @property
    def front_sizes(self) -> dict[str, dict[str, int]]:
        """``{value: {scope: trials on that front}}``, every value and scope."""
        counts = self.pareto.groupby(["value", "scope"]).size()
        return {
            value: {scope: int(counts.get((value, scope), 0)) for scope in ("overall", "shared", "separate")}
            for value in VALUES
        }

    @property
    def variant_counts(self) -> dict[str, int]:
        """Analysed trials per model variant, by its label."""
        return {
            group_label(bool(shared), bool(bias)): len(group)
            for (shared, bias), group in self.complete.groupby(["shared", "user_bias"])
        }


def report_content(
    trials: pd.DataFrame,
    epochs: pd.DataFrame,
    *,
    title: str,
    value: str = "final",
    mse_budget: float | None = None,
    reference_point: tuple[float, float] | None = None,
    level: float = BAND_LEVEL,
    interactive: bool = False,
    rungs: pd.DataFrame | None = None,
    include_stopped: bool = False,
    questions: bool = False,
    provenance: Mapping[str, object] | None = None,
) -> ReportContent:
    """Compute what the report of a study shows, drawing and writing nothing.

    The parameters are those of :func:`~mtlstudy.analysis.write_report`;
    ``interactive`` asks for the interactive page, which the report has only where
    plotly is installed (a note says so otherwise).

    Returns
    -------
    ReportContent

    Raises
    ------
    ConfigError
        For an invalid argument.
    StudyError
        For a trials table without complete trials or required columns, or an
        invalid rungs table.
    """
    check_value(value)
    budget = None if mse_budget is None else check_budget(mse_budget)
    reference = None if reference_point is None else check_reference(reference_point)
    if not isinstance(title, str) or not title.strip():
        raise ConfigError(f"title must be a non-empty string; got {title!r}")
    if not isinstance(epochs, pd.DataFrame):
        raise StudyError(f"epochs must be a pandas DataFrame; got {type(epochs).__name__}")
    analysed = trials.assign(state=trials["state"].replace("PRUNED", "COMPLETE")) if include_stopped else trials
    complete = complete_trials(analysed)
    stopping = early_stopping_summary(trials, rungs, value)
    pareto = pareto_table(complete)
    front = pareto[(pareto["value"] == value) & (pareto["scope"] == "overall")]
    tradeoff = fit_tradeoff(complete, value=value, level=level)
    calibration = (
        None if calibration_trials(analysed).empty
        else calibration_coverage(analysed, value=value, level=tradeoff.level)
    )
    budget_answers = best_under_budget(tradeoff, budget) if budget is not None else ()
    epochs = epochs[~epochs["trial_id"].astype(str).isin(calibration_ids(trials))]
    epoch_plot = epoch_plot_data(epochs, front, value) if len(epochs) else None
    diverged = diverged_count(trials)
    interactive_page = INTERACTIVE_PAGE if interactive and _plotly_installed() else None
    notes = _notes(complete, value, tradeoff, diverged, epoch_plot, interactive and interactive_page is None)
    panels = pareto_panels(complete, pareto)
    figures = ReportFigures(
        pareto=panels,
        response=tradeoff,
        tradeoff=tradeoff_plot_data(tradeoff, budget_answers, budget),
        hypervolume=_hypervolume_plot(complete, reference),
        stopping=stopping,
        calibration=None if calibration is None else calibration_plot_data(tradeoff, calibration),
        epochs=epoch_plot if epoch_plot is not None and epoch_plot.labels else None,
    )
    return ReportContent(
        title=title,
        value=value,
        states=state_counts(trials),
        roles=role_counts(trials),
        diverged=diverged,
        include_stopped=include_stopped,
        complete=complete,
        pareto=pareto,
        front=front,
        hypervolumes=hypervolume_table(complete, reference=reference),
        tradeoff=tradeoff,
        mse_budget=budget,
        budget_answers=budget_answers,
        answers=answer_original_questions(complete) if questions else None,
        epoch_summary=best_vs_final(epochs) if len(epochs) else pd.DataFrame(),
        stopping=stopping,
        calibration=calibration,
        figures=figures,
        interactive=interactive_page,
        provenance=dict(provenance or {}),
        notes=notes,
    )


def _hypervolume_plot(complete: pd.DataFrame, reference: tuple[float, float] | None) -> HypervolumePlot:
    return HypervolumePlot(
        {value: hypervolume_history(complete, value, reference) for value in VALUES},
        {value: reference or reference_point(complete, value) for value in VALUES},
    )


def _notes(
    complete: pd.DataFrame,
    value: str,
    tradeoff: TradeOff,
    diverged: int,
    epoch_plot: EpochPlot | None,
    no_plotly: bool,
) -> tuple[str, ...]:
    """What the report leaves out, and why."""
    notes = list(tradeoff.notes)
    non_finite = int((~np.isfinite(complete[list(objective_columns(value))]).all(axis=1)).sum())
    if non_finite:
        notes.append(f"{non_finite} complete trial(s) with a non-finite {value} test MSE or MRR are on no front")
    if diverged:
        notes.append(f"{diverged} trial(s) diverged (non-finite losses or scores): failed, on no front")
    if epoch_plot is None:
        notes.append("the epochs table is empty; no epoch figure")
    elif not epoch_plot.labels:
        notes.append("no epoch rows were found for the Pareto trials; no epoch figure")
    if no_plotly:
        notes.append("interactive=True, but plotly is not installed: no interactive.html was written")
    return tuple(notes)


def _plotly_installed() -> bool:
    try:
        importlib.import_module("plotly")
    except ImportError:
        return False
    return True
