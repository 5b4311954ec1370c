"""The train/test split a configuration asks for."""

from __future__ import annotations

from mtlstudy.data import Dataset, Interactions, load_dataset, random_train_test_split
from mtlstudy.training._config import TrainConfig

__all__ = ["load_split"]


def load_split(config: TrainConfig, progress: bool = False) -> tuple[Interactions, Interactions, Dataset]:
    """Load ``config``'s data set (fetching it on first use) and split it as SPEC.md says."""
    dataset = load_dataset(
        config.dataset,
        config.data_path,
        verify=config.verify_data,
        progress=progress,
        **config.dataset_options,
    )
    train, test = random_train_test_split(dataset.interactions, config.test_fraction, config.split_seed)
    return train, test, dataset
