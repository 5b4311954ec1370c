"""``summary.json``: the report's numbers for scripts."""

from __future__ import annotations

import json
from pathlib import Path

from mtlstudy._json import jsonable
from mtlstudy.analysis._frame import json_records
from mtlstudy.analysis._tradeoff import KNEE_METHOD
from mtlstudy.analysis.report._content import ReportContent

__all__ = ["report_summary", "is_report", "GENERATOR"]

#: Marks a folder as a report, which a later call may replace.
GENERATOR = "mtlstudy.analysis.write_report"


def report_summary(content: ReportContent) -> dict:
    """The contents of ``summary.json``, JSON-ready; each result as its ``to_dict()``."""
    stopping, calibration = content.stopping, content.calibration
    return {
        "generator": GENERATOR,
        "title": content.title,
        "provenance": jsonable(content.provenance),
        "value": content.value,
        "counts": {
            "trials_by_state": content.states,
            "trials_by_role": content.roles,
            "diverged": content.diverged,
            "complete": len(content.complete),
            "complete_by_variant": content.variant_counts,
            "pareto_front_size": content.front_sizes,
        },
        **({} if stopping is None else {"early_stopping": stopping.to_dict()}),
        "hypervolume": json_records(content.hypervolumes),
        "tradeoff": content.tradeoff.to_dict(),
        "knee": {"method": KNEE_METHOD, "per_variant": json_records(content.tradeoff.knees)},
        **({} if calibration is None else {"calibration": calibration.to_dict()}),
        "mse_budget": {
            "budget": content.mse_budget,
            "answers": [answer.to_dict() for answer in content.budget_answers],
        },
        "figures": list(content.images.values()),
        "interactive": content.interactive,
        "notes": list(content.notes),
    }


def is_report(folder: Path) -> bool:
    """Whether ``folder`` holds a report (its ``summary.json`` names :data:`GENERATOR`)."""
    try:
        return json.loads((folder / "summary.json").read_text(encoding="utf-8")).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False
