"""``write_report``: a report's content drawn and written into a folder that changes whole or not at all."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mtlstudy._errors import ConfigError
from mtlstudy._files import atomic_path
from mtlstudy.analysis._tradeoff import BAND_LEVEL, TRADEOFF_COLUMNS
from mtlstudy.analysis.report._content import ReportContent, report_content
from mtlstudy.analysis.report._document import render_html, render_markdown
from mtlstudy.analysis.report._draw import DRAW, FIGURE_FORMATS, draw_interactive, save_figure
from mtlstudy.analysis.report._sections import report_blocks
from mtlstudy.analysis.report._summary import is_report, report_summary

__all__ = ["write_report", "FORMATS"]

#: Output formats of the readable page.
FORMATS: tuple[str, ...] = ("html", "md")


def write_report(
    trials: pd.DataFrame,
    epochs: pd.DataFrame,
    out_dir: str | Path,
    *,
    title: str,
    formats: Sequence[str] = FORMATS,
    value: str = "final",
    mse_budget: float | None = None,
    reference_point: tuple[float, float] | None = None,
    level: float = BAND_LEVEL,
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
    gets a "Calibration" section: the share of them inside the trade-off fit's
    prediction band at its level (:func:`~mtlstudy.analysis.calibration_coverage`),
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
    value : {"final", "best"}
        Which reading of the metrics the trade-off fit, the knee, the budget
        answer and the epoch figure use (Pareto fronts and hypervolumes are given
        for both).
    mse_budget : float, optional
        Report the λ_F maximising fitted MRR subject to fitted MSE <= budget.
    reference_point : (float, float), optional
        (test MSE, test MRR) bound of the hypervolume; by default the worst
        values among the complete trials, stated in the report.
    level : float
        Coverage of the trade-off's bands, in (0, 1): the share of the joint draws
        the knee and budget intervals span, and the band the calibration trials are
        checked against.
    interactive : bool
        Also write ``interactive.html`` (plotly, embedded) if plotly is installed.
    rungs : pandas.DataFrame, optional
        The study's rung records under early stopping (see
        :func:`~mtlstudy.analysis.early_stopping_summary`). Without them, a study
        with stopped (``PRUNED``) trials still gets its compute table.
    include_stopped : bool
        Analyse stopped trials too, at the last epoch they trained. By default the
        fronts, hypervolumes and fits use only trials that trained every epoch.
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
    target = Path(out_dir)
    _check_target(target)
    content = report_content(
        trials,
        epochs,
        title=title,
        value=value,
        mse_budget=mse_budget,
        reference_point=reference_point,
        level=level,
        interactive=interactive,
        rungs=rungs,
        include_stopped=include_stopped,
        questions=questions,
        provenance=provenance,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as staging:
        staging.mkdir()
        _write_files(staging, content, formats, figure_formats)
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


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ConfigError(f"out_dir {str(target)!r} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not is_report(target):
        raise ConfigError(
            f"out_dir {str(target)!r} is not empty and holds no earlier report; refusing to overwrite it"
        )


def _write_files(folder: Path, content: ReportContent, formats: tuple[str, ...], figure_formats: tuple[str, ...]) -> None:
    """Every file of the report into ``folder``: figures, tables, ``summary.json``, pages."""
    (folder / "figures").mkdir()
    for name, data in content.figures.present().items():
        save_figure(DRAW[name](data), folder / content.images[name], figure_formats)
    if content.interactive is not None:
        draw_interactive(content.figures.pareto, folder / content.interactive, content.title)
    for name, table in _tables(content).items():
        table.to_csv(folder / name, index=False)
    summary = json.dumps(report_summary(content), indent=2, ensure_ascii=False)
    (folder / "summary.json").write_text(summary, encoding="utf-8")
    blocks = report_blocks(content)
    if "html" in formats:
        (folder / "index.html").write_text(render_html(content.title, blocks, folder), encoding="utf-8")
    if "md" in formats:
        (folder / "report.md").write_text(render_markdown(content.title, blocks), encoding="utf-8")


def _tables(content: ReportContent) -> dict[str, pd.DataFrame]:
    """The CSV files of the report, by file name."""
    histories = content.figures.hypervolume.histories
    tables = {
        "pareto.csv": content.pareto,
        "tradeoff.csv": content.tradeoff.curves[list(TRADEOFF_COLUMNS)],
        "hypervolume.csv": content.hypervolumes,
        "hypervolume_history.csv": pd.concat([history.assign(value=value) for value, history in histories.items()]),
        "epochs_best_vs_final.csv": content.epoch_summary,
    }
    if content.answers is not None:
        tables |= {"questions.csv": content.answers.comparisons, "published_vs_ours.csv": content.answers.published}
    if content.stopping is not None:
        stopping = content.stopping
        tables |= {
            "stopping_compute.csv": stopping.compute,
            "stopping_rungs.csv": stopping.rungs,
            "stopping_front.csv": stopping.front,
        }
    if content.calibration is not None:
        tables |= {"calibration.csv": content.calibration.table, "calibration_points.csv": content.calibration.points}
    return tables
