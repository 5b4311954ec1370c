"""A study on a Ray cluster of several nodes loses one of them mid-trial (``ray.cluster_utils.Cluster``:
several raylets on this machine, as Ray's own fault-tolerance tests run them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

import pandas as pd
import pytest
from ray.cluster_utils import Cluster

from mtlstudy._schema import TENSORBOARD_TAGS
from mtlstudy.study import HPARAMS_METRICS, load_export
from mtlstudy.trainables._ray_api import NODE_KEY
from mtlstudy.training import HPARAMS_TAG_PREFIX
from tensorboard_events import scalar_events

pytestmark = pytest.mark.slow

BUDGET, EPOCHS = 4, 8


@pytest.fixture
def three_nodes():
    """A head without CPUs, so that every trial runs on one of two one-CPU workers; shut down on any outcome.

    Each node has a temp dir of its own, as each machine of a real cluster has: what a node
    stages there reaches the study only if that node uploads it. The temp dirs are short
    (Ray's Unix sockets live under them, in paths of at most 107 bytes) and no other Ray's.
    """
    temp_dirs = [tempfile.mkdtemp(prefix="mtl-ray-", dir="/tmp") for _ in range(3)]
    cluster = Cluster()
    try:
        # A random dashboard-agent port, as Cluster gives its workers: the default one may be another Ray's.
        cluster.add_node(num_cpus=0, temp_dir=temp_dirs[0], include_dashboard=False, dashboard_agent_listen_port=None)
        workers = [cluster.add_node(num_cpus=1, temp_dir=temp_dir) for temp_dir in temp_dirs[1:]]
        cluster.wait_for_nodes()
        yield cluster, workers
    finally:
        cluster.shutdown()
        for temp_dir in temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _results(study_dir) -> dict[str, list[dict]]:
    """Ray trial id -> the results Ray logged for it so far (complete lines only: the driver may be writing)."""
    return {
        path.parent.name: [json.loads(line) for line in path.read_text().split("\n")[:-1]]
        for path in (study_dir / "ray").glob("*/result.json")
    }


def _a_trial_mid_run_once_both_workers_trained(driver, study_dir, workers):
    """(Ray trial id, its worker) once each worker has reported an epoch and one of them runs a trial
    that has reported two epochs (so a restart from scratch shows) and has epochs left."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and driver.poll() is None:
        results = _results(study_dir)
        used = {result[NODE_KEY] for trial in results.values() for result in trial}
        for trial, trial_results in results.items():
            if used == {w.node_id for w in workers} and trial_results and 2 <= trial_results[-1]["epoch"] < EPOCHS - 1:
                return trial, next(w for w in workers if w.node_id == trial_results[-1][NODE_KEY])
        time.sleep(0.05)
    driver.kill()
    pytest.fail(f"no trial was mid-run on a worker while both had trained: {driver.communicate()[0]}")


# Stopped: the node's processes get SIGTERM and end themselves; killed: SIGKILL, as a crashed machine,
# and Ray finds the node dead by its missed heartbeats (the trial's actor is unavailable first).
@pytest.mark.parametrize("graceful", [True, False], ids=["stopped", "killed"])
def test_a_study_that_loses_a_node_mid_trial_ends_with_its_exact_budget(three_nodes, tmp_path, graceful):
    cluster, workers = three_nodes
    study_dir = tmp_path / "lost"
    command = [os.path.join(os.path.dirname(sys.executable), "mtlstudy"), "study", "run", "--name", "lost",
               "--dir", str(tmp_path), "--address", cluster.address, "--trials", str(BUDGET), "--epochs", str(EPOCHS),
               "--max-failures", "1", "--checkpoint-every", "1", "--dataset", "synthetic", "--batch-size", "16"]
    # Cluster starts no token authentication (`ray start` does), so the driver asks for none.
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lost_trial, lost_node = _a_trial_mid_run_once_both_workers_trained(driver, study_dir, workers)
        cluster.remove_node(lost_node, allow_graceful=graceful)
        output = driver.communicate(timeout=240)[0]
    finally:
        driver.kill()
    assert driver.returncode == 0, output
    assert f"study lost: {BUDGET}/{BUDGET} trials complete\n" in output

    trials = load_export("lost", tmp_path)
    assert len(trials) == BUDGET and set(trials["state"]) == {"COMPLETE"} and trials["trial_id"].is_unique
    epochs = load_export("lost", tmp_path, epochs=True)
    every_epoch_once = Counter({(tag, step): 1 for tag in TENSORBOARD_TAGS.values() for step in range(1, EPOCHS + 1)})
    every_epoch_once.update({(f"{HPARAMS_TAG_PREFIX}{name}", EPOCHS): 1 for name in HPARAMS_METRICS})  # once, at the end
    for trial_id in trials["trial_id"]:
        assert epochs.loc[epochs["trial_id"] == trial_id, "epoch"].tolist() == list(range(1, EPOCHS + 1))
        assert pd.read_csv(study_dir / "ray" / trial_id / "metrics.csv")["epoch"].tolist() == list(range(1, EPOCHS + 1))
        events = Counter((tag, step) for tag, step, _ in scalar_events(study_dir / "ray" / trial_id))
        assert events == every_epoch_once

    # The trials ran on both workers; the lost node's trial moved to the other one and went on from its
    # checkpoint: it reports the epoch of that checkpoint again, its last one on the lost node.
    results = _results(study_dir)
    assert {result[NODE_KEY] for trial in results.values() for result in trial} == {w.node_id for w in workers}
    moved = [(result[NODE_KEY], result["epoch"]) for result in results[lost_trial]]
    before = [epoch for node, epoch in moved if node == lost_node.node_id]
    after = [epoch for node, epoch in moved if node != lost_node.node_id]
    assert moved == [(lost_node.node_id, epoch) for epoch in before] + [(moved[-1][0], epoch) for epoch in after]
    assert before == list(range(1, len(before) + 1)) and after == list(range(before[-1], EPOCHS + 1))
