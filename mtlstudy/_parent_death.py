"""Commands that end with the process that started them, even when it is killed.

Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) outlives ``exec``, so a command run by
this file as a script, ``python _parent_death.py PARENT_PID COMMAND...``, gets SIGTERM when its
parent ends, even by SIGKILL, which leaves the parent no chance to stop it. The signal is asked for
in a process that runs nothing else, rather than in ``subprocess.Popen``'s ``preexec_fn``, which may
deadlock a parent that runs threads. As a script it needs the standard library only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["ending_with_this_process"]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def ending_with_this_process(command: list[str]) -> list[str]:
    """``command``, run on Linux to get SIGTERM when the thread that starts it ends (with its
    process, killed or not); elsewhere ``command`` itself."""
    if not sys.platform.startswith("linux"):
        return command
    # -I: whatever PYTHONPATH or the working folder hold, the script runs on the standard library.
    return [sys.executable, "-I", __file__, str(os.getpid()), *command]


def _main(argv: list[str]) -> None:
    parent, command = int(argv[0]), argv[1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    # A parent that died before the signal was asked for sent none: this process was handed to
    # another, so its parent's id changed.
    if os.getppid() != parent:
        sys.exit(128 + signal.SIGTERM)
    os.execv(command[0], command)


if __name__ == "__main__":
    _main(sys.argv[1:])
