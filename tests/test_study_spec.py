"""Study specs: YAML, TOML and CLI flags agree; bad specs exit 2 and create nothing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mtlstudy._checks import MAX_SEED
from mtlstudy.cli import main
from mtlstudy.study import StudySpec, resolve_spec

YAML = """
name: s1
space: independent
sampler: nsga2
trials: 7
epochs: 3
lambda-f-range: [0.01, 2.0]
lambda_r_range: [0.1, 3.0]
dataset: synthetic
dataset_options: {num_users: 30, num_items: 40}
cpus_per_trial: 0.5
"""

TOML = """
name = "s1"
space = "independent"
sampler = "nsga2"
trials = 7
epochs = 3
lambda_f_range = [0.01, 2.0]
lambda_r_range = [0.1, 3.0]
dataset = "synthetic"
cpus_per_trial = 0.5

[dataset_options]
num_users = 30
num_items = 40
"""


def test_yaml_toml_and_flags_give_the_same_spec(tmp_path):
    (tmp_path / "s.yaml").write_text(YAML)
    (tmp_path / "s.toml").write_text(TOML)
    from_yaml = resolve_spec(tmp_path / "s.yaml", dir=str(tmp_path))
    from_toml = resolve_spec(tmp_path / "s.toml", dir=str(tmp_path))
    from_flags = resolve_spec(
        name="s1", space="independent", sampler="nsga2", trials=7, epochs=3, lambda_f_range=(0.01, 2.0),
        lambda_r_range=(0.1, 3.0), dataset="synthetic", dataset_options={"num_users": 30, "num_items": 40},
        cpus_per_trial=0.5, dir=str(tmp_path),
    )
    assert from_yaml == from_toml == from_flags
    assert resolve_spec(tmp_path / "s.yaml", trials=2, epochs=None).trials == 2  # flags override, None does not


def test_a_spec_saved_before_objective_was_renamed_value_still_loads(tmp_path):
    saved = {**resolve_spec(name="old", dir=str(tmp_path)).to_dict(), "objective": "best"}
    del saved["value"]
    (tmp_path / "old.yaml").write_text("".join(f"{key}: {value!r}\n" for key, value in saved.items() if value is not None))
    assert StudySpec.from_saved(saved).value == "best"
    assert resolve_spec(tmp_path / "old.yaml").value == "best"


@pytest.mark.parametrize(
    ("content", "flags", "message"),
    [
        ("name: b\nbogus_key: 1\n", [], "bogus_key"),
        ("name: b\nlambda_f_range: [-0.5, 0.5]\n", [], "-0.5"),
        ("name: b\n", ["--lambda-f-range", "0.1", "inf"], "inf"),
        ("name: b\n", ["--lambda-f-range", "0", "1"], "on the simplex lambda_f_range must satisfy 0 < low < high < 1"),
        ("name: b\ntrials: 0\n", [], "trials must be an integer from 1 to 100000, got 0"),
        ("name: b\n", ["--space", "no-such-space"], "no-such-space"),
        ("name: b\n", ["--sampler", "annealing"], "annealing"),
        ("name: b\n", ["--early-stopping", "hyperband"],
         "unknown early_stopping 'hyperband'; choose one of ['moasha', 'moasha+arch', "),
        ("name: b\nearly_stopping: moasha\n", ["--reduction-factor", "1.5"], "reduction_factor must be a number >= 2, got 1.5"),
        ("name: b\n", ["--early-stopping", "moasha", "--grace-epochs", "0"], "grace_epochs must be an integer from 1 to 100000, got 0"),
        ("name: b\nepochs: 10\n", ["--early-stopping", "moasha", "--grace-epochs", "10"],
         "grace_epochs must be below epochs for early stopping, got grace_epochs 10 and epochs 10"),
        ("name: b\ngrace_epochs: two\n", [], "grace_epochs must be an integer, got 'two'"),
        ("name: b\n", ["--seed", "-1"], "seed must be an integer from 0 to 4294967295 (a 32-bit seed), got -1"),
        ("name: b\n", ["--pack", "0"], "pack must be an integer from 1 to 1024 or 'auto', got 0"),
        ("name: b\n", ["--pack", "-4"], "pack must be an integer from 1 to 1024 or 'auto', got -4"),
        ("name: b\n", ["--pack", "2.5"], "pack must be an integer from 1 to 1024 or 'auto', got 2.5"),
        ("name: b\n", ["--pack", "many"], "pack must be an integer from 1 to 1024 or 'auto', got 'many'"),
        ("name: b\npack: true\n", [], "pack must be an integer from 1 to 1024 or 'auto', got True"),
    ],
)
def test_bad_spec_exits_2_with_one_line_and_creates_nothing(tmp_path, content, flags, message):
    (tmp_path / "spec.yaml").write_text(content)
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["study", "run", str(tmp_path / "spec.yaml"), "--dir", str(runs), *flags])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]
    assert not runs.exists()


def test_gpu_trials_without_a_gpu_are_refused_before_anything_is_created(tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["study", "run", "--gpus-per-trial", "0.25", "--dir", str(runs)])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: gpus_per_trial is 0.25 but this machine has no CUDA GPU for the local Ray; "
        "drop --gpus-per-trial or join a cluster that has GPUs with --address"
    )
    assert not runs.exists()


def test_the_largest_32_bit_seed_is_a_seed_and_builds_every_sampler(tmp_path):
    for sampler in ("tpe", "random", "nsga2", "gp"):
        spec = resolve_spec(name="big", dir=str(tmp_path), dataset="synthetic", seed=MAX_SEED, sampler=sampler)
        assert spec.seed == MAX_SEED and spec.make_sampler(history=3) is not None
