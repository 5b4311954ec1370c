"""Status, list and export of a study built without Ray: data first, text and JSON from it."""

from __future__ import annotations

import io
import subprocess
import sys
import json

import optuna
import pandas as pd
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from _studies import saved_study
from mtlstudy.cli import main
from mtlstudy.study import TRIAL_COLUMNS, list_studies, load_export, open_study, study_status
from mtlstudy.study._database import PARAMS_ATTR, RAY_TRIAL_ID, ROLE_ATTR, StudyDatabase

# (epoch reached, test MSE, test MRR) of four trials: two on the front, one dominated, one stopped.
OUTCOMES = [(10, 1.0, 0.10), (10, 0.9, 0.08), (10, 1.2, 0.07), (4, 0.5, 0.50)]


@pytest.fixture
def study_dir(tmp_path):
    saved_study(tmp_path, "s", [(mse, mrr, epoch) for epoch, mse, mrr in OUTCOMES], epochs=10, trials=6)
    return tmp_path


def test_status_is_data_and_its_text_and_json_agree(study_dir):
    status = study_status("s", study_dir)
    assert status.states == {"COMPLETE": 3, "PRUNED": 1} and status.trials == 6
    assert status.best == {"test_mse": {"trial_id": "t1", "test_mse": 0.9}, "test_mrr": {"trial_id": "t0", "test_mrr": 0.1}}
    assert [row["trial_id"] for row in status.pareto] == ["t1", "t0"]  # by increasing MSE; the stopped one is out
    as_json = CliRunner().invoke(main, ["study", "status", "s", "--dir", str(study_dir), "--format", "json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output) == json.loads(json.dumps(status.to_dict()))
    as_text = CliRunner().invoke(main, ["study", "status", "s", "--dir", str(study_dir)])
    assert as_text.output.strip() == status.to_text()
    lambda_f = status.pareto[0]["lambda_f"]
    assert f"lambda_f={lambda_f:.6g}" in as_text.output  # enough digits that 0.989995 is not 0.99


def test_list_is_data_and_its_json_names_every_study(study_dir):
    (summary,) = list_studies(study_dir)
    assert (summary.name, summary.finished, summary.stopped, summary.trials) == ("s", 4, 1, 6)
    assert (summary.best_test_mse, summary.best_test_mrr) == (0.9, 0.1)
    listing = CliRunner().invoke(main, ["study", "list", "--dir", str(study_dir), "--format", "json"])
    assert json.loads(listing.output) == [summary.to_dict()]
    empty = CliRunner().invoke(main, ["study", "list", "--dir", str(study_dir / "none")])
    assert empty.output.startswith("no studies in")


def test_list_counts_and_ranks_the_trials_as_status_does(study_dir):
    """A calibration trial only checks the bands, and a retried trial counts once, as its newest attempt."""
    spec = open_study("s", study_dir).spec
    study = StudyDatabase(spec).study
    params = {"shared": True, "lambda_f": 0.5, "lambda_r": 0.5, "seed": 7}
    for state, values, role, ray_id in (
        (TrialState.COMPLETE, [0.1, 0.9], "calibration", "c0"),  # would be best in both objectives
        (TrialState.COMPLETE, [2.0, 0.01], "search", "t9"),  # a first attempt, then retried and stopped
        (TrialState.PRUNED, None, "search", "t9"),
    ):
        attrs = {RAY_TRIAL_ID: ray_id, PARAMS_ATTR: params, ROLE_ATTR: role}
        study.add_trial(optuna.trial.create_trial(state=state, values=values, user_attrs=attrs))
    status = study_status("s", study_dir)
    (summary,) = list_studies(study_dir)
    assert status.states == {"COMPLETE": 4, "PRUNED": 2}
    assert (summary.finished, summary.stopped) == (6, 2)
    assert (summary.best_test_mse, summary.best_test_mrr) == (0.9, 0.1) == (
        status.best["test_mse"]["test_mse"], status.best["test_mrr"]["test_mrr"]
    )


@pytest.mark.parametrize("format_", ["csv", "parquet"])
def test_export_to_stdout(study_dir, format_):
    result = CliRunner().invoke(main, ["export", "s", "--dir", str(study_dir), "--format", format_, "-o", "-"])
    assert result.exit_code == 0
    read = pd.read_csv if format_ == "csv" else pd.read_parquet
    frame = read(io.BytesIO(result.stdout_bytes))
    assert list(frame.columns) == list(TRIAL_COLUMNS) and set(frame["study"]) == {"s"}
    assert frame["trial_id"].tolist() == load_export("s", study_dir)["trial_id"].tolist()
    assert not (study_dir / "-").exists()


@pytest.mark.parametrize("command", [["study", "status", "s"], ["study", "list"], ["export", "s", "-o", "-"]])
def test_read_only_commands_import_neither_torch_nor_ray_nor_the_plotting_stack(study_dir, command):
    # They need Optuna and pandas only; the rest takes seconds to import on a busy machine.
    heavy = ("torch", "ray", "matplotlib", "scipy", "tensorboardX")
    code = (
        "import sys; from mtlstudy.cli import main\n"
        f"try: main({[*command, '--dir', str(study_dir)]!r})\n"
        "except SystemExit as done: assert done.code == 0, done.code\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=study_dir)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "[]", run.stderr
