"""Analysis of a study: Pareto fronts, hypervolume, trade-off curves, epochs, the
original questions, early stopping, and a self-contained report of all of them.

Every function takes the study export (see ``mtlstudy.study``):

``trials``
    One row per trial: ``trial_id, number, state``, optionally ``role`` and
    ``replicate_of`` (see below), the parameters ``shared,
    lambda_f, lambda_r, user_bias, seed, epochs``, for each metric ``m`` of
    :data:`mtlstudy._schema.EPOCH_METRICS` the columns ``final_<m>``, ``best_<m>``
    and ``best_<m>_epoch``, and ``duration_s``. Only ``COMPLETE`` rows are analysed.
    Under early stopping, a stopped trial is ``PRUNED`` and two columns follow
    ``epochs`` (what it trains unless stopped): ``stopped_epoch`` (<NA> unless stopped) and
    ``epochs_trained``.
``epochs``
    One row per trial and epoch: ``trial_id, number``, the parameters, ``epoch``
    (1-based), one column per metric, ``epoch_time_s``.
``rungs``
    Under early stopping only: one row per trial and rung it reached, see
    :func:`early_stopping_summary`.

A trial's ``role`` is ``"search"`` (sampled by the study; every trial of an export
without the column), ``"replicate"`` (a retrain of trial ``replicate_of`` with a new
seed: ordinary data, whose spread measures the noise) or ``"calibration"`` (a fresh
trial that only checks the trade-off bands, see :func:`calibration_coverage`).
Calibration trials never enter a fit, front, hypervolume, question or epoch figure.

The objectives are test MSE (minimised) and test MRR (maximised), read either at
the last epoch (``"final"``) or at each metric's best epoch (``"best"``).
"""

from __future__ import annotations

from mtlstudy.analysis._calibration import COVERAGE_CONFIDENCE, CalibrationCoverage, calibration_coverage
from mtlstudy.analysis._epochs import best_vs_final, epoch_view
from mtlstudy.analysis._hypervolume import (
    check_reference,
    hypervolume_2d,
    hypervolume_history,
    hypervolume_table,
    reference_point,
)
from mtlstudy.analysis._pareto import pareto_front, pareto_mask, pareto_table
from mtlstudy.analysis._questions import (
    OriginalAnswers,
    QuestionAnswer,
    answer_original_questions,
    compare_published,
    format_published_comparison,
    load_published,
)
from mtlstudy.analysis._replay import REPLAY_MEASURES, ReplayOutcome, StoppingReplay, replay_summary
from mtlstudy.analysis._stopping import EarlyStopping, early_stopping_summary
from mtlstudy.analysis._tradeoff import (
    KNEE_METHOD,
    BudgetAnswer,
    Knee,
    SmoothCurve,
    TRADEOFF_COLUMNS,
    TradeOff,
    best_under_budget,
    find_knee,
    fit_tradeoff,
    smooth_curve,
)
from mtlstudy.analysis.report import (
    FORMATS,
    ReportContent,
    check_figure_path,
    draw_replay,
    report_content,
    save_replay_figure,
    write_report,
)

__all__ = [
    # Pareto sets
    "pareto_mask",
    "pareto_front",
    "pareto_table",
    # hypervolume
    "check_reference",
    "hypervolume_2d",
    "reference_point",
    "hypervolume_table",
    "hypervolume_history",
    # trade-off curves
    "SmoothCurve",
    "smooth_curve",
    "TradeOff",
    "TRADEOFF_COLUMNS",
    "fit_tradeoff",
    "Knee",
    "KNEE_METHOD",
    "find_knee",
    "BudgetAnswer",
    "best_under_budget",
    # checking the trade-off bands against fresh trials
    "CalibrationCoverage",
    "COVERAGE_CONFIDENCE",
    "calibration_coverage",
    # epochs
    "epoch_view",
    "best_vs_final",
    # the original questions
    "QuestionAnswer",
    "OriginalAnswers",
    "load_published",
    "answer_original_questions",
    "compare_published",
    "format_published_comparison",
    # early stopping
    "EarlyStopping",
    "early_stopping_summary",
    # replayed early stopping
    "REPLAY_MEASURES",
    "ReplayOutcome",
    "StoppingReplay",
    "replay_summary",
    "check_figure_path",
    "draw_replay",
    "save_replay_figure",
    # report
    "FORMATS",
    "ReportContent",
    "report_content",
    "write_report",
]
