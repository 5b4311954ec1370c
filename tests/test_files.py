"""``atomic_path``: the target changes whole or not at all, never through a link or over a device, and
temporaries of killed writers go; ``output_path``: a named device or fifo is written as a stream."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mtlstudy._errors import NoSpaceError, UnsafePathError
from mtlstudy._files import atomic_path, open_to_write, output_path


def test_success_replaces_the_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with atomic_path(target) as temporary:
        temporary.write_text("new")
        assert target.read_text() == "old"  # readers see the old file until the rename
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_failure_keeps_the_target_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_folder_replaces_a_folder_whole(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_path(target) as temporary:
        temporary.mkdir()
        (temporary / "new.txt").write_text("new")
        assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_a_failed_folder_is_removed_and_the_old_one_kept(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.mkdir()
        (temporary / "half.txt").write_text("half")
        raise RuntimeError
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT], ids=["full", "quota"])
def test_a_full_disk_is_one_error_naming_the_target_which_is_kept(tmp_path, code):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(NoSpaceError) as full, atomic_path(target) as temporary:
        temporary.write_text("half")
        raise OSError(code, os.strerror(code), str(temporary))  # as the write of the temporary fails
    assert str(full.value).startswith(f"{os.strerror(code).lower()} writing '{target}'; free some space")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_new_file_on_a_full_disk_is_one_error_naming_it(tmp_path, monkeypatch):
    target, os_open = tmp_path / "metrics.csv", os.open

    def no_inode_left(path, *args):
        if path == target:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return os_open(path, *args)

    monkeypatch.setattr(os, "open", no_inode_left)
    with pytest.raises(NoSpaceError, match=f"writing '{target}'"):
        open_to_write(target)


def _killed_writer(target) -> Path:
    """The temporary that a process SIGKILLed inside ``atomic_path(target)`` left (its ``.old`` with ``.old``)."""
    script = (
        "import os, signal, sys\n"
        "from mtlstudy._files import atomic_path\n"
        "with atomic_path(sys.argv[1]) as temporary:\n"
        "    temporary.mkdir(); (temporary / 'half.html').write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    before = set(Path(target).parent.iterdir())
    assert subprocess.run([sys.executable, "-c", script, str(target)]).returncode == -signal.SIGKILL
    (left,) = set(Path(target).parent.iterdir()) - before
    return left


def test_a_link_or_a_device_is_never_written_through_or_replaced(tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("theirs")
    link, fifo = tmp_path / "study.yaml", tmp_path / "fifo"
    link.symlink_to(elsewhere)
    os.mkfifo(fifo)
    with pytest.raises(UnsafePathError, match=f"refusing to write '{link}': it is a symbolic link"):
        with atomic_path(link) as temporary:
            temporary.write_text("ours")
    with pytest.raises(UnsafePathError, match=f"refusing to write '{link}': it is a symbolic link"):
        open_to_write(link)
    with pytest.raises(UnsafePathError, match=f"refusing to replace '{fifo}': it is not a regular file or folder"):
        with atomic_path(fifo):
            pass
    assert link.is_symlink() and elsewhere.read_text() == "theirs" and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.txt", "fifo", "study.yaml"]


def test_the_temporaries_of_killed_writers_go_and_nothing_else(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    stale = _killed_writer(target)
    prefix, pid, token, _ = stale.name.rsplit(".", 3)  # .report.<host>.<pid>.<hex>.part
    stale_old = stale.with_suffix(".old")
    stale_old.mkdir()
    kept = [
        tmp_path / f"{prefix}.{os.getpid()}.{token}.part",  # a live writer's
        tmp_path / f".report.other-host.{pid}.{token}.part",  # another machine's
        tmp_path / f"{prefix}.{pid}.notahex0.part",  # not a name atomic_path makes
        tmp_path / f".other{prefix[len('.report'):]}.{pid}.{token}.part",  # another target's
        tmp_path / "notes.part",
    ]
    for path in kept:
        path.write_text("keep")
    with atomic_path(target) as temporary:
        temporary.mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["report", *(p.name for p in kept)])


def test_an_old_folder_whose_target_is_gone_is_put_back(tmp_path):
    """A writer killed between its two renames left the previous folder as ``.old`` and no target."""
    old = _killed_writer(tmp_path / "report")
    old.rename(old.with_suffix(".old"))
    (old.with_suffix(".old") / "index.html").write_text("previous")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "report"):
        raise RuntimeError
    assert (tmp_path / "report" / "index.html").read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_a_named_output_that_is_a_fifo_or_a_device_is_written_as_a_stream(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    with output_path(fifo) as target:
        target.write_bytes(b"rows\n")
    reader.join(timeout=10)
    assert received == [b"rows\n"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with output_path("/dev/null") as target:
        target.write_bytes(b"rows\n")
    with pytest.raises(OSError) as full, output_path("/dev/full") as target:
        target.write_bytes(b"rows\n")
    assert full.value.errno == errno.ENOSPC
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode) and stat.S_ISCHR(os.lstat("/dev/full").st_mode)
    with output_path(tmp_path / "out.csv") as target:  # a regular file: atomically, as atomic_path
        assert target.name.endswith(".part")
        target.write_text("rows")
    assert (tmp_path / "out.csv").read_text() == "rows"
