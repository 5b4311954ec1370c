"""Run a command that ends with the process that started it: ``python _parent_death.py PARENT_PID COMMAND...``.

Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) outlives ``exec``, so COMMAND gets SIGTERM
when its parent ends, even by SIGKILL, which leaves the parent no chance to stop it. It is set here,
in a process that runs nothing else, rather than in ``subprocess.Popen``'s ``preexec_fn``, which may
deadlock a parent that runs threads. Run as a script (not ``-m``): it needs the standard library only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def main(argv: list[str]) -> None:
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
    main(sys.argv[1:])
