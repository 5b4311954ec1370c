"""Rating data: MovieLens-100K from a file, the cache or a download, or synthetic data.

>>> from mtlstudy.data import load_dataset, random_train_test_split
>>> dataset = load_dataset("synthetic", seed=1)
>>> train, test = random_train_test_split(dataset.interactions)
"""

from __future__ import annotations

from mtlstudy.data._interactions import Interactions, random_train_test_split, random_validation_split
from mtlstudy.data._sources import (
    ML100K_SHA256,
    Dataset,
    cache_dir,
    check_dataset,
    dataset_summary,
    fetch_movielens,
    load_dataset,
)
from mtlstudy.data._synthetic import make_synthetic

__all__ = [
    "Interactions",
    "random_train_test_split",
    "random_validation_split",
    "Dataset",
    "load_dataset",
    "check_dataset",
    "fetch_movielens",
    "make_synthetic",
    "cache_dir",
    "ML100K_SHA256",
    "dataset_summary",
]
