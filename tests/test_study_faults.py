"""Faults end in one line, or are waited out: a cluster address that does not answer, a storage
outage (retried up to its deadline), a full disk under the study database, and our error inside
Ray Tune's TuneError."""

from __future__ import annotations

import socket
import sqlite3
import time

import optuna
import pytest
import sqlalchemy
from click.testing import CliRunner

import mtlstudy.study
from _studies import saved_study
from mtlstudy._errors import NoSpaceError, StudyError
from mtlstudy.cli import main
from mtlstudy.study import _storage_faults
from mtlstudy.study._database import StudyDatabase, open_storage


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the socket closes


def _error_line(result) -> str:
    """The one ``Error:`` line that ends ``result``'s output, with no traceback before it."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("Error: ") == 1, result.output
    return result.output.splitlines()[-1]


@pytest.mark.parametrize(("scheme", "expected"), [("", "the GCS of a Ray cluster's head node"),
                                                  ("ray://", "a Ray client server")])
def test_a_cluster_address_that_does_not_answer_is_one_line_and_creates_nothing(tmp_path, scheme, expected):
    address = f"{scheme}127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = CliRunner().invoke(main, ["study", "run", "--name", "far", "--dataset", "synthetic", "--trials", "1",
                                       "--epochs", "1", "--address", address, "--dir", str(tmp_path)])
    line = _error_line(result)
    assert line.startswith(f"Error: cannot reach the Ray cluster at '{address}': Connection refused") and expected in line
    assert time.monotonic() - started < 30 and not (tmp_path / "far").exists()


def test_a_cluster_that_ray_cannot_join_is_one_line(tmp_path, monkeypatch):
    import ray

    def no_cluster(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to.\nmore")

    monkeypatch.setattr(ray, "init", no_cluster)
    result = CliRunner().invoke(main, ["study", "run", "--name", "far", "--dataset", "synthetic", "--trials", "1",
                                       "--epochs", "1", "--address", "auto", "--dir", str(tmp_path)])
    assert _error_line(result) == ("Error: cannot join the Ray cluster at 'auto': "
                                   "Could not find any running Ray instance. Please specify the one to connect to.")
    assert not (tmp_path / "far").exists()


def _outage(message: str = "connection to server at \"db\" (10.0.0.5), port 5432 failed: Connection refused",
            code: int | None = None, fallback: bool = False) -> optuna.exceptions.StorageInternalError:
    """What Optuna raises when its database does not answer: StorageInternalError from SQLAlchemy's
    OperationalError from the driver's (SQLite's, with ``code``); with ``fallback``, from the
    PendingRollbackError of the query Optuna tries next, raised while handling the OperationalError."""
    driver = sqlite3.OperationalError(message) if code is not None else Exception(message)
    if code is not None:
        driver.sqlite_errorcode = code
    error = optuna.exceptions.StorageInternalError("An exception is raised during the commit.")
    error.__cause__ = sqlalchemy.exc.OperationalError("SELECT 1", {}, driver)
    if fallback:
        error.__cause__ = sqlalchemy.exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled back.")
        error.__cause__.__context__ = sqlalchemy.exc.OperationalError("SELECT 1", {}, driver)
    return error


def _failing(method, failures: int | None, error: Exception):
    """``method``, failing with ``error`` its first ``failures`` calls (None: always); each call's time in ``calls``."""
    calls: list[float] = []

    def call(*args, **kwargs):
        calls.append(time.monotonic())
        if failures is None or len(calls) <= failures:
            raise error
        return method(*args, **kwargs)

    call.calls = calls
    return call


@pytest.mark.parametrize("fallback", [False, True], ids=["lost", "lost-in-optunas-fallback"])
def test_a_storage_outage_is_waited_out_with_growing_waits(tmp_path, monkeypatch, fallback):
    spec = saved_study(tmp_path, "s", [(0.9, 0.1)])
    database = StudyDatabase(spec, existing=True)
    flaky = _failing(optuna.storages._CachedStorage.get_all_trials, 2, _outage(fallback=fallback))
    monkeypatch.setattr(optuna.storages._CachedStorage, "get_all_trials", flaky)
    assert len(database.latest()) == 1  # the third call answered
    first, second, third = flaky.calls
    assert 0.5 <= second - first < 0.9 and 1.0 <= third - second < 1.4  # 0.5 s, then twice that


def test_a_storage_outage_past_its_deadline_is_one_line_and_keeps_the_study(tmp_path, monkeypatch):
    spec = saved_study(tmp_path, "s", [(0.9, 0.1)])
    monkeypatch.setattr(_storage_faults, "OUTAGE_S", 1.0)
    down = _failing(optuna.storages._CachedStorage.get_all_trials, None, _outage())
    monkeypatch.setattr(optuna.storages._CachedStorage, "get_all_trials", down)
    line = _error_line(CliRunner().invoke(main, ["study", "status", "s", "--dir", str(tmp_path)]))
    assert line == (f"Error: storage '{spec.storage_url}' did not answer for 1 s: "
                    "connection to server at \"db\" (10.0.0.5), port 5432 failed: Connection refused")
    assert 1.0 <= down.calls[-1] - down.calls[0] < 1.5 and len(down.calls) == 3  # at 0, 0.5 and 1 s
    monkeypatch.undo()
    assert len(StudyDatabase(spec, existing=True).latest()) == 1


def test_a_storage_that_never_answered_is_refused_at_once():
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres"
    started = time.monotonic()
    with pytest.raises(StudyError, match=f"cannot open storage '{url}': .*Connection refused"):
        open_storage(url)
    assert time.monotonic() - started < 5  # a wrong host or port is no outage to wait out


def test_a_full_disk_under_sqlite_is_one_error_naming_the_database_at_once(tmp_path, monkeypatch):
    spec = saved_study(tmp_path, "s", [(0.9, 0.1)])
    database = StudyDatabase(spec, existing=True)
    (trial,) = database.latest().values()
    full = _failing(optuna.storages._CachedStorage.set_trial_user_attr, None,
                    _outage("database or disk is full", sqlite3.SQLITE_FULL))
    monkeypatch.setattr(optuna.storages._CachedStorage, "set_trial_user_attr", full)
    with pytest.raises(NoSpaceError, match=f"no space left on device writing '{spec.study_dir / 'optuna.db'}'"):
        database.set_user_attr(trial, "note", "x")
    assert len(full.calls) == 1


def test_our_error_inside_ray_tunes_error_is_one_line_and_any_other_is_shown_whole(tmp_path, monkeypatch):
    from ray.tune.error import TuneError

    saved_study(tmp_path, "s")

    def raised_in_a_callback(cause: Exception):
        def status(*args, **kwargs):
            try:
                raise cause
            except Exception:  # as Ray Tune's controller wraps what a searcher or callback raised
                raise TuneError("Traceback (most recent call last): ...")
        return status

    monkeypatch.setattr(mtlstudy.study, "study_status", raised_in_a_callback(StudyError("storage 'x' did not answer")))
    result = CliRunner().invoke(main, ["study", "status", "s", "--dir", str(tmp_path)])
    assert _error_line(result) == "Error: storage 'x' did not answer"
    monkeypatch.setattr(mtlstudy.study, "study_status", raised_in_a_callback(KeyError("a bug")))
    result = CliRunner().invoke(main, ["study", "status", "s", "--dir", str(tmp_path)])
    assert isinstance(result.exception, TuneError) and isinstance(result.exception.__context__, KeyError)
