"""``mtlstudy data fetch`` and ``mtlstudy data info`` through click's test runner."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtlstudy import DataError
from mtlstudy.cli import main
from mtlstudy.data import _sources

FIXTURE = Path(__file__).parent / "fixtures" / "ratings_50.data"


@pytest.fixture
def offline_recbole(monkeypatch):
    """GroupLens unreachable, the RecBole wheel serving the fixture as MovieLens-100K."""

    def grouplens(progress):
        raise DataError("no network")

    def recbole(progress):
        header = b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        return header + FIXTURE.read_bytes(), "inter", "wheel!ml-100k.inter"

    monkeypatch.setattr(_sources, "ML100K_SHA256", hashlib.sha256(FIXTURE.read_bytes()).hexdigest())
    monkeypatch.setattr(_sources, "_download_grouplens", grouplens)
    monkeypatch.setattr(_sources, "_download_recbole_wheel", recbole)


def test_fetch_prints_cache_path_and_source(offline_recbole, data_dir):
    result = CliRunner().invoke(main, ["data", "fetch"])
    assert result.exit_code == 0, result.output
    assert f"MovieLens-100K: {data_dir / 'ml-100k' / 'u.data'}" in result.stdout
    assert "source: recbole 1.2.1 wheel" in result.stdout
    assert "GroupLens download failed: no network" in result.stderr
    again = CliRunner().invoke(main, ["data", "fetch"])
    assert f"source: cache {data_dir / 'ml-100k' / 'u.data'}" in again.stdout


def test_info_fetches_on_first_use(offline_recbole):
    result = CliRunner().invoke(main, ["data", "info"])
    assert result.exit_code == 0, result.output
    assert "ratings: 50\n" in result.stdout
    assert "source: recbole 1.2.1 wheel" in result.stdout


def test_info_on_a_file_with_no_verify():
    result = CliRunner().invoke(main, ["data", "info", "--data", str(FIXTURE), "--no-verify"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"source: {FIXTURE}" in lines and "ratings: 50" in lines
    distribution = next(line for line in lines if line.startswith("rating distribution: "))
    counts = [int(part.split(": ")[1]) for part in distribution.removeprefix("rating distribution: ").split(", ")]
    assert sum(counts) == 50


def test_info_checksum_mismatch_exits_2_with_one_line():
    result = CliRunner().invoke(main, ["data", "info", "--data", str(FIXTURE)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--no-verify" in result.stderr


def test_info_bad_file_exits_2_naming_the_line(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\n1,2,3\n1,3,seven\n")
    result = CliRunner().invoke(main, ["data", "info", "--data", str(path), "--no-verify"])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}:3: rating must be a number from 1 to 5 (got 'seven')\n"


def test_info_synthetic():
    result = CliRunner().invoke(main, ["data", "info", "--dataset", "synthetic"])
    assert result.exit_code == 0, result.output
    assert "dataset: synthetic" in result.stdout and "users: 300" in result.stdout


def test_info_rejects_unknown_dataset():
    result = CliRunner().invoke(main, ["data", "info", "--dataset", "ml-1m"])
    assert result.exit_code == 2 and "ml-1m" in result.stderr


@pytest.mark.parametrize(
    "options, message",
    [
        (["--dataset", "bogus"], "Error: unknown dataset 'bogus'; expected one of ml-100k, synthetic"),
        (["--dataset", "synthetic", "--dataset-option", "foo=1"], "Error: unknown synthetic option(s) ['foo'];"),
        (["--dataset", "synthetic", "--dataset-option", "density=0"],
         "Error: density must be a number in (0, 1], got 0"),
    ],
)
def test_a_study_on_a_bad_dataset_is_refused_before_ray_starts(tmp_path, monkeypatch, options, message):
    import ray

    monkeypatch.setattr(ray, "init", lambda *args, **kwargs: pytest.fail("Ray was started"))
    result = CliRunner().invoke(main, ["study", "run", "--name", "s", "--dir", str(tmp_path / "runs"), *options])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and result.stderr.startswith(message)
    assert not (tmp_path / "runs").exists()
