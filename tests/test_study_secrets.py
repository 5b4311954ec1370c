"""No storage password in a study's files or in any output: masked as SQLAlchemy shows it, given again by
the environment, a ``.pgpass`` file or ``--storage``."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml

from _postgres import POSTGRES_PASSWORD
from _studies import saved_study
from mtlstudy._errors import ConfigError, StudyError
from mtlstudy.study import resolve_spec
from mtlstudy.study._database import open_storage
from mtlstudy.study._storage_url import check_storage, connect_url, hide_password, split_password

BIN = os.path.dirname(sys.executable)
#: The forms the password could take in a file or a line.
SECRETS = (POSTGRES_PASSWORD, urllib.parse.quote(POSTGRES_PASSWORD, safe=""))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://alice:S3cretPW@db/mtl", "postgresql://alice:***@db/mtl"),
        ("postgresql://alice@db/mtl", "postgresql://alice@db/mtl"),
        ("sqlite:////tmp/x/optuna.db", "sqlite:////tmp/x/optuna.db"),
        ("journal:///shared/study.log", "journal:///shared/study.log"),
        # the password is also the user, host and database: only the password is masked
        ("postgresql://alice:alice@alice:5432/alice", "postgresql://alice:***@alice:5432/alice"),
        ("postgresql+psycopg://al%40ice:p%40ss%2Fw%3A@db/mtl?sslmode=require",
         "postgresql+psycopg://al%40ice:***@db/mtl?sslmode=require"),
        # not parsed by SQLAlchemy (a port that is no number; an unescaped '@'): up to the last '@' masked
        ("postgresql://alice:pw@db:port/mtl", "postgresql://alice:***@db:port/mtl"),
        ("postgresql://alice:p@ss@db/mtl", "postgresql://alice:***@db/mtl"),
        ("not a url", "not a url"),
        # a password in the query, which libpq reads too
        ("postgresql://alice@db/mtl?sslmode=require&password=S3cretPW", "postgresql://alice@db/mtl?password=***&sslmode=require"),
        ("postgresql://alice@db:port/mtl?password=S3cretPW&sslmode=require", "postgresql://alice@db:port/mtl?password=***&sslmode=require"),
        ("postgresql://alice@db/mtl?passwordless=1", "postgresql://alice@db/mtl?passwordless=1"),
    ],
)
def test_hide_password_masks_only_the_password(url, shown):
    assert hide_password(url) == shown
    assert hide_password(shown) == shown


def test_a_checked_url_keeps_its_password_in_this_process_only():
    masked = check_storage("postgresql://carol:c%40r0l@db:5433/mtl")
    assert masked == "postgresql://carol:***@db:5433/mtl"
    assert split_password(masked) == ("postgresql://carol@db:5433/mtl", "c@r0l")
    assert connect_url(masked) == "postgresql://carol:c%40r0l@db:5433/mtl"
    # A masked URL that no one gave here (a saved one) connects without a password, never with '***'.
    assert check_storage("postgresql://dave:***@db/mtl") == "postgresql://dave:***@db/mtl"
    assert connect_url("postgresql://dave:***@db/mtl") == "postgresql://dave@db/mtl"
    assert connect_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    # The same for a password in the query.
    masked = check_storage("postgresql://frank@db/mtl?password=fr%26nk&sslmode=require")
    assert masked == "postgresql://frank@db/mtl?password=***&sslmode=require"
    assert split_password(masked) == ("postgresql://frank@db/mtl?sslmode=require", "fr&nk")
    assert connect_url("postgresql://gina@db/mtl?password=***") == "postgresql://gina@db/mtl"
    assert resolve_spec(storage="postgresql://erin:e@db/mtl", dataset="synthetic", epochs=2).storage == (
        "postgresql://erin:***@db/mtl"
    )


def test_bad_storage_urls_are_named_without_their_password():
    with pytest.raises(ConfigError, match=r"%40, got 'postgresql://alice:\*\*\*@db/mtl'"):
        check_storage("postgresql://alice:p@ss@db/mtl")
    with pytest.raises(StudyError) as raised:
        open_storage(check_storage("postgresql://alice:S3cretPW@db:port/mtl"))
    assert "'postgresql://alice:***@db:port/mtl'" in str(raised.value) and "S3cretPW" not in str(raised.value)


def _cli(*arguments: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """``mtlstudy ARGUMENTS`` in a fresh process: nothing remembered from this one."""
    done = subprocess.run([os.path.join(BIN, "mtlstudy"), *arguments], capture_output=True, text=True, env=env, timeout=300)
    assert not check or done.returncode == 0, done.stdout + done.stderr
    return done


def _without_password(tmp_path: Path) -> dict[str, str]:
    """An environment that gives libpq no password: no PGPASSWORD, no password file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    return {**env, "HOME": str(tmp_path / "home"), "PGPASSFILE": str(tmp_path / "none")}


def _assert_no_secret(where: str, text: str | bytes) -> None:
    for secret in SECRETS:
        found = secret in text if isinstance(text, str) else secret.encode() in text
        assert not found, f"the password is in {where}"


def _assert_no_secret_in_files(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            _assert_no_secret(str(path), path.read_bytes())


@pytest.mark.slow  # seven commands, each in a fresh process
def test_no_password_in_a_study_or_its_output_with_a_real_postgresql(postgres_password_url, tmp_path):
    runs, name = tmp_path / "runs", "secret"
    spec = saved_study(runs, name, [(0.9, 0.1), (0.8, 0.2), None], metrics=True, storage=postgres_password_url)
    host, port = spec.storage.rsplit("@", 1)[1].split("/")[0].split(":")
    saved = yaml.safe_load((runs / name / "study.yaml").read_text())
    assert saved["storage"] == f"postgresql://postgres:***@{host}:{port}/postgres"
    bare, with_env = _without_password(tmp_path), {**_without_password(tmp_path), "PGPASSWORD": POSTGRES_PASSWORD}

    # Without a password the database refuses, in one line that names the masked URL.
    refused = _cli("study", "status", name, "--dir", str(runs), env=bare, check=False)
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert f"'postgresql://postgres:***@{host}:{port}/postgres'" in refused.stderr
    # The password from the environment, from a .pgpass file, or given again with --storage.
    outputs = [
        refused.stderr,
        _cli("study", "status", name, "--dir", str(runs), "--format", "json", env=with_env).stdout,
        _cli("study", "list", "--dir", str(runs), "--format", "json", env=with_env).stdout,
        _cli("export", name, "--dir", str(runs), "-o", "-", env=with_env).stdout,
        _cli("report", name, "--dir", str(runs), "--storage", postgres_password_url, env=bare).stdout,
    ]
    pgpass = tmp_path / "pgpass"
    escaped = POSTGRES_PASSWORD.replace("\\", "\\\\").replace(":", "\\:")
    pgpass.write_text(f"{host}:{port}:postgres:postgres:{escaped}\n")
    pgpass.chmod(0o600)
    listed = _cli("study", "status", name, "--dir", str(runs), env={**bare, "PGPASSFILE": str(pgpass)})
    assert "3 trials" in listed.stdout or "COMPLETE" in listed.stdout, listed.stdout
    outputs.append(listed.stdout)
    for output in outputs:
        _assert_no_secret("a command's output", output)
    report = runs / name / "report"
    assert {"index.html", "report.md", "summary.json"} <= {path.name for path in report.iterdir()}
    assert "postgres:***@" in (report / "summary.json").read_text()
    pgpass.unlink()
    _assert_no_secret_in_files(runs)


@pytest.mark.slow
def test_no_password_in_a_ray_study_and_its_saved_experiment(postgres_password_url, tmp_path):
    runs, name = tmp_path / "runs", "ray-secret"
    env = _without_password(tmp_path)
    options = ["--trials", "2", "--epochs", "2", "--concurrency", "1", "--dataset", "synthetic",
               "--dataset-option", "num_users=30", "--dataset-option", "num_items=40", "--embedding-dim", "4"]
    ran = _cli("study", "run", "--name", name, "--dir", str(runs), "--storage", postgres_password_url, *options, env=env)
    # The study resumes from its saved, masked URL with the password from the environment.
    resumed = _cli("study", "resume", name, "--dir", str(runs), env={**env, "PGPASSWORD": POSTGRES_PASSWORD})
    assert "2/2 trials complete" in ran.stdout + ran.stderr
    for output in (ran.stdout, ran.stderr, resumed.stdout, resumed.stderr):
        _assert_no_secret("a command's output", output)
    assert list((runs / name / "ray").glob("experiment_state-*.json"))
    _assert_no_secret_in_files(runs)
