"""The Ray session of a study: join a cluster or start a local Ray, and refuse trials no node can hold."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator

from mtlstudy._errors import StudyError
from mtlstudy.study._spec import StudySpec

__all__ = ["ray_session", "check_local_gpus"]

#: Seconds to wait for a TCP connection to a cluster's address: Ray itself retries an address that
#: does not answer for ever.
_CONNECT_S = 10.0


@contextlib.contextmanager
def ray_session(spec: StudySpec) -> Iterator[None]:
    """Join ``spec.address`` or start a local Ray, unless this process already runs one.

    A local Ray serves on 127.0.0.1 only (see ``mtlstudy/__init__.py``). A cluster's address
    that does not answer, and trials that no node can hold, are refused here (StudyError),
    before any trial is queued.
    """
    import ray

    # Ray's automatic TensorBoard logger would add tags beside SPEC.md's five; the JSON and
    # CSV loggers, which Ray's result tables read, are passed to the tuner explicitly.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # The legacy reporter honours verbose=0; StudyProgress shows the study's progress instead.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # A failed trial's traceback goes to error.txt in its folder, which the study's summary names,
    # not to the terminal once per attempt.
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    started = not ray.is_initialized()
    if started:
        address = _ray_address(spec)
        _check_reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        except ConnectionError as error:  # `auto` without a cluster on this machine, for one
            raise StudyError(f"cannot join the Ray cluster at {address!r}: {str(error).splitlines()[0]}") from None
    # SIGTERM stops a study as Ctrl-C does (Ray Tune then saves its state and ends its trials),
    # not through the handler that Ray's core installs, which aborts. Signals are set in the main thread only.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _as_ctrl_c) if in_main_thread else None
    try:
        _check_resources(spec)
        yield
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        if started:
            ray.shutdown()


def _as_ctrl_c(signum: int, frame: object) -> None:
    signal.raise_signal(signal.SIGINT)


def _ray_address(spec: StudySpec) -> str:
    """The cluster to join, or ``"local"`` for an embedded Ray.

    ``"local"`` starts one even when a cluster runs on this machine: a study joins a
    cluster only when asked to (``--address``, or ``RAY_ADDRESS`` as Ray's job tools set it).
    """
    return spec.address or os.environ.get("RAY_ADDRESS") or "local"


def _check_reachable(address: str) -> None:
    """StudyError unless a TCP connection to ``address``, ``HOST:PORT`` (a head node's GCS) or
    ``ray://HOST:PORT`` (a Ray client server), opens within :data:`_CONNECT_S` seconds.

    ``auto`` (whose address Ray reads from this machine's running cluster), ``local`` and the
    schemes of Ray's client plugins are left to Ray.
    """
    client = address.startswith("ray://")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or "://" in host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_S).close()
    except OSError as error:  # refused, timed out, or a host name that does not resolve
        expected = "a Ray client server (`ray start --head` serves one on port 10001)" if client else (
            "the GCS of a Ray cluster's head node (`ray start --head` serves it on port 6379)")
        raise StudyError(
            f"cannot reach the Ray cluster at {address!r}: {error.strerror or error}; expected {expected} there"
        ) from None


def check_local_gpus(spec: StudySpec) -> None:
    """Refuse GPU trials on a local Ray without a GPU: Ray would keep them pending forever."""
    import torch

    if _ray_address(spec) == "local" and spec.gpus_per_trial > 0 and torch.cuda.device_count() == 0:
        raise StudyError(
            f"gpus_per_trial is {spec.gpus_per_trial} but this machine has no CUDA GPU for the local Ray; "
            "drop --gpus-per-trial or join a cluster that has GPUs with --address"
        )


def _check_resources(spec: StudySpec) -> None:
    """Refuse trials no node of the Ray cluster can hold: Ray would keep them pending forever."""
    import ray

    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    for key, resource in (("cpus_per_trial", "CPU"), ("gpus_per_trial", "GPU")):
        request, largest = getattr(spec, key), max((node.get(resource, 0) for node in nodes), default=0)
        if request > largest:
            raise StudyError(
                f"{key} is {request:g} but the largest node of the Ray cluster has {largest:g} {resource}s; "
                f"lower --{key.replace('_', '-')}"
            )
