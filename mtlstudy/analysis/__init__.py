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

from mtlstudy._lazy import lazy_exports

#: Public name -> the module that defines it, imported when the name is first read (see :mod:`mtlstudy._lazy`).
_EXPORTS = {
    "COVERAGE_CONFIDENCE": "._calibration",
    "CalibrationCoverage": "._calibration",
    "calibration_coverage": "._calibration",
    "best_vs_final": "._epochs",
    "epoch_view": "._epochs",
    "check_reference": "._hypervolume",
    "hypervolume_2d": "._hypervolume",
    "hypervolume_history": "._hypervolume",
    "hypervolume_table": "._hypervolume",
    "reference_point": "._hypervolume",
    "pareto_front": "._pareto",
    "pareto_mask": "._pareto",
    "pareto_table": "._pareto",
    "OriginalAnswers": "._questions",
    "QuestionAnswer": "._questions",
    "answer_original_questions": "._questions",
    "compare_published": "._questions",
    "format_published_comparison": "._questions",
    "load_published": "._questions",
    "REPLAY_MEASURES": "._replay",
    "ReplayOutcome": "._replay",
    "StoppingReplay": "._replay",
    "replay_summary": "._replay",
    "EarlyStopping": "._stopping",
    "early_stopping_summary": "._stopping",
    "KNEE_METHOD": "._tradeoff",
    "BudgetAnswer": "._tradeoff",
    "Knee": "._tradeoff",
    "SmoothCurve": "._tradeoff",
    "TRADEOFF_COLUMNS": "._tradeoff",
    "TradeOff": "._tradeoff",
    "best_under_budget": "._tradeoff",
    "find_knee": "._tradeoff",
    "fit_tradeoff": "._tradeoff",
    "smooth_curve": "._tradeoff",
    "FORMATS": ".report",
    "ReportContent": ".report",
    "check_figure_path": ".report",
    "draw_replay": ".report",
    "report_content": ".report",
    "save_replay_figure": ".report",
    "write_report": ".report",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
