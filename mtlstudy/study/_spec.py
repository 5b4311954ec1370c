"""The study spec: a small YAML/TOML file whose every key is also a CLI option."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
import tomllib
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import yaml

from mtlstudy._checks import (
    MAX_BATCH_SIZE,
    MAX_COUNT,
    MAX_EMBEDDING_DIM,
    MAX_EPOCHS,
    MAX_PACK,
    MAX_THREADS,
    check_count,
    check_file,
    check_fraction,
    check_number,
    check_seed,
    check_text,
    check_value,
    short_repr,
)
from mtlstudy._errors import ConfigError
from mtlstudy._runs import objective_key, split_config
from mtlstudy._schema import OBJECTIVES, VALIDATION_METRICS
from mtlstudy.data import check_dataset
from mtlstudy.search_spaces import SearchSpace, get_space
from mtlstudy.study._layout import DATABASE_FILE, DEFAULT_DIR, StudyFiles, check_remote_dir, is_remote, local_study_dir
from mtlstudy.study._storage_url import check_storage
from mtlstudy.training import TrainConfig, load_split, validation_split

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

    from mtlstudy._runs import RungStore

__all__ = [
    "StudySpec",
    "SAMPLERS",
    "COMPLETE_ONLY_SAMPLERS",
    "EARLY_STOPPING",
    "MOASHA_OPTIONS",
    "load_spec",
    "parse_key_values",
    "parse_trial_numbers",
    "resolve_spec",
    "check_name",
    "check_rungs",
    "trial_params",
]

#: Sampler names; all are seeded with the spec's ``seed``.
SAMPLERS: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "gp": optuna.samplers.GPSampler,
    "random": optuna.samplers.RandomSampler,
}

#: Samplers that learn from COMPLETE trials only. The searcher shows them each stopped
#: (PRUNED) trial as a complete one no better than the worst complete trial, which is
#: how TPE, which reads PRUNED trials itself, ranks them too.
COMPLETE_ONLY_SAMPLERS: frozenset[str] = frozenset({"nsga2", "gp"})

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # fullmatch: "$" would let a trailing newline in
#: Longest study name: trial and checkpoint paths nest below it, within the 255-byte file name limit.
_NAME_LENGTH = 100
_DEFAULT_TRIALS = 20


@dataclass(frozen=True)
class StudySpec:
    """Everything a study needs; build it with :func:`resolve_spec`, which validates it.

    Attributes
    ----------
    name : str
        The study's name; it lives in ``<dir>/<name>``.
    space, sampler : str
        Search space (see :mod:`mtlstudy.search_spaces`) and sampler (:data:`SAMPLERS`).
        A grid space (``seed-grid``) always uses Optuna's ``GridSampler``.
    trials : int
        The study's trial budget (a grid space defaults to its number of points).
    concurrency : int or None
        Most trials at once (None: as many as the resources allow).
    value : str
        Which value of each metric a trial is judged by: ``"final"`` (its last epoch)
        or ``"best"`` (its best epoch for that metric).
    epochs, seed : int
        Epochs per trial; seed of the sampler and of every trial (``seed-grid``
        uses ``seed .. seed + seeds - 1``).
    seeds : int
        Seeds per point of a grid space.
    user_bias, user_bias_point : bool
        A user bias in every trial; ``seed-grid`` also runs shared 0.99/0.01 with one.
    lambda_f_range, lambda_r_range : (float, float)
        Sampling ranges of the loss weights, within [0, inf).
    lambda_log : bool
        Sample λ on a log scale (logit scale on the simplex).
    dataset, data, dataset_options, embedding_dim, lr, batch_size
        Fixed training options (see :class:`~mtlstudy.training.TrainConfig`).
    validation_fraction : float
        The share of each trial's training rows held out as validation rows (0: none, the
        default). With them, the validation metrics choose for the study: each objective's
        best epoch (``value: best``) and the early-stopping rankings at rungs
        (:meth:`rung_objectives`); the objective values reported stay test values.
    cpus_per_trial, gpus_per_trial : float
        Ray resources of each trial (``gpus_per_trial=0.25``: four trials per GPU).
    address : str or None
        Ray cluster to join (``auto``, ``ray://...``); None starts a local Ray.
    storage : str or None
        SQLAlchemy URL of the Optuna database; None: SQLite in the study directory. Its
        password is masked (see :mod:`~mtlstudy.study._storage_url`).
    dir : str
        Parent directory of studies: a local path, or ``s3://bucket/prefix`` (which
        needs a ``storage``: the Optuna database cannot live in an object store).
    max_failures, checkpoint_every : int
        Retries of a failed trial; epochs between checkpoints (0: only at the end).
    early_stopping : str
        A rule of :data:`EARLY_STOPPING`: ``"moasha"`` (stop trials dominated at a rung,
        see :class:`~mtlstudy.schedulers.MOASHAScheduler`), with options such as
        ``"moasha+arch"``, or ``"none"``.
    grace_epochs : int
        The first rung ``r``; rungs are at ``r, rη, rη², …`` below ``epochs``.
    reduction_factor : float
        ``η`` (>= 2): a trial continues past a rung if it is in the top ``1/η`` there.
    pack : int or "auto"
        Trials trained together as one fused model in one Ray trial (see
        :class:`~mtlstudy.training.PackedTrainer`); 1 runs each trial alone. ``"auto"``
        resolves to :func:`~mtlstudy.training.auto_pack_size` of the trials' device.
    replicates : int
        After the search, retrain each chosen trial this many times with seeds the study
        never used, as ``"replicate"`` trials of the study (0: none).
    replicate_trials : tuple of int or None
        The Optuna numbers of the trials to replicate; None: the Pareto-front trials.
    """

    name: str = "study"
    space: str = "simplex"
    sampler: str = "tpe"
    trials: int | None = None
    concurrency: int | None = None
    value: str = "final"
    epochs: int = 200
    seed: int = 0
    seeds: int = 1
    user_bias: bool = False
    user_bias_point: bool = False
    lambda_f_range: tuple[float, float] = (0.001, 0.999)
    lambda_r_range: tuple[float, float] = (0.001, 0.999)
    lambda_log: bool = True
    dataset: str = "ml-100k"
    data: str | None = None
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    embedding_dim: int = 32
    lr: float = 1e-3
    batch_size: int = 256
    validation_fraction: float = 0.0
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None
    storage: str | None = None
    dir: str = DEFAULT_DIR
    max_failures: int = 1
    checkpoint_every: int = 10
    early_stopping: str = "none"
    grace_epochs: int = 5
    reduction_factor: float = 3.0
    pack: int | str = 1
    replicates: int = 0
    replicate_trials: tuple[int, ...] | None = None

    @property
    def study_dir(self) -> Path:
        """``<dir>/<name>``: spec, lock, Ray results, checkpoints, logs and the SQLite database.

        For a remote ``dir`` it is the study's local working folder (lock and logs, see
        :func:`~mtlstudy.study._layout.local_study_dir`); the shared files are in
        :class:`~mtlstudy.study._layout.StudyFiles`.
        """
        return local_study_dir(self.dir, self.name)

    @property
    def files(self) -> StudyFiles:
        """The study's shared files, wherever ``dir`` is."""
        return StudyFiles(self.dir, self.name)

    @property
    def storage_url(self) -> str:
        """The Optuna storage URL: ``storage`` or ``sqlite:///<study dir>/optuna.db``."""
        return self.storage or f"sqlite:///{(self.study_dir / DATABASE_FILE).resolve()}"

    @property
    def search_space(self) -> SearchSpace:
        return get_space(self.space)

    def make_sampler(self, history: int = 0) -> optuna.samplers.BaseSampler:
        """The sampler for the next trial of a study holding ``history`` trials.

        :data:`SAMPLERS`' one, seeded from ``seed`` and ``history`` together: a study
        reseeds it before each trial, so its next trial depends only on its seed and
        its trials so far, and a resumed study samples what the uninterrupted one
        would have. A grid space's ``GridSampler`` is seeded from ``seed`` alone: the
        seed shuffles the grid, and trial ``k`` takes its ``k``-th point.
        """
        grid = self.search_space.grid
        if grid is not None:
            return _GridSampler(dict(grid(self)), seed=self.seed)
        return SAMPLERS[self.sampler](seed=int(np.random.SeedSequence([self.seed, history]).generate_state(1)[0]))

    def make_scheduler(self, store: RungStore) -> TrialScheduler | None:
        """The Ray Tune scheduler :data:`EARLY_STOPPING` names for ``early_stopping``, its
        decisions kept in ``store``; None runs every trial to its last epoch."""
        return EARLY_STOPPING[self.early_stopping](self, store)

    def rung_objectives(self, best_so_far: bool = False) -> dict[str, str]:
        """Reported key -> direction of the values early stopping ranks trials by at a rung, one per objective.

        The trials' objectives (``objective_<m>``, read as :attr:`value`), or with
        ``best_so_far`` their best-so-far values (``best_<m>``). With validation rows, the
        validation counterparts read the same way (``final_val_mse`` or ``best_val_mse``, ...),
        so no test value decides which trials train on.
        """
        if self.validation_fraction:
            value = "best" if best_so_far else self.value
            keys = {metric: f"{value}_{VALIDATION_METRICS[metric]}" for metric in OBJECTIVES}
        else:
            keys = {metric: f"best_{metric}" if best_so_far else objective_key(metric) for metric in OBJECTIVES}
        return {keys[metric]: direction for metric, direction in OBJECTIVES.items()}

    def fixed_params(self) -> dict[str, Any]:
        """The trial-config values every trial shares (a space's output overrides them).

        ``validation_fraction`` is left out while it is 0, so trials without validation rows
        get the configs they got before the option existed.
        """
        return {
            "dataset": self.dataset,
            "data_path": self.data,
            "verify_data": self.dataset == "ml-100k",
            "dataset_options": dict(self.dataset_options),
            "shared": True,
            "user_bias": self.user_bias,
            "embedding_dim": self.embedding_dim,
            # The MLP's input follows the embedding size; its hidden layers stay TrainConfig's.
            "layer_sizes": list(TrainConfig(embedding_dim=self.embedding_dim).layer_sizes),
            "lr": self.lr,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "seed": self.seed,
            "value": self.value,
            "checkpoint_every": self.checkpoint_every,
            # In an object store, trials upload their own logs from any node (see trainables._ray_api.trial_dir).
            "upload_logs": is_remote(self.dir),
        } | ({"validation_fraction": self.validation_fraction} if self.validation_fraction else {})

    @classmethod
    def from_saved(cls, values: Mapping[str, Any], **changes: Any) -> StudySpec:
        """The spec a study saved (its ``study.yaml``, as :meth:`to_dict` wrote it), with ``changes``.

        Each value is checked by its field's validator, as a file may have been edited,
        but the spec is not resolved again: it was checked as a whole when the study
        was created, and its sampled trial and data checks would only cost time.
        Commands that train again use :func:`resolve_spec` instead.
        """
        spec = cls(**_checked_fields({**_spec_keys(values), **changes}))
        return dataclasses.replace(spec, dir=_checked_dir(spec))

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-ready values that :func:`resolve_spec` reads back (``validation_fraction``
        only when it is set, so a study without it saves the ``study.yaml`` it saved before)."""
        values = dataclasses.asdict(self)
        if not self.validation_fraction:
            del values["validation_fraction"]
        values["lambda_f_range"] = list(self.lambda_f_range)
        values["lambda_r_range"] = list(self.lambda_r_range)
        values["dataset_options"] = dict(self.dataset_options)
        if self.replicate_trials is not None:
            values["replicate_trials"] = list(self.replicate_trials)
        return values


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's ``GridSampler`` minus its ``Study.stop`` call once the grid is done.

    ``Study.stop`` only works inside ``Study.optimize``; a study told by a searcher
    would raise it from ``Study.tell``. The trial budget ends a grid study instead.
    """

    def after_trial(self, study, trial, state, values) -> None:
        pass


#: What each ``+option`` of a ``moasha`` rule changes (see :data:`EARLY_STOPPING`).
MOASHA_OPTIONS: dict[str, str] = {
    "arch": "shared and separate embeddings ranked apart",
    "brackets": "Hyperband's brackets of rungs, the last never stopping a trial",
    "bsf": "rungs read best-so-far values",
    "stable": "a rung stops trials only while its ranking holds at the next (as PASHA)",
}


def _moasha(*options: str) -> Callable[[StudySpec, RungStore], TrialScheduler]:
    """The factory of rule ``moasha`` with ``options`` (keys of :data:`MOASHA_OPTIONS`)."""

    def scheduler(spec: StudySpec, store: RungStore) -> TrialScheduler:
        from mtlstudy.schedulers import MOASHAScheduler, rung_epochs  # imported here: Ray loads slowly

        rungs = rung_epochs(spec.grace_epochs, spec.reduction_factor, spec.epochs)
        return MOASHAScheduler(
            store,
            epochs=spec.epochs,
            grace_epochs=spec.grace_epochs,
            reduction_factor=spec.reduction_factor,
            objectives=spec.rung_objectives(best_so_far="bsf" in options),
            ladder_by=("shared",) if "arch" in options else (),
            brackets=len(rungs) + 1 if "brackets" in options else 1,
            stable="stable" in options,
        )

    return scheduler


#: Early-stopping rules (``--early-stopping``): name -> the scheduler of a spec, given its
#: rung store; None runs every trial to its last epoch. ``moasha`` takes any set of
#: :data:`MOASHA_OPTIONS`, joined in their order: ``moasha+arch+bsf``.
EARLY_STOPPING: dict[str, Callable[[StudySpec, RungStore], TrialScheduler | None]] = {
    "none": lambda spec, store: None,
    **{
        "+".join(("moasha", *chosen)): _moasha(*chosen)
        for count in range(len(MOASHA_OPTIONS) + 1)
        for chosen in itertools.combinations(MOASHA_OPTIONS, count)
    },
}


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stricter where a spec needs it.

    It refuses a key given twice, which ``yaml.safe_load`` settles silently by keeping the
    last, and every alias: a flat mapping of settings never needs one, and aliases of
    aliases expand exponentially wherever the value is walked (a "billion laughs").
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"found the alias *{event.anchor}; a study spec takes no aliases, write the value itself",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):  # an unhashable key is refused by SafeLoader itself
                if key in keys:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"found the key {short_repr(key)} twice", key_node.start_mark
                    )
                keys.add(key)
        return super().construct_mapping(node, deep)


def _load_yaml(text: str) -> Any:
    """``text`` read by :class:`_SpecLoader` (one document), or ConfigError saying why not in one line."""
    try:
        return yaml.load(text, Loader=_SpecLoader)
    except yaml.MarkedYAMLError as error:
        # PyYAML's own text spans several lines, quoting the source under a caret.
        mark = error.problem_mark or error.context_mark
        problem = " ".join(part for part in (error.context, error.problem) if part)
        raise ConfigError(f"{problem} (line {mark.line + 1}, column {mark.column + 1})") from None
    except (yaml.YAMLError, ValueError) as error:  # ValueError: an integer of over 4,300 digits
        raise ConfigError(str(error)) from None
    except RecursionError:  # PyYAML composes nested values recursively
        raise ConfigError("values nest too deeply") from None


def load_spec(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or TOML (by ``.toml`` suffix) spec file into a dict with ``_`` keys.

    YAML is read strictly (see :class:`_SpecLoader`): one document, each key once, no aliases.
    """
    path = check_file(path, "study spec")
    where = short_repr(str(path))
    try:
        text = path.read_text(encoding="utf-8")
        values = tomllib.loads(text) if path.suffix == ".toml" else _load_yaml(text)
    except (OSError, ValueError) as error:  # ValueError: not UTF-8, bad TOML or YAML (ConfigError), a huge integer
        raise ConfigError(f"cannot read study spec {where}: {error}") from None
    except RecursionError:  # tomllib reads nested values recursively
        raise ConfigError(f"cannot read study spec {where}: values nest too deeply") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"study spec {where} must be a mapping, got {type(values).__name__}")
    return _spec_keys(values)


#: Spec keys of earlier versions, by their name now, so that their saved studies still load.
_RENAMED_KEYS = {"objective": "value"}


def _spec_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with dashes in keys read as underscores and renamed keys under their names now;
    ConfigError for two keys that name one setting (``batch-size`` and ``batch_size``)."""
    keys: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        name = _RENAMED_KEYS.get(name, name)
        if name in keys:
            raise ConfigError(
                f"study spec key {short_repr(name)} is given twice, as {short_repr(given[name])} "
                f"and {short_repr(str(key))}"
            )
        keys[name], given[name] = value, str(key)
    return keys


def parse_key_values(pairs: Sequence[str], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings given to ``option`` as a dict, values read as YAML scalars.

    Examples
    --------
    >>> parse_key_values(["num_users=200", "density=0.1"], "--dataset-option")
    {'num_users': 200, 'density': 0.1}
    """
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"{option} takes KEY=VALUE, got {short_repr(pair)}")
        try:
            options[key] = _load_yaml(value)
        except ConfigError as error:
            raise ConfigError(f"{option} {short_repr(pair)}: cannot read the value: {error}") from None
    return options


def parse_trial_numbers(text: str, option: str) -> list[int]:
    """Comma-separated trial numbers given to ``option`` as a list (:func:`resolve_spec` checks them).

    Examples
    --------
    >>> parse_trial_numbers("3,7, 12", "--replicate-trials")
    [3, 7, 12]
    """
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise ConfigError(
            f"{option} takes trial numbers separated by commas, e.g. 3,7,12, got {short_repr(text)}"
        ) from None


def resolve_spec(path: str | os.PathLike | None = None, **overrides: Any) -> StudySpec:
    """Defaults, overridden by the spec file at ``path``, overridden by non-None ``overrides``.

    Every value is checked by its field's validator, then the spec as a whole: ranges
    against the budget, early stopping against the epochs, the data, and one trial
    sampled from the space in memory.

    Raises
    ------
    ConfigError
        On an unknown key or any invalid value; nothing is created either way.
    """
    values = load_spec(path) if path is not None else {}
    values.update({key: value for key, value in overrides.items() if value is not None})
    return _validated(StudySpec(**_checked_fields(values)))


def _checked_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with known keys only, each passed through its field's validator."""
    unknown = sorted(set(values) - set(_VALIDATORS))
    if unknown:
        raise ConfigError(f"unknown study spec key(s) {short_repr(unknown)}; known: {sorted(_VALIDATORS)}")
    return {key: _VALIDATORS[key](value, key) for key, value in values.items()}


def check_name(name: Any, key: str = "name") -> str:
    """``name`` if it can name a study (a directory below the studies' folder), else ConfigError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > _NAME_LENGTH:
        raise ConfigError(
            f"study name must be 1 to {_NAME_LENGTH} letters, digits, '.', '_' or '-', starting with a letter "
            f"or digit, got {short_repr(name)}"
        )
    return name


# Field validators: ``check(value, key)`` returns the value as the spec holds it, or raises ConfigError.
_Validator = Callable[[Any, str], Any]


def _count(minimum: int, maximum: int | None = None) -> _Validator:
    return lambda value, key: check_count(value, key, minimum, maximum)


def _optional(check: _Validator) -> _Validator:
    return lambda value, key: None if value is None else check(value, key)


def _of_type(kind: type, described: str) -> _Validator:
    def check(value: Any, key: str) -> Any:
        if not isinstance(value, kind):
            raise ConfigError(f"{key} must be {described}, got {short_repr(value)}")
        return value

    return check


def _choice(choices: Collection[str]) -> _Validator:
    def check(value: Any, key: str) -> str:
        if value not in choices:
            raise ConfigError(f"unknown {key} {short_repr(value)}; choose one of {sorted(choices)}")
        return value

    return check


def _number(minimum: float, strictly: bool = False, maximum: float = math.inf) -> _Validator:
    def check(value: Any, key: str) -> float:
        value = check_number(value, key)
        if value < minimum or (strictly and value == minimum) or value > maximum:
            at_most = f" and <= {maximum:g}" if maximum < math.inf else ""
            raise ConfigError(f"{key} must be a number {'>' if strictly else '>='} {minimum:g}{at_most}, got {value!r}")
        return value

    return check


def _range(value: Any, key: str) -> tuple[float, float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{key} must be two numbers [low, high], got {short_repr(value)}")
    try:
        low, high = float(value[0]), float(value[1])
    except OverflowError:  # an integer beyond a float's range
        low = high = math.inf
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low < high):
        raise ConfigError(f"{key} must satisfy 0 <= low < high < inf, got {short_repr(list(value))}")
    return low, high


def _pack(value: Any, key: str) -> int | str:
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PACK:
        raise ConfigError(f"{key} must be an integer from 1 to {MAX_PACK} or 'auto', got {short_repr(value)}")
    return value


def _trial_numbers(value: Any, key: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key} must be a list of trial numbers, got {short_repr(value)}")
    return tuple(value)  # checked against the budget by _replicate_trials


def _space(value: Any, key: str) -> str:
    get_space(value)  # raises a ConfigError naming the known spaces
    return value


def _path(value: Any, key: str) -> str:
    return check_text(os.fspath(value) if isinstance(value, os.PathLike) else value, key)


def _storage(value: Any, key: str) -> str:
    """``value`` as :func:`check_storage` keeps it, its SQLite or journal file a regular file if it
    exists: a journal opened on a fifo would wait for a writer, and on a device read forever."""
    from mtlstudy.study._database import storage_file  # imported here: that module imports this one

    url = check_storage(check_text(value, key), key)
    path = storage_file(url)
    if path is not None and path.exists():
        check_file(path, key)
    return url


_flag = _of_type(bool, "true or false")

#: The validator of every StudySpec field (a test checks that each field has one).
_VALIDATORS: dict[str, _Validator] = {
    "name": check_name,
    "space": _space,
    "sampler": _choice(SAMPLERS),
    "trials": _optional(_count(1, MAX_COUNT)),
    "concurrency": _optional(_count(1, MAX_COUNT)),
    "value": check_value,
    "epochs": _count(1, MAX_EPOCHS),
    "seed": check_seed,
    "seeds": _count(1, MAX_COUNT),
    "user_bias": _flag,
    "user_bias_point": _flag,
    "lambda_f_range": _range,
    "lambda_r_range": _range,
    "lambda_log": _flag,
    "dataset": check_text,
    "data": _optional(_path),
    "dataset_options": _of_type(Mapping, "a mapping"),
    "embedding_dim": _count(1, MAX_EMBEDDING_DIM),
    "lr": _number(0, strictly=True),
    "batch_size": _count(1, MAX_BATCH_SIZE),
    "validation_fraction": check_fraction,
    "cpus_per_trial": _number(0, strictly=True, maximum=MAX_THREADS),
    "gpus_per_trial": _number(0),
    "address": _optional(check_text),
    "storage": _optional(_storage),
    "dir": _path,  # a path or a URI, checked further by _checked_dir
    "max_failures": _count(0),
    "checkpoint_every": _count(0),
    "early_stopping": _choice(EARLY_STOPPING),
    "grace_epochs": _count(1, MAX_EPOCHS),
    "reduction_factor": _number(2),
    "pack": _pack,
    "replicates": _count(0, MAX_COUNT),
    "replicate_trials": _optional(_trial_numbers),
}


def check_rungs(spec: StudySpec) -> StudySpec:
    """``spec`` if its early stopping has a rung below its epochs, else ConfigError."""
    if spec.early_stopping != "none" and spec.grace_epochs >= spec.epochs:
        raise ConfigError(
            f"grace_epochs must be below epochs for early stopping, got grace_epochs {spec.grace_epochs} "
            f"and epochs {spec.epochs}; lower --grace-epochs or use --early-stopping none"
        )
    return spec


def _validated(spec: StudySpec) -> StudySpec:
    """``spec`` checked as a whole, with ``trials``, ``pack``, ``dir`` and ``replicate_trials`` resolved."""
    check_rungs(spec)
    check_dataset(spec.dataset, spec.data, spec.dataset_options)
    grid = spec.search_space.grid
    points = math.prod(len(values) for values in grid(spec).values()) if grid else None
    trials = spec.trials if spec.trials is not None else points or _DEFAULT_TRIALS
    if points is not None and trials > points:
        raise ConfigError(f"space {spec.space!r} has {points} points, so trials must be <= {points}, got {trials}")
    spec = dataclasses.replace(
        spec,
        trials=trials,
        pack=_pack_size(spec),
        dir=_checked_dir(spec),
        replicate_trials=_replicate_trials(spec, trials),
    )
    _check_space_samples(spec)
    _check_validation_rows(spec)
    return spec


def _replicate_trials(spec: StudySpec, trials: int) -> tuple[int, ...] | None:
    """``spec.replicate_trials`` as a tuple, checked against the replicates and the budget of ``trials``."""
    if spec.replicates and spec.search_space.grid is not None:
        raise ConfigError(
            f"space {spec.space!r} is a grid that runs its own seeds (--seeds); replicates need a sampled space, "
            f"got replicates {spec.replicates}"
        )
    numbers = spec.replicate_trials
    if numbers is None:
        return None
    if not spec.replicates:
        raise ConfigError(
            f"replicate_trials {short_repr(list(numbers))} needs replicates >= 1, got replicates {spec.replicates}"
        )
    if (
        not numbers
        or any(isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < trials for n in numbers)
        or len(set(numbers)) != len(numbers)
    ):
        raise ConfigError(
            f"replicate_trials must be distinct trial numbers from 0 to {trials - 1} (the budget is {trials}), "
            f"got {short_repr(list(numbers))}"
        )
    return tuple(numbers)


def _checked_dir(spec: StudySpec) -> str:
    """``spec.dir`` resolved, or checked as a URI: a study in an object store needs a ``storage`` (ConfigError)."""
    if not is_remote(spec.dir):
        return str(Path(spec.dir).resolve())
    if spec.storage is None:
        raise ConfigError(
            f"a study in {spec.dir!r} needs --storage (postgresql://..., sqlite:///local/path.db or "
            "journal:///shared/path.log): the Optuna database cannot live in an object store"
        )
    return check_remote_dir(spec.dir)


def _pack_size(spec: StudySpec) -> int:
    """``spec.pack`` as a number of trials, ``"auto"`` resolved for the trials' device."""
    if spec.pack == "auto":
        from mtlstudy.training import auto_pack_size

        return auto_pack_size("cuda" if spec.gpus_per_trial > 0 else "cpu")
    return spec.pack


def _check_validation_rows(spec: StudySpec) -> None:
    """Load the data once and hold the validation rows out, so that a fraction leaving no
    training or no validation rows is one error here rather than a failure in every trial."""
    if spec.validation_fraction:
        config = TrainConfig.from_mapping(split_config(spec.fixed_params())[1])
        validation_split(config, load_split(config)[0])


def _check_space_samples(spec: StudySpec) -> None:
    """Sample the space once in memory and build the TrainConfig of that trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study(sampler=spec.make_sampler(), directions=["minimize", "maximize"]).ask()
    try:
        params = {**spec.fixed_params(), **trial_params(spec.search_space(trial, spec), trial.params)}
    except (ValueError, ArithmeticError, TypeError) as error:
        raise ConfigError(f"search space {spec.space!r} cannot sample under this spec: {error}") from None
    TrainConfig.from_mapping(split_config(params)[1])


def trial_params(returned: Mapping[str, Any], sampled: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's training parameters: sampled values and a space's output that TrainConfig knows."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return {key: value for key, value in {**sampled, **returned}.items() if key in known}
