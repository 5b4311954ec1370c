"""The configuration of one training run, validated once at construction."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mtlstudy._checks import (
    MAX_BATCH_SIZE,
    MAX_COUNT,
    MAX_EMBEDDING_DIM,
    MAX_EPOCHS,
    check_count,
    check_fraction,
    check_seed,
    short_repr,
)
from mtlstudy._errors import ConfigError

__all__ = ["TrainConfig"]

_DEVICES = ("auto", "cpu", "cuda")
#: The MLP's hidden layers when ``layer_sizes`` is left out (SPEC.md's 64).
_HIDDEN_LAYERS = (64,)
# The upper bound of each size (see mtlstudy._checks).
_MAXIMA = {"epochs": MAX_EPOCHS, "batch_size": MAX_BATCH_SIZE, "embedding_dim": MAX_EMBEDDING_DIM, "k": MAX_COUNT}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one run: data, model, optimisation and seed.

    The defaults are SPEC.md's: ML-100K with a 5% test split drawn with seed 123,
    d = 32, MLP (96, 64), Adam at 1e-3, batches of 256, 200 epochs. ``layer_sizes``
    left out is ``(3 * embedding_dim, 64)``: the MLP's input follows the embedding size.
    ``validation_fraction`` > 0 holds that share of the training rows out as validation
    rows, drawn with ``split_seed`` after the test split (which it leaves as it is); 0,
    the default, holds none out, as SPEC.md's experiment.
    """

    dataset: str = "ml-100k"
    data_path: str | None = None
    verify_data: bool = True
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    test_fraction: float = 0.05
    split_seed: int = 123
    validation_fraction: float = 0.0
    shared: bool = True
    lambda_f: float = 0.99
    lambda_r: float = 0.01
    user_bias: bool = False
    embedding_dim: int = 32
    layer_sizes: tuple[int, ...] | None = None
    lr: float = 1e-3
    batch_size: int = 256
    epochs: int = 200
    seed: int = 0
    device: str = "auto"
    k: int = 10

    def __post_init__(self) -> None:
        for name, maximum in _MAXIMA.items():  # first: the layer sizes below follow embedding_dim
            check_count(getattr(self, name), name, 1, maximum)
        sizes = (3 * self.embedding_dim, *_HIDDEN_LAYERS) if self.layer_sizes is None else self.layer_sizes
        object.__setattr__(self, "layer_sizes", tuple(int(size) for size in sizes))
        object.__setattr__(self, "dataset_options", dict(self.dataset_options))
        object.__setattr__(self, "validation_fraction", check_fraction(self.validation_fraction, "validation_fraction"))
        for name in ("lambda_f", "lambda_r"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a finite number >= 0, got {short_repr(value)}")
        if self.lambda_f == 0 and self.lambda_r == 0:
            raise ConfigError("lambda_f and lambda_r are both 0: at least one task must be trained")
        for name in ("seed", "split_seed"):
            check_seed(getattr(self, name), name)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a finite number > 0, got {short_repr(self.lr)}")
        if self.device not in _DEVICES:
            raise ConfigError(f"device must be one of {', '.join(_DEVICES)}, got {short_repr(self.device)}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a plain mapping (a Ray Tune config), rejecting unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_mapping` reads back.

        ``validation_fraction`` is left out while it is 0, so a run without validation
        rows writes the config and checkpoints it wrote before the option existed.
        """
        values = dataclasses.asdict(self)
        values["layer_sizes"] = list(self.layer_sizes)
        if not self.validation_fraction:
            del values["validation_fraction"]
        return values
