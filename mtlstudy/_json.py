"""Plain JSON values from what analyses and benchmarks produce."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["jsonable"]


def jsonable(item: object) -> object:
    """``item`` with mappings as dicts, tuples as lists, numpy scalars as Python ones,
    and NaN, infinities and missing values as None."""
    if isinstance(item, Mapping):
        return {str(key): jsonable(value) for key, value in item.items()}
    if isinstance(item, (list, tuple)):
        return [jsonable(value) for value in item]
    if isinstance(item, np.generic):
        item = item.item()
    if isinstance(item, float) and not math.isfinite(item):
        return None
    if item is pd.NA:
        return None
    return item
