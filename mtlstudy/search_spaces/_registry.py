"""Named search spaces: the built-in ones, user ones registered by decorator, dotted paths."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mtlstudy._errors import ConfigError

__all__ = ["SearchSpace", "register_space", "get_space", "available_spaces"]

#: ``space(trial, spec) -> dict`` of constant trial parameters (see :class:`SearchSpace`).
SpaceFunction = Callable[[Any, Any], "dict[str, Any] | None"]


@dataclass(frozen=True)
class SearchSpace:
    """A define-by-run search space.

    Attributes
    ----------
    name : str
    function : callable
        ``function(trial, spec)`` samples with ``trial.suggest_*`` (an Optuna trial)
        and returns the trial's training parameters (``shared``, ``lambda_f``, ...)
        that are not the sampled values themselves. Only parameters
        :class:`~mtlstudy.training.TrainConfig` knows reach the trainer; other
        sampled values (a logit, a grid label) stay in the Optuna database.
    grid : callable or None
        ``grid(spec) -> {param: [values]}`` for a fixed set of points, sampled
        exhaustively with Optuna's ``GridSampler`` whatever the study's sampler.
    """

    name: str
    function: SpaceFunction
    grid: Callable[[Any], Mapping[str, list]] | None = None

    def __call__(self, trial: Any, spec: Any) -> dict[str, Any]:
        return self.function(trial, spec) or {}


_REGISTRY: dict[str, SearchSpace] = {}


def register_space(name: str, *, grid: Callable[[Any], Mapping[str, list]] | None = None):
    """Decorator registering ``function(trial, spec)`` as the search space ``name``.

    >>> @register_space("shared-only")
    ... def shared_only(trial, spec):
    ...     lambda_f = trial.suggest_float("lambda_f", *spec.lambda_f_range, log=True)
    ...     return {"shared": True, "lambda_r": 1.0 - lambda_f}
    """

    def decorate(function: SpaceFunction) -> SpaceFunction:
        _REGISTRY[name] = SearchSpace(name, function, grid)
        return function

    return decorate


def available_spaces() -> list[str]:
    """Names of the registered search spaces."""
    return sorted(_REGISTRY)


def get_space(name: str) -> SearchSpace:
    """The registered space ``name``, or the function at dotted path ``package.module:function``.

    Raises
    ------
    ConfigError
        If ``name`` is neither registered nor an importable ``module:function``.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    module_name, _, attribute = name.partition(":")
    if not attribute:
        raise ConfigError(
            f"unknown search space {name!r}; choose one of {available_spaces()} "
            "or give a dotted path 'package.module:function'"
        )
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"cannot load search space {name!r}: {error}") from None
    if not callable(function):
        raise ConfigError(f"search space {name!r} is not callable")
    return SearchSpace(name, function)
