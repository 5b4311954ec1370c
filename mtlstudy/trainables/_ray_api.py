"""The only module that calls Ray Tune's per-trial session API (it moves between releases)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import ray
from ray import tune

__all__ = ["trial_id", "trial_dir", "trial_cpus", "restored_checkpoint", "report", "NODE_KEY"]

#: The reported key naming the Ray node that ran the epoch: Ray's own ``hostname`` and
#: ``node_ip`` cannot tell apart the nodes of one machine, nor a trial retried elsewhere.
NODE_KEY = "node_id"


def trial_id() -> str:
    """The id of the running trial."""
    return tune.get_context().get_trial_id()


def trial_dir(uploaded: bool = False) -> Path:
    """The directory of the running trial, where it writes its logs.

    The trial's folder in the study, on the file system every node sees; with ``uploaded``
    (a study in an object store), the trial's working directory, which Ray changes into and
    uploads from whichever node runs the trial (``SyncConfig(sync_artifacts=True)``).
    """
    if uploaded:
        return Path(os.getcwd())
    # Not get_trial_dir(): that is a staging folder on the trial's own node, and the driver
    # uploads only its own node's, so the logs of trials on other nodes never reached the study.
    return Path(tune.get_context().get_storage().trial_fs_path)


def trial_cpus() -> int:
    """Whole CPUs Ray gave the running trial (at least 1)."""
    resources = tune.get_context().get_trial_resources().required_resources
    return max(1, int(resources.get("CPU", 1)))


@contextlib.contextmanager
def restored_checkpoint(resumed_from: str | None = None) -> Iterator[Path | None]:
    """The directory of the checkpoint to resume from, or ``None`` for a fresh trial.

    Ray's checkpoint of this very trial (a retry after a worker failed), else
    ``resumed_from``, a checkpoint directory (path or URI) of the run this trial resumes.
    """
    checkpoint = tune.get_checkpoint()
    if checkpoint is None and resumed_from is not None:
        checkpoint = tune.Checkpoint(resumed_from)
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as directory:
        yield Path(directory)


def report(metrics: Mapping[str, float], save: Callable[[Path], None] | None = None) -> None:
    """Report one epoch's ``metrics``, with the node's id under :data:`NODE_KEY`; with ``save``,
    attach the checkpoint it writes into a directory."""
    metrics = {**metrics, NODE_KEY: ray.get_runtime_context().get_node_id()}
    if save is None:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        save(Path(directory))
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
