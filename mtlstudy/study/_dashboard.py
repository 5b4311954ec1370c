"""optuna-dashboard on a study's database and TensorBoard on its trial logs, started and stopped together."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mtlstudy._errors import ConfigError, DependencyError, StudyError
from mtlstudy._parent_death import ending_with_this_process
from mtlstudy.study._layout import DASHBOARD_LOG, DEFAULT_DIR, RAY_DIR, TENSORBOARD_DIR
from mtlstudy.study._open import open_study
from mtlstudy.study._storage_url import split_password

__all__ = ["Dashboard", "open_dashboard"]

_HOST = "127.0.0.1"
# Console script -> the module that has to be importable for it to run.
_TOOLS = {"optuna-dashboard": "optuna_dashboard", "tensorboard": "tensorboard"}


class Dashboard:
    """The two running servers of :func:`open_dashboard`; a context manager that stops both.

    Attributes
    ----------
    optuna_url, tensorboard_url : str
        Where optuna-dashboard and TensorBoard answer.
    log : Path
        The file that holds both servers' output.
    """

    def __init__(self, optuna_url: str, tensorboard_url: str, log: Path, processes: dict[str, subprocess.Popen]) -> None:
        self.optuna_url = optuna_url
        self.tensorboard_url = tensorboard_url
        self.log = log
        self._processes = processes

    def wait(self) -> None:
        """Block until Ctrl-C (SIGINT) or SIGTERM; a server that exits on its own raises StudyError."""
        # Both signals mean "stop", even where the shell started us with SIGINT ignored (a background job).
        previous = {signum: signal.signal(signum, signal.default_int_handler) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            while True:
                self._check_running()
                time.sleep(0.5)
        except KeyboardInterrupt:
            return
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _check_running(self) -> None:
        for tool, process in self._processes.items():
            if process.poll() is not None:
                raise StudyError(f"{tool} exited with code {process.returncode}; its output is in {str(self.log)!r}")

    def _wait_until_served(self, timeout: float) -> None:
        """Return once both servers answer HTTP; StudyError if one exits or ``timeout`` seconds pass."""
        waiting = {"optuna-dashboard": self.optuna_url, "tensorboard": self.tensorboard_url}
        deadline = time.monotonic() + timeout
        while True:
            self._check_running()
            for tool, url in list(waiting.items()):
                try:
                    with urllib.request.urlopen(url, timeout=2):
                        del waiting[tool]
                except OSError:  # URLError included: not listening yet
                    pass
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise StudyError(f"{' and '.join(waiting)} did not answer within {timeout:g} s; see {str(self.log)!r}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop both servers and every process they started (each runs in a process group of its own)."""
        for process in self._processes.values():
            _signal_group(process, signal.SIGTERM)
        for process in self._processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        for process in self._processes.values():
            # TensorBoard's data server may outlive TensorBoard by a moment.
            _signal_group(process, signal.SIGKILL)

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def open_dashboard(
    name: str,
    dir: str | os.PathLike = DEFAULT_DIR,
    *,
    optuna_port: int = 8080,
    tensorboard_port: int = 6006,
    storage: str | None = None,
    timeout: float = 60.0,
) -> Dashboard:
    """Start optuna-dashboard on study ``name``'s database and TensorBoard on its ``tensorboard/`` view.

    For a study in S3, TensorBoard reads the trial folders from the bucket (through
    boto3), under their Ray trial ids. Both listen on 127.0.0.1 only. Returns once
    both answer HTTP; their output goes to ``dashboard.log`` in the study directory
    (a remote study's local working folder). Use the result as a context
    manager, or call :meth:`Dashboard.stop`, to stop them. On Linux they also end when
    the thread that called this ends (with its process, even killed: SIGKILL gives it no
    chance to stop them).

    Parameters
    ----------
    name, dir : str
        The study and the folder that holds it.
    optuna_port, tensorboard_port : int
        Ports of the two servers; 0 picks a free one.
    storage : str, optional
        The Optuna database, if not the one the study was created with.
    timeout : float
        Seconds to wait for both servers to answer.

    Raises
    ------
    DependencyError
        optuna-dashboard or tensorboard is not installed, or boto3 for a study in S3.
    ConfigError
        A port is out of range or in use.
    StudyError
        No such study, or a server stopped or did not answer in time (the study
        is left as it was and no server is left running).
    """
    executables = _executables()
    opened = open_study(name, dir, storage=storage)
    spec, files = opened.spec, opened.files
    if files.remote and importlib.util.find_spec("boto3") is None:
        raise DependencyError("TensorBoard reads a study in S3 through boto3, which is not installed: pip install 'mtlstudy[s3]'")
    ports = {"optuna_port": optuna_port, "tensorboard_port": tensorboard_port}
    if optuna_port and optuna_port == tensorboard_port:
        raise ConfigError(f"optuna_port and tensorboard_port must differ, got {optuna_port} for both")
    optuna_port, tensorboard_port = (_free_port(option, port) for option, port in ports.items())
    spec.study_dir.mkdir(parents=True, exist_ok=True)  # a remote study's working folder may not exist here
    if files.remote:  # links cannot point into a bucket
        logdir = files.uri(RAY_DIR)
    else:
        logdir = str(spec.study_dir / TENSORBOARD_DIR)
        Path(logdir).mkdir(exist_ok=True)  # a study whose first trial has not started yet
    log = spec.study_dir / DASHBOARD_LOG
    # A password on a command line is visible to every user of the machine (ps), so optuna-dashboard
    # gets it the way libpq reads it, from its environment.
    storage_url, password = split_password(spec.storage_url)
    environments = {"optuna-dashboard": {**os.environ, "PGPASSWORD": password}} if password is not None else {}
    commands = {
        "optuna-dashboard": [
            executables["optuna-dashboard"], storage_url, "--host", _HOST, "--port", str(optuna_port),
        ],
        "tensorboard": [
            executables["tensorboard"], "--logdir", logdir,
            "--host", _HOST, "--port", str(tensorboard_port),
        ],
    }
    processes: dict[str, subprocess.Popen] = {}
    dashboard = Dashboard(f"http://{_HOST}:{optuna_port}/", f"http://{_HOST}:{tensorboard_port}/", log, processes)
    try:
        with log.open("a", encoding="utf-8") as output:
            for tool, command in commands.items():
                processes[tool] = subprocess.Popen(
                    ending_with_this_process(command), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                    start_new_session=True, env=environments.get(tool),
                )
        dashboard._wait_until_served(timeout)
    except BaseException:  # Ctrl-C while starting included: leave no server behind
        dashboard.stop()
        raise
    return dashboard


def _executables() -> dict[str, str]:
    """Path of each tool's console script, preferring the ones beside this Python."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = {tool: shutil.which(tool, path=search) for tool in _TOOLS}
    missing = [tool for tool, module in _TOOLS.items() if found[tool] is None or importlib.util.find_spec(module) is None]
    if missing:
        raise DependencyError(
            f"the dashboard needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed: "
            "pip install 'mtlstudy[dashboard]'"
        )
    return found  # type: ignore[return-value]


def _free_port(option: str, port: int) -> int:
    """``port`` if free on 127.0.0.1 (0: a free one), else ConfigError naming ``option``."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"{option} must be a port from 0 to 65535, got {port}")
    with socket.socket() as probe:
        # As the servers do: a port that closed connections still hold in TIME_WAIT is free to them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((_HOST, port))
        except OSError:
            raise ConfigError(f"{option} {port} is in use on {_HOST}; choose another (0 picks a free one)") from None
        return probe.getsockname()[1]


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:  # the group has ended
        pass
