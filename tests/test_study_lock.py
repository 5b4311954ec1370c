"""The study lock: exactly one holder, released by the kernel when its holder dies."""

from __future__ import annotations

import multiprocessing
import os
import signal

from click.testing import CliRunner

from _studies import saved_study
from mtlstudy._errors import StudyError
from mtlstudy.cli import main
from mtlstudy.study._lock import lock_owner, study_lock

# fork: the children share the barriers and start within microseconds of each other.
_FORK = multiprocessing.get_context("fork")


def _launch(study_dir, start, tried, wins) -> None:
    """Try the lock when both launches are ready; the winner holds it until both have tried."""
    start.wait()
    try:
        with study_lock(study_dir):
            wins.put(os.getpid())
            tried.wait()
    except StudyError:
        tried.wait()


def test_two_simultaneous_launches_one_wins_every_round(tmp_path):
    for round_ in range(20):
        study_dir = tmp_path / f"round-{round_}"
        study_dir.mkdir()
        start, tried, wins = _FORK.Barrier(2), _FORK.Barrier(2), _FORK.Queue()
        launches = [_FORK.Process(target=_launch, args=(study_dir, start, tried, wins)) for _ in range(2)]
        for launch in launches:
            launch.start()
        for launch in launches:
            launch.join(timeout=30)
        assert [launch.exitcode for launch in launches] == [0, 0]
        winners = []
        while not wins.empty():
            winners.append(wins.get())
        assert len(winners) == 1, f"round {round_}: {len(winners)} winners"
        assert lock_owner(study_dir) is None


def _hold_then_die(study_dir, held) -> None:
    with study_lock(study_dir):
        held.set()
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup: only the kernel releases the lock


def test_a_killed_holder_releases_the_lock(tmp_path):
    held = _FORK.Event()
    holder = _FORK.Process(target=_hold_then_die, args=(tmp_path, held))
    holder.start()
    holder.join(timeout=30)
    assert held.is_set() and holder.exitcode == -signal.SIGKILL
    assert lock_owner(tmp_path) is None
    with study_lock(tmp_path):
        assert lock_owner(tmp_path) == os.getpid()


def _hold(study_dir, held, release) -> None:
    with study_lock(study_dir):
        held.set()
        release.wait(timeout=60)


def test_cli_refuses_a_study_another_process_holds(tmp_path):
    spec = saved_study(tmp_path, "busy", epochs=1)
    held, release = _FORK.Event(), _FORK.Event()
    holder = _FORK.Process(target=_hold, args=(spec.study_dir, held, release))
    holder.start()
    try:
        assert held.wait(timeout=30)
        before = sorted(tmp_path.rglob("*"))
        for command in (["study", "resume", "busy"], ["study", "run", "--name", "busy", "--dataset", "synthetic"]):
            result = CliRunner().invoke(main, [*command, "--dir", str(tmp_path)])
            assert result.exit_code == 2, result.output
            assert f"in use by process {holder.pid}" in result.output
        assert sorted(tmp_path.rglob("*")) == before
    finally:
        release.set()
        holder.join(timeout=30)
    assert holder.exitcode == 0
    assert lock_owner(spec.study_dir) is None
