"""The study spec: a small YAML/TOML file whose every key is also a CLI option."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml

from mtlstudy._errors import ConfigError
from mtlstudy.data import check_dataset
from mtlstudy.search_spaces import SearchSpace, get_space
from mtlstudy.study._remote import check_remote_dir, is_remote, local_study_dir
from mtlstudy.trainables import TRIAL_OPTIONS
from mtlstudy.training import TrainConfig

__all__ = [
    "StudySpec",
    "SAMPLERS",
    "COMPLETE_ONLY_SAMPLERS",
    "EARLY_STOPPING",
    "load_spec",
    "parse_key_values",
    "parse_trial_numbers",
    "resolve_spec",
    "check_name",
    "trial_params",
]

#: Sampler names; all are seeded with the spec's ``seed``.
SAMPLERS: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "gp": optuna.samplers.GPSampler,
    "random": optuna.samplers.RandomSampler,
}

#: Early-stopping schedulers (``--early-stopping``).
EARLY_STOPPING: tuple[str, ...] = ("moasha", "none")

#: Samplers that learn from COMPLETE trials only. The searcher shows them each stopped
#: (PRUNED) trial as a complete one no better than the worst complete trial, which is
#: how TPE, which reads PRUNED trials itself, ranks them too.
COMPLETE_ONLY_SAMPLERS: frozenset[str] = frozenset({"nsga2", "gp"})

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: Longest study name: trial and checkpoint paths nest below it, within the 255-byte file name limit.
_NAME_LENGTH = 100
_DEFAULT_TRIALS = 20
#: Python types a spec value may have, and how a message names them, by its StudySpec field's annotation.
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "int": ((int,), "an integer"),
    "float": ((int, float), "a number"),
    "bool": ((bool,), "true or false"),
    "str": ((str,), "a string"),
    "Mapping[str, Any]": ((Mapping,), "a mapping"),
    "tuple[float, float]": ((tuple,), "two numbers"),
    "int | str": ((int, str), "an integer or 'auto'"),
    "tuple[int, ...]": ((list, tuple), "a list of trial numbers"),
}

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
        Trial budget (a grid space defaults to its number of points).
    concurrency : int or None
        Most trials at once (None: as many as the resources allow).
    objective : str
        ``"final"`` (last epoch) or ``"best"`` (best epoch of each metric).
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
    cpus_per_trial, gpus_per_trial : float
        Ray resources of each trial (``gpus_per_trial=0.25``: four trials per GPU).
    address : str or None
        Ray cluster to join (``auto``, ``ray://...``); None starts a local Ray.
    storage : str or None
        SQLAlchemy URL of the Optuna database; None: SQLite in the study directory.
    dir : str
        Parent directory of studies: a local path, or ``s3://bucket/prefix`` (which
        needs a ``storage``: the Optuna database cannot live in an object store).
    max_failures, checkpoint_every : int
        Retries of a failed trial; epochs between checkpoints (0: only at the end).
    early_stopping : str
        ``"moasha"`` (stop trials dominated at a rung, see
        :class:`~mtlstudy.schedulers.MOASHAScheduler`) or ``"none"``.
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
    objective: str = "final"
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
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None
    storage: str | None = None
    dir: str = "./mtlstudy-runs"
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
        :func:`~mtlstudy.study._remote.local_study_dir`); the shared files are in
        :class:`~mtlstudy.study._remote.StudyFiles`.
        """
        return local_study_dir(self.dir, self.name)

    @property
    def storage_url(self) -> str:
        """The Optuna storage URL: ``storage`` or ``sqlite:///<study dir>/optuna.db``."""
        return self.storage or f"sqlite:///{(self.study_dir / 'optuna.db').resolve()}"

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

    def fixed_params(self) -> dict[str, Any]:
        """The trial-config values every trial shares (a space's output overrides them)."""
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
            "objective": self.objective,
            "checkpoint_every": self.checkpoint_every,
            # In an object store, trials upload their own logs from any node (see trainables._ray_api.trial_dir).
            "upload_logs": is_remote(self.dir),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-ready values that :func:`resolve_spec` reads back."""
        values = dataclasses.asdict(self)
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


def load_spec(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or TOML (by ``.toml`` suffix) spec file into a dict with ``_`` keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        values = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read study spec {str(path)!r}: {error}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"study spec {str(path)!r} must be a mapping, got {type(values).__name__}")
    return {str(key).replace("-", "_"): value for key, value in values.items()}


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
            raise ConfigError(f"{option} takes KEY=VALUE, got {pair!r}")
        options[key] = yaml.safe_load(value)
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
        raise ConfigError(f"{option} takes trial numbers separated by commas, e.g. 3,7,12, got {text!r}") from None


def resolve_spec(path: str | os.PathLike | None = None, **overrides: Any) -> StudySpec:
    """Defaults, overridden by the spec file at ``path``, overridden by non-None ``overrides``.

    Raises
    ------
    ConfigError
        On an unknown key or any invalid value; nothing is created either way.
    """
    values = load_spec(path) if path is not None else {}
    values.update({key: value for key, value in overrides.items() if value is not None})
    known = {f.name for f in dataclasses.fields(StudySpec)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown study spec key(s) {unknown}; known: {sorted(known)}")
    for key in ("lambda_f_range", "lambda_r_range"):
        if key in values:
            values[key] = _check_range(key, values[key])
    if "dir" in values:
        values["dir"] = str(values["dir"])
    _check_types(values)
    return _validated(StudySpec(**values))


def _check_types(values: Mapping[str, Any]) -> None:
    """Refuse a value of the wrong type: ``epochs: 2.5`` or ``batch_size: true`` is an error, not 3 or 1."""
    for spec_field in dataclasses.fields(StudySpec):
        if spec_field.name not in values:
            continue
        value = values[spec_field.name]
        kind, _, optional = (spec_field.type, "", "") if spec_field.type in _TYPES else spec_field.type.partition(" | ")
        if value is None and optional == "None":
            continue
        types, described = _TYPES[kind]
        if (
            not isinstance(value, types)
            or (kind in ("int", "float") and isinstance(value, bool))  # bool is an int subclass
            or (kind == "float" and not math.isfinite(value))
        ):
            raise ConfigError(f"{spec_field.name} must be {described}, got {value!r}")


def check_name(name: Any) -> str:
    """``name`` if it can name a study (a directory below the studies' folder), else ConfigError."""
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > _NAME_LENGTH:
        raise ConfigError(
            f"study name must be 1 to {_NAME_LENGTH} letters, digits, '.', '_' or '-', starting with a letter "
            f"or digit, got {_shorten(name)!r}"
        )
    return name


def _shorten(value: Any, limit: int = 60) -> Any:
    """Long strings cut for a one-line message."""
    return value if not isinstance(value, str) or len(value) <= limit else f"{value[:limit]}... ({len(value)} characters)"


def _check_range(key: str, value: Any) -> tuple[float, float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{key} must be two numbers [low, high], got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low < high):
        raise ConfigError(f"{key} must satisfy 0 <= low < high < inf, got {list(value)!r}")
    return low, high


def _validated(spec: StudySpec) -> StudySpec:
    check_name(spec.name)
    space = spec.search_space
    if spec.sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler {spec.sampler!r}; choose one of {sorted(SAMPLERS)}")
    if spec.objective not in ("final", "best"):
        raise ConfigError(f"objective must be 'final' or 'best', got {spec.objective!r}")
    for key, minimum in (("epochs", 1), ("seed", 0), ("seeds", 1), ("max_failures", 0), ("checkpoint_every", 0), ("grace_epochs", 1), ("replicates", 0)):
        if getattr(spec, key) < minimum:
            raise ConfigError(f"{key} must be an integer >= {minimum}, got {getattr(spec, key)!r}")
    _check_early_stopping(spec)
    spec = dataclasses.replace(spec, pack=_pack_size(spec))
    check_dataset(spec.dataset, spec.data, spec.dataset_options)
    if spec.concurrency is not None and spec.concurrency < 1:
        raise ConfigError(f"concurrency must be an integer >= 1, got {spec.concurrency!r}")
    if not spec.cpus_per_trial > 0 or not spec.gpus_per_trial >= 0:
        raise ConfigError(
            f"cpus_per_trial must be > 0 and gpus_per_trial >= 0, got {spec.cpus_per_trial!r}, {spec.gpus_per_trial!r}"
        )
    trials = spec.trials
    points = math.prod(len(values) for values in space.grid(spec).values()) if space.grid else None
    if trials is None:
        trials = points or _DEFAULT_TRIALS
    if trials < 1:
        raise ConfigError(f"trials must be an integer >= 1, got {spec.trials!r}")
    if points is not None and trials > points:
        raise ConfigError(f"space {spec.space!r} has {points} points, so trials must be <= {points}, got {trials}")
    spec = dataclasses.replace(
        spec, trials=trials, dir=_checked_dir(spec), replicate_trials=_replicate_trials(spec, trials)
    )
    _check_space_samples(spec)
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
        raise ConfigError(f"replicate_trials {list(numbers)!r} needs replicates >= 1, got replicates {spec.replicates}")
    if (
        not numbers
        or any(isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < trials for n in numbers)
        or len(set(numbers)) != len(numbers)
    ):
        raise ConfigError(
            f"replicate_trials must be distinct trial numbers from 0 to {trials - 1} (the budget is {trials}), "
            f"got {list(numbers)!r}"
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


def _check_early_stopping(spec: StudySpec) -> None:
    if spec.early_stopping not in EARLY_STOPPING:
        raise ConfigError(f"unknown early_stopping {spec.early_stopping!r}; choose one of {list(EARLY_STOPPING)}")
    factor = spec.reduction_factor
    if not 2 <= factor:
        raise ConfigError(f"reduction_factor must be a number >= 2, got {factor!r}")
    if spec.early_stopping == "moasha" and spec.grace_epochs >= spec.epochs:
        raise ConfigError(
            f"grace_epochs must be below epochs for early stopping, got grace_epochs {spec.grace_epochs} "
            f"and epochs {spec.epochs}; lower --grace-epochs or use --early-stopping none"
        )


def _pack_size(spec: StudySpec) -> int:
    """``spec.pack`` as a number of trials, ``"auto"`` resolved for the trials' device."""
    if spec.pack == "auto":
        from mtlstudy.training import auto_pack_size

        return auto_pack_size("cuda" if spec.gpus_per_trial > 0 else "cpu")
    if isinstance(spec.pack, bool) or not isinstance(spec.pack, int) or spec.pack < 1:
        raise ConfigError(f"pack must be an integer >= 1 or 'auto', got {spec.pack!r}")
    return spec.pack


def _check_space_samples(spec: StudySpec) -> None:
    """Sample the space once in memory and build the TrainConfig of that trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study(sampler=spec.make_sampler(), directions=["minimize", "maximize"]).ask()
    try:
        params = {**spec.fixed_params(), **trial_params(spec.search_space(trial, spec), trial.params)}
    except (ValueError, ArithmeticError, TypeError) as error:
        raise ConfigError(f"search space {spec.space!r} cannot sample under this spec: {error}") from None
    TrainConfig.from_mapping({k: v for k, v in params.items() if k not in TRIAL_OPTIONS})


def trial_params(returned: Mapping[str, Any], sampled: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's training parameters: sampled values and a space's output that TrainConfig knows."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return {key: value for key, value in {**sampled, **returned}.items() if key in known}
