"""Package attributes imported on first use, so that a command imports only what it runs.

A read-only command (``study status``, ``study list``) needs Optuna and pandas, not torch, Ray
or matplotlib, which take seconds to import on a busy machine. The packages that hold those
re-export their public names through :func:`lazy_exports` (PEP 562) instead of importing every
module up front.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package`` that import each name of
    ``exports`` (name -> the package's module that defines it, e.g. ``"._spec"``) when it is first read.

    Examples
    --------
    >>> getattr_, dir_ = lazy_exports("mtlstudy", {"hide_password": ".study._storage_url"})
    >>> getattr_("hide_password")("postgresql://alice:pw@db/x")
    'postgresql://alice:***@db/x'
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)  # read once: later reads find it directly
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
