"""write_report end to end, its argument checks, escaping and atomicity; the figures' data."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pandas as pd
import pytest

from _analysis_fixtures import make_export
from mtlstudy import ConfigError, StudyError
from mtlstudy.analysis import TRADEOFF_COLUMNS, fit_tradeoff, pareto_table, write_report
from mtlstudy.analysis.report import report_content, report_summary
from mtlstudy.analysis.report._plots import epoch_plot_data, pareto_panels, tradeoff_plot_data
from mtlstudy.analysis.report._sections import report_blocks

EVIL = '<script>alert("x")</script>'
FIGURES = ["epochs_pareto.png", "hypervolume.png", "lambda_response.png", "pareto.png", "tradeoff.png"]
CSVS = [
    "epochs_best_vs_final.csv",
    "hypervolume.csv",
    "hypervolume_history.csv",
    "pareto.csv",
    "published_vs_ours.csv",
    "questions.csv",
    "tradeoff.csv",
]


@pytest.fixture(scope="module")
def export():
    return make_export(lambdas=(0.1, 0.3, 0.5, 0.7, 0.9, 0.99), seeds=(0, 1), n_epochs=12)


@pytest.fixture(scope="module")
def evil_export(export):
    trials, epochs = (frame.copy() for frame in export)
    first = trials.loc[trials["state"] == "COMPLETE", "trial_id"].iloc[0]
    for frame in (trials, epochs):
        frame["trial_id"] = frame["trial_id"].replace(first, EVIL)
    # Put the malicious trial on the front so it appears in the report's tables.
    trials.loc[trials["trial_id"] == EVIL, ["final_test_mse", "final_test_mrr"]] = [0.5, 0.5]
    return trials, epochs


@pytest.fixture(scope="module")
def report(tmp_path_factory, evil_export):
    out = tmp_path_factory.mktemp("reports") / "study"
    path = write_report(*evil_export, out, title=f"Study {EVIL} & more", mse_budget=0.95, questions=True)
    return path


def test_writes_every_file(report):
    assert sorted(p.name for p in (report / "figures").iterdir()) == FIGURES
    for name in ["index.html", "report.md", "summary.json", *CSVS]:
        assert (report / name).is_file(), name
    assert not list(report.parent.glob(".study.*"))  # no staging folder left


def test_summary_states_reference_knee_budget_and_counts(report, evil_export):
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    trials = evil_export[0]
    complete = trials[trials["state"] == "COMPLETE"]
    assert summary["counts"]["complete"] == len(complete)
    assert summary["counts"]["trials_by_state"] == {"COMPLETE": len(complete), "FAIL": 2}
    overall = next(h for h in summary["hypervolume"] if h["value"] == "final" and h["scope"] == "overall")
    assert overall["reference_mse"] == pytest.approx(complete["final_test_mse"].max())
    assert overall["reference_mrr"] == pytest.approx(complete["final_test_mrr"].min())
    assert overall["reference_source"] == "worst complete trial values"
    assert "chord" in summary["knee"]["method"]
    assert {k["variant"] for k in summary["knee"]["per_variant"]} >= {"shared embeddings", "separate embeddings"}
    assert summary["mse_budget"]["budget"] == 0.95 and summary["mse_budget"]["answers"]
    for answer in summary["mse_budget"]["answers"]:  # the λ range consistent with the bands
        assert answer["lambda_f_lower"] <= answer["lambda_f"] <= answer["lambda_f_upper"]
    shared = next(k for k in summary["knee"]["per_variant"] if k["variant"] == "shared embeddings")
    assert shared["lambda_f_lower"] <= shared["lambda_f"] <= shared["lambda_f_upper"]
    assert summary["title"] == f"Study {EVIL} & more"  # JSON keeps the raw value
    assert sorted(f.split("/")[-1] for f in summary["figures"]) == FIGURES


def test_html_is_self_contained_and_escapes_study_values(report):
    page = (report / "index.html").read_text(encoding="utf-8")
    assert EVIL not in page and "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Study &lt;script&gt;" in page
    assert "http://" not in page and "https://" not in page
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    markdown = (report / "report.md").read_text(encoding="utf-8")
    assert EVIL not in markdown and "&lt;script&gt;" in markdown
    for figure in FIGURES:
        assert f"(figures/{figure})" in markdown


def test_csv_tables_behind_the_figures(report):
    pareto = pd.read_csv(report / "pareto.csv")
    assert set(pareto["scope"]) == {"overall", "shared", "separate"} and set(pareto["value"]) == {"final", "best"}
    assert EVIL in set(pareto["trial_id"])
    tradeoff = pd.read_csv(report / "tradeoff.csv")
    assert list(tradeoff.columns) == list(TRADEOFF_COLUMNS)
    assert set(tradeoff["metric"]) == {"test_mse", "test_mrr"}
    assert (tradeoff["pred_lower"] <= tradeoff["conf_lower"]).all() and (tradeoff["n_trials_near"] >= 0).all()


def test_only_the_asked_formats_and_replacing_an_earlier_report(tmp_path, export):
    out = tmp_path / "r"
    write_report(*export, out, title="t", formats=("md",), value="best", reference_point=(1.2, 0.0))
    assert (out / "report.md").exists() and not (out / "index.html").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["value"] == "best"
    assert {h["reference_source"] for h in summary["hypervolume"]} == {"given"}
    write_report(*export, out, title="again", formats="html")
    assert (out / "index.html").exists() and not (out / "report.md").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"formats": ("html", "pdf")}, ConfigError, "'pdf'"),
        ({"formats": ()}, ConfigError, "at least one"),
        ({"value": "median"}, ConfigError, "'median'"),
        ({"mse_budget": -0.5}, ConfigError, "-0.5"),
        ({"mse_budget": float("nan")}, ConfigError, "nan"),
        ({"reference_point": (1.0,)}, ConfigError, r"\(1.0,\)"),
        ({"title": "  "}, ConfigError, "title"),
        ({"figure_formats": ("svg", "tiff")}, ConfigError, "'tiff'"),
    ],
)
def test_bad_arguments_raise_and_write_nothing(tmp_path, export, kwargs, error, match):
    arguments = {"title": "t", **kwargs}
    with pytest.raises(error, match=match):
        write_report(*export, tmp_path / "r", **arguments)
    assert list(tmp_path.iterdir()) == []


def test_provenance_figure_formats_and_questions_on_request(tmp_path, export):
    provenance = {"command": "mtlstudy study run --name s", "seeds": [0, 1], "versions": {"mtlstudy": "0.1.0"}}
    out = write_report(*export, tmp_path / "r", title="t", provenance=provenance, figure_formats=("svg", "pdf"))
    for figure in FIGURES:
        for suffix in ("png", "svg", "pdf"):
            assert (out / "figures" / figure).with_suffix(f".{suffix}").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"] == provenance
    page = (out / "report.md").read_text(encoding="utf-8")
    assert page.index("How this study was made") < page.index("Pareto front")
    assert "| seeds | 0, 1 |" in page and "mtlstudy=0.1.0" in page
    # Not a reproduction study: no original questions, no published comparison.
    assert "original questions" not in page and "Published values" not in page
    assert not (out / "questions.csv").exists() and not (out / "published_vs_ours.csv").exists()
    again = write_report(*export, tmp_path / "q", title="t", questions=True)
    assert "The original questions" in (again / "report.md").read_text(encoding="utf-8")


def test_no_complete_trial_is_a_study_error(tmp_path, export):
    trials = export[0].assign(state="FAIL")
    with pytest.raises(StudyError, match="no complete trial"):
        write_report(trials, export[1], tmp_path / "r", title="t")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_a_foreign_folder(tmp_path, export):
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        write_report(*export, foreign, title="t")
    assert (foreign / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        write_report(*export, tmp_path / "file", title="t")


def test_failure_midway_leaves_nothing_behind(tmp_path, export, monkeypatch):
    import mtlstudy.analysis.report._write as module

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setitem(module.DRAW, "epochs", explode)  # the last figure, after the others are saved
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(*export, tmp_path / "r", title="t")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_an_earlier_report_intact(tmp_path, export, monkeypatch):
    import mtlstudy.analysis.report._write as module

    out = write_report(*export, tmp_path / "r", title="first")
    before = sorted(p.name for p in out.rglob("*"))
    monkeypatch.setattr(module, "render_html", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_report(*export, out, title="second")
    assert sorted(p.name for p in out.rglob("*")) == before
    assert json.loads((out / "summary.json").read_text())["title"] == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_small_study_without_epochs(tmp_path, export):
    trials = export[0]
    few = trials[trials["lambda_f"].isin([0.5, 0.99]) & ~trials["user_bias"]]
    out = write_report(few, export[1].iloc[0:0], tmp_path / "r", title="small")
    summary = json.loads((out / "summary.json").read_text())
    assert "the epochs table is empty; no epoch figure" in summary["notes"]
    assert {fit["n_distinct"] for fit in summary["tradeoff"]["fits"]} == {2}
    assert not (out / "figures" / "epochs_pareto.png").exists()


def test_interactive_without_plotly_is_noted(tmp_path, export, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # makes "import plotly" fail
    out = write_report(*export, tmp_path / "r", title="t", interactive=True)
    assert not (out / "interactive.html").exists()
    notes = json.loads((out / "summary.json").read_text())["notes"]
    assert any("plotly is not installed" in note for note in notes)


def test_interactive_with_plotly_escapes_values(tmp_path, evil_export):
    out = write_report(*evil_export, tmp_path / "r", title=EVIL, interactive=True)
    page = (out / "interactive.html").read_text(encoding="utf-8")
    assert EVIL not in page
    weights = json.dumps("λ_F 0.1, λ_R 0.9")[1:-1]  # as plotly writes it: JSON, ASCII-escaped
    assert weights in page and "seed 1" in page and "shared embeddings" in page  # on hover
    assert '<a href="interactive.html">' in (out / "index.html").read_text(encoding="utf-8")
    assert re.search(r"<script[^>]*\bsrc=", page) is None  # plotly.js embedded, not fetched


# --- the content, computed without drawing --------------------------------------------------


def test_the_content_is_computed_without_drawing_or_writing(tmp_path, export, monkeypatch):
    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "__init__", lambda *a, **k: pytest.fail("drew a figure"))
    monkeypatch.chdir(tmp_path)
    content = report_content(*export, title="t", mse_budget=0.95)
    assert list(tmp_path.iterdir()) == []
    assert list(content.images) == ["pareto", "response", "tradeoff", "hypervolume", "epochs"]
    assert content.images["response"] == "figures/lambda_response.png"
    assert content.figures.stopping is None and content.calibration is None and content.interactive is None
    assert content.front_sizes["final"]["overall"] == len(content.front)
    assert sum(content.variant_counts.values()) == len(content.complete) == int((export[0]["state"] == "COMPLETE").sum())
    assert len(content.budget_answers) == len(content.variant_counts)


def test_summary_json_is_the_summary_of_the_content(tmp_path, export):
    options = {"title": "t", "mse_budget": 0.95, "value": "best"}
    out = write_report(*export, tmp_path / "r", **options)
    content = report_content(*export, **options)
    assert json.loads((out / "summary.json").read_text(encoding="utf-8")) == report_summary(content)
    assert report_summary(content)["tradeoff"] == content.tradeoff.to_dict()
    assert report_summary(content)["mse_budget"]["answers"] == [answer.to_dict() for answer in content.budget_answers]


def test_the_level_flows_into_every_interval_and_text(export):
    content = report_content(*export, title="t", mse_budget=0.95, level=0.8)
    assert content.tradeoff.level == 0.8 and report_summary(content)["tradeoff"]["level"] == 0.8
    wide = report_content(*export, title="t", mse_budget=0.95)
    for narrow, broad in zip(content.budget_answers, wide.budget_answers):
        assert broad.lambda_f_lower <= narrow.lambda_f_lower <= narrow.lambda_f_upper <= broad.lambda_f_upper
    page = json.dumps([vars(block) for block in report_blocks(content) if not hasattr(block, "frame")])
    assert "80% interval" in page and "80% bands" in page and "80% confidence" in page and "95%" not in page


# --- the figures' data objects ---------------------------------------------------------------


def test_pareto_panels_flag_the_overall_front(export):
    trials = export[0]
    table = pareto_table(trials)
    panels = pareto_panels(trials, table)
    assert [p.value for p in panels] == ["final", "best"]
    for panel in panels:
        expected = table[(table["value"] == panel.value) & (table["scope"] == "overall")]["trial_id"]
        assert set(panel.points.loc[panel.points["on_front"], "trial_id"]) == set(expected)
        assert panel.front["test_mse"].is_monotonic_increasing
        assert set(panel.scope_fronts) == {True, False}
        assert (panel.scope_fronts[True]["trial_id"].isin(trials.loc[trials["shared"], "trial_id"])).all()


def test_epoch_plot_spreads_picks_along_the_front_and_zooms_the_loss(export):
    trials, epochs = export
    front = pareto_table(trials).query("value == 'final' and scope == 'shared'")
    plot = epoch_plot_data(epochs, front, "final", max_trials=4)
    assert len(plot.labels) == 4 and plot.n_front == len(front)
    ordered = front.sort_values("test_mse")["trial_id"].tolist()
    assert list(plot.labels)[0] == ordered[0] and list(plot.labels)[-1] == ordered[-1]
    assert set(plot.curves["metric"]) == {"test_mse", "test_mrr"}
    low, high = plot.y_limits["test_mse"]
    mse = plot.curves[plot.curves["metric"] == "test_mse"]
    after_best = mse[mse["epoch"] >= mse["best_epoch"]]["value"]
    assert low < after_best.min() and high > after_best.max() and high < mse["value"].max()
    assert plot.y_limits["test_mrr"] is None


def test_tradeoff_plot_picks_interval_rows_per_variant(export):
    tradeoff = fit_tradeoff(export[0])
    plot = tradeoff_plot_data(tradeoff, n_intervals=5)
    counts = plot.intervals.groupby(["shared", "user_bias"]).size()
    assert (counts <= 5).all() and len(counts) == 3
    assert np.isfinite(plot.intervals[["test_mse_lower", "test_mrr_upper"]]).all().all()


def test_diverged_trials_are_left_out_and_noted(tmp_path, export):
    trials = export[0].copy()
    complete = trials.index[trials["state"] == "COMPLETE"]
    trials.loc[complete[:2], "final_test_mse"] = [np.nan, np.inf]
    out = write_report(trials, export[1], tmp_path / "r", title="t")
    summary = json.loads((out / "summary.json").read_text())
    assert "2 complete trial(s) with a non-finite final test MSE or MRR are on no front" in summary["notes"]
    assert "2 trial(s) with a non-finite final test MSE or MRR left out of the fit" in summary["notes"]
    pareto = pd.read_csv(out / "pareto.csv")
    assert not set(trials.loc[complete[:2], "trial_id"]) & set(pareto.loc[pareto["value"] == "final", "trial_id"])


def test_diverged_trials_are_counted(tmp_path, export):
    trials = export[0].copy()
    failed = trials.index[trials["state"] == "FAIL"]
    trials.loc[failed[:1], "failure"] = "diverged at epoch 2: non-finite training loss"
    out = write_report(trials, export[1], tmp_path / "r", title="t")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["diverged"] == 1
    assert "1 trial(s) diverged (non-finite losses or scores): failed, on no front" in summary["notes"]
    assert "1 trial(s) diverged" in (out / "index.html").read_text()
    unmarked = write_report(export[0], export[1], tmp_path / "u", title="t")
    assert json.loads((unmarked / "summary.json").read_text())["counts"]["diverged"] == 0


def test_fixture_matches_the_study_export_and_survives_a_csv_round_trip(tmp_path, export):
    from mtlstudy.study import EPOCH_COLUMNS, TRIAL_COLUMNS

    trials, epochs = export
    # make_export writes an export from before trials had roles (tests/_analysis_fixtures.with_roles adds them).
    roles = {"role", "replicate_of"}
    assert set(trials.columns) | roles == set(TRIAL_COLUMNS) | roles and set(epochs.columns) == set(EPOCH_COLUMNS)
    trials[[column for column in TRIAL_COLUMNS if column in trials.columns]].to_csv(tmp_path / "trials.csv", index=False)
    epochs[list(EPOCH_COLUMNS)].to_csv(tmp_path / "epochs.csv", index=False)
    out = write_report(
        pd.read_csv(tmp_path / "trials.csv"), pd.read_csv(tmp_path / "epochs.csv"), tmp_path / "r", title="csv"
    )
    assert (out / "index.html").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["complete"] == int((trials["state"] == "COMPLETE").sum())
