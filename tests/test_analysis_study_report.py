"""`mtlstudy report` on a real (tiny) study: provenance, figure formats, questions on request."""

from __future__ import annotations

import json

import pytest
import ray
from click.testing import CliRunner

from mtlstudy.cli import main
from mtlstudy.study import resolve_spec, run_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("studies")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        spec = resolve_spec(
            name="tiny", trials=4, epochs=2, dataset="synthetic", embedding_dim=8, seed=3,
            dataset_options={"num_users": 40, "num_items": 50}, dir=str(root),
        )
        assert run_study(spec, echo=lambda line: None) == {"COMPLETE": 4}
    finally:
        ray.shutdown()
    return root


def test_report_states_how_the_study_was_made(study_dir):
    result = CliRunner().invoke(main, ["report", "tiny", "--dir", str(study_dir), "--figure-format", "png,svg"])
    assert result.exit_code == 0, result.output
    report = study_dir / "tiny" / "report"
    provenance = json.loads((report / "summary.json").read_text())["provenance"]
    assert provenance["space"] == "simplex" and provenance["sampler"] == "tpe" and provenance["seeds"] == [3]
    assert provenance["epochs per trial"] == 2 and provenance["trial-epochs spent"] == 8
    assert provenance["spec"]["name"] == "tiny"
    assert set(provenance["versions"]) >= {"mtlstudy", "optuna", "ray", "torch"}
    assert provenance["data sha256"].startswith("none: generated")
    assert provenance["started"] <= provenance["finished"] and provenance["wall time"] != "–"
    assert (report / "figures" / "pareto.svg").is_file() and not (report / "figures" / "pareto.pdf").exists()
    page = (report / "report.md").read_text(encoding="utf-8")
    assert "How this study was made" in page and "original questions" not in page


def test_questions_on_request_and_a_bad_figure_format_is_one_line(study_dir):
    asked = CliRunner().invoke(main, ["report", "tiny", "--dir", str(study_dir), "--questions", "-o",
                                      str(study_dir / "with-questions")])
    assert asked.exit_code == 0, asked.output
    assert "The original questions" in (study_dir / "with-questions" / "report.md").read_text(encoding="utf-8")
    bad = CliRunner().invoke(main, ["report", "tiny", "--dir", str(study_dir), "--figure-format", "png,tiff",
                                    "-o", str(study_dir / "bad")])
    assert bad.exit_code == 2 and "'tiff'" in bad.output and len(bad.output.strip().splitlines()) == 1
    assert not (study_dir / "bad").exists()
