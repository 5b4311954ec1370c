"""The packed Ray Tune trainable: one Ray trial trains several study trials as one fused model.

Each member is an Optuna trial of its own. Its run id is ``<ray trial id>/m<k>``, its logs
live in the ``m<k>`` folder of the Ray trial, and the Ray trial's results carry every
member's metrics under :data:`~mtlstudy._runs.PACK_KEY`. Under early stopping the
scheduler decides per member and writes each decision to its rung store before Ray
continues the trial, so the trainable reads the decisions back after each rung's report
and drops the members that were stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from mtlstudy._history import divergence
from mtlstudy._runs import FAILURE_KEY, PACK_KEY, RESTORE_KEY, RungStore, member_run_id, trial_name, trial_result
from mtlstudy.trainables import _ray_api
from mtlstudy._runs import split_config
from mtlstudy.trainables._trainable import CHECKPOINT_FILE, restore
from mtlstudy.training import (
    PackedTrainer,
    RunLogger,
    TrainConfig,
    load_checkpoint,
    load_pack_checkpoint,
    load_split,
)

__all__ = ["train_pack", "PACK_CHECKPOINT_FILE", "saved_histories"]

#: The pack's state's file name inside each checkpoint directory.
PACK_CHECKPOINT_FILE = "pack.pt"


def saved_histories(
    checkpoint_dir: Path, ray_trial_id: str, packed: bool
) -> tuple[Path, dict[str, list[dict[str, float]]]]:
    """The checkpoint file in one of a Ray trial's checkpoint directories, and the epoch
    history of each of its runs (the trial itself, or every member of a pack) in it.

    Raises
    ------
    CheckpointError
        If the file is missing or cannot be read (see :func:`~mtlstudy.training.load_checkpoint`).
    """
    if not packed:
        path = checkpoint_dir / CHECKPOINT_FILE
        return path, {ray_trial_id: load_checkpoint(path)["history"]}
    path = checkpoint_dir / PACK_CHECKPOINT_FILE
    histories = load_pack_checkpoint(path)["histories"]
    return path, {member_run_id(ray_trial_id, member): history for member, history in enumerate(histories)}


def train_pack(
    config: Mapping[str, Any], rung_store: RungStore | None = None, rungs: Sequence[int] = ()
) -> None:
    """Train the members of one packed trial, reporting and checkpointing as it goes.

    ``config`` holds the shared :class:`TrainConfig` options and :data:`TRIAL_OPTIONS`,
    and under :data:`~mtlstudy._runs.PACK_KEY` each member's own parameters. Every
    epoch reports ``epoch`` and, per member, what :func:`~mtlstudy.trainables.train_trial`
    would report for it; a member that left keeps its last metrics. At the epochs in
    ``rungs``, members that ``rung_store`` records as not promoted leave the pack. A
    member that diverges leaves it too, its reason under
    :data:`~mtlstudy._runs.FAILURE_KEY`. A checkpoint that cannot be read restarts the
    pack from its first epoch.
    """
    options, shared = split_config(config)
    configs = [TrainConfig.from_mapping({**shared, **member}) for member in shared.pop(PACK_KEY)]
    torch.set_num_threads(_ray_api.trial_cpus())
    trainer = PackedTrainer(configs, *load_split(configs[0])[:2])
    with _ray_api.restored_checkpoint(options[RESTORE_KEY]) as directory:
        if directory is not None:
            restore(trainer, directory / PACK_CHECKPOINT_FILE)
    # A restored pack reports its checkpoint's epoch again before training on, so a rung
    # decision that a killed driver took (or never took) at that epoch applies to it.
    report_first = trainer.epoch > 0
    name = trial_name(_ray_api.trial_id(), options)
    epochs, every = configs[0].epochs, options["checkpoint_every"]
    validation = bool(configs[0].validation_fraction)
    loggers = {
        member: RunLogger(_ray_api.trial_dir(options["upload_logs"]) / f"m{member}", trainer.histories[member], validation)
        for member in trainer.members
    }

    def leave(member: int) -> None:
        trainer.drop(member)
        loggers.pop(member).close()

    try:
        while True:
            if trainer.members and trainer.epoch < epochs and not report_first:
                for member, row in trainer.train_epoch().items():
                    loggers[member].log(row)
                    if divergence(row) is not None:
                        leave(member)
            report_first = False
            done = not trainer.members or trainer.epoch >= epochs
            checkpoint = done or (every and trainer.epoch % every == 0)
            save = (lambda directory: trainer.save(directory / PACK_CHECKPOINT_FILE)) if checkpoint else None
            metrics = {
                str(member): _member_metrics(history, options["value"])
                for member, history in enumerate(trainer.histories)
                if history
            }
            _ray_api.report({"epoch": trainer.epoch, PACK_KEY: metrics}, save)
            if done:
                return
            if rung_store is not None and trainer.epoch in rungs:
                # Ray continues a trial only after its scheduler decided, so every member that was
                # ranked here has a record; one that had no rivals at this rung (its bracket) has none.
                for member in tuple(trainer.members):
                    record = rung_store.record(member_run_id(name, member), trainer.epoch)
                    if record is not None and not record.promoted:
                        leave(member)
    finally:
        for logger in loggers.values():
            logger.close()


def _member_metrics(history: Sequence[Mapping[str, float]], value: str) -> dict[str, Any]:
    """What a lone trial with ``history`` would report last, with its failure if it diverged."""
    failure = divergence(history[-1])
    return trial_result(history, value) | ({FAILURE_KEY: failure} if failure else {})
