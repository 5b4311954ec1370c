"""The packed Ray Tune trainable: one Ray trial trains several study trials as one fused model.

Each member is an Optuna trial of its own. Its run id is ``<ray trial id>/m<k>``, its logs
live in the ``m<k>`` folder of the Ray trial, and the Ray trial's results carry every
member's metrics under :data:`PACK_KEY`. Under early stopping the scheduler decides per
member and writes each decision to its rung store before Ray continues the trial, so
the trainable reads the decisions back after each rung's report and drops the members
that were stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mtlstudy._history import divergence
from mtlstudy.trainables import _ray_api
from mtlstudy.trainables._trainable import (
    CHECKPOINT_FILE,
    FAILURE_KEY,
    TRIAL_OPTIONS,
    restore,
    trial_options,
    trial_result,
)
from mtlstudy.training import (
    PackedTrainer,
    RunLogger,
    TrainConfig,
    load_checkpoint,
    load_pack_checkpoint,
    load_split,
)

if TYPE_CHECKING:  # the schedulers read this module's result format, so it cannot import them
    from mtlstudy.schedulers import RungStore

__all__ = [
    "train_pack",
    "PACK_KEY",
    "PACK_CHECKPOINT_FILE",
    "saved_histories",
    "trial_runs",
    "member_results",
    "member_run_id",
    "ray_trial_of",
    "run_result",
]

#: Key of a packed trial's config (the members' parameters) and of its results (their metrics).
PACK_KEY = "members"
#: The pack's state's file name inside each checkpoint directory.
PACK_CHECKPOINT_FILE = "pack.pt"


def member_run_id(ray_trial_id: str, member: int) -> str:
    """The run id of member ``member`` of a packed Ray trial, e.g. ``3f2a_00001/m2``."""
    return f"{ray_trial_id}/m{member}"


def ray_trial_of(run_id: str) -> str:
    """The Ray trial a run id belongs to (itself for an unpacked trial)."""
    return run_id.split("/", 1)[0]


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


def _member(run_id: str) -> int:
    return int(run_id.rsplit("/m", 1)[1])


def member_results(result: Mapping[str, Any] | None) -> dict[int, dict[str, Any]]:
    """Member -> its metrics in a packed trial's ``result`` (empty for an unpacked one).

    Reads the result as reported (nested under :data:`PACK_KEY`) or as Ray hands it to
    schedulers and searchers (flattened to ``members/<k>/<metric>`` keys).
    """
    result = result or {}
    members = {int(member): dict(values) for member, values in (result.get(PACK_KEY) or {}).items()}
    for key, value in result.items():
        if key.startswith(f"{PACK_KEY}/"):
            member, _, metric = key[len(PACK_KEY) + 1 :].partition("/")
            members.setdefault(int(member), {})[metric] = value
    return members


def run_result(run_id: str, result: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The part of a Ray trial's ``result`` that belongs to run ``run_id`` (None if it has none)."""
    if "/" not in run_id:
        return result
    return member_results(result).get(_member(run_id))


def trial_runs(
    trial_id: str, config: Mapping[str, Any], result: Mapping[str, Any] | None
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Run id -> (its config, its part of ``result``) of a Ray trial: the trial itself, or each member of a pack.

    A member that has not reported yet gets an empty result.
    """
    members = config.get(PACK_KEY)
    if members is None:
        return {trial_id: (dict(config), dict(result or {}))}
    shared = {key: value for key, value in config.items() if key != PACK_KEY}
    runs = {}
    for member, params in enumerate(members):
        run_id = member_run_id(trial_id, member)
        runs[run_id] = ({**shared, **params}, dict(run_result(run_id, result) or {}))
    return runs


def train_pack(
    config: Mapping[str, Any], rung_store: RungStore | None = None, rungs: Sequence[int] = ()
) -> None:
    """Train the members of one packed trial, reporting and checkpointing as it goes.

    ``config`` holds the shared :class:`TrainConfig` options and :data:`TRIAL_OPTIONS`,
    and under :data:`PACK_KEY` each member's own parameters. Every epoch reports
    ``epoch`` and, per member, what :func:`~mtlstudy.trainables.train_trial` would
    report for it; a member that left keeps its last metrics. At the epochs in
    ``rungs``, members that ``rung_store`` records as not promoted leave the pack. A
    member that diverges leaves it too, its reason under :data:`FAILURE_KEY`. A
    checkpoint that cannot be read restarts the pack from its first epoch.
    """
    options = trial_options(config)
    shared = {k: v for k, v in config.items() if k not in TRIAL_OPTIONS and k != PACK_KEY}
    configs = [TrainConfig.from_mapping({**shared, **member}) for member in config[PACK_KEY]]
    torch.set_num_threads(_ray_api.trial_cpus())
    trainer = PackedTrainer(configs, *load_split(configs[0])[:2])
    with _ray_api.restored_checkpoint() as directory:
        if directory is not None:
            restore(trainer, directory / PACK_CHECKPOINT_FILE)
    # A restored pack reports its checkpoint's epoch again before training on, so a rung
    # decision that a killed driver took (or never took) at that epoch applies to it.
    report_first = trainer.epoch > 0
    trial_id, epochs, every = _ray_api.trial_id(), configs[0].epochs, options["checkpoint_every"]
    loggers = {
        member: RunLogger(_ray_api.trial_dir(options["upload_logs"]) / f"m{member}", history=trainer.histories[member])
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
                str(member): _member_metrics(history, options["objective"])
                for member, history in enumerate(trainer.histories)
                if history
            }
            _ray_api.report({"epoch": trainer.epoch, PACK_KEY: metrics}, save)
            if done:
                return
            if rung_store is not None and trainer.epoch in rungs:
                # Ray continues a trial only after its scheduler decided, so every member has a record.
                for member in tuple(trainer.members):
                    if not rung_store.record(member_run_id(trial_id, member), trainer.epoch).promoted:
                        leave(member)
    finally:
        for logger in loggers.values():
            logger.close()


def _member_metrics(history: Sequence[Mapping[str, float]], objective: str) -> dict[str, Any]:
    """What a lone trial with ``history`` would report last, with its failure if it diverged."""
    failure = divergence(history[-1])
    return trial_result(history, objective) | ({FAILURE_KEY: failure} if failure else {})
