"""The run protocol: how a Ray trial's runs are named, what they report, and where rung
decisions about them are kept.

A run is one study trial. An unpacked Ray trial is one run, named by its Ray trial id;
a packed Ray trial is several, member ``k`` named ``<ray trial id>/m<k>``
(:func:`member_run_id`). The Ray trial id in these names is the one Ray gave the trial
when it first ran: a resumed study runs an unfinished trial as a new Ray trial, whose
config carries the first one's id under :data:`TRIAL_KEY` (:func:`trial_name`). A run reports, every epoch, what :func:`trial_result` makes of
its history: the epoch's metrics, the run's final and best values, and its objectives
under :func:`objective_key`; a run that failed adds its reason under :data:`FAILURE_KEY`.
A packed Ray trial reports each member's result under :data:`PACK_KEY` (and gets its
members' parameters under the same key of its config). Under early stopping, the
scheduler writes each run's decision at a rung as a :class:`RungRecord` to a
:class:`RungStore`, from which a packed trainable reads it back.

The trainables write this format, the early-stopping scheduler and the study read it;
it is plain Python over result dicts (no torch, no Ray), so each of them can import it
without importing the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mtlstudy._checks import check_value
from mtlstudy._history import summarize_history
from mtlstudy._schema import OBJECTIVES

__all__ = [
    "PACK_KEY",
    "TRIAL_KEY",
    "RESTORE_KEY",
    "FAILURE_KEY",
    "TRIAL_OPTIONS",
    "split_config",
    "objective_key",
    "trial_name",
    "member_run_id",
    "ray_trial_of",
    "member_results",
    "run_result",
    "run_results",
    "run_config",
    "trial_runs",
    "trial_result",
    "RungRecord",
    "RungStore",
    "MemoryRungStore",
]

#: Key of a packed trial's config (the members' parameters) and of its results (their metrics).
PACK_KEY = "members"

#: Key of a Ray trial's config naming its runs and its folder (see :func:`trial_name`).
TRIAL_KEY = "trial"

#: Key of a resumed Ray trial's config: the checkpoint directory (path or URI) it starts from.
RESTORE_KEY = "restore"

#: The reported key saying why a trial stopped as failed (a diverged model), absent otherwise.
FAILURE_KEY = "failure"

#: Trial-config keys the trainables read themselves; every other key is a TrainConfig option.
TRIAL_OPTIONS: dict[str, Any] = {"value": "final", "checkpoint_every": 0, "upload_logs": False, TRIAL_KEY: None, RESTORE_KEY: None}


def split_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial's ``config`` as its :data:`TRIAL_OPTIONS` (defaults filled in, checked) and the rest.

    Examples
    --------
    >>> split_config({"value": "best", "lr": 0.01})[1]
    {'lr': 0.01}
    """
    config = dict(config)
    options = {key: config.pop(key, default) for key, default in TRIAL_OPTIONS.items()}
    check_value(options["value"])
    return options, config


def trial_name(trial_id: str, config: Mapping[str, Any]) -> str:
    """The name of a Ray trial's runs and folder: ``config``'s :data:`TRIAL_KEY`, else ``trial_id``.

    Examples
    --------
    >>> trial_name("b7_00003", {"trial": "a1_00000"}), trial_name("b7_00003", {})
    ('a1_00000', 'b7_00003')
    """
    return config.get(TRIAL_KEY) or trial_id


def objective_key(metric: str) -> str:
    """The reported key of ``metric``'s objective value, e.g. ``objective_test_mse``."""
    return f"objective_{metric}"


def member_run_id(ray_trial_id: str, member: int) -> str:
    """The run id of member ``member`` of a packed Ray trial, e.g. ``3f2a_00001/m2``."""
    return f"{ray_trial_id}/m{member}"


def ray_trial_of(run_id: str) -> str:
    """The Ray trial a run id belongs to (itself for an unpacked trial)."""
    return run_id.split("/", 1)[0]


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


def run_results(ray_trial_id: str, result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Run id -> its part of a Ray trial's ``result``: the trial itself, or each member of
    a pack that has reported, in member order.

    Examples
    --------
    >>> run_results("t", {"epoch": 2, "members": {"1": {"epoch": 2}, "0": {"epoch": 1}}})
    {'t/m0': {'epoch': 1}, 't/m1': {'epoch': 2}}
    >>> run_results("t", {"epoch": 2})
    {'t': {'epoch': 2}}
    """
    members = member_results(result)
    if not members:
        return {ray_trial_id: dict(result)}
    return {member_run_id(ray_trial_id, member): values for member, values in sorted(members.items())}


def run_config(run_id: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The training parameters of run ``run_id`` in its Ray trial's ``config``: the config
    itself, or for a pack member its own parameters over those the pack shares."""
    members = config.get(PACK_KEY)
    if members is None or "/" not in run_id:
        return dict(config)
    shared = {key: value for key, value in config.items() if key != PACK_KEY}
    return {**shared, **members[_member(run_id)]}


def trial_runs(
    trial_id: str, config: Mapping[str, Any], result: Mapping[str, Any] | None
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Run id -> (its config, its part of ``result``) of a Ray trial: the trial itself, or each member of a pack.

    The runs are named after the trial's :func:`trial_name`. A member that has not reported yet gets an empty result.
    """
    name, members = trial_name(trial_id, config), config.get(PACK_KEY)
    if members is None:
        return {name: (dict(config), dict(result or {}))}
    run_ids = (member_run_id(name, member) for member in range(len(members)))
    return {run_id: (run_config(run_id, config), dict(run_result(run_id, result) or {})) for run_id in run_ids}


def trial_result(history: Sequence[Mapping[str, float]], value: str) -> dict[str, float]:
    """What a trial reports after the epochs in ``history``: the last epoch's metrics, the
    run's final and best values (:func:`~mtlstudy._history.summarize_history`) and the
    objectives, read as ``value`` (``"final"`` or ``"best"``)."""
    summary = summarize_history(history)
    metrics = {**history[-1], **summary}
    for metric in OBJECTIVES:
        metrics[objective_key(metric)] = summary[f"{value}_{metric}"]
    return metrics


@dataclass(frozen=True)
class RungRecord:
    """One trial at one rung: its objective values there and the decision taken.

    Attributes
    ----------
    rung : int
        The rung's epoch.
    values : tuple of float
        The objective values the trial reported at that epoch.
    order : int
        Its arrival order at the rung (0: first).
    promoted : bool
        Whether it continued past the rung.
    ladder : str
        The trials it was ranked against: those of the same ladder (``""``, the one
        ladder of a rule that ranks every trial together).
    """

    rung: int
    values: tuple[float, ...]
    order: int
    promoted: bool
    ladder: str = ""


class RungStore(Protocol):
    """Where rung records live; a study keeps them in its Optuna database."""

    def record(self, trial_id: str, rung: int) -> RungRecord | None:
        """The record of ``trial_id`` at ``rung``, if it has reached it."""

    def records(self, rung: int) -> dict[str, RungRecord]:
        """Every trial's record at ``rung``, by trial id, in arrival order."""

    def add(self, trial_id: str, record: RungRecord) -> None:
        """Keep ``record`` for ``trial_id``."""


class MemoryRungStore:
    """A :class:`RungStore` in memory, for use outside a study."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, int], RungRecord] = {}

    def record(self, trial_id: str, rung: int) -> RungRecord | None:
        return self._records.get((trial_id, rung))

    def records(self, rung: int) -> dict[str, RungRecord]:
        found = sorted(((r.order, trial_id, r) for (trial_id, at), r in self._records.items() if at == rung))
        return {trial_id: record for _, trial_id, record in found}

    def add(self, trial_id: str, record: RungRecord) -> None:
        self._records[trial_id, record.rung] = record
