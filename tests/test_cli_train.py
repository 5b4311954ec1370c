"""``mtlstudy train``: logs, TensorBoard tags, summary line and bad input."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from mtlstudy._schema import TENSORBOARD_TAGS
from mtlstudy.cli import main
from mtlstudy.training import METRICS_CSV_COLUMNS
from tensorboard_events import read_scalars

SYNTHETIC = ["--dataset", "synthetic", "--batch-size", "64", "--device", "cpu"]


def test_train_writes_tensorboard_csv_config_and_a_summary_line(tmp_path):
    logdir = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["train", *SYNTHETIC, "--epochs", "3", "--no-shared", "--lambda-f", "0.5",
               "--lambda-r", "0.5", "--seed", "4", "--logdir", str(logdir)],
    )
    assert result.exit_code == 0, result.output
    summary, logs = result.stdout.strip().splitlines()[-2:]
    assert summary.startswith("test MSE final") and "test MRR final" in summary and "best" in summary
    assert logs == f"logs: {tmp_path / 'run'} (metrics.csv, config.json; tensorboard --logdir {tmp_path / 'run'})"
    assert "\r" not in result.output  # no progress bar redrawn into output that is not a terminal

    scalars = read_scalars(logdir)
    assert set(scalars) == set(TENSORBOARD_TAGS.values())
    assert all(sorted(steps) == [1, 2, 3] for steps in scalars.values())

    with (logdir / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    assert tuple(rows[0]) == METRICS_CSV_COLUMNS
    assert float(rows[2]["test_mse"]) == pytest.approx(scalars["eval/MSE"][3], rel=1e-6)

    config = json.loads((logdir / "config.json").read_text())
    assert (config["shared"], config["lambda_f"], config["seed"], config["epochs"]) == (False, 0.5, 4, 3)
    assert config["data_source"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--lambda-f", "-1"], "lambda_f must be a finite number >= 0, got -1.0"),
        (["--lambda-r", "nan"], "lambda_r must be a finite number >= 0, got nan"),
        (["--lambda-f", "0", "--lambda-r", "0"], "both 0"),
        (["--epochs", "0"], "epochs must be an integer from 1 to 100000, got 0"),
    ],
)
def test_bad_options_exit_2_with_one_line_and_write_nothing(tmp_path, arguments, message):
    logdir = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", *SYNTHETIC, *arguments, "--logdir", str(logdir)])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {message}" or message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not logdir.exists()


def test_refuses_to_overwrite_an_earlier_run(tmp_path):
    arguments = ["train", *SYNTHETIC, "--epochs", "1", "--logdir", str(tmp_path / "run")]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2 and "already holds a run" in result.output


@pytest.mark.parametrize("arguments", [["--lr", "1e6"], ["--lambda-f", "1e308"]])
def test_a_diverged_model_exits_2_with_one_line_after_logging_its_epoch(tmp_path, arguments):
    logdir = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", *SYNTHETIC, "--epochs", "3", *arguments, "--logdir", str(logdir)])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if "Error" in line]
    assert len(errors) == 1 and errors[0].startswith("Error: training diverged at epoch 1: non-finite training loss")
    assert "test MRR final" not in result.output  # no summary of a broken model
    with (logdir / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["1"] and rows[0]["test_mrr"] == "nan"


def test_train_with_another_embedding_size_sizes_the_mlp_input_to_it(tmp_path):
    result = CliRunner().invoke(
        main, ["train", *SYNTHETIC, "--epochs", "1", "--embedding-dim", "8", "--logdir", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["layer_sizes"] == [24, 64]
