"""The report of a study: its content computed once (:func:`report_content`), then its
figures drawn, tables, ``summary.json`` and pages written into one folder
(:func:`write_report`)."""

from __future__ import annotations

from mtlstudy.analysis.report._content import INTERACTIVE_PAGE, ReportContent, report_content
from mtlstudy.analysis.report._draw import FIGURE_FORMATS, check_figure_path, draw_replay, save_replay_figure
from mtlstudy.analysis.report._plots import ReportFigures
from mtlstudy.analysis.report._summary import GENERATOR, report_summary
from mtlstudy.analysis.report._write import FORMATS, write_report

__all__ = [
    "ReportContent",
    "ReportFigures",
    "report_content",
    "report_summary",
    "write_report",
    "FORMATS",
    "FIGURE_FORMATS",
    "check_figure_path",
    "draw_replay",
    "save_replay_figure",
    "INTERACTIVE_PAGE",
    "GENERATOR",
]
